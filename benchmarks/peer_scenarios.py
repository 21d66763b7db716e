"""The scenarios ``make bench-peers`` runs against every rival, each the same calls.

Each scenario takes a :class:`~benchmarks.rivals.Rival` and returns flat figures
(name -> number); none asserts anything. A scenario that needs a function raises
:class:`NotApplicableError` on an endpoint that cannot run one (plain moto).
"""

from __future__ import annotations

import json
import threading
import time
import uuid
from typing import Any

from benchmarks.harness import COPY_NEW_IMAGES, TRUST, percentiles
from helpers.clients import Backend, get_backend
from helpers.packaging import zip_sources

PAYLOAD_1KB = "x" * 1000

# Sends, per invocation, when the handler started and when each record was
# written, to SQS (the "handler that sends to SQS"). The client is made
# at init, as a production function would.
TIMED_SENDER = '''
import json, os, time
import boto3

_sqs = boto3.client("sqs")


def handler(event, context):
    started = time.time()
    written = [float(r["dynamodb"]["NewImage"]["written_at"]["N"]) for r in event["Records"]]
    _sqs.send_message(QueueUrl=os.environ["QUEUE_URL"],
                      MessageBody=json.dumps({"started": started, "written": written}))
'''

REPLICATOR = '''
import os
import boto3

_ddb = boto3.client("dynamodb")


def handler(event, context):''' + COPY_NEW_IMAGES


class NotApplicableError(Exception):
    """The rival cannot serve this scenario (e.g. moto cannot run a function)."""


def backend_for(url: str) -> Backend:
    """A boto3 backend on ``url`` (the project's one client factory)."""
    return get_backend("endpoint", endpoint_url=url)


def _name(prefix: str) -> str:
    return f"{prefix}-{uuid.uuid4().hex[:8]}"


def _table(backend: Backend, name: str, stream: bool) -> str | None:
    extra: dict[str, Any] = {}
    if stream:
        extra["StreamSpecification"] = {"StreamEnabled": True, "StreamViewType": "NEW_IMAGE"}
    desc = backend.client("dynamodb").create_table(
        TableName=name, KeySchema=[{"AttributeName": "pk", "KeyType": "HASH"}],
        AttributeDefinitions=[{"AttributeName": "pk", "AttributeType": "S"}],
        BillingMode="PAY_PER_REQUEST", **extra)["TableDescription"]
    return desc.get("LatestStreamArn")


def _blast(backend: Backend, table: str, n: int, threads: int) -> float:
    """Seconds to put ``n`` 1 KB items with ``threads`` writers (one client each)."""
    clients = [backend.client("dynamodb") for _ in range(threads)]
    barrier = threading.Barrier(threads + 1)

    def write(k: int) -> None:
        ddb = clients[k]
        barrier.wait()
        for i in range(k, n, threads):
            ddb.put_item(TableName=table, Item={"pk": {"S": f"item-{i}"},
                                                "payload": {"S": PAYLOAD_1KB}})

    workers = [threading.Thread(target=write, args=(k,)) for k in range(threads)]
    for worker in workers:
        worker.start()
    barrier.wait()
    start = time.perf_counter()
    for worker in workers:
        worker.join()
    return time.perf_counter() - start


def put_item_rate(rival: Any, n: int = 1000, threads: int = 1) -> dict[str, float]:
    """Raw ``PutItem`` of 1 KB items per second (no stream), ``threads`` writers."""
    backend = backend_for(rival.url)
    table = _name("put")
    _table(backend, table, stream=False)
    ddb = backend.client("dynamodb")
    ddb.put_item(TableName=table, Item={"pk": {"S": "warm"}, "payload": {"S": PAYLOAD_1KB}})
    seconds = _blast(backend, table, n, threads)
    ddb.delete_table(TableName=table)
    return {"per_s": round(n / seconds, 1)}


