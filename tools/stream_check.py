"""Check a stream's life cycle end to end with plain boto3: rollover, delivery, trim, TTL.

Start an endpoint with short settings, then run the check against it::

    python -m localaws up --port 4615 --shard-lifetime 4 --stream-retention 30 --ttl-sweep 2
    python -m tools.stream_check --endpoint-url http://127.0.0.1:4615

It creates a table with a stream and TTL, a function and a mapping, writes for
more than two shard lifetimes, and checks that: shards roll over with lineage
(``ParentShardId``, ``EndingSequenceNumber``, paged ``DescribeStream``); the mapping
delivers every record once, in per-key order, across the shards; an expired item
disappears with a REMOVE record from the service identity; and, once the
retention has passed, an old position answers ``TrimmedDataAccessException``.
It deletes what it created and exits 1 if a check failed. The timings come
from the endpoint's health document (or ``--shard-lifetime`` etc. elsewhere).
"""

from __future__ import annotations

import argparse
import contextlib
import io
import itertools
import json
import sys
import time
import urllib.parse
import urllib.request
import uuid
import zipfile
from collections.abc import Callable
from typing import Any

from botocore.exceptions import ClientError

from helpers.clients import get_backend

HANDLER = '''
import json, os, time
import boto3

_ddb = boto3.client("dynamodb")


def handler(event, context):
    for index, record in enumerate(event["Records"]):
        image = record["dynamodb"].get("NewImage") or record["dynamodb"].get("OldImage") or {}
        at = "%.6f/%04d" % (time.time(), index)
        _ddb.put_item(TableName=os.environ["RESULTS"], Item={  # a re-delivery adds an item
            "seq": {"S": record["dynamodb"]["SequenceNumber"] + "@" + at},
            "pk": {"S": record["dynamodb"]["Keys"]["pk"]["S"]},
            "v": {"N": image.get("v", {}).get("N", "-1")},
            "event": {"S": record["eventName"]},
            "identity": {"S": json.dumps(record.get("userIdentity"))},
            "at": {"S": at},
        })
'''
TRUST = {"Version": "2012-10-17", "Statement": [{
    "Effect": "Allow", "Principal": {"Service": "lambda.amazonaws.com"},
    "Action": "sts:AssumeRole"}]}
STREAM_POLICY = "arn:aws:iam::aws:policy/service-role/AWSLambdaDynamoDBExecutionRole"


def endpoint_settings(endpoint_url: str) -> dict[str, float] | None:
    """The local endpoint's stream settings from its health document, if it has one.

    The health route wants the endpoint's admin token (in its state directory on
    this machine); another endpoint, or one of another checkout, answers nothing.
    """
    port = urllib.parse.urlsplit(endpoint_url).port
    if port is None:
        return None
    from localaws import lifecycle

    try:
        return lifecycle.admin_request(port, "/_workshop/health", timeout=5).get("streams")
    except (OSError, ValueError):
        return None


def _wait(predicate: Any, timeout: float, interval: float = 0.2) -> Any:
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value or time.monotonic() > deadline:
            return value
        time.sleep(interval)


def _shards(streams: Any, arn: str) -> list[dict[str, Any]]:
    # One shard per page, so that paging is checked too (DescribeStream has no paginator).
    out, kwargs = [], {"StreamArn": arn, "Limit": 1}
    while True:
        page = streams.describe_stream(**kwargs)["StreamDescription"]
        out.extend(page["Shards"])
        if "LastEvaluatedShardId" not in page:
            return out
        kwargs["ExclusiveStartShardId"] = page["LastEvaluatedShardId"]


def _scan(ddb: Any, table: str) -> list[dict[str, Any]]:
    pages = ddb.get_paginator("scan").paginate(TableName=table, ConsistentRead=True)
    return [item for page in pages for item in page["Items"]]


def _zip(source: str) -> bytes:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as archive:
        archive.writestr("app.py", source)
    return buf.getvalue()


