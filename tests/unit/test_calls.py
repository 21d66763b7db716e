"""Taught calls (helpers.calls) and their re-runs (helpers.reruns), through botocore's Stubber."""

from __future__ import annotations

import base64
import hashlib
import json
from pathlib import Path
from typing import Any

import boto3
import pytest
from botocore.exceptions import ClientError
from botocore.stub import Stubber

from helpers import calls, concurrency
from helpers.clients import Pacing, new_session
from helpers.display import show_error

UUID = "11111111-2222-3333-4444-555555555555"
ARN = "arn:aws:dynamodb:us-east-1:123456789012:table/t/stream/2026-01-01T00:00:00.000"


class FakeBackend:
    """A backend whose clients are the stubbed ones (one per service)."""

    name = "local"
    pacing = Pacing(poll_s=0.0, propagation_s=0.0)

    def __init__(self, clients: dict[str, Any]) -> None:
        self.clients = clients

    def client(self, service: str, **_: Any) -> Any:
        return self.clients[service]


@pytest.fixture
def lam() -> Any:
    session = new_session(aws_access_key_id="x", aws_secret_access_key="x",
                          region_name="us-east-1")
    return session.client("lambda")


def taught(raw: Any, service: str = "lambda") -> tuple[calls.TaughtClient, list[str]]:
    shown: list[str] = []
    client = calls.TaughtClient(FakeBackend({service: raw}), service, show=shown.append, raw=raw)
    return client, shown


def conflict(stubber: Stubber, method: str) -> None:
    stubber.add_client_error(method, "ResourceConflictException", "exists", 409)


def mapping(**settings: Any) -> dict[str, Any]:
    return {"UUID": UUID, "State": "Enabled", "EventSourceArn": ARN, "BatchSize": 100,
            "MaximumBatchingWindowInSeconds": 0, "ParallelizationFactor": 1,
            "MaximumRetryAttempts": -1, "MaximumRecordAgeInSeconds": -1,
            "BisectBatchOnFunctionError": False, "DestinationConfig": {"OnFailure": {}},
            **settings}


def test_a_call_shows_its_cli_line_and_console_path_and_returns_the_response(lam) -> None:
    # given
    client, shown = taught(lam)
    with Stubber(lam) as stub:
        stub.add_response("put_function_concurrency", {"ReservedConcurrentExecutions": 10},
                          {"FunctionName": "f", "ReservedConcurrentExecutions": 10})
        # when
        response = client.put_function_concurrency(FunctionName="f",
                                                   ReservedConcurrentExecutions=10)
    # then
    assert response["ReservedConcurrentExecutions"] == 10
    assert "aws lambda put-function-concurrency --function-name f " \
           "--reserved-concurrent-executions 10" in shown[0]
    assert "Console: Lambda → Functions → f → Configuration → Concurrency" in shown[0]


def test_a_response_is_not_echoed_by_a_notebook_cell(lam) -> None:
    # given
    client, _ = taught(lam)
    with Stubber(lam) as stub:
        stub.add_response("get_account_settings", {"AccountLimit": {"ConcurrentExecutions": 10}})
        response = client.get_account_settings()
    # then: a dict to read, with nothing for IPython to print
    assert isinstance(response, dict) and response["AccountLimit"]["ConcurrentExecutions"] == 10
    assert response._ipython_display_() is None


def test_a_real_error_is_raised_after_the_line_is_shown(lam) -> None:
    # given
    client, shown = taught(lam)
    with Stubber(lam) as stub:
        stub.add_client_error("create_event_source_mapping", "InvalidParameterValueException",
                              "Cannot access stream", 400)
        # then
        with pytest.raises(ClientError, match="Cannot access stream"):
            client.create_event_source_mapping(FunctionName="f", EventSourceArn=ARN)
    assert len(shown) == 1 and "create-event-source-mapping" in shown[0]


