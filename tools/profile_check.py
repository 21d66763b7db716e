"""Observe, with plain boto3, every intermediate state of the endpoint's AWS timing profile.

Start an endpoint in the AWS profile, then run the check against it::

    python -m localaws up --port 4630 --profile aws --time-scale 0.2 --ephemeral
    python -m tools.profile_check --endpoint-url http://127.0.0.1:4630

It makes the workshop's calls in the workshop's order, each as soon as the previous
one returned (as a script that does not wait would), and prints what it saw: the
error or intermediate state first, then, retrying, the final state, with the time
it took. In order: a fresh role refused by ``CreateFunction``; the function Pending
(``Invoke`` refused) then Active; an update InProgress (a second one refused); a
table CREATING (``PutItem`` refused) with its stream ENABLING; a GSI backfilling
(``Query`` refused); a stream ENABLING after ``UpdateTable``; a policy granted but
not yet seen by the function's own call nor by the mapping's role check; a mapping
Creating then Enabled, its ``LATEST`` resolved when polling starts (a write made
just after Enabled is never delivered, a later one is); log events visible after
a delay; short polls of a small queue that come back empty; a deleted queue's name
refused (``QueueDeletedRecently``); and, unless ``--quick``, ``AWS/Lambda``
metrics on whole minutes after their lag and an alarm starting INSUFFICIENT_DATA,
evaluated on complete minutes. Exits 1 if something was not seen as expected; it
deletes what it created.
"""

from __future__ import annotations

import argparse
import contextlib
import io
import json
import sys
import time
import uuid
import zipfile
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

import boto3
from botocore.config import Config
from botocore.exceptions import ClientError

HANDLER = '''
import os
import boto3


def handler(event, context):
    if event.get("fail"):
        raise RuntimeError("asked to fail")
    for record in event.get("Records", []):
        print("delivered", record["dynamodb"]["Keys"]["pk"]["S"])
    if event.get("describe"):
        try:
            boto3.client("dynamodb").describe_table(TableName=event["describe"])
            return "allowed"
        except Exception as exc:
            return type(exc).__name__ + ": " + str(exc)[:200]
    return "ok"
'''
TRUST = json.dumps({"Version": "2012-10-17", "Statement": [{
    "Effect": "Allow", "Principal": {"Service": "lambda.amazonaws.com"},
    "Action": "sts:AssumeRole"}]})


class Observer:
    """Prints each observation with its time since the start; counts what went wrong."""

    def __init__(self) -> None:
        self.start = time.monotonic()
        self.failures: list[str] = []

    def saw(self, text: str) -> None:
        print(f"{time.monotonic() - self.start:7.2f}s  {text}", flush=True)

    def expect(self, condition: bool, text: str) -> None:
        self.saw(("ok    " if condition else "FAIL  ") + text)
        if not condition:
            self.failures.append(text)

    def until(self, what: str, attempt: Callable[[], Any], timeout: float = 120.0,
              interval: float = 0.05) -> Any:
        """Retry ``attempt`` (an exception or a falsy value is "not yet") until it succeeds."""
        deadline, tries, first = time.monotonic() + timeout, 0, time.monotonic()
        last: Any = None
        while time.monotonic() < deadline:
            tries += 1
            try:
                result = attempt()
            except ClientError as exc:
                result, last = None, exc.response["Error"]["Code"]
            if result:
                self.saw(f"      {what} after {time.monotonic() - first:.2f}s ({tries} tries)")
                return result
            time.sleep(interval)
        self.expect(False, f"{what} within {timeout:.0f}s (last: {last})")
        return None


def error_of(call: Callable[[], Any]) -> tuple[str, str] | None:
    """``(code, message)`` of the error ``call`` raises, or ``None`` when it succeeds."""
    try:
        call()
    except ClientError as exc:
        return exc.response["Error"]["Code"], exc.response["Error"].get("Message", "")
    return None


def clients(endpoint_url: str, region: str) -> dict[str, Any]:
    config = Config(retries={"max_attempts": 1, "mode": "standard"},
                    account_id_endpoint_mode="disabled")
    return {name: boto3.client(name, endpoint_url=endpoint_url, region_name=region,
                               aws_access_key_id="test", aws_secret_access_key="test",
                               config=config)
            for name in ("iam", "lambda", "dynamodb", "dynamodbstreams", "logs", "sqs",
                         "cloudwatch")}


