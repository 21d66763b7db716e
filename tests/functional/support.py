"""Building blocks for functional tests: deploy code, make roles and tables, wait.

Everything goes through boto3 clients of the session's local endpoint, as a
learner's own code would.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from helpers.invocation_log import mappings_caught_up
from helpers.packaging import zip_sources as zip_code

TRUST = json.dumps({
    "Version": "2012-10-17",
    "Statement": [{"Effect": "Allow", "Principal": {"Service": "lambda.amazonaws.com"},
                   "Action": "sts:AssumeRole"}],
})
STREAM_POLICY = "arn:aws:iam::aws:policy/service-role/AWSLambdaDynamoDBExecutionRole"
# What a mapping's on-failure destination needs of the function's role.
DESTINATIONS = [{"Effect": "Allow", "Action": ["sqs:SendMessage", "sns:Publish"],
                 "Resource": "*"}]

# A handler whose behaviour is chosen by data: each record's NewImage (or Keys)
# attribute "mode" may say raise / sleep / report / exit / oom / respond:<json> /
# pause:<seconds>. Every invocation is journaled into the table named by
# JOURNAL_TABLE (one item per invocation, with the process id that ran it).
JOURNAL_HANDLER = '''
import json, os, time, uuid
import boto3

_ddb = None


def _client():
    global _ddb
    if _ddb is None:
        _ddb = boto3.client("dynamodb")
    return _ddb


def _mode(record):
    image = record["dynamodb"].get("NewImage") or record["dynamodb"].get("OldImage") or {}
    return image.get("mode", {}).get("S", "ok")


def handler(event, context):
    records = event.get("Records", [])
    seqs = [r["dynamodb"]["SequenceNumber"] for r in records]
    keys = [json.dumps(r["dynamodb"]["Keys"], sort_keys=True) for r in records]
    modes = [_mode(r) for r in records]
    _client().put_item(TableName=os.environ["JOURNAL_TABLE"], Item={
        "id": {"S": context.aws_request_id},
        "at": {"N": repr(time.time())},
        "seqs": {"S": json.dumps(seqs)},
        "keys": {"S": json.dumps(keys)},
        "modes": {"S": json.dumps(modes)},
        "pid": {"N": str(os.getpid())},
    })
    failures = []
    for record, mode in zip(records, modes):
        if mode == "raise":
            raise RuntimeError("poison record " + record["dynamodb"]["SequenceNumber"])
        if mode == "sleep":
            time.sleep(context.get_remaining_time_in_millis() / 1000 + 1)
        if mode == "exit":
            os._exit(3)
        if mode == "oom":
            hog = [bytearray(16 * 1024 * 1024) for _ in range(64)]
            return len(hog)
        if mode == "report":
            failures.append({"itemIdentifier": record["dynamodb"]["SequenceNumber"]})
        if mode.startswith("respond:"):
            return json.loads(mode[len("respond:"):])
        if mode.startswith("pause:"):
            time.sleep(float(mode[len("pause:"):]))
    return {"batchItemFailures": failures}
'''

# Handler source that journals the whole event it received, as JSON text (one item
# per invocation in the table named by JOURNAL_TABLE): ``journal_event(event, context)``.
# A handler that does more begins with it (EVENT_JOURNAL + its own ``handler``).
EVENT_JOURNAL = '''
import json, os, time
import boto3


def journal_event(event, context):
    boto3.client("dynamodb").put_item(TableName=os.environ["JOURNAL_TABLE"], Item={
        "id": {"S": context.aws_request_id},
        "at": {"N": repr(time.time())},
        "event": {"S": json.dumps(event)},
    })
'''

# A handler that only journals the whole event it received.
EVENT_JOURNAL_HANDLER = EVENT_JOURNAL + '''

def handler(event, context):
    journal_event(event, context)
'''


# What the test handlers do with their own credentials (journal and replica tables).
TABLE_WRITES = {"Effect": "Allow", "Action": ["dynamodb:PutItem", "dynamodb:DeleteItem",
                                              "dynamodb:BatchWriteItem"],
                "Resource": "arn:aws:dynamodb:*:123456789012:table/*"}


def make_role(backend: Any, name: str, *, stream_access: bool = True, table_writes: bool = True,
              extra: list[dict[str, Any]] | None = None) -> str:
    """An execution role; with the managed stream policy (which also grants the log
    actions) and item writes on every table, unless told otherwise.

    The endpoint authorizes a function's calls by its role, as AWS does, so the
    test handlers' journal writes need ``table_writes``.
    """
    iam = backend.client("iam")
    arn = iam.create_role(RoleName=name, AssumeRolePolicyDocument=TRUST)["Role"]["Arn"]
    if stream_access:
        iam.attach_role_policy(RoleName=name, PolicyArn=STREAM_POLICY)
    statements = ([TABLE_WRITES] if table_writes else []) + list(extra or [])
    if statements:
        iam.put_role_policy(RoleName=name, PolicyName="extra", PolicyDocument=json.dumps(
            {"Version": "2012-10-17", "Statement": statements}))
    return arn


def deploy(backend: Any, name: str, files: dict[str, str], *, role: str,
           handler: str = "app.handler", **settings: Any) -> dict[str, Any]:
    """Create a python3.12 function from source files."""
    return backend.client("lambda").create_function(
        FunctionName=name, Runtime=settings.pop("Runtime", "python3.12"), Role=role,
        Handler=handler, Code={"ZipFile": zip_code(files)}, **settings)


def make_table(backend: Any, name: str, *, view_type: str | None = "NEW_AND_OLD_IMAGES",
               key: str = "pk") -> str | None:
    """A PAY_PER_REQUEST table with a string hash key; returns its stream ARN."""
    ddb = backend.client("dynamodb")
    args: dict[str, Any] = {}
    if view_type:
        args["StreamSpecification"] = {"StreamEnabled": True, "StreamViewType": view_type}
    table = ddb.create_table(
        TableName=name, KeySchema=[{"AttributeName": key, "KeyType": "HASH"}],
        AttributeDefinitions=[{"AttributeName": key, "AttributeType": "S"}],
        BillingMode="PAY_PER_REQUEST", **args)["TableDescription"]
    return table.get("LatestStreamArn")


@dataclass(frozen=True)
class Journaled:
    """A deployed function that journals its invocations, with its two tables."""

    name: str  #: the function's name
    function_arn: str
    table: str  #: the source table
    stream: str | None  #: the source table's stream ARN
    journal_table: str  #: where the function journals (``JOURNAL_TABLE``)


def journaled_function(backend: Any, name: str, *, role: str, handler: str = JOURNAL_HANDLER,
                       source: str = "source", view_type: str | None = "NEW_AND_OLD_IMAGES",
                       **settings: Any) -> Journaled:
    """Deploy ``handler`` as function ``name`` with its journal and a source table.

    Parameters
    ----------
    backend
        The backend whose clients make the resources.
    name
        The function's name; the tables are ``<name>-journal`` and ``<name>-<source>``.
    role
        The function's execution role ARN.
    handler
        The source of ``app.py``; it reads the journal table's name from ``JOURNAL_TABLE``.
    source
        The source table's name after ``<name>-``.
    view_type
        The source table's stream view type (``None``: no stream).
    **settings
        Further CreateFunction parameters (``Timeout``, ``MemorySize``, ...).

    Returns
    -------
    Journaled
        The function's name and ARN, and the names of its tables and the stream ARN.
    """
    journal_table = f"{name}-journal"
    make_table(backend, journal_table, view_type=None, key="id")
    function = deploy(backend, name, {"app.py": handler}, role=role,
                      Environment={"Variables": {"JOURNAL_TABLE": journal_table}}, **settings)
    table = f"{name}-{source}"
    stream = make_table(backend, table, view_type=view_type)
    return Journaled(name, function["FunctionArn"], table, stream, journal_table)


def map_stream(backend: Any, function: str, stream: str, *,
               starting_position: str = "TRIM_HORIZON", state: str = "Enabled",
               **settings: Any) -> str:
    """Map ``stream`` to ``function`` and wait until the mapping is ``state``.

    Parameters
    ----------
    backend
        The backend whose Lambda client makes the mapping.
    function
        The function's name or ARN.
    stream
        The stream ARN.
    starting_position
        Where the mapping starts reading.
    state
        The state to wait for (``Disabled`` for a mapping made with ``Enabled=False``).
    **settings
        Further CreateEventSourceMapping parameters.

    Returns
    -------
    str
        The mapping's UUID.
    """
    uuid = backend.client("lambda").create_event_source_mapping(
        FunctionName=function, EventSourceArn=stream, StartingPosition=starting_position,
        **settings)["UUID"]
    wait_for_state(backend, uuid, state)
    return uuid


def wait_for(predicate: Callable[[], Any], timeout: float = 30.0, interval: float = 0.05,
             message: str = "condition") -> Any:
    """Poll ``predicate`` until it returns something truthy; fail after ``timeout``."""
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout} s waiting for {message}")
        time.sleep(interval)


def wait_until_idle(backend: Any, function: str, timeout: float = 30.0) -> None:
    """Wait until the engine has nothing left to deliver to ``function``.

    The engine answers ``GET /_workshop/mappings/idle``: every mapping of the
    function has read its stream to the end with no batch in flight (a retry's
    backoff and an on-failure send count as in flight). A write wakes the mapping
    before it is answered, so once this returns, whatever was written before was
    delivered, dead-lettered or filtered out, and nothing more comes unless
    something writes.
    """
    caught_up = mappings_caught_up([backend], function)
    assert caught_up is not None, "the endpoint does not answer /_workshop/mappings/idle"
    wait_for(caught_up, timeout=timeout, interval=0.02,
             message=f"the mappings of {function} to be idle")


def lambda_metric(backend: Any, function: str, name: str, stat: str) -> list[float]:
    """A function's ``AWS/Lambda`` datapoints of metric ``name`` (statistic ``stat``),
    per minute, from five minutes ago to five minutes ahead."""
    now = datetime.now(UTC)
    points = backend.client("cloudwatch").get_metric_statistics(
        Namespace="AWS/Lambda", MetricName=name, Statistics=[stat], Period=60,
        Dimensions=[{"Name": "FunctionName", "Value": function}],
        StartTime=now - timedelta(minutes=5), EndTime=now + timedelta(minutes=5))["Datapoints"]
    return [p[stat] for p in points]


def journal(backend: Any, table: str) -> list[dict[str, Any]]:
    """Invocations recorded by JOURNAL_HANDLER, oldest first."""
    out = [{"id": i["id"]["S"], "at": float(i["at"]["N"]), "seqs": json.loads(i["seqs"]["S"]),
            "keys": json.loads(i["keys"]["S"]), "modes": json.loads(i["modes"]["S"]),
            "pid": int(i["pid"]["N"]) if "pid" in i else None}
           for i in _scan(backend, table) if "seqs" in i]
    return sorted(out, key=lambda i: i["at"])


def journaled_events(backend: Any, table: str) -> list[dict[str, Any]]:
    """Events recorded by EVENT_JOURNAL_HANDLER, oldest first."""
    items = sorted(_scan(backend, table), key=lambda i: float(i["at"]["N"]))
    return [json.loads(i["event"]["S"]) for i in items if "event" in i]


def _scan(backend: Any, table: str) -> list[dict[str, Any]]:
    pages = backend.client("dynamodb").get_paginator("scan").paginate(TableName=table)
    return [item for page in pages for item in page["Items"]]


def log_text(backend: Any, function: str) -> str:
    """Every log event of a function, concatenated."""
    logs = backend.client("logs")
    events: list[dict[str, Any]] = []
    kwargs: dict[str, Any] = {"logGroupName": f"/aws/lambda/{function}"}
    while True:
        page = logs.filter_log_events(**kwargs)
        events.extend(page["events"])
        if not page.get("nextToken"):
            break
        kwargs["nextToken"] = page["nextToken"]
    return "".join(e["message"] for e in sorted(events, key=lambda e: e["timestamp"]))


def wait_for_state(backend: Any, uuid: str, state: str, timeout: float = 30.0) -> dict[str, Any]:
    """GetEventSourceMapping until the mapping reaches ``state``; returns it."""
    lam = backend.client("lambda")
    return wait_for(lambda: (m := lam.get_event_source_mapping(UUID=uuid))["State"] == state
                    and m, timeout=timeout, message=f"mapping {uuid} to be {state}")


def queue_messages(backend: Any, queue_url: str) -> list[dict[str, Any]]:
    """Every message now visible in an SQS queue, bodies parsed from JSON; deletes them."""
    sqs = backend.client("sqs")
    out: list[dict[str, Any]] = []
    while True:
        page = sqs.receive_message(QueueUrl=queue_url, MaxNumberOfMessages=10,
                                   WaitTimeSeconds=0).get("Messages", [])
        if not page:
            return out
        for message in page:
            out.append(json.loads(message["Body"]))
            sqs.delete_message(QueueUrl=queue_url, ReceiptHandle=message["ReceiptHandle"])