def test_a_propagation_error_is_retried_until_the_call_succeeds(lam) -> None:
    # given: the role's stream permissions reach Lambda after one refusal
    client, shown = taught(lam)
    client.backend.pacing = Pacing(poll_s=0.0, propagation_s=60.0)
    with Stubber(lam) as stub:
        stub.add_client_error("create_event_source_mapping", "InvalidParameterValueException",
                              "Cannot access stream arn:aws:dynamodb:…: Please ensure the role "
                              "can perform the GetRecords … Actions on your stream in IAM.", 400)
        stub.add_response("create_event_source_mapping", mapping(State="Creating"))
        # when
        created = client.create_event_source_mapping(FunctionName="f", EventSourceArn=ARN)
        stub.assert_no_pending_responses()
    # then
    assert created["State"] == "Creating"
    assert len(shown) == 1


def test_an_error_shown_on_purpose_is_not_retried(lam) -> None:
    # given: a cell demonstrating the error, on a backend that would retry for a minute
    client, _ = taught(lam)
    client.backend.pacing = Pacing(poll_s=0.0, propagation_s=60.0)
    with Stubber(lam) as stub:
        stub.add_client_error("create_event_source_mapping", "InvalidParameterValueException",
                              "Cannot access stream", 400)
        # when
        caught = show_error(client.create_event_source_mapping, FunctionName="f",
                            EventSourceArn=ARN)
        stub.assert_no_pending_responses()
    # then
    assert caught is not None and caught.code == "InvalidParameterValueException"


def test_recreating_a_trigger_updates_only_what_differs_and_resets_omitted_settings(lam) -> None:
    # given: the trigger exists with a filter and batch size 100
    client, shown = taught(lam)
    existing = mapping(FilterCriteria={"Filters": [{"Pattern": '{"a": [1]}'}]})
    with Stubber(lam) as stub:
        conflict(stub, "create_event_source_mapping")
        stub.add_response("list_event_source_mappings", {"EventSourceMappings": [existing]})
        stub.add_response("get_event_source_mapping", existing)
        stub.add_response("update_event_source_mapping", mapping(State="Updating"),
                          {"UUID": UUID, "BatchSize": 10, "FilterCriteria": {}})
        stub.add_response("get_event_source_mapping", mapping(BatchSize=10))
        # when
        result = client.create_event_source_mapping(
            FunctionName="f", EventSourceArn=ARN, BatchSize=10, StartingPosition="TRIM_HORIZON")
        stub.assert_no_pending_responses()
    # then
    assert result["BatchSize"] == 10
    assert "ResourceConflictException" in shown[1]
    assert (f"aws lambda update-event-source-mapping --uuid {UUID} --batch-size 10 "
            "--filter-criteria '{}'") in shown[2]


def test_recreating_an_unchanged_trigger_calls_no_update(lam) -> None:
    # given
    client, shown = taught(lam)
    with Stubber(lam) as stub:
        conflict(stub, "create_event_source_mapping")
        stub.add_response("list_event_source_mappings", {"EventSourceMappings": [mapping()]})
        stub.add_response("get_event_source_mapping", mapping())
        # when
        client.create_event_source_mapping(FunctionName="f", EventSourceArn=ARN,
                                           StartingPosition="LATEST")
        stub.assert_no_pending_responses()
    # then
    assert "nothing to change" in shown[-1]


def test_recreating_a_function_uploads_code_only_when_its_hash_differs(lam, tmp_path: Path,
                                                                        monkeypatch) -> None:
    # given: the deployed code is the same zip, the timeout differs
    monkeypatch.setattr(calls.cli, "BLOB_DIR", tmp_path)
    code = b"PK\x03\x04 zip"
    sha = base64.b64encode(hashlib.sha256(code).digest()).decode()
    config = {"FunctionName": "f", "State": "Active", "LastUpdateStatus": "Successful",
              "CodeSha256": sha, "Runtime": "python3.12", "Handler": "app.lambda_handler",
              "Role": "arn:aws:iam::123456789012:role/r", "MemorySize": 128, "Timeout": 3}
    client, shown = taught(lam)
    with Stubber(lam) as stub:
        conflict(stub, "create_function")
        stub.add_response("get_function_configuration", config)
        stub.add_response("update_function_configuration", config,
                          {"FunctionName": "f", "Timeout": 30})
        stub.add_response("get_function_configuration", {**config, "Timeout": 30})
        # when
        result = client.create_function(
            FunctionName="f", Runtime="python3.12", Role=config["Role"],
            Handler="app.lambda_handler", Code={"ZipFile": code}, MemorySize=128, Timeout=30)
        stub.assert_no_pending_responses()
    # then
    assert result["Timeout"] == 30
    assert not any("update-function-code" in s for s in shown)
    assert any("update-function-configuration --function-name f --timeout 30" in s for s in shown)


