"""Input the random fuzzer answered with a 500, each now a 4xx in AWS's shape.

Found by ``make fuzz`` (``WORKSHOP_FUZZ_RANDOM=1``) and by probes around its
findings: a Lambda function named by an ARN of a region AWS does not have
(moto looks the region up and raises ``KeyError``), a partial ARN moto cannot
split, and a request signed for such a region (every regional service).
"""

from __future__ import annotations

import json

import pytest

from localaws import backends
from localaws.errors import RequestError, ServiceError
from localaws.gate import check_signature, service_regions
from localaws.protocols import render_error
from localaws.rules import check_rules
from tests.unit.wsgi import call, signed

BAD_ARN = "arn:aws:lambda:zz:1:function:f"
LAMBDA = signed("lambda")


@pytest.mark.parametrize("region", ["zz", "us-east-1x", "moon-1"])
@pytest.mark.parametrize("service,headers", [
    ("dynamodb", {"X-Amz-Target": "DynamoDB_20120810.ListTables"}),
    ("sqs", {"X-Amz-Target": "AmazonSQS.ListQueues"}),
    ("logs", {"X-Amz-Target": "Logs_20140328.DescribeLogGroups"}),
])
def test_a_json_request_signed_for_a_region_aws_lacks_is_an_invalid_signature(
        service, headers, region):
    # given
    request = call(headers=signed(service, region, **headers), body=b"{}")
    # when
    with pytest.raises(RequestError) as caught:
        check_signature(request)
    status, _, body = render_error(request, caught.value)
    # then
    assert status == 400
    assert json.loads(body) == {
        "__type": "com.amazon.coral.service#InvalidSignatureException",
        "message": f"Credential should be scoped to a valid region, not '{region}'. "}


def test_a_query_request_signed_for_a_region_aws_lacks_is_signature_does_not_match():
    # given
    request = call(headers=signed("sns", "zz", **{
        "Content-Type": "application/x-www-form-urlencoded"}),
        body=b"Action=ListTopics&Version=2010-03-31")
    # when
    with pytest.raises(RequestError) as caught:
        check_signature(request)
    status, _, body = render_error(request, caught.value)
    # then
    assert status == 403
    assert b"<Code>SignatureDoesNotMatch</Code>" in body


def test_a_lambda_request_signed_for_a_region_aws_lacks_is_a_403():
    # given
    request = call("GET", "/2016-08-19/account-settings", signed("lambda", "zz"))
    # when
    with pytest.raises(RequestError) as caught:
        check_signature(request)
    status, headers, _ = render_error(request, caught.value)
    # then
    assert (status, headers["x-amzn-ErrorType"]) == (403, "InvalidSignatureException")


@pytest.mark.parametrize("region", ["us-east-1", "eu-west-1", "cn-north-1", "us-gov-west-1"])
def test_every_partitions_regions_pass_and_global_services_take_any_region(region):
    # given
    regional = call(headers=signed("dynamodb", region, **{
        "X-Amz-Target": "DynamoDB_20120810.ListTables"}), body=b"{}")
    global_ = call(headers=signed("iam", "zz", **{
        "Content-Type": "application/x-www-form-urlencoded"}),
        body=b"Action=ListRoles&Version=2010-05-08")
    # when / then
    assert region in service_regions("dynamodb")
    assert check_signature(regional) is None
    assert check_signature(global_) is None


@pytest.mark.parametrize("name", [BAD_ARN, "zz:function:f", "f!x", "fn:1:2:3"])
def test_a_function_name_off_the_models_pattern_is_a_validation_error_in_the_path(name):
    # given
    request = call("GET", f"/2015-03-31/functions/{name}", LAMBDA)
    # when
    with pytest.raises(ServiceError) as caught:
        check_rules(request, {})
    # then
    assert caught.value.code == "ValidationException"
    assert caught.value.message.startswith(
        f"1 validation error detected: Value '{name}' at 'functionName' failed to satisfy "
        "constraint: Member must satisfy regular expression pattern: (arn:")


@pytest.mark.parametrize("request_", [
    call("POST", "/2015-03-31/event-source-mappings", LAMBDA,
         json.dumps({"FunctionName": BAD_ARN, "EventSourceArn": "arn:aws:sqs:us-east-1:1:q"})
         .encode()),
    call("GET", "/2015-03-31/event-source-mappings", LAMBDA, query=f"FunctionName={BAD_ARN}"),
    call("POST", f"/2015-03-31/functions/{BAD_ARN}/invocations", LAMBDA, b"{}"),
], ids=["body", "query", "invoke-path"])
def test_the_function_name_rule_reads_the_body_the_query_and_the_path(request_):
    # when / then
    with pytest.raises(ServiceError, match="at 'functionName' failed to satisfy"):
        check_rules(request_, {})


@pytest.mark.parametrize("name", ["f", "my-fn_1", "123456789012:function:f",
                                  "arn:aws:lambda:eu-west-1:123456789012:function:f:$LATEST"])
def test_names_partial_arns_and_arns_of_real_regions_pass(name):
    # given
    request = call("GET", f"/2015-03-31/functions/{name}", LAMBDA)
    # when / then
    assert check_rules(request, {}) is None


def test_a_body_that_is_not_json_is_left_to_the_operation():
    # given
    request = call("POST", "/2015-03-31/event-source-mappings", LAMBDA, b"{not json")
    # when / then
    assert check_rules(request, {}) is None


def test_a_function_looked_up_in_a_region_moto_lacks_is_not_found():
    # when
    found = backends.lambda_function("123456789012", "zz", "f")
    # then
    assert found is None


def test_an_export_without_a_prefix_is_refused_before_moto_which_needs_one():
    # given: the request `make fuzz` found (moto: KeyError 'S3Prefix')
    request = call(headers=signed("dynamodb", **{
        "X-Amz-Target": "DynamoDB_20120810.ExportTableToPointInTime"}), body=json.dumps({
            "S3BucketOwner": "..", "S3Bucket": "b",
            "TableArn": "arn:aws:dynamodb:us-east-1:123456789012:table/fuzz-a/stream/x"})
        .encode())
    # when
    with pytest.raises(ServiceError) as caught:
        check_rules(request, request.json_body())
    # then
    assert caught.value.code == "ValidationException"
    assert caught.value.message.startswith(
        "The local endpoint needs S3Prefix for ExportTableToPointInTime")


def test_a_partial_arn_in_the_path_reaches_moto_as_the_whole_arn():
    # given: the request `make fuzz` found (moto splits "ACCOUNT:function:NAME" into two)
    request = call("DELETE", "/2015-03-31/functions/123456789012:function:fuzz",
                   signed("lambda", "eu-west-1"), query="Qualifier=58349")
    # when
    check_rules(request, {})
    # then
    assert request.path == \
        "/2015-03-31/functions/arn:aws:lambda:eu-west-1:123456789012:function:fuzz"
