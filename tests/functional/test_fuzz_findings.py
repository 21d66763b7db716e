"""The requests the random fuzzer (and probes around its findings) answered with a 500,
sent again as they were: each now gets a 4xx in AWS's shape, with AWS's code."""

from __future__ import annotations

from urllib.parse import urlencode

import pytest

from localaws.protocols import SERVICES, service_model
from tests.functional.fuzz_support import (
    Sender,
    Wire,
    build,
    operations,
    problem,
    signed_headers,
    wire_from,
)
from tests.functional.support import deploy, make_role
from tests.functional.test_fuzz import FUZZ_REGIONS

pytestmark = [pytest.mark.functional]
BAD_ARN = "arn:aws:lambda:zz:1:function:f"
STREAM = "arn:aws:dynamodb:us-east-1:123456789012:table/x/stream/y"


def _codes(endpoint: dict, wires: list) -> list[tuple[int, str, str | None]]:
    sender = Sender(endpoint["port"], threads=2)
    answers = sender.send(wires)
    assert len(answers) == len(wires)
    return [(status, problem(wire, status, headers, body) or "",
             headers.get("x-amzn-ErrorType") or "")
            for wire, status, headers, body in answers]


def test_create_event_source_mapping_for_a_function_arn_of_no_region_is_a_validation_error(
        endpoint):
    # given: the 500 `make fuzz` found once (moto's KeyError on region 'zz')
    wires = [build("lambda", "CreateEventSourceMapping",
                   {"EventSourceArn": STREAM, "FunctionName": BAD_ARN, **extra},
                   signed_headers("lambda"))
             for extra in ({}, {"StartingPosition": "LATEST"})]
    # when
    answers = _codes(endpoint, wires)
    # then
    assert answers == [(400, "", "ValidationException")] * 2


def test_every_lambda_operation_naming_a_function_off_the_pattern_gets_a_4xx(endpoint):
    # given
    wires = [_naming("lambda", op, name) for op in operations("lambda")
             if op in _function_name_operations() for name in (BAD_ARN, "zz:function:f")]
    # when
    answers = _codes(endpoint, wires)
    # then
    wrong = [(wire.method, wire.path, answer) for wire, answer in zip(wires, answers, strict=True)
             if not 400 <= answer[0] < 500 or answer[1]]
    assert not wrong


@pytest.mark.parametrize("service", SERVICES)
def test_a_request_signed_for_a_region_aws_lacks_gets_a_shaped_4xx(endpoint, service):
    # given
    operation = {"dynamodb": "ListTables", "dynamodbstreams": "ListStreams",
                 "lambda": "ListFunctions", "iam": "ListRoles", "sts": "GetCallerIdentity",
                 "sqs": "ListQueues", "sns": "ListTopics", "cloudwatch": "ListMetrics",
                 "logs": "DescribeLogGroups"}[service]
    wire = build(service, operation, {}, signed_headers(service, FUZZ_REGIONS[-1]))
    # when
    [(status, issue, _)] = _codes(endpoint, [wire])
    # then
    assert not issue and (status < 300 if service in ("iam", "sts") else status in (400, 403))


# As the fuzzer wrote it to findings.jsonl (the body in base64), answered 500 then.
EXPORT_FINDING = {
    "service": "dynamodb", "operation": "ExportTableToPointInTime", "method": "POST",
    "path": "/", "headers": {
        "X-Amz-Target": "DynamoDB_20120810.ExportTableToPointInTime",
        "Content-Type": "application/x-amz-json-1.0",
        "Authorization": "AWS4-HMAC-SHA256 Credential=fuzz/20260101/us-east-1/dynamodb/"
                         "aws4_request, SignedHeaders=host;x-amz-date, Signature=abc123"},
    "body": "eyJTM0J1Y2tldE93bmVyIjogIi4uIiwgIlRhYmxlQXJuIjogImFybjphd3M6ZHluYW1vZGI6dXMtZWFz"
            "dC0xOjEyMzQ1Njc4OTAxMjp0YWJsZS9mdXp6LWEvc3RyZWFtL3giLCAiUzNCdWNrZXQiOiAiYXJuOmF3"
            "czpkeW5hbW9kYjp1cy1lYXN0LTE6MTIzNDU2Nzg5MDEyOnRhYmxlL2Z1enotYSJ9"}


