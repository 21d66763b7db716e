"""The benchmark scenarios. Each returns a dict of figures; none asserts anything."""

from __future__ import annotations

import json
import os
import re
import time
from pathlib import Path
from typing import Any

from benchmarks.harness import (
    COPY_NEW_IMAGES,
    count,
    endpoint,
    memory_mb,
    percentiles,
    role,
    table,
    timed_writers,
    wait_until,
)
from helpers.clients import Backend
from helpers.packaging import zip_sources

ROOT = Path(__file__).resolve().parents[1]

# Copies each batch into REPLICA and remembers, per invocation, when the handler
# started and when the copy was written, next to each record's write time. The
# timings stay in the warm environment's memory (no extra write that would slow
# the function down) and are returned by an invocation with {"flush": true}.
TIMED_COPY = '''
import os, time
import boto3

_ddb = None
_timings = []


def handler(event, context):
    started = time.time()
    if event.get("flush"):
        return _timings
    global _ddb
    if _ddb is None:
        _ddb = boto3.client("dynamodb")''' + COPY_NEW_IMAGES + '''    done = time.time()
    _timings.append([started, done, [float(it["written_at"]["N"]) for it in items]])
    return None
'''

NOOP = "def handler(event, context):\n    return None\n"
BOTO3_HANDLER = ("import boto3\n_c = boto3.client('dynamodb')\n\n"
                 "def handler(e, c):\n    return _c.list_tables()['TableNames']\n")


def _deploy(backend: Backend, name: str, code: str, role_arn: str, **settings: Any) -> None:
    backend.client("lambda").create_function(
        FunctionName=name, Runtime="python3.12", Role=role_arn, Handler="app.handler",
        Code={"ZipFile": zip_sources({"app.py": code})}, **settings)


def _write_steady(backend: Backend, table_name: str, n: int, rate: float, prefix: str) -> None:
    ddb = backend.client("dynamodb")
    interval = 1.0 / rate
    start = time.perf_counter()
    for i in range(n):
        target = start + i * interval
        delay = target - time.perf_counter()
        if delay > 0:
            time.sleep(delay)
        ddb.put_item(TableName=table_name, Item={
            "pk": {"S": f"{prefix}-{i}"}, "written_at": {"N": repr(time.time())},
            "payload": {"S": "x" * 100}})


def _timings(backend: Backend, function: str) -> tuple[list[float], list[float], list[int]]:
    response = backend.client("lambda").invoke(FunctionName=function, Payload=b'{"flush": 1}')
    rows = json.loads(response["Payload"].read())
    start_lat, done_lat, sizes = [], [], []
    for started, done, written in rows:
        if not written:
            continue  # the warm-up call
        sizes.append(len(written))
        start_lat += [(started - w) * 1000 for w in written]
        done_lat += [(done - w) * 1000 for w in written]
    return start_lat, done_lat, sizes


def latency(writes: int = 1000, rate: float = 100.0, batch_sizes: tuple[int, ...] = (1, 10, 100),
            poll_interval: float | None = None) -> dict[str, Any]:
    """Write -> handler start and write -> replica visible, at a steady write rate."""
    env = {"WORKSHOP_ESM_POLL_INTERVAL": str(poll_interval)} if poll_interval else None
    results: dict[str, Any] = {}
    with endpoint(env) as (backend, _):
        role_arn = role(backend, "bench-latency", [{
            "Effect": "Allow", "Action": ["dynamodb:BatchWriteItem", "dynamodb:PutItem"],
            "Resource": "*"}])
        lam = backend.client("lambda")
        for size in batch_sizes:
            src, dst = f"src-{size}", f"dst-{size}"
            stream = table(backend, src)
            table(backend, dst, stream=None)
            name = f"timed-copy-{size}"
            # One execution environment, so the timings all live in one place.
            _deploy(backend, name, TIMED_COPY, role_arn, Timeout=30,
                    Environment={"Variables": {"REPLICA": dst}})
            lam.put_function_concurrency(FunctionName=name, ReservedConcurrentExecutions=1)
            lam.invoke(FunctionName=name, Payload=b'{"Records": []}')  # warm it up
            lam.create_event_source_mapping(FunctionName=name, EventSourceArn=stream,
                                             StartingPosition="LATEST", BatchSize=size)
            time.sleep(0.5)
            _write_steady(backend, src, writes, rate, f"b{size}")
            wait_until(lambda d=dst: count(backend, d) >= writes, timeout=300, interval=0.2)
            start_lat, done_lat, sizes = _timings(backend, name)
            results["write_rate_per_s"] = rate
            results[f"batch_{size}"] = {
                "write_to_handler_start_ms": percentiles(start_lat),
                "write_to_replica_ms": percentiles(done_lat),
                "invocations": len(sizes),
                "mean_batch": round(sum(sizes) / max(1, len(sizes)), 1),
            }
    return results