def _zip() -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        archive.writestr("app.py", HANDLER)
    return buffer.getvalue()


def check(endpoint_url: str, region: str = "us-east-1", quick: bool = False) -> int:
    """Run every observation; returns the number of failed expectations."""
    c, o, tag = clients(endpoint_url, region), Observer(), uuid.uuid4().hex[:6]
    role, fn, table, other = f"pc-role-{tag}", f"pc-fn-{tag}", f"pc-t-{tag}", f"pc-u-{tag}"
    queue = f"pc-q-{tag}"
    try:
        _functions(c, o, role, fn)
        stream_arn = _tables(c, o, table, other)
        _permissions_and_mapping(c, o, role, fn, table, stream_arn)
        _queues(c, o, queue)
        if not quick:
            _metrics_and_alarms(c, o, fn)
    finally:
        _clean(c, role, fn, (table, other), queue)
    o.saw(f"done: {len(o.failures)} expectation(s) failed")
    for failure in o.failures:
        print("  failed:", failure)
    return len(o.failures)


def _functions(c: dict[str, Any], o: Observer, role: str, fn: str) -> None:
    arn = c["iam"].create_role(RoleName=role, AssumeRolePolicyDocument=TRUST)["Role"]["Arn"]
    o.saw(f"CreateRole {role}")
    create = {"FunctionName": fn, "Runtime": "python3.12", "Role": arn, "Handler": "app.handler",
              "Code": {"ZipFile": _zip()}, "Timeout": 10}
    refused = error_of(lambda: c["lambda"].create_function(**create))
    o.expect(refused == ("InvalidParameterValueException",
                         "The role defined for the function cannot be assumed by Lambda."),
             f"CreateFunction right after CreateRole: {refused}")
    made = o.until("CreateFunction accepted", lambda: c["lambda"].create_function(**create))
    o.expect(bool(made) and made["State"] == "Pending" and made["StateReasonCode"] == "Creating",
             f"CreateFunction answers State {made and made['State']}")
    refused = error_of(lambda: c["lambda"].invoke(FunctionName=fn, Payload=b"{}"))
    o.expect(bool(refused) and refused[0] == "ResourceConflictException"
             and refused[1].endswith("The function is currently in the following state: Pending"),
             f"Invoke while Pending: {refused}")
    c["lambda"].get_waiter("function_active_v2").wait(
        FunctionName=fn, WaiterConfig={"Delay": 0.05, "MaxAttempts": 600})
    o.saw("      function_active_v2 waiter: Active")
    updated = c["lambda"].update_function_configuration(FunctionName=fn, MemorySize=256)
    o.expect(updated["LastUpdateStatus"] == "InProgress",
             f"UpdateFunctionConfiguration answers LastUpdateStatus {updated['LastUpdateStatus']}")
    refused = error_of(lambda: c["lambda"].update_function_configuration(
        FunctionName=fn, MemorySize=512))
    o.expect(bool(refused) and refused[0] == "ResourceConflictException"
             and "An update is in progress for resource: arn:aws:lambda:" in refused[1],
             f"a second update meanwhile: {refused}")
    c["lambda"].get_waiter("function_updated_v2").wait(
        FunctionName=fn, WaiterConfig={"Delay": 0.05, "MaxAttempts": 600})
    o.saw("      function_updated_v2 waiter: Successful")