def test_an_export_without_a_prefix_gets_a_validation_error(endpoint):
    # given
    wire = wire_from(EXPORT_FINDING)
    # when
    [answer] = _codes(endpoint, [wire])
    # then
    assert answer == (400, "", "ValidationException")


def test_deleting_a_platform_application_is_idempotent_and_drops_its_endpoints(
        endpoint, backend):
    # given: the 500 `make fuzz` found (moto's KeyError deleting an application that
    # does not exist), and an application with an endpoint
    sns = backend.client("sns")
    app = sns.create_platform_application(Name="fuzz-app", Platform="GCM",
                                          Attributes={"PlatformCredential": "k"})
    arn = app["PlatformApplicationArn"]
    device = sns.create_platform_endpoint(PlatformApplicationArn=arn, Token="t")["EndpointArn"]
    wires = [build("sns", "DeletePlatformApplication", {"PlatformApplicationArn": missing},
                   signed_headers("sns"))
             for missing in (STREAM, arn.replace("fuzz-app", "no-such-app"))]
    # when
    answers = _codes(endpoint, wires)
    sns.delete_platform_application(PlatformApplicationArn=arn)
    sns.delete_platform_application(PlatformApplicationArn=arn)
    # then
    assert answers == [(200, "", "")] * 2
    assert arn not in [a["PlatformApplicationArn"]
                       for a in sns.list_platform_applications()["PlatformApplications"]]
    code = _error_code(lambda: sns.get_endpoint_attributes(EndpointArn=device))
    assert code == "NotFound"


def _error_code(request) -> str | None:
    from botocore.exceptions import ClientError

    try:
        request()
    except ClientError as exc:
        return exc.response["Error"]["Code"]
    return None


def test_a_partial_arn_with_a_qualifier_gets_a_4xx_and_names_a_real_function(
        endpoint, backend, unique):
    # given: the request the fuzzer found (500: moto split the partial ARN in two), and a
    # function reached by its partial ARN
    found = wire_from({"service": "lambda", "operation": "DeleteFunction", "method": "DELETE",
                       "path": "/2015-03-31/functions/123456789012%3Afunction%3Afuzz"
                               "?Qualifier=58349", "headers": signed_headers("lambda"),
                       "body": ""})
    name = f"partial-{unique}"
    deploy(backend, name, {"app.py": "def handler(e, c):\n    return 1\n"},
           role=make_role(backend, f"partial-{unique}"))
    client = backend.client("lambda")
    # when
    [answer] = _codes(endpoint, [found])
    fetched = client.get_function(FunctionName=f"123456789012:function:{name}")
    client.delete_function(FunctionName=f"123456789012:function:{name}")
    # then
    assert answer == (404, "", "ResourceNotFoundException")
    assert fetched["Configuration"]["FunctionName"] == name
    assert name not in {f["FunctionName"] for f in client.list_functions()["Functions"]}


def _naming(service: str, operation: str, name: str) -> Wire:
    """``operation`` with ``FunctionName`` = ``name`` wherever the operation carries it."""
    wire = build(service, operation, {"FunctionName": name}, signed_headers(service))
    member = service_model(service).operation_model(operation).input_shape.members[
        "FunctionName"]
    if member.serialization.get("location") == "querystring":
        wire.path += "?" + urlencode({member.serialization["name"]: name})
    return wire


def _function_name_operations() -> set[str]:
    from localaws.rules import RULES

    return {op for (service, op), rule in RULES.items()
            if service == "lambda" and rule.__name__ == "_lambda_function_name"}
