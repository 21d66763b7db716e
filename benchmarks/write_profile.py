"""``python -m benchmarks.write_profile``: where a DynamoDB write spends its time.

boto3 calls go straight into a WSGI app in this process (botocore's
``before-send`` hook hands each prepared request to the app and returns its
answer), so the figures split one write into:

* **client**: boto3 serialising, signing and parsing (measured with a canned
  answer, no server at all);
* **server**: the WSGI app: routing, moto's parsing, the model, the stream
  record, our lock, moto's response (cProfile runs only around the app call);
* what is left of an HTTP round trip (sockets, waitress, the GIL shared with the
  client) is the difference to the figures of ``make bench-peers``.

``--target ours`` profiles our endpoint's ``Router`` (all our patches installed);
``--target moto`` profiles plain moto's app in a fresh process (none of them).
``--target ours-untuned`` is ours without :mod:`localaws.moto_tuning` (before/after).
``--state durable`` serves ours with a saved state (a fresh directory under
``build/profiles/``): every request passes the request gate and notes what it changes
(snapshots themselves are not taken: the endpoint is built, never started).
Times are CPU time of the calling thread (``time.thread_time``), which a busy
machine disturbs far less than wall time.
"""

from __future__ import annotations

import argparse
import cProfile
import io
import os
import pstats
import time
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import boto3
import botocore.config
from botocore.awsrequest import AWSResponse

OUT = Path(__file__).resolve().parents[1] / "build" / "profiles"
ITEM = {"pk": {"S": ""}, "payload": {"S": "x" * 1000}, "n": {"N": "1"}}


class _Body:
    def __init__(self, data: bytes) -> None:
        self._data = data

    def stream(self, **_: Any) -> Any:
        yield self._data


def _app(target: str, state: str = "ephemeral") -> Any:
    if target == "ours-untuned":  # before localaws.moto_tuning: install() made a no-op
        from localaws import moto_tuning

        moto_tuning._installed = True
    if target == "moto":
        from moto.moto_server.werkzeug_app import (
            DomainDispatcherApplication,
            create_backend_app,
        )

        return DomainDispatcherApplication(create_backend_app)
    os.environ.setdefault("WORKSHOP_STATE_DIR", str(OUT / "state"))
    from benchmarks.harness import free_port
    from localaws.server import Endpoint

    saved_state = None
    if state == "durable":
        import tempfile

        saved_state = Path(tempfile.mkdtemp(prefix="state-", dir=OUT))
    # built, never served: its Router is called directly, by clients of 127.0.0.1:4566
    endpoint = Endpoint(free_port(), saved_state=saved_state, allow_hosts=["127.0.0.1:4566"])
    return endpoint.app


def _client(service: str, app: Any, profiler: cProfile.Profile | None,
            server_seconds: list[float]) -> Any:
    from werkzeug.test import EnvironBuilder

    client = boto3.session.Session(
        aws_access_key_id="test", aws_secret_access_key="test", region_name="us-east-1",
    ).client(service, endpoint_url="http://127.0.0.1:4566", config=botocore.config.Config(
        account_id_endpoint_mode="disabled", retries={"max_attempts": 1}))

    def send(request: Any, **_: Any) -> AWSResponse:
        url = urlsplit(request.url)
        body = request.body or b""
        if hasattr(body, "read"):
            body = body.read()
        headers = {k: v.decode() if isinstance(v, bytes) else v
                   for k, v in request.headers.items()}
        environ = EnvironBuilder(method=request.method, path=url.path, query_string=url.query,
                                 headers=headers, data=body,
                                 base_url=f"{url.scheme}://{url.netloc}").get_environ()
        answer: dict[str, Any] = {}

        def start_response(status: str, headers: list[tuple[str, str]],
                           exc_info: Any = None) -> None:
            answer["status"], answer["headers"] = status, headers

        start = time.thread_time()  # CPU time: steadier than wall time on a busy machine
        if profiler is not None:
            profiler.enable()
        data = b"".join(app(environ, start_response))
        if profiler is not None:
            profiler.disable()
        server_seconds.append(time.thread_time() - start)
        return AWSResponse(request.url, int(answer["status"].split()[0]),
                           dict(answer["headers"]), _Body(data))

    client.meta.events.register_first("before-send", send)
    return client