def _tables(c: dict[str, Any], o: Observer, table: str, other: str) -> str:
    ddb = c["dynamodb"]
    made = ddb.create_table(
        TableName=table, BillingMode="PAY_PER_REQUEST",
        AttributeDefinitions=[{"AttributeName": "pk", "AttributeType": "S"}],
        KeySchema=[{"AttributeName": "pk", "KeyType": "HASH"}],
        StreamSpecification={"StreamEnabled": True, "StreamViewType": "NEW_AND_OLD_IMAGES"})
    o.expect(made["TableDescription"]["TableStatus"] == "CREATING",
             f"CreateTable answers {made['TableDescription']['TableStatus']}")
    stream_arn = made["TableDescription"]["LatestStreamArn"]
    refused = error_of(lambda: ddb.put_item(TableName=table, Item={"pk": {"S": "x"}}))
    o.expect(refused == ("ResourceNotFoundException", "Requested resource not found"),
             f"PutItem while CREATING: {refused}")
    status = c["dynamodbstreams"].describe_stream(StreamArn=stream_arn)
    o.expect(status["StreamDescription"]["StreamStatus"] == "ENABLING",
             f"DescribeStream while CREATING: {status['StreamDescription']['StreamStatus']}")
    ddb.get_waiter("table_exists").wait(TableName=table,
                                        WaiterConfig={"Delay": 0.05, "MaxAttempts": 600})
    o.saw("      table_exists waiter: ACTIVE")
    ddb.update_table(TableName=table, AttributeDefinitions=[
        {"AttributeName": "g", "AttributeType": "S"}], GlobalSecondaryIndexUpdates=[{"Create": {
            "IndexName": "by-g", "KeySchema": [{"AttributeName": "g", "KeyType": "HASH"}],
            "Projection": {"ProjectionType": "ALL"}}}])
    index = ddb.describe_table(TableName=table)["Table"]["GlobalSecondaryIndexes"][0]
    o.expect(index["IndexStatus"] == "CREATING" and index.get("Backfilling") is True,
             f"new GSI: IndexStatus {index['IndexStatus']}, Backfilling {index.get('Backfilling')}")
    query = {"TableName": table, "IndexName": "by-g", "KeyConditionExpression": "g = :g",
             "ExpressionAttributeValues": {":g": {"S": "a"}}}
    refused = error_of(lambda: ddb.query(**query))
    o.expect(bool(refused) and refused[0] == "ValidationException"
             and "backfilling global secondary index" in refused[1],
             f"Query on the backfilling GSI: {refused}")
    o.until("the GSI ACTIVE", lambda: ddb.describe_table(TableName=table)["Table"][
        "GlobalSecondaryIndexes"][0]["IndexStatus"] == "ACTIVE")
    ddb.create_table(TableName=other, BillingMode="PAY_PER_REQUEST",
                     AttributeDefinitions=[{"AttributeName": "pk", "AttributeType": "S"}],
                     KeySchema=[{"AttributeName": "pk", "KeyType": "HASH"}])
    ddb.get_waiter("table_exists").wait(TableName=other,
                                        WaiterConfig={"Delay": 0.05, "MaxAttempts": 600})
    turned = ddb.update_table(TableName=other, StreamSpecification={
        "StreamEnabled": True, "StreamViewType": "KEYS_ONLY"})["TableDescription"]
    stream = c["dynamodbstreams"].describe_stream(StreamArn=turned["LatestStreamArn"])
    o.expect(turned["TableStatus"] == "UPDATING"
             and stream["StreamDescription"]["StreamStatus"] == "ENABLING",
             f"UpdateTable turning the stream on: table {turned['TableStatus']}, stream "
             f"{stream['StreamDescription']['StreamStatus']}")
    o.until("the stream ENABLED", lambda: c["dynamodbstreams"].describe_stream(
        StreamArn=turned["LatestStreamArn"])["StreamDescription"]["StreamStatus"] == "ENABLED")
    return stream_arn


