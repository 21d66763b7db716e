"""Shared pieces of the benchmarks: a private endpoint, deployment, percentiles."""

from __future__ import annotations

import contextlib
import json
import os
import socket
import statistics
import tempfile
import threading
import time
from collections.abc import Callable, Iterator
from typing import Any

from helpers.clients import Backend, get_backend
from localaws import lifecycle

TRUST = json.dumps({"Version": "2012-10-17", "Statement": [{
    "Effect": "Allow", "Principal": {"Service": "lambda.amazonaws.com"},
    "Action": "sts:AssumeRole"}]})
STREAM_POLICY = "arn:aws:iam::aws:policy/service-role/AWSLambdaDynamoDBExecutionRole"


def free_port() -> int:
    """A free TCP port on 127.0.0.1."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@contextlib.contextmanager
def endpoint(env: dict[str, str] | None = None) -> Iterator[tuple[Backend, dict[str, Any]]]:
    """A private endpoint on a free port, stopped afterwards."""
    port = free_port()
    saved = dict(os.environ)
    state = tempfile.mkdtemp(prefix="bench-endpoint-")
    os.environ.update({"WORKSHOP_STATE_DIR": state, **(env or {})})
    try:
        status = lifecycle.up(port)
        backend = get_backend("endpoint", endpoint_url=status["url"])
        yield backend, status
    finally:
        lifecycle.down(port)
        os.environ.clear()
        os.environ.update(saved)


# A handler body's lines that copy each record's NewImage into the table named by
# REPLICA, 25 items a BatchWriteItem; the handler's module imports ``os`` and has a
# DynamoDB client ``_ddb``. The images stay in ``items`` for the lines after it.
COPY_NEW_IMAGES = '''
    items = [r["dynamodb"]["NewImage"] for r in event["Records"]]
    for i in range(0, len(items), 25):
        request = {os.environ["REPLICA"]: [{"PutRequest": {"Item": it}}
                                           for it in items[i:i + 25]]}
        while request:
            request = _ddb.batch_write_item(RequestItems=request).get("UnprocessedItems")
'''


def role(backend: Backend, name: str, statements: list[dict[str, Any]] | None = None) -> str:
    """An execution role with stream access (and ``statements`` inline)."""
    iam = backend.client("iam")
    arn = iam.create_role(RoleName=name, AssumeRolePolicyDocument=TRUST)["Role"]["Arn"]
    iam.attach_role_policy(RoleName=name, PolicyArn=STREAM_POLICY)
    if statements:
        iam.put_role_policy(RoleName=name, PolicyName="bench", PolicyDocument=json.dumps(
            {"Version": "2012-10-17", "Statement": statements}))
    return arn


def table(backend: Backend, name: str, stream: str | None = "NEW_IMAGE") -> str | None:
    """A PAY_PER_REQUEST table keyed by ``pk`` (S); returns the stream ARN."""
    extra: dict[str, Any] = {}
    if stream:
        extra["StreamSpecification"] = {"StreamEnabled": True, "StreamViewType": stream}
    desc = backend.client("dynamodb").create_table(
        TableName=name, KeySchema=[{"AttributeName": "pk", "KeyType": "HASH"}],
        AttributeDefinitions=[{"AttributeName": "pk", "AttributeType": "S"}],
        BillingMode="PAY_PER_REQUEST", **extra)["TableDescription"]
    return desc.get("LatestStreamArn")


def count(backend: Backend, name: str) -> int:
    """Items in a table: ``DescribeTable``'s ``ItemCount``.

    The local endpoint's count is live (on AWS it is refreshed about every six
    hours). A benchmark polls it while it measures: a COUNT scan instead walks,
    sorts and sizes every item (at 3,000 items, ten times a second, it took a third
    of the endpoint's time in the throughput scenario and slowed what it measured).
    """
    table = backend.client("dynamodb").describe_table(TableName=name)["Table"]
    return int(table["ItemCount"])


def timed_writers(write: Callable[[int], None], writers: int) -> float:
    """Run ``write(k)`` on ``writers`` threads at once and time them.

    Parameters
    ----------
    write
        The work of one writer; ``k`` (0 to ``writers - 1``) says which part it writes.
    writers
        How many threads run at the same time.

    Returns
    -------
    float
        Seconds from the first thread's start until the last one has finished.
    """
    start = time.perf_counter()
    threads = [threading.Thread(target=write, args=(k,)) for k in range(writers)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return time.perf_counter() - start


def memory_mb(pid: int, field: str = "VmRSS") -> float:
    """One memory figure of process ``pid`` from ``/proc/<pid>/status``, in MB.

    Parameters
    ----------
    pid
        The process.
    field
        ``"VmRSS"`` (resident now) or ``"VmHWM"`` (the resident peak so far).

    Returns
    -------
    float
        The figure rounded to 0.1 MB; 0.0 when the status file does not list it.
    """
    with open(f"/proc/{pid}/status") as status:
        for line in status:
            if line.startswith(f"{field}:"):
                return round(int(line.split()[1]) / 1024, 1)
    return 0.0


def wait_until(predicate: Any, timeout: float, interval: float = 0.05) -> float:
    """Seconds until ``predicate()`` is true; raises TimeoutError after ``timeout``."""
    start = time.perf_counter()
    while not predicate():
        if time.perf_counter() - start > timeout:
            raise TimeoutError(f"not done after {timeout} s")
        time.sleep(interval)
    return time.perf_counter() - start


def percentiles(values: list[float]) -> dict[str, float]:
    """p50, p95, p99 and max of ``values`` (rounded to 0.1)."""
    if not values:
        return {"n": 0}
    ordered = sorted(values)

    def pick(q: float) -> float:
        return round(ordered[min(len(ordered) - 1, int(q * len(ordered)))], 1)

    return {"n": len(values), "p50": round(statistics.median(ordered), 1), "p95": pick(0.95),
            "p99": pick(0.99), "max": round(ordered[-1], 1)}
