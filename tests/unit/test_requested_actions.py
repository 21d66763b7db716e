"""What IAM is asked for, for the request shapes ``test_policy_requests`` leaves out:
query-protocol bodies, transactions and PartiQL batches, streams, queues named by
URL or name, topics, alarms, dashboards, log groups, IAM, STS and Lambda paths."""

from __future__ import annotations

import json

import pytest

from localaws import actions

WHERE = actions.Where("123456789012", "eu-west-1")
ACCOUNT = "123456789012"
T = f"arn:aws:dynamodb:eu-west-1:{ACCOUNT}:table/"


def _json(signing: str, target: str, params: object) -> tuple:
    environ = {"HTTP_X_AMZ_TARGET": target, "REQUEST_METHOD": "POST", "PATH_INFO": "/"}
    body = params if isinstance(params, bytes) else json.dumps(params).encode()
    return actions.requested(signing, environ, body, WHERE).checks


def _query(signing: str, body: str, query: str = "") -> tuple:
    environ = {"REQUEST_METHOD": "POST", "PATH_INFO": "/", "QUERY_STRING": query}
    return actions.requested(signing, environ, body.encode(), WHERE).checks


def _lambda(method: str, path: str, body: bytes = b"") -> actions.Requested:
    environ = {"REQUEST_METHOD": method, "PATH_INFO": path}
    return actions.requested("lambda", environ, body, WHERE)


@pytest.mark.parametrize("body", [b"not json", b"[1, 2]", b""])
def test_a_body_that_is_no_json_object_asks_for_the_action_on_everything(body):
    # when
    checks = _json("dynamodb", "DynamoDB_20120810.PutItem", body)
    # then
    assert checks == (("dynamodb:PutItem", "*"),)


def test_transactions_and_batches_with_nothing_named_ask_on_everything():
    # when / then
    assert _json("dynamodb", "DynamoDB_20120810.TransactGetItems",
                 {"TransactItems": [None, {"Get": "x"}, {"Nope": {}}]}) == (
        ("dynamodb:TransactGetItems", "*"),)
    assert _json("dynamodb", "DynamoDB_20120810.BatchGetItem", {}) == (
        ("dynamodb:BatchGetItem", "*"),)


def test_partiql_batches_and_transactions_ask_once_per_distinct_statement_kind_and_table():
    # given
    statements = [{"Statement": "UPDATE a SET x=1"}, {"Statement": "UPDATE a SET x=2"},
                  {"Statement": "DELETE FROM b WHERE k=1"}, "not a statement"]
    # when
    batch = _json("dynamodb", "DynamoDB_20120810.BatchExecuteStatement",
                  {"Statements": statements})
    transaction = _json("dynamodb", "DynamoDB_20120810.ExecuteTransaction",
                        {"TransactStatements": statements[:1]})
    unknown = _json("dynamodb", "DynamoDB_20120810.ExecuteStatement", {"Statement": "EXPLAIN"})
    # then
    assert batch == (("dynamodb:PartiQLUpdate", T + "a"), ("dynamodb:PartiQLDelete", T + "b"))
    assert transaction == (("dynamodb:PartiQLUpdate", T + "a"),)
    assert unknown == (("dynamodb:PartiQLSelect", "*"),)


def test_a_table_given_by_arn_or_a_resource_arn_is_asked_for_as_it_is():
    # given
    arn = "arn:aws:dynamodb:us-east-1:111122223333:table/other"
    # when / then
    assert _json("dynamodb", "DynamoDB_20120810.GetItem", {"TableName": arn}) == (
        ("dynamodb:GetItem", arn),)
    assert _json("dynamodb", "DynamoDB_20120810.ListTagsOfResource", {"ResourceArn": arn}) == (
        ("dynamodb:ListTagsOfResource", arn),)
    assert _json("dynamodb", "DynamoDB_20120810.ListTables", {}) == (
        ("dynamodb:ListTables", "*"),)


