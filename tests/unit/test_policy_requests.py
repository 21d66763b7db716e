"""Which actions and resources a request needs (localaws.actions), and AWS's denial shapes."""

from __future__ import annotations

import json

import pytest

from localaws import actions, authz
from localaws.policy import EXPLICIT_DENY, IMPLICIT_DENY

WHERE = actions.Where("123456789012", "eu-west-1")
T = "arn:aws:dynamodb:eu-west-1:123456789012:table/"
ROLE = "arn:aws:sts::123456789012:assumed-role/r/f"


def json_request(target: str, params: dict) -> tuple[dict, bytes]:
    return {"HTTP_X_AMZ_TARGET": target, "REQUEST_METHOD": "POST", "PATH_INFO": "/"}, \
        json.dumps(params).encode()


def checks(service: str, target: str, params: dict) -> tuple:
    environ, body = json_request(target, params)
    return actions.requested(service, environ, body, WHERE).checks


def test_put_item_is_authorized_on_the_table():
    assert checks("dynamodb", "DynamoDB_20120810.PutItem", {"TableName": "a"}) == \
        (("dynamodb:PutItem", T + "a"),)


def test_batch_write_is_authorized_per_table():
    params = {"RequestItems": {"a": [], "b": []}}
    assert checks("dynamodb", "DynamoDB_20120810.BatchWriteItem", params) == (
        ("dynamodb:BatchWriteItem", T + "a"), ("dynamodb:BatchWriteItem", T + "b"))


def test_transactions_are_authorized_as_their_item_actions():
    params = {"TransactItems": [{"Put": {"TableName": "a"}}, {"Update": {"TableName": "b"}},
                                {"ConditionCheck": {"TableName": "a"}}]}
    assert checks("dynamodb", "DynamoDB_20120810.TransactWriteItems", params) == (
        ("dynamodb:PutItem", T + "a"), ("dynamodb:UpdateItem", T + "b"),
        ("dynamodb:ConditionCheckItem", T + "a"))


def test_a_query_of_an_index_is_authorized_on_the_index():
    params = {"TableName": "a", "IndexName": "GSI_1"}
    assert checks("dynamodb", "DynamoDB_20120810.Query", params) == \
        (("dynamodb:Query", T + "a/index/GSI_1"),)


def test_partiql_statements_map_to_partiql_actions():
    params = {"Statement": 'SELECT * FROM "a"."GSI_1" WHERE x = 1'}
    assert checks("dynamodb", "DynamoDB_20120810.ExecuteStatement", params) == \
        (("dynamodb:PartiQLSelect", T + "a/index/GSI_1"),)
    params = {"Statement": "INSERT INTO a VALUE {'pk': '1'}"}
    assert checks("dynamodb", "DynamoDB_20120810.ExecuteStatement", params) == \
        (("dynamodb:PartiQLInsert", T + "a"),)


def test_get_records_is_authorized_on_the_stream_of_its_iterator():
    stream = T + "a/stream/2024-01-01T00:00:00.000"
    params = {"ShardIterator": f"{stream}|1|abc"}
    assert checks("dynamodb", "DynamoDBStreams_20120810.GetRecords", params) == \
        (("dynamodb:GetRecords", stream),)


def test_sqs_batch_sends_need_send_message_on_the_queue():
    params = {"QueueUrl": "http://127.0.0.1:4566/123456789012/dlq", "Entries": []}
    assert checks("sqs", "AmazonSQS.SendMessageBatch", params) == \
        (("sqs:SendMessage", "arn:aws:sqs:eu-west-1:123456789012:dlq"),)


def test_sns_publish_through_the_query_protocol_is_authorized_on_the_topic():
    topic = "arn:aws:sns:eu-west-1:123456789012:alerts"
    environ = {"REQUEST_METHOD": "POST", "PATH_INFO": "/", "QUERY_STRING": ""}
    body = f"Action=Publish&TopicArn={topic}&Message=hi".encode()
    assert actions.requested("sns", environ, body, WHERE).checks == (("sns:Publish", topic),)


def test_log_calls_are_authorized_on_group_and_stream():
    group = "arn:aws:logs:eu-west-1:123456789012:log-group:/aws/lambda/f:log-stream:"
    assert checks("logs", "Logs_20140328.CreateLogGroup", {"logGroupName": "/aws/lambda/f"}) \
        == (("logs:CreateLogGroup", group),)
    assert checks("logs", "Logs_20140328.PutLogEvents",
                  {"logGroupName": "/aws/lambda/f", "logStreamName": "s"}) == \
        (("logs:PutLogEvents", group + "s"),)


