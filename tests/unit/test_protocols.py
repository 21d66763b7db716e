"""Recognising the service and operation of a request, checking its input, shaping errors."""

from __future__ import annotations

import json

import boto3
import botocore.parsers
import pytest
from botocore.awsrequest import HeadersDict

from localaws.errors import RequestError, ServiceError
from localaws.protocols import internal_failure, render_error, service_model
from localaws.validation import check_input
from tests.unit.wsgi import PORT, call, from_prepared, signed

# One ordinary call per service, as the SDK sends it.
SDK_CALLS = [
    ("dynamodb", "put_item", {"TableName": "t", "Item": {"pk": {"S": "a"}}}, "PutItem"),
    ("dynamodbstreams", "describe_stream",
     {"StreamArn": "arn:aws:dynamodb:us-east-1:123456789012:table/t/stream/x"},
     "DescribeStream"),
    ("lambda", "invoke", {"FunctionName": "f", "Payload": b"{}"}, "Invoke"),
    ("lambda", "create_event_source_mapping",
     {"FunctionName": "f", "EventSourceArn": "arn:x", "StartingPosition": "LATEST"},
     "CreateEventSourceMapping"),
    ("lambda", "get_function_configuration", {"FunctionName": "f"},
     "GetFunctionConfiguration"),
    ("iam", "get_role", {"RoleName": "r"}, "GetRole"),
    ("sts", "get_caller_identity", {}, "GetCallerIdentity"),
    ("sqs", "send_message", {"QueueUrl": "http://q/1/q", "MessageBody": "m"}, "SendMessage"),
    ("sns", "publish", {"TopicArn": "arn:aws:sns:us-east-1:1:t", "Message": "m"}, "Publish"),
    ("cloudwatch", "put_metric_data",
     {"Namespace": "n", "MetricData": [{"MetricName": "m", "Value": 1.0}]}, "PutMetricData"),
    ("logs", "describe_log_groups", {"limit": 5}, "DescribeLogGroups"),
]


class _SentError(Exception):
    """Stops a call once botocore has prepared its request."""


def _prepared(service: str, method: str, params: dict) -> object:
    client = boto3.client(service, endpoint_url=f"http://127.0.0.1:{PORT}",
                          region_name="eu-west-1", aws_access_key_id="k",
                          aws_secret_access_key="s")
    captured = {}

    def capture(request, **_):
        captured["request"] = request
        raise _SentError

    client.meta.events.register("before-send", capture)
    with pytest.raises(_SentError):
        getattr(client, method)(**params)
    return captured["request"]


@pytest.mark.parametrize(("service", "method", "params", "operation"), SDK_CALLS,
                         ids=[c[1] for c in SDK_CALLS])
def test_every_sdk_request_is_recognised_and_passes_validation(service, method, params,
                                                               operation):
    # given
    request = from_prepared(_prepared(service, method, params))
    # then
    assert request.service == service
    assert request.operation == operation
    assert request.region == "eu-west-1"
    assert request.access_key_id == "k"
    assert check_input(request) is None


@pytest.mark.parametrize(("headers", "body", "service"), [
    ({"X-Amz-Target": "DynamoDB_20120810.ListTables"}, b"{}", "dynamodb"),
    ({"X-Amz-Target": "AmazonSQS.ListQueues"}, b"{}", "sqs"),
    ({"Content-Type": "application/x-www-form-urlencoded"},
     b"Action=ListTopics&Version=2010-03-31", "sns"),
    ({"Content-Type": "application/x-www-form-urlencoded"}, b"Action=GetCallerIdentity", "sts"),
    ({}, b"", None),
    ({}, bytes(range(256)), None),
    ({"Content-Type": "application/x-www-form-urlencoded"}, b"Action=Nope", None),
])
def test_unsigned_requests_are_recognised_from_what_they_say(headers, body, service):
    assert call(headers=headers, body=body).service == service


