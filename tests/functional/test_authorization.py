"""A function's own calls are authorized by its execution role, as on AWS.

Each test deploys a function whose handler makes plain boto3 calls (listed in the
event) with the credentials the runtime gave it, and reports what each call
answered. The role is the test's own; the learner's calls (the test's clients) are
never restricted.
"""

from __future__ import annotations

import json
from typing import Any

import pytest

from tests.functional.support import TRUST, deploy, make_table, wait_for

pytestmark = pytest.mark.functional

ACCOUNT = "123456789012"

CALLER = '''
import json, os
import boto3
from botocore.exceptions import ClientError


def handler(event, context):
    results = []
    for call in event["calls"]:
        client = boto3.client(call["service"])
        try:
            answer = getattr(client, call["op"])(**call.get("args", {}))
            answer.pop("ResponseMetadata", None)
            results.append({"ok": json.loads(json.dumps(answer, default=str))})
        except ClientError as exc:
            results.append({"code": exc.response["Error"]["Code"],
                            "message": exc.response["Error"]["Message"],
                            "status": exc.response["ResponseMetadata"]["HTTPStatusCode"]})
    return {"results": results, "pid": os.getpid(),
            "key": os.environ["AWS_ACCESS_KEY_ID"][:4],
            "token": bool(os.environ.get("AWS_SESSION_TOKEN"))}
'''


def table_arn(backend: Any, name: str) -> str:
    return f"arn:aws:dynamodb:{backend.region}:{ACCOUNT}:table/{name}"


def statement(effect: str, actions: list[str] | str, resources: list[str] | str,
              **extra: Any) -> dict[str, Any]:
    return {"Effect": effect, "Action": actions, "Resource": resources, **extra}


class Function:
    """A deployed CALLER function with a role of its own."""

    def __init__(self, backend: Any, name: str, *statements: dict[str, Any]) -> None:
        self.backend, self.name, self.role = backend, name, f"{name}-role"
        self.iam = backend.client("iam")
        self.arn = self.iam.create_role(RoleName=self.role,
                                        AssumeRolePolicyDocument=TRUST)["Role"]["Arn"]
        if statements:
            self.grant("policy", *statements)
        deploy(backend, name, {"app.py": CALLER}, role=self.arn, Timeout=30)

    def grant(self, policy_name: str, *statements: dict[str, Any]) -> None:
        self.iam.put_role_policy(RoleName=self.role, PolicyName=policy_name,
                                 PolicyDocument=json.dumps({"Version": "2012-10-17",
                                                            "Statement": list(statements)}))

    def call(self, *calls: tuple[str, str, dict[str, Any]]) -> dict[str, Any]:
        event = {"calls": [{"service": s, "op": op, "args": args} for s, op, args in calls]}
        response = self.backend.client("lambda").invoke(FunctionName=self.name,
                                                       Payload=json.dumps(event).encode())
        assert "FunctionError" not in response, response["Payload"].read()
        return json.loads(response["Payload"].read())

    def results(self, *calls: tuple[str, str, dict[str, Any]]) -> list[dict[str, Any]]:
        return self.call(*calls)["results"]

    @property
    def principal(self) -> str:
        return f"arn:aws:sts::{ACCOUNT}:assumed-role/{self.role}/{self.name}"


def put(table: str, key: str = "1") -> tuple[str, str, dict[str, Any]]:
    return ("dynamodb", "put_item", {"TableName": table, "Item": {"pk": {"S": key}}})


def count(backend: Any, table: str) -> int:
    return backend.client("dynamodb").scan(TableName=table)["Count"]


def denied_message(principal: str, action: str, resource: str) -> str:
    return (f"User: {principal} is not authorized to perform: {action} on resource: {resource} "
            f"because no identity-based policy allows the {action} action")


# --------------------------------------------------------------------------- identity


def test_the_handler_runs_as_an_assumed_role_session_of_its_role(backend, unique):
    # given
    function = Function(backend, f"authz-id-{unique}")
    # when
    answer = function.call(("sts", "get_caller_identity", {}))
    # then
    assert answer["results"][0]["ok"]["Arn"] == function.principal
    assert answer["results"][0]["ok"]["Account"] == ACCOUNT
    assert answer["key"] == "ASIA" and answer["token"] is True