def _permissions_and_mapping(c: dict[str, Any], o: Observer, role: str, fn: str, table: str,
                             stream_arn: str) -> None:
    lam = c["lambda"]

    def describe_from_function() -> str:
        out = lam.invoke(FunctionName=fn, Payload=json.dumps({"describe": table}).encode())
        return json.loads(out["Payload"].read())

    o.expect(describe_from_function().startswith("ClientError"),
             "the function's DescribeTable before any grant: denied")
    c["iam"].attach_role_policy(
        RoleName=role,
        PolicyArn="arn:aws:iam::aws:policy/service-role/AWSLambdaDynamoDBExecutionRole")
    c["iam"].put_role_policy(RoleName=role, PolicyName="describe", PolicyDocument=json.dumps({
        "Version": "2012-10-17", "Statement": [{"Effect": "Allow",
                                                "Action": "dynamodb:DescribeTable",
                                                "Resource": "*"}]}))
    o.saw("AttachRolePolicy + PutRolePolicy")
    seen = describe_from_function()
    o.expect("AccessDenied" in seen, f"the function's DescribeTable right after the grant: "
                                     f"{seen[:90]}")
    create = {"FunctionName": fn, "EventSourceArn": stream_arn, "StartingPosition": "LATEST",
              "BatchSize": 10}
    made: list[dict[str, Any]] = []
    refused = error_of(lambda: made.append(lam.create_event_source_mapping(**create)))
    o.expect(bool(refused) and refused[0] == "InvalidParameterValueException",
             f"CreateEventSourceMapping right after the grant: {refused and refused[1][:90]}")
    o.until("the function's DescribeTable allowed", lambda: describe_from_function() == "allowed")
    mapping = made[0] if made else o.until("CreateEventSourceMapping accepted",
                                           lambda: lam.create_event_source_mapping(**create))
    if not mapping:
        return
    o.expect(mapping["State"] == "Creating", f"CreateEventSourceMapping answers "
                                             f"{mapping['State']}")
    uuid_ = mapping["UUID"]
    o.until("the mapping Enabled", lambda: lam.get_event_source_mapping(
        UUID=uuid_)["State"] == "Enabled")
    ddb = c["dynamodb"]
    ddb.put_item(TableName=table, Item={"pk": {"S": "written-before-polling"}})
    o.saw("PutItem written-before-polling (the mapping is Enabled, not yet polling)")
    # the longest the first poll can take after Enabled (jitter included), then a margin
    time.sleep(_longest(c, "mapping_polling") * 7 / 6)
    ddb.put_item(TableName=table, Item={"pk": {"S": "written-later"}})
    o.saw("PutItem written-later")
    group = f"/aws/lambda/{fn}"
    logged = o.until("'written-later' delivered and its log line visible", lambda: [
        e for e in c["logs"].filter_log_events(logGroupName=group)["events"]
        if "delivered written-later" in e["message"]], timeout=60)
    events = c["logs"].filter_log_events(logGroupName=group)["events"]
    o.expect(bool(logged) and not any("written-before-polling" in e["message"] for e in events),
             "LATEST resolved when polling started: 'written-before-polling' never delivered")
    lam.delete_event_source_mapping(UUID=uuid_)


def _longest(c: dict[str, Any], kind: str) -> float:
    """The longest a delay of ``kind`` can be on the endpoint (its scale, its cap, jitter)."""
    from localaws.profile.settings import DELAYS, JITTER

    profile = _profile(c)
    delay = DELAYS[kind].seconds * float(profile.get("time_scale", 1.0))
    if profile.get("max_delay_s"):
        delay = min(delay, float(profile["max_delay_s"]))
    return delay * (1 + JITTER)


def _profile(c: dict[str, Any]) -> dict[str, Any]:
    """The endpoint's profile, from its health document (empty when it has none)."""
    import urllib.request

    from localaws.gate import ADMIN_HEADER, read_admin_token

    url = c["lambda"].meta.endpoint_url
    port = int(url.rsplit(":", 1)[1])
    request = urllib.request.Request(f"{url}/_workshop/health",
                                     headers={ADMIN_HEADER: read_admin_token(port) or ""})
    with urllib.request.urlopen(request, timeout=5) as answer:
        return json.loads(answer.read()).get("profile", {})


def _queues(c: dict[str, Any], o: Observer, queue: str) -> None:
    sqs = c["sqs"]
    url = sqs.create_queue(QueueName=queue, Attributes={"VisibilityTimeout": "0"})["QueueUrl"]
    sqs.send_message(QueueUrl=url, MessageBody="one")
    empty = sum(1 for _ in range(20)
                if not sqs.receive_message(QueueUrl=url, WaitTimeSeconds=0).get("Messages"))
    o.expect(0 < empty < 20, f"short polls of a one-message queue: {empty} of 20 came back empty")
    sqs.delete_queue(QueueUrl=url)
    refused = error_of(lambda: sqs.create_queue(QueueName=queue))
    o.expect(bool(refused) and refused[0] == "AWS.SimpleQueueService.QueueDeletedRecently",
             f"CreateQueue right after DeleteQueue: {refused}")
    o.until("the name reusable", lambda: sqs.create_queue(QueueName=queue), interval=0.2)