@pytest.mark.parametrize(("headers", "body", "kind"), [
    (signed("dynamodb", **{"X-Amz-Target": "DynamoDB_20120810.Nope"}), b"{}",
     "unknown-operation"),
    (signed("dynamodb"), b"{}", "unknown-operation"),
    (signed("iam", **{"Content-Type": "application/x-www-form-urlencoded"}),
     b"Action=Nope&Version=2010-05-08", "unknown-operation"),
    (signed("iam", **{"Content-Type": "application/x-www-form-urlencoded"}), b"Version=1",
     "unknown-operation"),
    (signed("s3"), b"", "unknown-service"),
])
def test_unknown_operations_are_the_callers_fault(headers, body, kind):
    with pytest.raises(RequestError) as err:
        _ = call(headers=headers, body=body).operation
    assert err.value.kind == kind


def _ddb(operation: str, body: bytes):
    return call(headers=signed("dynamodb", **{"X-Amz-Target": f"DynamoDB_20120810.{operation}"}),
                body=body)


@pytest.mark.parametrize(("operation", "body", "kind", "text"), [
    ("ListTables", b"{not json", "malformed", "not valid JSON"),
    ("ListTables", b"[1]", "malformed", "JSON object"),
    ("ListTables", b"\xff\xfe", "malformed", "not valid JSON"),
    ("DescribeTable", b"{}", "missing-member",
     "1 validation error detected: Value null at 'tableName' failed to satisfy constraint: "
     "Member must not be null"),
    ("DescribeTable", b'{"TableName": 5}', "wrong-type", "NUMBER_VALUE cannot be converted"),
    ("ListTables", b'{"ExclusiveStartTableName": "ab"}', "invalid-value",
     "Member must have length greater than or equal to 3"),
    ("PutItem", b'{"TableName": "tab", "Item": []}', "wrong-type", "to a map"),
    ("PutItem", b'{"TableName": "tab", "Item": {"a": {"B": "***"}}}', "wrong-type", "base64"),
    ("Scan", b'{"TableName": "tab", "Limit": true}', "wrong-type", "BOOLEAN_VALUE"),
    ("Scan", b'{"TableName": "tab", "Limit": 0}', "invalid-value",
     "Member must have value greater than or equal to 1"),
    ("CreateTable", b'{"BillingMode": "FREE"}', "missing-member",
     "2 validation errors detected"),
    ("Scan", b'{"TableName": "tab", "Select": "EVERYTHING"}', "invalid-value",
     "Member must satisfy enum value set"),
    # AWS's order, not the model's (moto's aws_verified test_select_values_are_case_sensitive)
    ("Query", b'{"TableName": "tab", "Select": "count"}', "invalid-value",
     "1 validation error detected: Value 'count' at 'select' failed to satisfy constraint: "
     "Member must satisfy enum value set: [SPECIFIC_ATTRIBUTES, COUNT, ALL_ATTRIBUTES, "
     "ALL_PROJECTED_ATTRIBUTES]"),
])
def test_json_input_that_does_not_fit_the_model_is_refused(operation, body, kind, text):
    with pytest.raises(RequestError) as err:
        check_input(_ddb(operation, body))
    assert err.value.kind == kind
    assert text in err.value.message


def test_deep_nesting_is_refused_not_recursed():
    # given
    value = '{"S": "x"}'
    for _ in range(100):
        value = '{"M": {"a": ' + value + "}}"
    body = ('{"TableName": "tab", "Item": {"a": ' + value + "}}").encode()
    # then
    with pytest.raises(RequestError) as err:
        check_input(_ddb("PutItem", body))
    assert err.value.kind == "invalid-value"


@pytest.mark.parametrize(("body", "kind"), [
    (b"Action=GetRole&Version=2010-05-08", "missing-member"),
    (b"Action=ListRoles&Version=2010-05-08&MaxItems=lots", "wrong-type"),
    (b"Action=ListRoles&Version=2010-05-08&MaxItems=0", "invalid-value"),
    (b"Action=ListRoles&Version=2010-05-08&Marker=%zz", "malformed"),
    (b"Action=ListRoles&Version=2010-05-08&Marker=\xff", "malformed"),
])
def test_query_input_that_does_not_fit_the_model_is_refused(body, kind):
    # given
    request = call(headers=signed("iam", **{"Content-Type": "application/x-www-form-urlencoded"}),
                   body=body)
    # then
    with pytest.raises(RequestError) as err:
        check_input(request)
    assert err.value.kind == kind


