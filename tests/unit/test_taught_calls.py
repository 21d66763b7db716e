"""More of the taught calls (helpers.calls): the CLI replay, the listener, what the call log keeps;
and the re-run steps of roles, tables, streams and functions (helpers.reruns), through botocore's
Stubber and a recording fake of the AWS CLI process."""

from __future__ import annotations

import datetime as dt
import json
import subprocess
from pathlib import Path
from typing import Any

import boto3
import pytest
from botocore.exceptions import ClientError

from helpers import calls, cli, reruns
from tests.unit.stubs import StubBackend

TRUST = {"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": "sts:AssumeRole",
                                                "Principal": {"Service": "lambda.amazonaws.com"}}]}
ROLE = {"RoleName": "r", "Arn": "arn:aws:iam::123456789012:role/r", "Path": "/",
        "RoleId": "AROAEXAMPLEEXAMPLE01", "CreateDate": dt.datetime(2026, 1, 1, tzinfo=dt.UTC)}
KEYS = [{"AttributeName": "PK", "KeyType": "HASH"}]


def taught(backend: StubBackend, service: str, **kwargs: Any) -> tuple[calls.TaughtClient,
                                                                       list[str]]:
    shown: list[str] = []
    return calls.TaughtClient(backend, service, show=shown.append, **kwargs), shown


class FakeCli:
    """Stands for ``subprocess.run`` of the AWS CLI: records the command, answers as told."""

    def __init__(self, returncode: int = 0, stdout: str = "", stderr: str = "",
                 payload: bytes | None = None) -> None:
        self.answer = (returncode, stdout, stderr)
        self.payload = payload
        self.command: list[str] = []
        self.env: dict[str, str] = {}
        self.outfile = ""

    def __call__(self, command: list[str], **kwargs: Any) -> subprocess.CompletedProcess:
        self.command, self.env = command, kwargs["env"]
        if self.payload is not None:  # the outfile is the line's last word
            self.outfile = command[command.index("--output") - 1]
            Path(self.outfile).write_bytes(self.payload)
        code, out, err = self.answer
        return subprocess.CompletedProcess(command, code, out, err)


@pytest.fixture
def session_backend() -> StubBackend:
    backend = StubBackend("lambda")
    backend.session = boto3.session.Session(aws_access_key_id="AKIDEXAMPLE",
                                            aws_secret_access_key="secret",
                                            aws_session_token="token", region_name="us-east-1")
    return backend


def test_the_cli_replay_runs_the_shown_line_with_the_backends_endpoint_and_credentials(
        session_backend, monkeypatch):
    # given
    fake = FakeCli(stdout=json.dumps({"FunctionName": "f"}))
    monkeypatch.setattr(calls.subprocess, "run", fake)
    # when
    answer = calls.run_cli(session_backend, "aws lambda get-function --function-name f")
    # then
    assert answer == {"FunctionName": "f"}
    assert fake.command[1:] == ["lambda", "get-function", "--function-name", "f", "--output",
                                "json", "--region", "us-east-1", "--endpoint-url",
                                "http://127.0.0.1:9"]
    assert fake.command[0].endswith("/aws")
    assert (fake.env["AWS_ACCESS_KEY_ID"], fake.env["AWS_SECRET_ACCESS_KEY"],
            fake.env["AWS_SESSION_TOKEN"]) == ("AKIDEXAMPLE", "secret", "token")


def test_an_invoke_replayed_by_the_cli_returns_its_outfile_as_the_payload(
        session_backend, monkeypatch):
    # given
    fake = FakeCli(stdout=json.dumps({"StatusCode": 200}), payload=b'{"ok": true}')
    monkeypatch.setattr(calls.subprocess, "run", fake)
    line = f"aws lambda invoke --function-name f --payload '{{}}' {cli.INVOKE_OUTFILE}"
    # when
    answer = calls.run_cli(session_backend, line)
    # then
    assert answer["StatusCode"] == 200
    assert json.loads(answer["Payload"].read()) == {"ok": True}
    assert Path(fake.outfile).name == cli.INVOKE_OUTFILE  # in a scratch folder, not the cwd
    assert Path(fake.outfile).parent != cli.ROOT