def throughput(n: int = 3000, writers: int = 4) -> dict[str, Any]:
    """Records per second through stream -> replicator -> replica, vs raw writes."""

    def blast(backend: Backend, table_name: str) -> float:
        def write(part: int) -> None:
            ddb = backend.client("dynamodb")
            for i in range(part, n, writers):
                ddb.put_item(TableName=table_name, Item={
                    "PK": {"S": f"request#{i}"}, "GSI_1_PK": {"S": "host#bench"},
                    "bytessent": {"N": str(i)}, "url": {"S": "/bench/" + "x" * 80}})
        return timed_writers(write, writers)

    def keyed_table(backend: Backend, name: str, stream: bool) -> str | None:
        extra = {"StreamSpecification": {"StreamEnabled": True, "StreamViewType": "NEW_IMAGE"}} \
            if stream else {}
        return backend.client("dynamodb").create_table(
            TableName=name, KeySchema=[{"AttributeName": "PK", "KeyType": "HASH"}],
            AttributeDefinitions=[{"AttributeName": "PK", "AttributeType": "S"}],
            BillingMode="PAY_PER_REQUEST", **extra)["TableDescription"].get("LatestStreamArn")

    with endpoint() as (backend, status):
        keyed_table(backend, "raw", stream=False)
        raw_seconds = blast(backend, "raw")
        stream = keyed_table(backend, "logfile", stream=True)
        keyed_table(backend, "logfile_replica", stream=False)
        role_arn = role(backend, "bench-replicator", [{
            "Effect": "Allow", "Action": ["dynamodb:PutItem", "dynamodb:DeleteItem"],
            "Resource": "*"}])
        package = zip_sources({"ddbreplica_lambda.py": (
            ROOT / "lambda_src" / "replicator" / "ddbreplica_lambda.py").read_text()})
        backend.client("lambda").create_function(
            FunctionName="ddbreplica_lambda", Runtime="python3.12", Role=role_arn,
            Handler="ddbreplica_lambda.lambda_handler", Code={"ZipFile": package}, Timeout=60)
        backend.client("lambda").create_event_source_mapping(
            FunctionName="ddbreplica_lambda", EventSourceArn=stream,
            StartingPosition="TRIM_HORIZON", BatchSize=100)
        start = time.perf_counter()
        blast(backend, "logfile")
        wait_until(lambda: count(backend, "logfile_replica") >= n, timeout=600, interval=0.1)
        mapped_seconds = time.perf_counter() - start
        peak = memory_mb(status["pid"], "VmHWM")
    raw_rate, mapped_rate = n / raw_seconds, n / mapped_seconds
    return {"records": n, "raw_writes_per_s": round(raw_rate, 1),
            "through_mapping_per_s": round(mapped_rate, 1),
            "ratio": round(mapped_rate / raw_rate, 2), "endpoint_peak_rss_mb": peak}


def invocation(warm_calls: int = 300, cold_functions: int = 5) -> dict[str, Any]:
    """Warm synchronous invoke round trip of a no-op handler, and cold starts."""
    with endpoint() as (backend, status):
        lam = backend.client("lambda")
        role_arn = role(backend, "bench-invoke", [{  # the boto3 handler lists tables
            "Effect": "Allow", "Action": ["dynamodb:ListTables"], "Resource": "*"}])
        _deploy(backend, "noop", NOOP, role_arn)
        lam.invoke(FunctionName="noop", Payload=b"{}")
        warm = []
        for _ in range(warm_calls):
            start = time.perf_counter()
            lam.invoke(FunctionName="noop", Payload=b"{}")
            warm.append((time.perf_counter() - start) * 1000)
        cold = []
        for k in range(cold_functions):
            _deploy(backend, f"cold-{k}", NOOP, role_arn)
            start = time.perf_counter()
            lam.invoke(FunctionName=f"cold-{k}", Payload=b"{}")
            cold.append((time.perf_counter() - start) * 1000)
        cold_boto3 = []  # a handler that imports boto3 and makes a client at init
        for k in range(cold_functions):
            _deploy(backend, f"cold-boto3-{k}", BOTO3_HANDLER, role_arn)
            start = time.perf_counter()
            lam.invoke(FunctionName=f"cold-boto3-{k}", Payload=b"{}")
            cold_boto3.append((time.perf_counter() - start) * 1000)
        boto3_worker = _boto3_worker_memory(backend, role_arn)
        endpoint_peak = memory_mb(status["pid"], "VmHWM")
    return {"warm_invoke_ms": percentiles(warm), "cold_start_ms": percentiles(cold),
            "boto3_cold_start_ms": percentiles(cold_boto3),
            "boto3_handler_max_memory_used_mb": boto3_worker,
            "endpoint_peak_rss_mb_after_invokes": endpoint_peak}


def _boto3_worker_memory(backend: Backend, role_arn: str) -> int:
    _deploy(backend, "boto3-user", BOTO3_HANDLER, role_arn)
    for _ in range(3):
        backend.client("lambda").invoke(FunctionName="boto3-user", Payload=b"{}")
    events = backend.client("logs").filter_log_events(
        logGroupName="/aws/lambda/boto3-user")["events"]
    used = [int(m) for e in events
            for m in re.findall(r"Max Memory Used: (\d+) MB", e["message"])]
    return max(used)


def workshop() -> dict[str, Any]:
    """Wall time of running every notebook with papermill, on a private endpoint."""
    from helpers import notebook_runs as runner

    with endpoint() as (_, status):
        os.environ["WORKSHOP_LOCAL_PORT"] = str(status["port"])
        start = time.perf_counter()
        runs = runner.run_notebooks(ROOT / "build" / "bench-notebooks", {"backend": "local"},
                                    html=False, echo=False)
        total = time.perf_counter() - start
    return {"total_s": round(total, 1),
            "per_notebook_s": {run.name: round(run.seconds, 1) for run in runs}}