def test_stream_calls_ask_on_the_stream_and_get_records_on_its_iterators_stream():
    # given
    stream = T + "a/stream/2026-01-01T00:00:00.000"
    # when / then
    assert _json("dynamodb", "DynamoDBStreams_20120810.GetRecords",
                 {"ShardIterator": f"{stream}|shard|1"}) == (("dynamodb:GetRecords", stream),)
    assert _json("dynamodb", "DynamoDBStreams_20120810.GetRecords",
                 {"ShardIterator": "opaque"}) == (("dynamodb:GetRecords", "*"),)
    assert _json("dynamodb", "DynamoDBStreams_20120810.DescribeStream",
                 {"StreamArn": stream}) == (("dynamodb:DescribeStream", stream),)
    assert _json("dynamodb", "DynamoDBStreams_20120810.ListStreams", {}) == (
        ("dynamodb:ListStreams", "*"),)


def test_queues_named_by_url_by_name_or_not_at_all():
    # when / then
    assert _json("sqs", "AmazonSQS.SendMessageBatch",
                 {"QueueUrl": f"http://localhost:4566/{ACCOUNT}/q"}) == (
        ("sqs:SendMessage", f"arn:aws:sqs:eu-west-1:{ACCOUNT}:q"),)
    assert _json("sqs", "AmazonSQS.GetQueueAttributes", {"QueueUrl": "http://h/"}) == (
        ("sqs:GetQueueAttributes", "*"),)
    assert _json("sqs", "AmazonSQS.GetQueueUrl",
                 {"QueueName": "q", "QueueOwnerAWSAccountId": "111122223333"}) == (
        ("sqs:GetQueueUrl", "arn:aws:sqs:eu-west-1:111122223333:q"),)
    assert _query("sqs", "Action=ListQueues") == (("sqs:ListQueues", "*"),)


def test_topics_by_arn_subscription_name_or_phone_number():
    # given
    topic = f"arn:aws:sns:eu-west-1:{ACCOUNT}:t"
    # when / then
    assert _query("sns", f"Action=Unsubscribe&SubscriptionArn={topic}:abc-123") == (
        ("sns:Unsubscribe", topic),)
    assert _query("sns", "Action=CreateTopic&Name=t") == (("sns:CreateTopic", topic),)
    assert _query("sns", "Action=Publish&PhoneNumber=%2B15555550100") == (
        ("sns:Publish", "+15555550100"),)
    assert _query("sns", "Action=ListTopics") == (("sns:ListTopics", "*"),)


def test_alarm_and_dashboard_calls_ask_on_each_alarm_and_dashboard():
    # given
    alarm = f"arn:aws:cloudwatch:eu-west-1:{ACCOUNT}:alarm:"
    # when / then
    assert _query("monitoring", "Action=DeleteAlarms&AlarmNames.member.2=b"
                                "&AlarmNames.member.1=a") == (
        ("cloudwatch:DeleteAlarms", alarm + "a"), ("cloudwatch:DeleteAlarms", alarm + "b"))
    assert _json("monitoring", "GraniteServiceVersion20100801.PutMetricAlarm",
                 {"AlarmName": "x"}) == (("cloudwatch:PutMetricAlarm", alarm + "x"),)
    assert _json("monitoring", "GraniteServiceVersion20100801.GetDashboard",
                 {"DashboardName": "d"}) == (
        ("cloudwatch:GetDashboard", f"arn:aws:cloudwatch::{ACCOUNT}:dashboard/d"),)
    assert _json("monitoring", "GraniteServiceVersion20100801.DeleteDashboards",
                 {"DashboardNames": ["d", "e"]}) == (
        ("cloudwatch:DeleteDashboards", f"arn:aws:cloudwatch::{ACCOUNT}:dashboard/d"),
        ("cloudwatch:DeleteDashboards", f"arn:aws:cloudwatch::{ACCOUNT}:dashboard/e"))
    assert _query("monitoring", "Action=ListMetrics", "x=1") == (("cloudwatch:ListMetrics", "*"),)