@pytest.mark.parametrize(("stderr", "code", "message", "operation"), [
    ("\nAn error occurred (ResourceNotFoundException) when calling the GetFunction operation: "
     "Function not found: f\n", "ResourceNotFoundException", "Function not found: f",
     "GetFunction"),
    ("\nAn error occurred (TooManyRequestsException) when calling the Invoke operation "
     "(reached max retries: 2): Rate exceeded\n", "TooManyRequestsException", "Rate exceeded",
     "Invoke"),
    ("aws: error: argument --function-name is required\n", "CLIError",
     "aws: error: argument --function-name is required", "get-function"),
])
def test_a_cli_error_becomes_the_client_error_it_printed(session_backend, monkeypatch, stderr,
                                                         code, message, operation):
    # given
    monkeypatch.setattr(calls.subprocess, "run", FakeCli(returncode=254, stderr=stderr))
    # when
    with pytest.raises(ClientError) as caught:
        calls.run_cli(session_backend, "aws lambda get-function --function-name f")
    # then
    assert caught.value.response["Error"] == {"Code": code, "Message": message}
    assert caught.value.operation_name == operation


def test_with_the_cli_switch_a_taught_call_goes_through_the_cli(session_backend, monkeypatch):
    # given
    fake = FakeCli(stdout="")
    monkeypatch.setattr(calls.subprocess, "run", fake)
    monkeypatch.setenv(calls.ENV_VIA_CLI, "1")
    client, shown = taught(session_backend, "lambda")
    # when
    answer = client.delete_function(FunctionName="f")
    # then
    assert answer == {}
    assert fake.command[1:5] == ["lambda", "delete-function", "--function-name", "f"]
    assert "aws lambda delete-function --function-name f" in shown[0]


def test_the_listener_hears_each_successful_call_with_the_time_it_was_sent():
    # given
    backend = StubBackend("dynamodb")
    backend.stub("dynamodb").add_response("put_item", {})
    heard: list[tuple[str, dict, Any, dt.datetime]] = []
    client = calls.client(backend, "dynamodb",
                          listener=lambda *args: heard.append(args))  # type: ignore[arg-type]
    client.show = lambda text: None
    before = dt.datetime.now(dt.UTC)
    # when
    client.put_item(TableName="orders", Item={"PK": {"S": "a"}})
    # then
    ((method, params, response, sent),) = heard
    assert (method, params) == ("put_item", {"TableName": "orders", "Item": {"PK": {"S": "a"}}})
    assert response == {} and sent >= before


def test_what_is_not_an_api_call_passes_through_untaught():
    # given
    backend = StubBackend("dynamodb")
    client, shown = taught(backend, "dynamodb")
    # when
    paginator = client.get_paginator("scan")
    # then
    assert paginator is not None and shown == []
    assert client.can_paginate("scan") is True


def test_the_call_log_keeps_bytes_times_and_odd_values_as_json():
    # when
    plain = calls._plain({"Blob": b"\x00\x01", "When": dt.datetime(2026, 1, 1, tzinfo=dt.UTC),
                          "List": (1, 2.5, None, True), "Odd": {3}, "ResponseMetadata": {}})
    # then
    assert plain == {"Blob": {"__bytes__": "AAE="}, "When": "2026-01-01T00:00:00+00:00",
                     "List": [1, 2.5, None, True], "Odd": "{3}"}
    assert json.loads(json.dumps(plain)) == plain


# --------------------------------------------------------------------------- re-runs