def create_then_describe(rival: Any, tables: int = 10) -> dict[str, float]:
    """``CreateTable`` and the first ``DescribeTable`` after it, in ms (p50 over tables)."""
    backend = backend_for(rival.url)
    ddb = backend.client("dynamodb")
    ddb.list_tables()
    create, describe = [], []
    for _ in range(tables):
        name = _name("ct")
        start = time.perf_counter()
        _table(backend, name, stream=True)
        middle = time.perf_counter()
        ddb.describe_table(TableName=name)
        end = time.perf_counter()
        create.append((middle - start) * 1000)
        describe.append((end - middle) * 1000)
    return {"create_ms": percentiles(create)["p50"], "describe_ms": percentiles(describe)["p50"]}


def reset(rival: Any, times: int = 5) -> dict[str, float]:
    """The rival's reset call (after a table with items exists), in ms (p50)."""
    backend = backend_for(rival.url)
    took = []
    for _ in range(times):
        table = _name("reset")
        _table(backend, table, stream=True)
        ddb = backend.client("dynamodb")
        for i in range(20):
            ddb.put_item(TableName=table, Item={"pk": {"S": str(i)}})
        start = time.perf_counter()
        rival.reset()
        took.append((time.perf_counter() - start) * 1000)
    return {"reset_ms": percentiles(took)["p50"]}


def _role(backend: Backend, actions: list[str]) -> str:
    iam = backend.client("iam")
    name = _name("bench-role")
    arn = iam.create_role(RoleName=name, AssumeRolePolicyDocument=TRUST)["Role"]["Arn"]
    stream_actions = ["dynamodb:DescribeStream", "dynamodb:GetRecords",
                      "dynamodb:GetShardIterator", "dynamodb:ListStreams",
                      "logs:CreateLogGroup", "logs:CreateLogStream", "logs:PutLogEvents"]
    iam.put_role_policy(RoleName=name, PolicyName="bench", PolicyDocument=json.dumps({
        "Version": "2012-10-17", "Statement": [
            {"Effect": "Allow", "Action": stream_actions + actions, "Resource": "*"}]}))
    return arn


def _function(backend: Backend, name: str, code: str, role: str,
              variables: dict[str, str]) -> None:
    lam = backend.client("lambda")
    lam.create_function(FunctionName=name, Runtime="python3.12", Role=role,
                        Handler="app.handler", Code={"ZipFile": zip_sources({"app.py": code})},
                        Timeout=30, Environment={"Variables": variables})
    deadline = time.monotonic() + 60
    while lam.get_function(FunctionName=name)["Configuration"].get("State") not in (
            None, "Active"):
        if time.monotonic() > deadline:
            raise TimeoutError(f"function {name} not Active after 60 s")
        time.sleep(0.1)


def _mapping(backend: Backend, function: str, stream: str, batch: int, start: str) -> str:
    lam = backend.client("lambda")
    uid = lam.create_event_source_mapping(FunctionName=function, EventSourceArn=stream,
                                          StartingPosition=start, BatchSize=batch)["UUID"]
    deadline = time.monotonic() + 60
    while lam.get_event_source_mapping(UUID=uid)["State"] != "Enabled":
        if time.monotonic() > deadline:
            raise TimeoutError("mapping not Enabled after 60 s")
        time.sleep(0.1)
    return uid


def _drain(sqs: Any, queue: str, records: int, timeout: float) -> list[dict[str, Any]]:
    """Receive (and delete) messages until they cover ``records`` records."""
    bodies: list[dict[str, Any]] = []
    seen = 0
    deadline = time.monotonic() + timeout
    while seen < records:
        if time.monotonic() > deadline:
            raise TimeoutError(f"{seen} of {records} records reached the queue")
        messages = sqs.receive_message(QueueUrl=queue, MaxNumberOfMessages=10,
                                       WaitTimeSeconds=1).get("Messages", [])
        for message in messages:
            body = json.loads(message["Body"])
            bodies.append(body)
            seen += len(body["written"])
        if messages:
            sqs.delete_message_batch(QueueUrl=queue, Entries=[
                {"Id": str(i), "ReceiptHandle": m["ReceiptHandle"]}
                for i, m in enumerate(messages)])
    return bodies