def _canned_client() -> tuple[Any, list[int]]:
    """A client whose every call gets ``{}``: boto3's own cost per call."""
    client = boto3.session.Session(
        aws_access_key_id="test", aws_secret_access_key="test", region_name="us-east-1",
    ).client("dynamodb", endpoint_url="http://127.0.0.1:4566", config=botocore.config.Config(
        account_id_endpoint_mode="disabled", retries={"max_attempts": 1}))
    calls = [0]

    def send(request: Any, **_: Any) -> AWSResponse:
        calls[0] += 1
        return AWSResponse(request.url, 200, {"Content-Type": "application/x-amz-json-1.0"},
                           _Body(b"{}"))

    client.meta.events.register_first("before-send", send)
    return client, calls


def _operations(n: int) -> list[tuple[str, Any]]:
    def put(ddb: Any, table: str) -> None:
        for i in range(n):
            ddb.put_item(TableName=table, Item={**ITEM, "pk": {"S": f"p-{i}"}})

    def update(ddb: Any, table: str) -> None:
        for i in range(n):
            ddb.update_item(TableName=table, Key={"pk": {"S": f"p-{i % 100}"}},
                            UpdateExpression="SET n = n + :one",
                            ExpressionAttributeValues={":one": {"N": "1"}})

    def batch(ddb: Any, table: str) -> None:
        for b in range(n // 25):
            ddb.batch_write_item(RequestItems={table: [
                {"PutRequest": {"Item": {**ITEM, "pk": {"S": f"b-{b}-{i}"}}}}
                for i in range(25)]})

    return [("PutItem", put), ("UpdateItem", update), ("BatchWriteItem (25 items)", batch)]


def _top(profiler: cProfile.Profile, limit: int) -> str:
    out = io.StringIO()
    stats = pstats.Stats(profiler, stream=out)
    stats.sort_stats("tottime").print_stats(limit)
    return out.getvalue()


def main(argv: list[str] | None = None) -> int:
    """Profile the writes and print per-call costs and the top functions."""
    parser = argparse.ArgumentParser(prog="python -m benchmarks.write_profile")
    parser.add_argument("--target", choices=["ours", "ours-untuned", "moto"], default="ours")
    parser.add_argument("--state", choices=["ephemeral", "durable"], default="ephemeral",
                        help="ours only: serve with a saved state (the request gate and "
                             "change tracking on every request)")
    parser.add_argument("-n", type=int, default=1000, help="calls per operation")
    parser.add_argument("--top", type=int, default=25)
    parser.add_argument("--timing-only", action="store_true",
                        help="no cProfile (its overhead triples the figures): per-call times only")
    args = parser.parse_args(argv)
    OUT.mkdir(parents=True, exist_ok=True)
    app = _app(args.target, args.state)
    setup_seconds: list[float] = []
    ddb = _client("dynamodb", app, None, setup_seconds)
    table = "profiled"
    ddb.create_table(TableName=table, KeySchema=[{"AttributeName": "pk", "KeyType": "HASH"}],
                     AttributeDefinitions=[{"AttributeName": "pk", "AttributeType": "S"}],
                     BillingMode="PAY_PER_REQUEST", StreamSpecification={
                         "StreamEnabled": True, "StreamViewType": "NEW_AND_OLD_IMAGES"})
    canned, calls = _canned_client()
    start = time.thread_time()
    for i in range(args.n):
        canned.put_item(TableName=table, Item={**ITEM, "pk": {"S": f"c-{i}"}})
    client_us = (time.thread_time() - start) / calls[0] * 1e6
    print(f"target {args.target}, {args.state} state (CPU time of one thread, us): boto3 "
          f"client alone (canned answer), PutItem: {client_us:.0f} us per call")
    for label, run in _operations(args.n):
        profiler = None if args.timing_only else cProfile.Profile()
        server: list[float] = []
        client = _client("dynamodb", app, profiler, server)
        start = time.thread_time()
        run(client, table)
        total = time.thread_time() - start
        per_call = sum(server) / len(server) * 1e6
        print(f"\n== {label}: {len(server)} calls; server (WSGI app) {per_call:.0f} us per "
              f"call; client+server {total / len(server) * 1e6:.0f} us per call")
        if profiler is not None:
            name = label.split()[0].lower()
            suffix = "-durable" if args.state == "durable" else ""
            profiler.dump_stats(OUT / f"{args.target}{suffix}-{name}.pstats")
            print(_top(profiler, args.top))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