def test_log_calls_ask_on_the_group_or_stream_named_by_name_or_arn():
    # given
    group = f"arn:aws:logs:eu-west-1:{ACCOUNT}:log-group:g"
    # when / then
    assert _json("logs", "Logs_20140328.PutLogEvents",
                 {"logGroupName": "g", "logStreamName": "s"}) == (
        ("logs:PutLogEvents", group + ":log-stream:s"),)
    assert _json("logs", "Logs_20140328.DescribeLogStreams",
                 {"logGroupIdentifier": group + ":*"}) == (
        ("logs:DescribeLogStreams", group + ":log-stream:"),)
    assert _json("logs", "Logs_20140328.DescribeLogGroups", {}) == (
        ("logs:DescribeLogGroups", f"arn:aws:logs:eu-west-1:{ACCOUNT}:log-group::log-stream:"),)
    assert _json("logs", "Logs_20140328.DescribeQueries", {}) == (("logs:DescribeQueries", "*"),)


def test_iam_and_sts_calls_ask_on_the_policy_role_user_or_everything():
    # given
    iam = f"arn:aws:iam::{ACCOUNT}:"
    # when / then
    assert _query("iam", "Action=AttachRolePolicy&PolicyArn=arn:aws:iam::aws:policy/P") == (
        ("iam:AttachRolePolicy", "arn:aws:iam::aws:policy/P"),)
    assert _query("iam", "Action=GetRole&RoleName=r") == (("iam:GetRole", iam + "role/r"),)
    assert _query("iam", "Action=GetUser&UserName=u") == (("iam:GetUser", iam + "user/u"),)
    assert _query("iam", "Action=CreatePolicy&PolicyName=p") == (
        ("iam:CreatePolicy", iam + "policy/p"),)
    assert _query("iam", "Action=ListRoles") == (("iam:ListRoles", "*"),)
    assert _query("sts", "Action=AssumeRole&RoleArn=" + iam + "role/r") == (
        ("sts:AssumeRole", iam + "role/r"),)
    assert _query("sts", "Action=GetSessionToken") == (("sts:GetSessionToken", "*"),)


def test_a_service_without_a_mapper_asks_for_its_operation_on_everything():
    assert _json("kms", "TrentService.Encrypt", {}) == (("kms:Encrypt", "*"),)


def test_lambda_paths_ask_on_the_function_the_mapping_or_everything():
    # given
    function = f"arn:aws:lambda:eu-west-1:{ACCOUNT}:function:"
    # when
    create = _lambda("POST", "/2015-03-31/functions", b'{"FunctionName": "f"}')
    partial = _lambda("GET", f"/2015-03-31/functions/{ACCOUNT}%3Afunction%3Af")
    full = _lambda("GET", "/2015-03-31/functions/arn%3Aaws%3Alambda%3Aus-east-1%3A1%3Afunction%3Ag")
    mapping = _lambda("DELETE", "/2015-03-31/event-source-mappings/u-1")
    listing = _lambda("GET", "/2015-03-31/functions/")
    unknown = _lambda("PATCH", "/nowhere")
    # then
    assert create.checks == (("lambda:CreateFunction", function + "f"),)
    assert partial.checks == (("lambda:GetFunction", function + "f"),)
    assert full.checks == (("lambda:GetFunction", "arn:aws:lambda:us-east-1:1:function:g"),)
    assert mapping.checks == (("lambda:DeleteEventSourceMapping",
                               f"arn:aws:lambda:eu-west-1:{ACCOUNT}:event-source-mapping:u-1"),)
    assert listing.checks == (("lambda:ListFunctions", "*"),)
    assert (unknown.operation, unknown.checks) == ("Unknown", (("lambda:Unknown", "*"),))