# --------------------------------------------------------------------------- DynamoDB


def test_a_call_no_statement_allows_is_denied_with_aws_s_text_and_writes_nothing(backend, unique):
    # given
    table = f"authz-none-{unique}"
    make_table(backend, table, view_type=None)
    function = Function(backend, f"authz-none-{unique}")
    # when
    [result] = function.results(put(table))
    # then
    assert result["code"] == "AccessDeniedException" and result["status"] == 400
    assert result["message"] == denied_message(function.principal, "dynamodb:PutItem",
                                               table_arn(backend, table))
    assert count(backend, table) == 0


def test_a_grant_scoped_to_one_table_allows_it_and_no_other(backend, unique):
    # given: no permission at first
    mine, other = f"authz-mine-{unique}", f"authz-other-{unique}"
    for name in (mine, other):
        make_table(backend, name, view_type=None)
    function = Function(backend, f"authz-scope-{unique}")
    assert function.results(put(mine))[0]["code"] == "AccessDeniedException"
    # when: the learner grants PutItem on one table
    function.grant("put-mine", statement("Allow", "dynamodb:PutItem", table_arn(backend, mine)))
    results = function.results(put(mine), put(other))
    # then
    assert "ok" in results[0] and count(backend, mine) == 1
    assert results[1]["code"] == "AccessDeniedException" and count(backend, other) == 0


def test_an_explicit_deny_beats_an_allow(backend, unique):
    # given
    table = f"authz-deny-{unique}"
    make_table(backend, table, view_type=None)
    function = Function(backend, f"authz-deny-{unique}",
                        statement("Allow", "dynamodb:*", "*"),
                        statement("Deny", "dynamodb:PutItem", table_arn(backend, table)))
    # when
    [result] = function.results(put(table))
    # then
    assert result["code"] == "AccessDeniedException"
    assert result["message"].endswith(
        f"on resource: {table_arn(backend, table)} with an explicit deny in an identity-based "
        "policy")
    assert count(backend, table) == 0


def test_not_action_allows_everything_but_the_actions_it_names(backend, unique):
    # given
    table = f"authz-notaction-{unique}"
    make_table(backend, table, view_type=None)
    function = Function(backend, f"authz-notaction-{unique}",
                        {"Effect": "Allow", "NotAction": "dynamodb:DeleteItem", "Resource": "*"})
    # when
    results = function.results(put(table), ("dynamodb", "delete_item", {
        "TableName": table, "Key": {"pk": {"S": "1"}}}))
    # then
    assert "ok" in results[0]
    assert results[1]["code"] == "AccessDeniedException"
    assert count(backend, table) == 1


def test_wildcards_in_actions_and_resources(backend, unique):
    # given: Put* and Get* on the tables whose names start with the prefix
    prefix = f"authz-wild-{unique}"
    for name in (f"{prefix}-a", f"{prefix}-b"):
        make_table(backend, name, view_type=None)
    function = Function(backend, prefix, statement(
        "Allow", ["dynamodb:Put*", "dynamodb:Get?tem"],
        f"arn:aws:dynamodb:*:{ACCOUNT}:table/{prefix}-*"))
    # when
    results = function.results(
        put(f"{prefix}-a"), put(f"{prefix}-b"),
        ("dynamodb", "get_item", {"TableName": f"{prefix}-a", "Key": {"pk": {"S": "1"}}}),
        ("dynamodb", "delete_item", {"TableName": f"{prefix}-a", "Key": {"pk": {"S": "1"}}}))
    # then
    assert ["ok" in r for r in results] == [True, True, True, False]