def _metrics_and_alarms(c: dict[str, Any], o: Observer, fn: str) -> None:
    cw = c["cloudwatch"]
    alarm = f"{fn}-errors"
    cw.put_metric_alarm(AlarmName=alarm, Namespace="AWS/Lambda", MetricName="Errors",
                        Dimensions=[{"Name": "FunctionName", "Value": fn}], Statistic="Sum",
                        Period=60, EvaluationPeriods=1, Threshold=0,
                        ComparisonOperator="GreaterThanThreshold")
    state = cw.describe_alarms(AlarmNames=[alarm])["MetricAlarms"][0]["StateValue"]
    o.expect(state == "INSUFFICIENT_DATA", f"a new alarm: {state}")
    c["lambda"].invoke(FunctionName=fn, Payload=b'{"fail": true}')
    invoked = datetime.now(UTC)
    o.saw("Invoke, failing (the function's only error)")

    def datapoints() -> list[datetime]:  # the minutes with an error
        result = cw.get_metric_data(MetricDataQueries=[{"Id": "i", "MetricStat": {
            "Metric": {"Namespace": "AWS/Lambda", "MetricName": "Errors",
                       "Dimensions": [{"Name": "FunctionName", "Value": fn}]},
            "Period": 1, "Stat": "Sum"}}], StartTime=invoked - timedelta(seconds=30),
            EndTime=datetime.now(UTC) + timedelta(minutes=1))["MetricDataResults"][0]
        return [t for t, v in zip(result["Timestamps"], result["Values"], strict=True) if v > 0]

    o.expect(not datapoints(), "Errors right after the invocation: no datapoint yet")
    points = o.until("the Errors datapoint", datapoints, timeout=200, interval=1)
    minute_over = invoked.replace(second=0, microsecond=0) + timedelta(minutes=1)
    o.expect(datetime.now(UTC) >= minute_over, f"the datapoint visible only after its minute "
                                               f"({minute_over:%H:%M:%S}) was over")
    o.expect(bool(points) and all(p.second == 0 for p in points),
             f"datapoints on whole minutes (Period=1 served as 60): "
             f"{[p.strftime('%H:%M:%S') for p in points or []]}")
    o.until("the alarm in ALARM", lambda: cw.describe_alarms(AlarmNames=[alarm])[
        "MetricAlarms"][0]["StateValue"] == "ALARM", timeout=200, interval=1)
    changed = cw.describe_alarms(AlarmNames=[alarm])["MetricAlarms"][0]["StateUpdatedTimestamp"]
    o.expect(changed.astimezone(UTC) >= invoked.replace(second=0, microsecond=0)
             + timedelta(minutes=1),
             f"ALARM only once the error's minute was complete (invoked "
             f"{invoked:%H:%M:%S}, ALARM at {changed.astimezone(UTC):%H:%M:%S})")
    cw.delete_alarms(AlarmNames=[alarm])


def _clean(c: dict[str, Any], role: str, fn: str, tables: tuple[str, ...], queue: str) -> None:
    steps: list[Callable[[], Any]] = [lambda: c["lambda"].delete_function(FunctionName=fn)]
    steps += [lambda t=t: c["dynamodb"].delete_table(TableName=t) for t in tables]
    steps += [lambda: c["iam"].delete_role_policy(RoleName=role, PolicyName="describe"),
              lambda: c["iam"].detach_role_policy(
                  RoleName=role, PolicyArn="arn:aws:iam::aws:policy/service-role/"
                                           "AWSLambdaDynamoDBExecutionRole"),
              lambda: c["iam"].delete_role(RoleName=role),
              lambda: c["logs"].delete_log_group(logGroupName=f"/aws/lambda/{fn}"),
              lambda: c["sqs"].delete_queue(QueueUrl=c["sqs"].get_queue_url(
                  QueueName=queue)["QueueUrl"])]
    for step in steps:
        with contextlib.suppress(ClientError):
            step()


def main(argv: list[str] | None = None) -> int:
    """Run the check; exit status 1 when an expectation failed."""
    parser = argparse.ArgumentParser(prog="python -m tools.profile_check",
                                     description=__doc__.split("\n", 1)[0])
    parser.add_argument("--endpoint-url", default="http://127.0.0.1:4566")
    parser.add_argument("--region", default="us-east-1")
    parser.add_argument("--quick", action="store_true",
                        help="leave out the metric and alarm checks (they take minutes)")
    args = parser.parse_args(argv)
    return 1 if check(args.endpoint_url, args.region, args.quick) else 0


if __name__ == "__main__":
    sys.exit(main())
