"""The AWS CLI, in-process, turns a shown line into the request boto3 makes."""

from __future__ import annotations

from pathlib import Path

import boto3
import pytest

from helpers import cli, cli_requests

REGION = "us-east-1"


def _client(service: str):
    return boto3.client(service, region_name=REGION, aws_access_key_id="k",
                        aws_secret_access_key="s")


@pytest.mark.parametrize(("service", "method", "params"), [
    ("dynamodb", "put_item", {"TableName": "orders", "Item": {
        "pk": {"S": "it's \"quoted\""}, "price": {"N": "12.5"}, "tags": {"SS": ["a", "b"]}}}),
    ("lambda", "create_event_source_mapping", {
        "FunctionName": "f", "EventSourceArn": "arn:aws:dynamodb:us-east-1:1:table/t/stream/x",
        "BatchSize": 10, "StartingPosition": "TRIM_HORIZON", "BisectBatchOnFunctionError": True,
        "FunctionResponseTypes": ["ReportBatchItemFailures"]}),
    ("lambda", "invoke", {"FunctionName": "f", "Payload": b'{"Records": []}'}),
    ("iam", "put_role_policy", {"RoleName": "r", "PolicyName": "p",
                                "PolicyDocument": '{"Version": "2012-10-17", "Statement": []}'}),
    ("cloudwatch", "put_metric_alarm", {
        "AlarmName": "a", "MetricName": "IteratorAge", "Namespace": "AWS/Lambda",
        "Statistic": "Maximum", "Period": 60, "EvaluationPeriods": 1, "Threshold": 30000.0,
        "ComparisonOperator": "GreaterThanThreshold",
        "Dimensions": [{"Name": "FunctionName", "Value": "f"}]}),
])
def test_a_shown_line_sends_what_the_call_sends(service, method, params):
    # given
    client = _client(service)
    line = cli.command(client, method, params)
    operation = client.meta.method_to_api_mapping[method]
    # when / then: no error
    cli_requests.check_line(line, operation, params, region=REGION)
    assert cli_requests.sent_by_cli(line, region=REGION)[0] == operation


def test_a_line_that_sends_another_value_is_found():
    # given: the line says 20 where the call sends 10
    params = {"FunctionName": "f", "ReservedConcurrentExecutions": 10}
    line = ("aws lambda put-function-concurrency --function-name f "
            "--reserved-concurrent-executions 20")
    # when
    with pytest.raises(cli_requests.CliLineError) as error:
        cli_requests.check_line(line, "PutFunctionConcurrency", params, region=REGION)
    # then
    assert "20" in str(error.value) and "where the call sends" in str(error.value)


def test_a_line_the_cli_cannot_parse_is_refused_with_its_message():
    # given
    line = "aws dynamodb put-item --table-name t --no-such-option 1"
    # when
    with pytest.raises(cli_requests.CliLineError) as error:
        cli_requests.sent_by_cli(line, region=REGION)
    # then
    assert "refused" in str(error.value) and "no-such-option" in str(error.value)


def test_blobs_and_sequences_compare_as_text_and_lists():
    # when / then
    assert cli_requests.comparable({"a": (b"x", 1)}) == {"a": ["x", 1]}
    assert cli_requests.comparable(b"\xff") == b"\xff"


def test_a_relative_file_path_is_read_from_the_given_folder_without_changing_ours(tmp_path):
    # given
    (tmp_path / "payload.json").write_bytes(b'{"Records": [1]}')
    here = Path.cwd()
    line = "aws lambda invoke --function-name f --payload fileb://payload.json response.json"
    # when
    operation, params = cli_requests.sent_by_cli(line, region=REGION, cwd=tmp_path)
    # then
    assert (operation, params["Payload"]) == ("Invoke", b'{"Records": [1]}')
    assert Path.cwd() == here
