"""The rest of a pipeline's diagnosis, the workshop's policy documents, and the client factory's
summary (troubleshooting, iam, clients, dashboards, write_latency)."""

from __future__ import annotations

import json
from datetime import UTC, datetime

import pytest
from boto3.dynamodb.types import TypeSerializer
from botocore.stub import ANY

from helpers import dashboards, iam, troubleshooting, write_latency
from helpers.clients import Pacing
from helpers.naming import Names
from tests.unit.stubs import StubBackend

STREAM = "arn:aws:dynamodb:us-east-1:123456789012:table/orders/stream/2026-01-01T00:00:00.000"
UUID = "a1b2c3d4-0000-0000-0000-000000000000"
READ_ALL = json.dumps({"Version": "2012-10-17", "Statement": [
    {"Effect": "Allow", "Action": "dynamodb:*", "Resource": "*"}]})
dump = TypeSerializer().serialize


@pytest.fixture(autouse=True)
def fresh_accounts(monkeypatch):
    monkeypatch.setattr(iam, "_ACCOUNTS", {})


def healthy_until_the_function(backend: StubBackend, *, limit: int | None = None,
                               response_types: list[str] | None = None) -> None:
    backend.stub("dynamodb").add_response("describe_table", {"Table": {
        "TableName": "orders", "TableStatus": "ACTIVE", "LatestStreamArn": STREAM,
        "StreamSpecification": {"StreamEnabled": True, "StreamViewType": "NEW_IMAGE"}}})
    lam = backend.stub("lambda")
    lam.add_response("get_function_configuration", {
        "FunctionName": "f", "State": "Active", "Role": "arn:aws:iam::123456789012:role/r"})
    lam.add_response("list_event_source_mappings", {"EventSourceMappings": [
        {"UUID": UUID, "EventSourceArn": STREAM, "State": "Enabled",
         "FunctionResponseTypes": response_types or []}]})
    backend.stub("iam").add_response("list_role_policies", {"PolicyNames": ["read"]})
    backend.stub("iam").add_response("get_role_policy", {
        "RoleName": "r", "PolicyName": "read", "PolicyDocument": READ_ALL})
    backend.stub("iam").add_response("list_attached_role_policies", {"AttachedPolicies": []})
    lam.add_response("get_function_concurrency",
                     {} if limit is None else {"ReservedConcurrentExecutions": limit})


def log(*lines: str) -> dict:
    return {"events": [{"timestamp": 1_767_225_600_000 + i, "logStreamName": "s",
                        "eventId": str(i), "message": line} for i, line in enumerate(lines)]}


def test_a_function_throttled_to_zero_is_found():
    # given
    backend = StubBackend("dynamodb", "lambda", "iam")
    healthy_until_the_function(backend, limit=0)
    # when
    found = troubleshooting.diagnose(backend, "orders", "f")
    # then
    assert found.problem == "throttled"


def test_a_failing_function_is_found_with_its_last_error():
    # given
    backend = StubBackend("dynamodb", "lambda", "iam", "logs")
    healthy_until_the_function(backend)
    backend.stub("logs").add_response("filter_log_events", log(
        "START RequestId: r1 Version: $LATEST",
        "[ERROR] KeyError: 'status'",
        "END RequestId: r1",
        "REPORT RequestId: r1\tDuration: 2.00 ms\tBilled Duration: 2 ms\t"
        "Memory Size: 128 MB\tMax Memory Used: 60 MB\tStatus: error"))
    # when
    found = troubleshooting.diagnose(backend, "orders", "f",
                                     since=datetime(2026, 1, 1, tzinfo=UTC))
    # then
    assert found.problem == "function-failing"
    assert found.details["last_error"] == "[ERROR] KeyError: 'status'"


def test_a_healthy_pipeline_says_so():
    # given
    backend = StubBackend("dynamodb", "lambda", "iam", "logs")
    healthy_until_the_function(backend)
    backend.stub("logs").add_response("filter_log_events", log())
    # when
    found = troubleshooting.diagnose(backend, "orders", "f")
    # then
    assert found.problem is None
    assert found.checks["ok"].all()


