"""Which lock the request pipeline holds while moto serves a request.

moto's DynamoDB, CloudWatch Logs and CloudWatch keep their data in plain dicts and
take no lock. A read that iterates them while a write adds a key fails inside moto
("dictionary changed size during iteration", a 500): a Scan while an item with a new
key is put, a FilterLogEvents while a function's first invocation creates its log
stream. The pipeline serialises each of these services with what writes to it.
"""

from __future__ import annotations

import json
import threading

import pytest

from localaws import backends
from localaws.gate import Gate
from localaws.server import Router
from tests.unit.wsgi import PORT, environ, signed


class LockProbe:
    """A moto stand-in that notes, for each request, whether each lock was held."""

    def __init__(self, locks: dict[str, threading.RLock]) -> None:
        self.locks = locks
        self.held: list[set[str]] = []

    def __call__(self, env, start_response):
        self.held.append({name for name, lock in self.locks.items() if _held(lock)})
        start_response("200 OK", [("Content-Type", "application/x-amz-json-1.0")])
        return [b"{}"]


def _held(lock: threading.RLock) -> bool:
    """Whether some thread holds ``lock`` (asked from another thread: it is reentrant)."""
    free: list[bool] = []

    def probe() -> None:
        got = lock.acquire(blocking=False)
        if got:
            lock.release()
        free.append(got)

    thread = threading.Thread(target=probe)
    thread.start()
    thread.join()
    return not free[0]


class NoLambda:
    def handle(self, request):
        return None


def _serve(headers: dict[str, str], body: bytes) -> set[str]:
    router = Router(None, NoLambda(), lambda: {"status": "ok"}, lambda: None,
                    gate=Gate(PORT, "tok"))
    probe = LockProbe({"table": router.write_lock, "telemetry": backends.LOCK})
    router.moto_app = probe
    status: list[str] = []
    b"".join(router(environ(headers=headers, body=body),
                    lambda s, h, exc_info=None: status.append(s)))
    assert status == ["200 OK"] and len(probe.held) == 1, status
    return probe.held[0]


def _json_request(service: str, target: str, params: dict) -> tuple[dict[str, str], bytes]:
    headers = signed(service, **{"X-Amz-Target": target,
                                 "Content-Type": "application/x-amz-json-1.0"})
    return headers, json.dumps(params).encode()


KEY = {"pk": {"S": "a"}}


@pytest.mark.parametrize(("operation", "params"), [
    ("Scan", {"TableName": "orders"}),
    ("Query", {"TableName": "orders", "KeyConditionExpression": "pk = :a",
               "ExpressionAttributeValues": {":a": {"S": "a"}}}),
    ("GetItem", {"TableName": "orders", "Key": KEY}),
    ("BatchGetItem", {"RequestItems": {"orders": {"Keys": [KEY]}}}),
    ("DescribeTable", {"TableName": "orders"}),
    ("PutItem", {"TableName": "orders", "Item": KEY}),
    ("UpdateTimeToLive", {"TableName": "orders", "TimeToLiveSpecification":
                          {"Enabled": True, "AttributeName": "expires"}}),
], ids=lambda v: v if isinstance(v, str) else "")
def test_every_dynamodb_request_holds_the_table_lock(operation, params):
    # given: a read or a write of a table
    headers, body = _json_request("dynamodb", f"DynamoDB_20120810.{operation}", params)
    # when
    held = _serve(headers, body)
    # then: reads and writes of the table never run side by side
    assert held == {"table"}


@pytest.mark.parametrize(("operation", "params"), [
    ("FilterLogEvents", {"logGroupName": "/aws/lambda/f"}),
    ("GetLogEvents", {"logGroupName": "/aws/lambda/f", "logStreamName": "s"}),
    ("DescribeLogStreams", {"logGroupName": "/aws/lambda/f"}),
], ids=lambda v: v if isinstance(v, str) else "")
def test_log_requests_hold_the_lock_the_function_logs_are_written_under(operation, params):
    # given
    headers, body = _json_request("logs", f"Logs_20140328.{operation}", params)
    # when
    held = _serve(headers, body)
    # then
    assert held == {"telemetry"}


def test_metric_requests_hold_the_lock_the_function_metrics_are_written_under():
    # given: CloudWatch's query protocol
    headers = signed("monitoring", **{"Content-Type": "application/x-www-form-urlencoded"})
    body = b"Action=ListMetrics&Version=2010-08-01&Namespace=AWS%2FLambda"
    # when
    held = _serve(headers, body)
    # then
    assert held == {"telemetry"}


def test_a_queue_request_holds_neither_lock():
    # given: SQS, which our components reach through their own calls
    headers, body = _json_request("sqs", "AmazonSQS.ListQueues", {})
    headers["Content-Type"] = "application/x-amz-json-1.0"
    # when
    held = _serve(headers, body)
    # then
    assert held == set()
