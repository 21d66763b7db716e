"""``python -m benchmarks.scale``: does the endpoint stay as fast at 100,000 streamed items?

One table with a NEW_AND_OLD_IMAGES stream on a private endpoint; writers put
``--items`` 1 KB items in windows of ``--window`` items. After each window:

* the window's put rate (items/s, ``--writers`` threads);
* ``GetRecords`` of a full page (1,000 records, or 1 MB of them as on AWS: 760 with
  these items) from the start of the newest window, and an empty ``GetRecords`` at
  the tip (what a caught-up poller does), p50 over ``--reads`` calls, in ms;
* the endpoint's resident memory (MB).

It prints each window's figures and the change from the first window to the last
(the issue's bound: no figure more than 10 % worse). Results are written after every
window to ``benchmarks/results/scale-latest.json``, so a cut-short run keeps its
figures. Nothing here asserts.
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path
from typing import Any

import psutil

from benchmarks.harness import endpoint, percentiles, timed_writers
from helpers.clients import Backend

RESULTS = Path(__file__).with_name("results") / "scale-latest.json"
PAYLOAD = "x" * 1000


def _put_window(backend: Backend, table: str, start: int, count: int, writers: int) -> float:
    clients = [backend.client("dynamodb") for _ in range(writers)]

    def write(k: int) -> None:
        for i in range(start + k, start + count, writers):
            clients[k].put_item(TableName=table, Item={"pk": {"S": f"item-{i}"},
                                                       "payload": {"S": PAYLOAD}})

    return timed_writers(write, writers)


def _read_times(streams: Any, arn: str, shard: str, first_seq: str,
                reads: int) -> tuple[float, float, int]:
    """p50 of a full page read from ``first_seq``, p50 of an empty read at the tip, page size.

    A full page is 1,000 records or 1 MB of them, whichever comes first (as on AWS):
    760 INSERT records of a 1 KB item with NEW_AND_OLD_IMAGES.
    """
    full, empty, sizes = [], [], set()
    for _ in range(reads):
        iterator = streams.get_shard_iterator(
            StreamArn=arn, ShardId=shard, ShardIteratorType="AT_SEQUENCE_NUMBER",
            SequenceNumber=first_seq)["ShardIterator"]
        began = time.perf_counter()
        got = streams.get_records(ShardIterator=iterator, Limit=1000)
        full.append((time.perf_counter() - began) * 1000)
        if not got["Records"]:
            raise RuntimeError(f"no record read from {first_seq}")
        sizes.add(len(got["Records"]))
        tip = streams.get_shard_iterator(StreamArn=arn, ShardId=shard,
                                         ShardIteratorType="LATEST")["ShardIterator"]
        began = time.perf_counter()
        streams.get_records(ShardIterator=tip, Limit=1000)
        empty.append((time.perf_counter() - began) * 1000)
    if len(sizes) > 1:
        raise RuntimeError(f"the same read returned pages of {sorted(sizes)} records")
    return percentiles(full)["p50"], percentiles(empty)["p50"], sizes.pop()


def run(items: int, window: int, writers: int, reads: int) -> dict[str, Any]:
    """Write ``items`` in windows and measure each; returns the results."""
    results: dict[str, Any] = {"items": items, "window": window, "writers": writers,
                               "started": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
                               "windows": []}
    with endpoint() as (backend, status):
        proc = psutil.Process(status["pid"])
        ddb, streams = backend.client("dynamodb"), backend.client("dynamodbstreams")
        arn = ddb.create_table(
            TableName="scale", KeySchema=[{"AttributeName": "pk", "KeyType": "HASH"}],
            AttributeDefinitions=[{"AttributeName": "pk", "AttributeType": "S"}],
            BillingMode="PAY_PER_REQUEST", StreamSpecification={
                "StreamEnabled": True, "StreamViewType": "NEW_AND_OLD_IMAGES"},
        )["TableDescription"]["LatestStreamArn"]
        shard = streams.describe_stream(StreamArn=arn)["StreamDescription"]["Shards"][0][
            "ShardId"]
        for start in range(0, items, window):
            count = min(window, items - start)
            tip = streams.get_shard_iterator(StreamArn=arn, ShardId=shard,
                                             ShardIteratorType="LATEST")["ShardIterator"]
            seconds = _put_window(backend, "scale", start, count, writers)
            first_seq = streams.get_records(ShardIterator=tip, Limit=1)["Records"][0][
                "dynamodb"]["SequenceNumber"]
            full_ms, empty_ms, page = _read_times(streams, arn, shard, first_seq, reads) \
                if count >= 1000 else (None, None, None)
            row = {"written": start + count, "put_per_s": round(count / seconds, 1),
                   "get_records_page_ms": full_ms, "page_records": page,
                   "get_records_empty_ms": empty_ms,
                   "rss_mb": round(proc.memory_info().rss / 2**20, 1)}
            results["windows"].append(row)
            print(f"  {row}", flush=True)
            RESULTS.parent.mkdir(parents=True, exist_ok=True)
            RESULTS.write_text(json.dumps(results, indent=2))
    return results


def _change(first: float | None, last: float | None) -> str:
    if not first or last is None:
        return "-"
    return f"{(last - first) / first * 100:+.0f} %"


def main(argv: list[str] | None = None) -> int:
    """Run and print the first and last window side by side."""
    parser = argparse.ArgumentParser(prog="python -m benchmarks.scale")
    parser.add_argument("--items", type=int, default=100_000)
    parser.add_argument("--window", type=int, default=10_000)
    parser.add_argument("--writers", type=int, default=4)
    parser.add_argument("--reads", type=int, default=20)
    args = parser.parse_args(argv)
    results = run(args.items, args.window, args.writers, args.reads)
    first, last = results["windows"][0], results["windows"][-1]
    print(f"\n{'figure':<26}{'first window':>14}{'last window':>14}{'change':>10}")
    for key in ("put_per_s", "get_records_page_ms", "get_records_empty_ms", "rss_mb"):
        print(f"{key:<26}{first[key]!s:>14}{last[key]!s:>14}{_change(first[key], last[key]):>10}")
    print(f"\nresults: {RESULTS}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