def test_a_batch_across_two_tables_is_denied_when_one_of_them_is(backend, unique):
    # given: the lab's own policy (PutItem and DeleteItem on *) plus BatchWriteItem on one table
    allowed, denied = f"authz-batch-a-{unique}", f"authz-batch-b-{unique}"
    for name in (allowed, denied):
        make_table(backend, name, view_type=None)
    function = Function(backend, f"authz-batch-{unique}",
                        statement("Allow", ["dynamodb:DeleteItem", "dynamodb:PutItem"], "*"),
                        statement("Allow", "dynamodb:BatchWriteItem",
                                  table_arn(backend, allowed)))
    request = {name: [{"PutRequest": {"Item": {"pk": {"S": "1"}}}}] for name in (allowed, denied)}
    # when
    both = function.results(("dynamodb", "batch_write_item", {"RequestItems": request}))
    one = function.results(("dynamodb", "batch_write_item", {"RequestItems": {
        allowed: request[allowed]}}))
    # then
    assert both[0]["message"] == denied_message(function.principal, "dynamodb:BatchWriteItem",
                                                table_arn(backend, denied))
    assert "ok" in one[0]
    assert count(backend, allowed) == 1 and count(backend, denied) == 0


def test_the_lab_policy_denies_the_replicator_s_batch_writes(backend, unique):
    # given: Exercise 8's DDBReplicationRole policy, verbatim
    replica = f"authz-lab-{unique}"
    make_table(backend, replica, view_type=None)
    lab = [statement("Allow", ["dynamodb:DescribeStream", "dynamodb:GetRecords",
                               "dynamodb:GetShardIterator", "dynamodb:ListStreams"], ["*"]),
           statement("Allow", ["dynamodb:DeleteItem", "dynamodb:PutItem"], ["*"]),
           statement("Allow", ["logs:CreateLogGroup", "logs:CreateLogStream",
                               "logs:PutLogEvents"], ["*"])]
    function = Function(backend, f"authz-lab-{unique}", *lab)
    # when
    [result] = function.results(("dynamodb", "batch_write_item", {"RequestItems": {
        replica: [{"PutRequest": {"Item": {"pk": {"S": "1"}}}}]}}))
    # then
    assert result["code"] == "AccessDeniedException"
    assert count(backend, replica) == 0


def test_an_attached_managed_policy_grants_its_actions(backend, unique):
    # given
    table = f"authz-managed-{unique}"
    make_table(backend, table, view_type=None)
    function = Function(backend, f"authz-managed-{unique}")
    assert function.results(put(table))[0]["code"] == "AccessDeniedException"
    # when
    backend.client("iam").attach_role_policy(
        RoleName=function.role, PolicyArn="arn:aws:iam::aws:policy/AmazonDynamoDBFullAccess")
    # then
    assert "ok" in function.results(put(table))[0]


def test_policy_changes_apply_to_warm_environments(backend, unique):
    # given: a warm environment that was allowed to write
    table = f"authz-warm-{unique}"
    make_table(backend, table, view_type=None)
    function = Function(backend, f"authz-warm-{unique}",
                        statement("Allow", "dynamodb:PutItem", table_arn(backend, table)))
    first = function.call(put(table, "1"))
    # when: the grant is removed, then given back
    backend.client("iam").delete_role_policy(RoleName=function.role, PolicyName="policy")
    revoked = function.call(put(table, "2"))
    function.grant("again", statement("Allow", "dynamodb:PutItem", table_arn(backend, table)))
    restored = function.call(put(table, "3"))
    # then: the same environment each time
    assert first["pid"] == revoked["pid"] == restored["pid"]
    assert "ok" in first["results"][0] and "ok" in restored["results"][0]
    assert revoked["results"][0]["code"] == "AccessDeniedException"
    assert count(backend, table) == 2


def test_get_records_is_authorized_on_the_stream(backend, unique):
    # given: a role that may find the shard but not read it
    table = f"authz-stream-{unique}"
    stream = make_table(backend, table, view_type="NEW_IMAGE")
    backend.client("dynamodb").put_item(TableName=table, Item={"pk": {"S": "1"}})
    function = Function(backend, f"authz-stream-{unique}", statement(
        "Allow", ["dynamodb:DescribeStream", "dynamodb:GetShardIterator"], f"{stream}"))
    shard = backend.client("dynamodbstreams").describe_stream(
        StreamArn=stream)["StreamDescription"]["Shards"][0]["ShardId"]
    iterator = function.results(("dynamodbstreams", "get_shard_iterator", {
        "StreamArn": stream, "ShardId": shard, "ShardIteratorType": "TRIM_HORIZON"}))
    # when
    [result] = function.results(("dynamodbstreams", "get_records", {
        "ShardIterator": iterator[0]["ok"]["ShardIterator"]}))
    # then
    assert result["message"] == denied_message(function.principal, "dynamodb:GetRecords", stream)


