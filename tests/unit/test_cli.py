"""The AWS CLI line written for a boto3 call (helpers.cli), from botocore's model."""

from __future__ import annotations

import json
import shlex
from pathlib import Path

import boto3
import pytest

from helpers import cli


@pytest.fixture(scope="module")
def session() -> boto3.session.Session:
    return boto3.session.Session(aws_access_key_id="x", aws_secret_access_key="x",
                                 region_name="us-east-1")


def test_operation_and_members_are_kebab_cased(session) -> None:
    # given
    lam = session.client("lambda")
    # when
    line = cli.command(lam, "create_event_source_mapping", {
        "FunctionName": "f", "EventSourceArn": "arn:aws:dynamodb:us-east-1:1:table/t/stream/x",
        "BatchSize": 10, "StartingPosition": "TRIM_HORIZON", "MaximumRetryAttempts": 3})
    # then
    assert line == ("aws lambda create-event-source-mapping --function-name f "
                    "--event-source-arn arn:aws:dynamodb:us-east-1:1:table/t/stream/x "
                    "--batch-size 10 --starting-position TRIM_HORIZON --maximum-retry-attempts 3")


def test_booleans_are_flags_and_negated_flags(session) -> None:
    # given
    lam = session.client("lambda")
    # when
    on = cli.command(lam, "update_event_source_mapping",
                     {"UUID": "u", "BisectBatchOnFunctionError": True})
    off = cli.command(lam, "update_event_source_mapping", {"UUID": "u", "Enabled": False})
    # then
    assert on.endswith("--uuid u --bisect-batch-on-function-error")
    assert off.endswith("--uuid u --no-enabled")


def test_scalar_lists_are_words_and_flat_structures_shorthand(session) -> None:
    # given
    lam, ddb = session.client("lambda"), session.client("dynamodb")
    # when
    types = cli.command(lam, "update_event_source_mapping",
                        {"UUID": "u", "FunctionResponseTypes": ["ReportBatchItemFailures"]})
    none = cli.command(lam, "update_event_source_mapping",
                       {"UUID": "u", "FunctionResponseTypes": []})
    stream = cli.command(ddb, "update_table", {"TableName": "t", "StreamSpecification": {
        "StreamEnabled": True, "StreamViewType": "NEW_IMAGE"}})
    # then
    assert types.endswith("--function-response-types ReportBatchItemFailures")
    assert none.endswith("--function-response-types '[]'")
    assert stream.endswith("--stream-specification StreamEnabled=true,StreamViewType=NEW_IMAGE")


def test_nested_shapes_are_json_that_round_trips(session) -> None:
    # given
    ddb = session.client("dynamodb")
    item = {"PK": {"S": "LAMBDA#test processing"}, "n": {"N": "1"}, "tags": {"SS": ["a", "b"]}}
    # when
    words = shlex.split(cli.command(ddb, "put_item", {"TableName": "t", "Item": item}))
    # then
    assert words[:5] == ["aws", "dynamodb", "put-item", "--table-name", "t"]
    assert words[5] == "--item" and json.loads(words[6]) == item


def test_a_value_with_shorthand_syntax_falls_back_to_json(session) -> None:
    # given: a comma inside a value would split the shorthand
    lam = session.client("lambda")
    # when
    words = shlex.split(cli.command(lam, "update_function_configuration", {
        "FunctionName": "f", "Environment": {"Variables": {"A": "x,y"}}}))
    # then
    assert json.loads(words[-1]) == {"Variables": {"A": "x,y"}}


def test_the_lambda_zip_is_written_once_and_named_by_file(session, tmp_path: Path) -> None:
    # given
    lam = session.client("lambda")
    code = b"PK\x03\x04 not really a zip \xff"
    # when
    first = cli.command(lam, "create_function", {"FunctionName": "f", "Code": {"ZipFile": code}},
                        blob_dir=tmp_path)
    again = cli.command(lam, "update_function_code", {"FunctionName": "f", "ZipFile": code},
                        blob_dir=tmp_path)
    # then
    uri = shlex.split(first)[-1]
    assert shlex.split(first)[-2] == "--zip-file" and uri.startswith("fileb://")
    assert shlex.split(again)[-1] == uri
    assert [p.read_bytes() for p in tmp_path.iterdir()] == [code]


def test_invoke_takes_the_payload_as_text_and_an_outfile(session) -> None:
    # given
    lam = session.client("lambda")
    # when
    words = shlex.split(cli.command(lam, "invoke", {"FunctionName": "f", "LogType": "Tail",
                                                    "Payload": json.dumps({"a": 1})}))
    # then
    assert words[-1] == cli.INVOKE_OUTFILE
    assert json.loads(words[words.index("--payload") + 1]) == {"a": 1}


def test_paging_parameters_use_the_cli_names(session) -> None:
    # given
    lam = session.client("lambda")
    # when
    line = cli.command(lam, "list_event_source_mappings",
                       {"FunctionName": "f", "MaxItems": 5, "Marker": "m"})
    # then
    assert line.endswith("--function-name f --page-size 5 --starting-token m")


def test_unknown_member_is_the_callers_error(session) -> None:
    # given
    lam = session.client("lambda")
    # then
    with pytest.raises(cli.CommandError, match="BatchSise"):
        cli.command(lam, "create_event_source_mapping", {"BatchSise": 1})
    with pytest.raises(cli.CommandError, match="no method"):
        cli.command(lam, "create_trigger", {})