def test_every_taught_call_is_logged_for_the_cli_replay(lam, tmp_path: Path, monkeypatch) -> None:
    # given
    log = tmp_path / "calls.jsonl"
    monkeypatch.setenv(calls.ENV_CALL_LOG, str(log))
    client, _ = taught(lam)
    with Stubber(lam) as stub:
        stub.add_response("get_account_settings", {"AccountLimit": {"ConcurrentExecutions": 10}})
        stub.add_client_error("get_function", "ResourceNotFoundException", "no", 404)
        # when
        client.get_account_settings()
        with pytest.raises(ClientError):
            client.get_function(FunctionName="nope")
    # then
    entries = [json.loads(line) for line in log.read_text().splitlines()]
    assert [(e["method"], e["error"]) for e in entries] == [
        ("get_account_settings", None), ("get_function", "ResourceNotFoundException")]
    assert entries[1]["cli"] == "aws lambda get-function --function-name nope"


@pytest.mark.parametrize(("quota", "unreserved", "current", "fits", "floor"), [
    (1000, 1000, 0, True, 100),
    (10, 10, 0, False, 10),  # a new or free-tier account: nothing can be reserved
    (110, 110, 0, True, 100),
    (110, 100, 10, True, 100),  # re-running: the function's own reservation comes back first
])
def test_reserving_ten_fits_only_above_the_unreserved_minimum(quota, unreserved, current, fits,
                                                              floor) -> None:
    # when
    plan = concurrency.decide({"ConcurrentExecutions": quota,
                               "UnreservedConcurrentExecutions": unreserved}, current, 10)
    # then
    assert plan.possible is fits
    assert plan.table["minimum Lambda keeps"].iloc[0] == floor
    assert (plan.advice == "") is fits
    if not fits:
        assert "Service Quotas" in plan.advice


def test_the_plan_reads_the_accounts_settings(lam) -> None:
    # given
    client, shown = taught(lam)
    with Stubber(lam) as stub:
        stub.add_response("get_account_settings", {"AccountLimit": {
            "ConcurrentExecutions": 10, "UnreservedConcurrentExecutions": 10}})
        stub.add_response("get_function_concurrency", {}, {"FunctionName": "f"})
        # when
        plan = concurrency.plan_reservation(client, "f", 10)
    # then
    assert not plan.possible
    assert "aws lambda get-account-settings" in shown[0]


@pytest.mark.parametrize("code", ["ValidationException", "ResourceInUseException"])
def test_turning_on_a_stream_that_is_on_shows_it_instead_of_failing(code: str) -> None:
    # given: the stream is on with the asked view type (AWS and moto answer with two codes)
    session = boto3.session.Session(aws_access_key_id="x", aws_secret_access_key="x",
                                    region_name="us-east-1")
    ddb = session.client("dynamodb")
    client, shown = taught(ddb, "dynamodb")
    spec = {"StreamEnabled": True, "StreamViewType": "NEW_AND_OLD_IMAGES"}
    table = {"TableName": "shop", "StreamSpecification": spec, "LatestStreamArn": ARN}
    with Stubber(ddb) as stub:
        stub.add_client_error("update_table", code,
                              "Table already has an enabled stream: arn:aws:dynamodb:...", 400)
        stub.add_response("describe_table", {"Table": table})
        # when
        response = client.update_table(TableName="shop", StreamSpecification=spec)
    # then
    assert response["TableDescription"]["LatestStreamArn"] == ARN
    assert "nothing to change" in shown[-1]