def test_the_workshop_policies_name_each_role_and_resource():
    # given
    backend = StubBackend("sts")
    backend.stub("sts").add_response("get_caller_identity", {
        "Account": "123456789012", "Arn": "arn:aws:iam::123456789012:user/u", "UserId": "u"})
    names = Names.with_prefix("")
    # when
    documents = iam.workshop_policy_documents(backend, names)
    # then
    logs = documents[f"{names.stream_processor_role}/{iam.POLICY_LOGS}"]
    assert json.dumps(logs).count(f"/aws/lambda/{names.stream_processor_function}") >= 1
    queue = documents[f"{names.stream_processor_role}/{iam.POLICY_QUEUE_SEND}"]
    assert queue["Statement"][0]["Action"] == ["sqs:SendMessage"]


def test_the_policies_table_has_one_row_per_statement():
    # given
    backend = StubBackend("iam")
    stub = backend.stub("iam")
    stub.add_response("list_role_policies", {"PolicyNames": ["read"]})
    stub.add_response("get_role_policy", {"RoleName": "r", "PolicyName": "read",
                                          "PolicyDocument": READ_ALL})
    stub.add_response("list_attached_role_policies", {"AttachedPolicies": []})
    # when
    table = iam.role_policies_table(backend, "r")
    # then
    assert table.values.tolist() == [["inline:read", "Allow", "dynamodb:*", "*"]]


def test_each_dashboard_widget_gets_its_data_per_function():
    # given
    backend = StubBackend("cloudwatch", pacing=Pacing(metric_period_s=60))
    body = {"widgets": [{"type": "text", "properties": {}},
                        {"type": "metric", "properties": {"title": "Errors (count)", "metrics": [
                            ["AWS/Lambda", "Errors", "FunctionName", "f"]]}}]}
    backend.stub("cloudwatch").add_response("get_metric_data", {"MetricDataResults": []},
                                            {"MetricDataQueries": ANY, "StartTime": ANY,
                                             "EndTime": ANY, "ScanBy": "TimestampAscending"})
    # when
    panels = dashboards.dashboard_series(backend, body, since=datetime(2026, 1, 1, tzinfo=UTC))
    # then
    assert [title for title, _ in panels] == ["Errors (count)"]
    assert list(panels[0][1].columns) == ["f"]


def test_writes_seen_by_a_taught_client_are_noted_by_event():
    # given
    backend = StubBackend("dynamodb")
    recorder = write_latency.WriteRecorder(backend, "orders")
    key = {"PK": dump("a"), "SK": dump("1")}
    sent = datetime(2026, 1, 1, tzinfo=UTC)
    # when
    recorder.observe("batch_write_item", {"RequestItems": {"orders": [
        {"PutRequest": {"Item": key}}, {"DeleteRequest": {"Key": key}}]}}, {}, sent)
    recorder.observe("delete_item", {"TableName": "orders", "Key": key,
                                     "ReturnValues": "ALL_OLD"}, {}, sent)
    recorder.observe("get_item", {"TableName": "orders", "Key": key}, {}, sent)
    # then: the delete of a missing item left no record
    assert recorder.frame()["event"].tolist() == ["INSERT", "REMOVE"]
    assert recorder.started == sent


def test_an_update_is_noted_as_a_modify():
    # given
    backend = StubBackend("dynamodb")
    backend.stub("dynamodb").add_response("update_item", {}, {
        "TableName": "orders", "Key": {"PK": dump("a"), "SK": dump("1")},
        "UpdateExpression": "SET #a0 = :v0", "ExpressionAttributeNames": {"#a0": "status"},
        "ExpressionAttributeValues": {":v0": dump("shipped")}})
    recorder = write_latency.WriteRecorder(backend, "orders")
    # when
    recorder.update({"PK": "a", "SK": "1"}, status="shipped")
    # then
    assert recorder.frame()[["item", "event"]].values.tolist() == [["a#1", "MODIFY"]]