# --------------------------------------------------------------------------- SQS, SNS


def test_queue_and_topic_grants_are_scoped_to_their_resource(backend, unique):
    # given
    sqs, sns = backend.client("sqs"), backend.client("sns")
    queues = [sqs.create_queue(QueueName=f"authz-q{i}-{unique}")["QueueUrl"] for i in (1, 2)]
    topics = [sns.create_topic(Name=f"authz-t{i}-{unique}")["TopicArn"] for i in (1, 2)]
    queue_arn = f"arn:aws:sqs:{backend.region}:{ACCOUNT}:authz-q1-{unique}"
    function = Function(backend, f"authz-msg-{unique}",
                        statement("Allow", "sqs:SendMessage", queue_arn),
                        statement("Allow", "sns:Publish", topics[0]))
    # when
    results = function.results(
        *[("sqs", "send_message", {"QueueUrl": q, "MessageBody": "x"}) for q in queues],
        *[("sns", "publish", {"TopicArn": t, "Message": "x"}) for t in topics])
    # then
    assert "ok" in results[0] and "ok" in results[2]
    assert results[1]["code"] == "AccessDenied" and results[1]["status"] == 403
    assert " sqs:sendmessage on resource: arn:aws:sqs:" in results[1]["message"]
    assert results[3]["code"] == "AuthorizationError"
    assert f"SNS:Publish on resource: {topics[1]} because" in results[3]["message"]
    received = sqs.receive_message(QueueUrl=queues[1], WaitTimeSeconds=0).get("Messages", [])
    assert received == []


# --------------------------------------------------------------------------- logs


def test_a_function_without_log_permissions_runs_but_leaves_no_logs(backend, unique):
    # given
    function = Function(backend, f"authz-nologs-{unique}")
    logs = backend.client("logs")
    group = f"/aws/lambda/{function.name}"
    # when: it runs (the caller sees no error)
    function.call(("sts", "get_caller_identity", {}))
    # then
    assert logs.describe_log_groups(logGroupNamePrefix=group)["logGroups"] == []
    # and when it may write its own group, the next invocation is logged
    function.grant("logs", statement(
        "Allow", ["logs:CreateLogGroup", "logs:CreateLogStream", "logs:PutLogEvents"],
        f"arn:aws:logs:{backend.region}:{ACCOUNT}:log-group:{group}:*"))
    function.call(("sts", "get_caller_identity", {}))
    events = wait_for(lambda: logs.filter_log_events(logGroupName=group)["events"],
                      message="the function's log")
    assert any(e["message"].startswith("START RequestId:") for e in events)


def test_log_calls_from_the_handler_are_denied_as_cloudwatch_logs_denies_them(backend, unique):
    # given
    function = Function(backend, f"authz-logapi-{unique}")
    # when
    [result] = function.results(("logs", "create_log_group", {"logGroupName": f"/x/{unique}"}))
    # then
    assert result["code"] == "AccessDeniedException"
    assert f":log-group:/x/{unique}:log-stream: because" in result["message"]


# --------------------------------------------------------------------------- the learner


def test_the_learner_s_own_calls_are_not_restricted(backend, unique):
    # given: a function whose role allows nothing, and a table it cannot touch
    table = f"authz-learner-{unique}"
    make_table(backend, table, view_type=None)
    Function(backend, f"authz-learner-{unique}")
    ddb = backend.client("dynamodb")
    # when
    ddb.put_item(TableName=table, Item={"pk": {"S": "mine"}})
    # then
    assert ddb.get_item(TableName=table, Key={"pk": {"S": "mine"}})["Item"]
    identity = backend.client("sts").get_caller_identity()["Arn"]
    assert ":assumed-role/" not in identity
