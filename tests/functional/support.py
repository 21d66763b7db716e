"""Building blocks for functional tests: deploy code, make roles and tables, wait.

Everything goes through boto3 clients of the session's local endpoint, as a
learner's own code would.
"""

from __future__ import annotations

import io
import json
import time
import zipfile
from collections.abc import Callable
from typing import Any

TRUST = json.dumps({
    "Version": "2012-10-17",
    "Statement": [{"Effect": "Allow", "Principal": {"Service": "lambda.amazonaws.com"},
                   "Action": "sts:AssumeRole"}],
})
STREAM_POLICY = "arn:aws:iam::aws:policy/service-role/AWSLambdaDynamoDBExecutionRole"

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

# A handler that journals the whole event it received, as JSON text (one item per
# invocation in the table named by JOURNAL_TABLE).
EVENT_JOURNAL_HANDLER = '''
import json, os, time
import boto3


def handler(event, context):
    boto3.client("dynamodb").put_item(TableName=os.environ["JOURNAL_TABLE"], Item={
        "id": {"S": context.aws_request_id},
        "at": {"N": repr(time.time())},
        "event": {"S": json.dumps(event)},
    })
'''


def zip_code(files: dict[str, str]) -> bytes:
    """A deployment package with ``files`` (name -> source)."""
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as archive:
        for name, source in sorted(files.items()):
            archive.writestr(name, source)
    return buf.getvalue()


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