def write_to_handler(rival: Any, writes: int = 500, rate: float = 50.0,
                     batch: int = 10) -> dict[str, float]:
    """Write -> handler start (ms, p50/p99): steady writes, handler sends to SQS."""
    if not rival.runs_functions:
        raise NotApplicableError("cannot run a Lambda function without Docker")
    backend = backend_for(rival.url)
    table, function = _name("lat"), _name("timed-sender")
    stream = _table(backend, table, stream=True)
    sqs = backend.client("sqs")
    queue = sqs.create_queue(QueueName=_name("timings"))["QueueUrl"]
    role = _role(backend, ["sqs:SendMessage"])
    _function(backend, function, TIMED_SENDER, role, {"QUEUE_URL": queue})
    _mapping(backend, function, stream, batch, "LATEST")
    ddb = backend.client("dynamodb")
    # Warm-up: one record end to end (the worker's cold start is not measured).
    ddb.put_item(TableName=table, Item={"pk": {"S": "warm"},
                                        "written_at": {"N": repr(time.time())}})
    _drain(sqs, queue, 1, timeout=120)
    interval = 1.0 / rate
    start = time.perf_counter()
    for i in range(writes):
        delay = start + i * interval - time.perf_counter()
        if delay > 0:
            time.sleep(delay)
        ddb.put_item(TableName=table, Item={"pk": {"S": f"w-{i}"},
                                            "written_at": {"N": repr(time.time())},
                                            "payload": {"S": "x" * 100}})
    bodies = _drain(sqs, queue, writes, timeout=300)
    latencies = [(b["started"] - w) * 1000 for b in bodies for w in b["written"]]
    figures = percentiles(latencies)
    return {"p50_ms": figures["p50"], "p99_ms": figures["p99"],
            "mean_batch": round(writes / max(1, len(bodies)), 1)}


def mapping_throughput(rival: Any, n: int = 2000, threads: int = 4) -> dict[str, float]:
    """Records/s through stream -> function -> replica, against raw writes; their ratio."""
    if not rival.runs_functions:
        raise NotApplicableError("cannot run a Lambda function without Docker")
    backend = backend_for(rival.url)
    raw, source, replica = _name("raw"), _name("src"), _name("replica")
    _table(backend, raw, stream=False)
    raw_seconds = _blast(backend, raw, n, threads)
    stream = _table(backend, source, stream=True)
    _table(backend, replica, stream=False)
    function = _name("replicator")
    role = _role(backend, ["dynamodb:BatchWriteItem"])
    _function(backend, function, REPLICATOR, role, {"REPLICA": replica})
    _mapping(backend, function, stream, 100, "TRIM_HORIZON")
    ddb = backend.client("dynamodb")
    # Each writer's last item is the newest record of its share; the stream has
    # one shard processed in order, so once all of them are copied, all are.
    last = sorted({max(range(k, n, threads)) for k in range(threads)})
    keys = [{"pk": {"S": f"item-{i}"}} for i in last]
    start = time.perf_counter()
    _blast(backend, source, n, threads)
    deadline = time.monotonic() + 600
    while True:
        got = ddb.batch_get_item(RequestItems={replica: {"Keys": keys}})["Responses"]
        if len(got.get(replica, [])) == len(keys):
            break
        if time.monotonic() > deadline:
            raise TimeoutError("replica incomplete after 600 s")
        time.sleep(0.02)
    mapped_seconds = time.perf_counter() - start
    count = sum(page["Count"] for page in ddb.get_paginator("scan").paginate(
        TableName=replica, Select="COUNT"))
    raw_rate, mapped_rate = n / raw_seconds, n / mapped_seconds
    return {"raw_per_s": round(raw_rate, 1), "mapped_per_s": round(mapped_rate, 1),
            "ratio": round(mapped_rate / raw_rate, 2), "copied": count}


SCENARIOS = {
    "put_item_sequential": lambda r, q: put_item_rate(r, n=300 if q else 1000, threads=1),
    "put_item_4_threads": lambda r, q: put_item_rate(r, n=600 if q else 2000, threads=4),
    "create_then_describe": lambda r, q: create_then_describe(r, tables=5 if q else 10),
    "write_to_handler": lambda r, q: write_to_handler(r, writes=150 if q else 500),
    "mapping_throughput": lambda r, q: mapping_throughput(r, n=600 if q else 2000),
    "reset": lambda r, q: reset(r, times=3 if q else 5),
}