def run(backend: Any, settings: dict[str, float], parallelization: int = 1,
        log: Any = print, age: Callable[[float], Any] = time.sleep) -> dict[str, Any]:
    """Run every check; returns ``{"checks": {name: bool}, "figures": {...}}``.

    Parameters
    ----------
    backend : helpers.clients.Backend
        Where to run.
    settings : dict
        ``shard_lifetime``, ``stream_retention`` and ``ttl_sweep`` in seconds.
    parallelization : int
        The mapping's ``ParallelizationFactor``.
    log : callable
        Progress output.
    age : callable
        Makes that many seconds pass for the stream before the trimming check:
        ``time.sleep`` (any endpoint), or a local endpoint's stream clock moved on
        (``POST /_workshop/streams/clock``), which ages the records without waiting.
    """
    name = f"stream-check-{uuid.uuid4().hex[:8]}"
    source, results = f"{name}-source", f"{name}-results"
    ddb, lam, iam = (backend.client(s) for s in ("dynamodb", "lambda", "iam"))
    streams = backend.client("dynamodbstreams")
    lifetime, retention = settings["shard_lifetime"], settings["stream_retention"]
    checks: dict[str, bool] = {}
    figures: dict[str, Any] = {}
    mapping = None
    try:
        arn = ddb.create_table(
            TableName=source, KeySchema=[{"AttributeName": "pk", "KeyType": "HASH"}],
            AttributeDefinitions=[{"AttributeName": "pk", "AttributeType": "S"}],
            BillingMode="PAY_PER_REQUEST",
            StreamSpecification={"StreamEnabled": True, "StreamViewType": "NEW_AND_OLD_IMAGES"},
        )["TableDescription"]["LatestStreamArn"]
        ddb.create_table(
            TableName=results, KeySchema=[{"AttributeName": "seq", "KeyType": "HASH"}],
            AttributeDefinitions=[{"AttributeName": "seq", "AttributeType": "S"}],
            BillingMode="PAY_PER_REQUEST")
        for table in (source, results):
            ddb.get_waiter("table_exists").wait(TableName=table)
        ddb.update_time_to_live(TableName=source, TimeToLiveSpecification={
            "Enabled": True, "AttributeName": "expires"})
        role = iam.create_role(RoleName=f"{name}-role",
                               AssumeRolePolicyDocument=json.dumps(TRUST))["Role"]["Arn"]
        iam.attach_role_policy(RoleName=f"{name}-role", PolicyArn=STREAM_POLICY)
        iam.put_role_policy(RoleName=f"{name}-role", PolicyName="results",
                            PolicyDocument=json.dumps({"Version": "2012-10-17", "Statement": [{
                                "Effect": "Allow", "Action": "dynamodb:PutItem",
                                "Resource": "*"}]}))
        lam.create_function(FunctionName=name, Runtime="python3.12", Role=role,
                            Handler="app.handler", Code={"ZipFile": _zip(HANDLER)},
                            Timeout=30, Environment={"Variables": {"RESULTS": results}})
        lam.get_waiter("function_active_v2").wait(FunctionName=name)
        mapping = lam.create_event_source_mapping(
            FunctionName=name, EventSourceArn=arn, StartingPosition="TRIM_HORIZON",
            BatchSize=10, ParallelizationFactor=parallelization)["UUID"]
        _wait(lambda: lam.get_event_source_mapping(UUID=mapping)["State"] == "Enabled", 120)

        # Writes for more than two shard lifetimes.
        log(f"writing for {2.5 * lifetime:.0f} s (shards live {lifetime:g} s)")
        started = time.monotonic()
        written: list[tuple[str, int]] = []
        version = 0
        early_iterator = None
        while time.monotonic() - started < 2.5 * lifetime:
            for key in ("k0", "k1", "k2", "k3", "k4"):
                ddb.put_item(TableName=source,
                             Item={"pk": {"S": key}, "v": {"N": str(version)}})
                written.append((key, version))
            if early_iterator is None:
                first = _shards(streams, arn)[0]["ShardId"]
                early_iterator = streams.get_shard_iterator(
                    StreamArn=arn, ShardId=first,
                    ShardIteratorType="TRIM_HORIZON")["ShardIterator"]
            version += 1
            time.sleep(0.05)
        first_write = started
        figures["records_written"] = len(written)

        shards = _shards(streams, arn)
        figures["shards"] = len(shards)
        lineage = all(child.get("ParentShardId") == parent["ShardId"]
                      and "EndingSequenceNumber" in parent["SequenceNumberRange"]
                      for parent, child in itertools.pairwise(shards))
        checks["shards roll over with lineage"] = len(shards) >= 3 and lineage
        log(f"{len(shards)} shards: " + " <- ".join(s["ShardId"][-8:] for s in shards))

        delivered = _wait(lambda: (items := _scan(ddb, results))
                          and len(items) >= len(written) and items,
                          timeout=120) or _scan(ddb, results)
        order = sorted(delivered, key=lambda i: i["at"]["S"])
        per_key: dict[str, list[int]] = {}
        for item in order:
            per_key.setdefault(item["pk"]["S"], []).append(int(item["v"]["N"]))
        wanted: dict[str, list[int]] = {}
        for key, value in written:
            wanted.setdefault(key, []).append(value)
        checks["every record delivered once, in per-key order"] = per_key == wanted
        figures["records_delivered"] = len(delivered)

        # TTL: an expired item disappears with a service REMOVE.
        ddb.put_item(TableName=source, Item={"pk": {"S": "session"}, "v": {"N": "0"},
                                             "expires": {"N": str(int(time.time()) - 1)}})
        figures["expired_item_readable_before_sweep"] = "Item" in ddb.get_item(
            TableName=source, Key={"pk": {"S": "session"}})
        gone = _wait(lambda: "Item" not in ddb.get_item(
            TableName=source, Key={"pk": {"S": "session"}}), 3 * settings["ttl_sweep"] + 10)
        removes = _wait(lambda: [
            i for i in _scan(ddb, results) if i["pk"]["S"] == "session"
            and i["event"]["S"] == "REMOVE"], 30)
        identity = json.loads(removes[0]["identity"]["S"]) if removes else None
        checks["expired item deleted by the service"] = bool(gone) and identity == {
            "type": "Service", "principalId": "dynamodb.amazonaws.com"}
        log(f"TTL deletion seen by the function with userIdentity {identity}")

        # Trimming: once the retention has passed, the oldest position is gone.
        wait = first_write + retention + lifetime + 1 - time.monotonic()
        if wait > 0:
            log(f"waiting {wait:.0f} s for the retention ({retention:g} s) to pass")
            age(wait)
        try:
            streams.get_records(ShardIterator=early_iterator)
            code, message = None, None
        except ClientError as err:
            code, message = err.response["Error"]["Code"], err.response["Error"]["Message"]
        checks["trimmed position answers TrimmedDataAccessException"] = (
            code == "TrimmedDataAccessException"
            and message == "The data you are trying to access has been trimmed.")
        log(f"GetRecords at the oldest position after the retention: {code}: {message}")
        figures["shards_after_retention"] = len(_shards(streams, arn))
    finally:
        _cleanup(backend, name, mapping)
    return {"checks": checks, "figures": figures}