def test_lambda_bodies_are_checked_for_types_but_not_the_models_ranges():
    # given
    path = "/2015-03-31/functions/f/configuration"
    bad_type = call("PUT", path, signed("lambda"), b'{"Timeout": "long"}')
    big = call("PUT", path, signed("lambda"), b'{"MemorySize": 20000}')
    # then
    with pytest.raises(RequestError):
        check_input(bad_type)
    assert check_input(big) is None  # lambda_api answers it in Lambda's own words


def _parse(service: str, response: tuple) -> dict:
    status, headers, body = response
    model = service_model(service)
    operation = model.operation_model(model.operation_names[0])
    parser = botocore.parsers.create_parser(model.resolved_protocol
                                            if hasattr(model, "resolved_protocol")
                                            else model.protocol)
    items = headers.items() if isinstance(headers, dict) else headers
    return parser.parse({"status_code": status, "headers": HeadersDict(items), "body": body},
                        operation.output_shape)


@pytest.mark.parametrize(("service", "headers", "body", "code", "status"), [
    ("dynamodb", signed("dynamodb", **{"X-Amz-Target": "DynamoDB_20120810.Nope"}), b"{}",
     "UnknownOperationException", 400),
    ("sqs", signed("sqs", **{"X-Amz-Target": "AmazonSQS.SendMessage"}), b"{x",
     "SerializationException", 400),
    ("sns", signed("sns", **{"Content-Type": "application/x-www-form-urlencoded"}),
     b"Action=Nope&Version=2010-03-31", "InvalidAction", 400),
    ("iam", signed("iam", **{"Content-Type": "application/x-www-form-urlencoded"}),
     b"Action=GetRole&Version=2010-05-08", "MissingParameter", 400),
    ("lambda", signed("lambda"), b"{", "InvalidRequestContentException", 400),
])
def test_errors_are_shaped_so_the_sdk_reads_their_code(service, headers, body, code, status):
    # given
    path = "/2015-03-31/functions" if service == "lambda" else "/"
    request = call("POST", path, headers, body)
    # when
    with pytest.raises(RequestError) as err:
        check_input(request)
    response = render_error(request, err.value)
    # then
    assert response[0] == status
    assert _parse(service, response)["Error"]["Code"] == code


def test_query_compatible_json_services_also_send_the_query_code():
    # given
    request = call(headers=signed("sqs", **{"X-Amz-Target": "AmazonSQS.SendMessage"}),
                   body=b"{}")
    # when
    _, headers, body = render_error(request, ServiceError("QueueDoesNotExist", "nope"))
    # then
    assert headers["x-amzn-query-error"] == "QueueDoesNotExist;Sender"
    assert json.loads(body)["message"] == "nope"


@pytest.mark.parametrize(("service", "headers", "path", "code"), [
    ("dynamodb", signed("dynamodb", **{"X-Amz-Target": "DynamoDB_20120810.ListTables"}), "/",
     "InternalFailure"),
    ("sts", signed("sts"), "/", "InternalFailure"),
    ("lambda", signed("lambda"), "/2015-03-31/functions/f/invocations", "ServiceException"),
])
def test_internal_failures_are_500s_in_the_services_shape(service, headers, path, code):
    # when
    response = internal_failure(call("POST", path, headers, b"{}"))
    # then
    assert response[0] == 500
    assert _parse(service, response)["Error"]["Code"] == code


def test_a_request_naming_no_service_gets_a_400_that_says_so():
    # given
    request = call(body=b"hello")
    # when
    status, _, body = render_error(request, RequestError("unknown-service", "which service?"))
    # then
    assert status == 400
    assert json.loads(body) == {"__type": "UnrecognizedServiceException",
                                "message": "which service?"}


def test_the_json_body_is_parsed_once_and_again_after_the_body_is_replaced(monkeypatch):
    # given
    from localaws import protocols

    request = call(headers=signed("dynamodb"), body=b'{"TableName": "orders"}')
    loads = []
    real_loads = json.loads
    monkeypatch.setattr(protocols.json, "loads", lambda text: loads.append(text) or
                        real_loads(text))
    # when
    first, second = request.json_body(), request.json_body()
    request.replace_body(b'{"TableName": "logfile"}')
    third = request.json_body()
    # then
    assert first is second and first == {"TableName": "orders"}
    assert third == {"TableName": "logfile"}
    assert len(loads) == 2