def test_recreating_a_role_with_another_trust_policy_updates_it():
    # given
    backend = StubBackend("iam")
    stub = backend.stub("iam")
    stub.add_client_error("create_role", "EntityAlreadyExists", "exists", 409)
    stub.add_response("get_role", {"Role": {**ROLE, "AssumeRolePolicyDocument": json.dumps(
        {"Version": "2012-10-17", "Statement": []})}})
    stub.add_response("update_assume_role_policy", {},
                      {"RoleName": "r", "PolicyDocument": json.dumps(TRUST)})
    stub.add_response("get_role", {"Role": {**ROLE, "AssumeRolePolicyDocument": json.dumps(TRUST)}})
    client, shown = taught(backend, "iam")
    # when
    answer = client.create_role(RoleName="r", AssumeRolePolicyDocument=json.dumps(TRUST))
    # then
    backend.assert_all_used()
    assert answer["Role"]["AssumeRolePolicyDocument"] == TRUST  # botocore decodes it
    assert any("aws iam update-assume-role-policy" in text for text in shown)


def test_recreating_a_role_that_matches_changes_nothing():
    # given
    backend = StubBackend("iam")
    stub = backend.stub("iam")
    stub.add_client_error("create_role", "EntityAlreadyExists", "exists", 409)
    stub.add_response("get_role", {"Role": {**ROLE, "AssumeRolePolicyDocument": json.dumps(TRUST)}})
    client, shown = taught(backend, "iam")
    # when
    client.create_role(RoleName="r", AssumeRolePolicyDocument=json.dumps(TRUST))
    # then
    backend.assert_all_used()
    assert shown[-1] == "*Role `r`'s trust policy already matches the call: nothing to change.*"


@pytest.mark.parametrize(("existing", "said"), [
    (KEYS, "*Table `orders` already matches the call: nothing to change.*"),
    ([{"AttributeName": "id", "KeyType": "HASH"}],
     "*Table `orders` exists with other keys ({'id': 'HASH'}); a table's keys cannot change: "
     "delete it (99_cleanup) to start over.*"),
])
def test_recreating_a_table_says_whether_its_keys_match(existing, said):
    # given
    backend = StubBackend("dynamodb")
    stub = backend.stub("dynamodb")
    stub.add_client_error("create_table", "ResourceInUseException", "exists", 400)
    stub.add_response("describe_table", {"Table": {"TableName": "orders", "KeySchema": existing}})
    client, shown = taught(backend, "dynamodb")
    # when
    answer = client.create_table(TableName="orders", KeySchema=KEYS, BillingMode="PAY_PER_REQUEST",
                                 AttributeDefinitions=[{"AttributeName": "PK",
                                                        "AttributeType": "S"}])
    # then
    assert answer["TableDescription"]["KeySchema"] == existing
    assert shown[-1] == said


def test_turning_on_a_stream_with_another_view_type_turns_it_off_and_on_again():
    # given: the stream is on with KEYS_ONLY; NEW_IMAGE is asked for
    backend = StubBackend("dynamodb")
    stub = backend.stub("dynamodb")
    stub.add_client_error("update_table", "ValidationException",
                          "Table already has an enabled stream", 400)
    stub.add_response("describe_table", {"Table": {"TableName": "orders", "StreamSpecification": {
        "StreamEnabled": True, "StreamViewType": "KEYS_ONLY"}}})
    stub.add_response("update_table", {}, {"TableName": "orders",
                                           "StreamSpecification": {"StreamEnabled": False}})
    stub.add_response("describe_table", {"Table": {"TableName": "orders", "TableStatus": "ACTIVE"}})
    wanted = {"StreamEnabled": True, "StreamViewType": "NEW_IMAGE"}
    stub.add_response("update_table", {"TableDescription": {"TableName": "orders"}},
                      {"TableName": "orders", "StreamSpecification": wanted})
    client, shown = taught(backend, "dynamodb")
    # when
    answer = client.update_table(TableName="orders", StreamSpecification=wanted)
    # then
    backend.assert_all_used()
    assert answer["TableDescription"]["TableName"] == "orders"
    assert any("view type cannot change" in text for text in shown)