def _cleanup(backend: Any, name: str, mapping: str | None) -> None:
    calls = [
        lambda: mapping and backend.client("lambda").delete_event_source_mapping(UUID=mapping),
        lambda: backend.client("lambda").delete_function(FunctionName=name),
        lambda: backend.client("dynamodb").delete_table(TableName=f"{name}-source"),
        lambda: backend.client("dynamodb").delete_table(TableName=f"{name}-results"),
        lambda: backend.client("iam").delete_role_policy(RoleName=f"{name}-role",
                                                         PolicyName="results"),
        lambda: backend.client("iam").detach_role_policy(RoleName=f"{name}-role",
                                                         PolicyArn=STREAM_POLICY),
        lambda: backend.client("iam").delete_role(RoleName=f"{name}-role"),
    ]
    for call in calls:
        with contextlib.suppress(ClientError):
            call()


def main(argv: list[str] | None = None) -> int:
    """Command line; returns the exit status."""
    parser = argparse.ArgumentParser(prog="python -m tools.stream_check",
                                     description=__doc__.split("\n\n")[0])
    parser.add_argument("--endpoint-url", default="http://127.0.0.1:4566")
    parser.add_argument("--parallelization", type=int, default=1)
    for flag in ("--shard-lifetime", "--stream-retention", "--ttl-sweep"):
        parser.add_argument(flag, type=float, default=None,
                            help="needed when the endpoint has no health document")
    args = parser.parse_args(argv)
    settings = endpoint_settings(args.endpoint_url) or {}
    for key in ("shard_lifetime", "stream_retention", "ttl_sweep"):
        if getattr(args, key) is not None:
            settings[key] = getattr(args, key)
    if set(settings) < {"shard_lifetime", "stream_retention", "ttl_sweep"}:
        parser.error("give --shard-lifetime, --stream-retention and --ttl-sweep")
    backend = get_backend("endpoint", endpoint_url=args.endpoint_url)
    report = run(backend, settings, args.parallelization)
    for check, ok in report["checks"].items():
        print(f"{'PASS' if ok else 'FAIL'}  {check}")
    print(json.dumps(report["figures"]))
    return 0 if report["checks"] and all(report["checks"].values()) else 1


if __name__ == "__main__":
    sys.exit(main())