def test_put_metric_data_is_authorized_on_any_resource():
    assert checks("monitoring", "GraniteServiceVersion20100801.PutMetricData",
                  {"Namespace": "n"}) == (("cloudwatch:PutMetricData", "*"),)


def test_invoke_is_lambda_invoke_function_on_the_function():
    environ = {"REQUEST_METHOD": "POST", "PATH_INFO": "/2015-03-31/functions/g/invocations"}
    wanted = actions.requested("lambda", environ, b"{}", WHERE)
    assert wanted.checks == (("lambda:InvokeFunction",
                              "arn:aws:lambda:eu-west-1:123456789012:function:g"),)


def test_get_caller_identity_needs_no_permission():
    environ = {"REQUEST_METHOD": "POST", "PATH_INFO": "/", "QUERY_STRING": ""}
    wanted = actions.requested("sts", environ, b"Action=GetCallerIdentity&Version=2011-06-15",
                               WHERE)
    assert wanted.checks == ()


def test_requests_without_a_role_session_are_not_restricted():
    # given: the learner's credentials
    environ, _body = json_request("DynamoDB_20120810.PutItem", {"TableName": "a"})
    environ["HTTP_AUTHORIZATION"] = ("AWS4-HMAC-SHA256 Credential=testing/20240101/eu-west-1/"
                                     "dynamodb/aws4_request, SignedHeaders=host, Signature=x")
    # then
    assert authz.authorize(environ) is None


def test_the_denial_message_is_aws_s():
    text = authz.message("dynamodb", ROLE, "dynamodb:PutItem", T + "a", IMPLICIT_DENY)
    assert text == (f"User: {ROLE} is not authorized to perform: dynamodb:PutItem on resource: "
                    f"{T}a because no identity-based policy allows the dynamodb:PutItem action")
    text = authz.message("dynamodb", ROLE, "dynamodb:PutItem", T + "a", EXPLICIT_DENY)
    assert text.endswith(f"on resource: {T}a with an explicit deny in an identity-based policy")


@pytest.mark.parametrize(("service", "shown"), [("sqs", "sqs:sendmessage"),
                                                ("sns", "SNS:Publish")])
def test_sqs_and_sns_spell_actions_their_own_way(service, shown):
    action = {"sqs": "sqs:SendMessage", "sns": "sns:Publish"}[service]
    text = authz.message(service, ROLE, action, "arn:x", IMPLICIT_DENY)
    assert f"perform: {shown} on resource: arn:x" in text and text.endswith(f"{shown} action")


@pytest.mark.parametrize(("service", "signing", "operation", "code", "status"), [
    ("dynamodb", "dynamodb", "PutItem", "AccessDeniedException", 400),
    ("logs", "logs", "PutLogEvents", "AccessDeniedException", 400),
    ("lambda", "lambda", "Invoke", "AccessDeniedException", 403),
    ("sqs", "sqs", "SendMessage", "AccessDenied", 403),
    ("cloudwatch", "cloudwatch", "PutMetricData", "AccessDenied", 403),
    ("sns", "sns", "Publish", "AuthorizationError", 403),
    ("iam", "iam", "GetRole", "AccessDenied", 403),
    ("sts", "sts", "AssumeRole", "AccessDenied", 403)])
def test_each_service_answers_a_denial_with_its_own_error_code(service, signing, operation,
                                                               code, status):
    # given: a request in the service's own protocol, as boto3 sends it
    import botocore.session
    from botocore.awsrequest import HeadersDict
    from botocore.parsers import create_parser

    model = botocore.session.get_session().get_service_model(signing)
    target = model.metadata.get("targetPrefix")
    environ = {"HTTP_X_AMZ_TARGET": f"{target}.{operation}"} if target else {}
    # when
    got_status, headers, body = authz.denial(service, environ, ROLE, f"{service}:{operation}",
                                             "arn:x", IMPLICIT_DENY)
    # then: boto3 reads AWS's code and message from it
    parsed = create_parser(model.resolved_protocol).parse(
        {"status_code": got_status, "headers": HeadersDict(headers), "body": body},
        model.operation_model(operation).output_shape)
    assert got_status == status
    assert parsed["Error"]["Code"] == code
    assert parsed["Error"]["Message"].startswith(f"User: {ROLE} is not authorized to perform")