def test_a_conflict_without_a_mapping_to_bring_in_line_is_an_error():
    # given: the create call conflicts, yet no mapping of the pair is listed
    backend = StubBackend("lambda")
    stub = backend.stub("lambda")
    stub.add_client_error("create_event_source_mapping", "ResourceConflictException", "exists",
                          409)
    stub.add_response("list_event_source_mappings", {"EventSourceMappings": []})
    client, _ = taught(backend, "lambda")
    arn = "arn:aws:dynamodb:us-east-1:123456789012:table/t/stream/2026-01-01T00:00:00.000"
    # when / then
    with pytest.raises(LookupError, match="no mapping of f on arn:aws:dynamodb"):
        client.create_event_source_mapping(FunctionName="f", EventSourceArn=arn,
                                           StartingPosition="LATEST")


def test_a_starting_position_that_differs_is_said_not_changed(monkeypatch):
    # given: the trigger reads from TRIM_HORIZON; the call asks for LATEST, nothing else differs
    uuid = "11111111-2222-3333-4444-555555555555"
    arn = "arn:aws:dynamodb:us-east-1:123456789012:table/t/stream/2026-01-01T00:00:00.000"
    found = {"UUID": uuid, "State": "Enabled", "EventSourceArn": arn,
             "StartingPosition": "TRIM_HORIZON", "BatchSize": 100}
    monkeypatch.setattr(reruns.mappings, "find_mappings", lambda *a, **k: [found])
    monkeypatch.setattr(reruns.mappings, "wait_for_state", lambda *a, **k: found)
    backend = StubBackend("lambda")
    backend.stub("lambda").add_client_error("create_event_source_mapping",
                                            "ResourceConflictException", "exists", 409)
    client, shown = taught(backend, "lambda")
    # when
    answer = client.create_event_source_mapping(FunctionName="f", EventSourceArn=arn,
                                                StartingPosition="LATEST")
    # then
    backend.assert_all_used()  # no update call
    assert answer["UUID"] == uuid
    assert "Cannot be changed on an existing trigger: StartingPosition" in shown[-2]
    assert shown[-1] == f"*Trigger `{uuid}` already matches the call: nothing to change.*"


def test_recreating_a_function_without_code_or_changes_says_it_matches(monkeypatch):
    # given: an image-less create call (no ZipFile) whose settings all match
    config = {"FunctionName": "f", "Runtime": "python3.12", "Handler": "app.lambda_handler",
              "Role": ROLE["Arn"], "MemorySize": 128, "Timeout": 3, "Description": "",
              "CodeSha256": "x"}
    monkeypatch.setattr(reruns.functions, "wait_until_ready", lambda *a, **k: config)
    backend = StubBackend("lambda")
    backend.stub("lambda").add_client_error("create_function", "ResourceConflictException",
                                            "exists", 409)
    client, shown = taught(backend, "lambda")
    # when
    answer = client.create_function(FunctionName="f", Runtime="python3.12", Role=ROLE["Arn"],
                                    Handler="app.lambda_handler", MemorySize=128, Timeout=3,
                                    Code={"S3Bucket": "code-bucket", "S3Key": "f.zip"})
    # then
    backend.assert_all_used()
    assert answer["CodeSha256"] == "x"
    assert shown[-1] == "*Function `f` already matches the call: nothing to change.*"


def test_a_stream_error_other_than_already_enabled_is_a_real_one():
    # given
    error = ClientError({"Error": {"Code": "ValidationException",
                                   "Message": "One or more parameter values were invalid"}},
                        "UpdateTable")
    # when / then
    assert reruns.handler("dynamodb", "update_table", "ValidationException", error) is None
    assert reruns.handler("lambda", "create_function", "InvalidParameterValueException",
                          error) is None
