"""``python -m benchmarks.scan_profile``: where a paginated Scan of the logfile table spends time.

Notebook 04 scans ``logfile`` (6,000 items) and ``logfile_replica`` (2,000) to compare
them item by item. This loads the same 6,000 generated logfile rows into a table of
an endpoint built in this process (never served: boto3's ``before-send`` hook hands
each request to its WSGI app, as in :mod:`benchmarks.write_profile`), then scans it
the way :func:`helpers.table_items.scan_all` does, and splits the CPU time into:

* **server**: the endpoint's app (routing, moto's Scan, the response serializer);
* **client**: botocore parsing the JSON pages;
* **deserialise**: boto3's ``TypeDeserializer`` turning the items into Python values.

``--moto serializer items gc`` puts back what :mod:`localaws.moto_tuning` changed
for reads, one part or several: moto's model-driven serializer for every
``AttributeValue``, moto's own ``size``/``__deepcopy__`` of items and values, and
Python's default garbage-collection threshold (700); one run per set gives the
before/after of each change. A ``Select=COUNT`` scan is measured too (server time only:
it returns no items). Times are CPU time of
the calling thread (``time.thread_time``), steadier than wall time on a shared
machine; ``--profile`` adds cProfile's top functions of the server side.
"""

from __future__ import annotations

import argparse
import cProfile
import gc
import io
import os
import pstats
import statistics
import tempfile
import time
from typing import Any

from boto3.dynamodb.types import TypeDeserializer, TypeSerializer

from benchmarks.harness import free_port
from benchmarks.write_profile import _client

TABLE = "scanned"


PARTS = ("serializer", "items", "gc")


def _app(moto_parts: tuple[str, ...] = ()) -> Any:
    os.environ.setdefault("WORKSHOP_STATE_DIR", tempfile.mkdtemp(prefix="scan-profile-"))
    from localaws.server import Endpoint

    # benchmarks.write_profile's clients address 127.0.0.1:4566; the gate is told so
    app = Endpoint(free_port(), allow_hosts=["127.0.0.1:4566"]).app
    if "serializer" in moto_parts:
        from moto.core.serialize import BaseJSONSerializer

        _unpatch(BaseJSONSerializer, "_serialize_type_structure")
    if "items" in moto_parts:
        from moto.dynamodb.models.dynamo_type import DynamoType, Item

        for cls in (DynamoType, Item):
            _unpatch(cls, "size")
            _unpatch(cls, "__deepcopy__")
    if "gc" in moto_parts:
        gc.set_threshold(700, *gc.get_threshold()[1:])
    return app


def _unpatch(cls: type, name: str) -> None:
    setattr(cls, name, getattr(cls, name).__wrapped__)


def _load(ddb: Any) -> int:
    from helpers.logfile_data import logfile_dataset

    ddb.create_table(TableName=TABLE, KeySchema=[{"AttributeName": "PK", "KeyType": "HASH"}],
                     AttributeDefinitions=[{"AttributeName": "PK", "AttributeType": "S"}],
                     BillingMode="PAY_PER_REQUEST")
    serializer = TypeSerializer()
    items = [{k: serializer.serialize(v) for k, v in row.to_item().items()}
             for name in ("medium1", "medium2", "stream") for row in logfile_dataset(name)]
    for start in range(0, len(items), 25):
        ddb.batch_write_item(RequestItems={TABLE: [
            {"PutRequest": {"Item": item}} for item in items[start:start + 25]]})
    return len(items)


def _scan_once(ddb: Any, server: list[float]) -> dict[str, float]:
    server.clear()
    deserializer = TypeDeserializer()
    deserialise = 0.0
    count = 0
    start = time.thread_time()
    for page in ddb.get_paginator("scan").paginate(TableName=TABLE, ConsistentRead=True):
        mark = time.thread_time()
        for raw in page["Items"]:
            {name: deserializer.deserialize(value) for name, value in raw.items()}
            count += 1
        deserialise += time.thread_time() - mark
    total = time.thread_time() - start
    scan = {"items": count, "pages": len(server), "server": sum(server),
            "client": total - sum(server) - deserialise, "deserialise": deserialise}
    server.clear()
    counted = sum(page["Count"] for page in ddb.get_paginator("scan").paginate(
        TableName=TABLE, Select="COUNT", ConsistentRead=True))
    assert counted == count, (counted, count)  # a broken endpoint, not a slow one
    return {**scan, "count_server": sum(server)}


def main(argv: list[str] | None = None) -> int:
    """Load the table, scan it ``--rounds`` times, print the CPU split (median)."""
    parser = argparse.ArgumentParser(prog="python -m benchmarks.scan_profile")
    parser.add_argument("--moto", nargs="*", choices=PARTS, default=[],
                        help="moto's own code for these parts (the state before the tuning)")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--profile", action="store_true", help="cProfile the server side")
    args = parser.parse_args(argv)
    app = _app(tuple(args.moto))
    server: list[float] = []
    profiler = cProfile.Profile() if args.profile else None
    loaded = _load(_client("dynamodb", app, None, []))
    ddb = _client("dynamodb", app, profiler, server)
    rounds = [_scan_once(ddb, server) for _ in range(args.rounds)]
    median = {k: statistics.median(r[k] for r in rounds) for k in rounds[0]}
    label = f"moto's {', '.join(args.moto)}" if args.moto else "all tuned"
    print(f"{label}: Scan of {loaded} logfile items, "
          f"{median['pages']:.0f} pages, CPU seconds (median of {args.rounds}"
          f"{', under cProfile' if profiler else ''}):")
    print(f"  server {median['server']:.3f}  client {median['client']:.3f}  "
          f"deserialise {median['deserialise']:.3f}  "
          f"total {median['server'] + median['client'] + median['deserialise']:.3f}")
    print(f"  Select=COUNT scan: server {median['count_server']:.3f}")
    if profiler is not None:
        out = io.StringIO()
        pstats.Stats(profiler, stream=out).sort_stats("tottime").print_stats(20)
        print(out.getvalue())
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
