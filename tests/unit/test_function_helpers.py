"""Functions, their logs and metrics as the helpers read them (functions, logs, lambda_metrics)."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from botocore.stub import ANY

from helpers import functions, lambda_metrics, logs
from helpers.clients import Pacing
from tests.unit.stubs import StubBackend

ARN = "arn:aws:lambda:us-east-1:123456789012:function:f"


def config(**fields):
    return {"FunctionName": "f", "FunctionArn": ARN, "State": "Active",
            "LastUpdateStatus": "Successful", **fields}


def test_a_ready_function_is_returned_after_one_call():
    # given
    backend = StubBackend("lambda")
    backend.stub("lambda").add_response("get_function_configuration", config(),
                                        {"FunctionName": "f"})
    # when
    got = functions.wait_until_ready(backend, "f")
    # then
    assert got["State"] == "Active"
    backend.assert_all_used()


def test_a_pending_function_is_waited_for_with_botocores_waiters():
    # given: Pending, then Active and updated
    backend = StubBackend("lambda", pacing=Pacing(poll_s=0.0))
    stub = backend.stub("lambda")
    stub.add_response("get_function_configuration",
                      config(State="Pending", StateReasonCode="Creating"))
    stub.add_response("get_function", {"Configuration": config(State="Pending")})
    stub.add_response("get_function", {"Configuration": config()})
    stub.add_response("get_function", {"Configuration": config()})
    stub.add_response("get_function_configuration", config())
    # when
    got = functions.wait_until_ready(backend, "f", timeout=60)
    # then
    assert got["State"] == "Active"
    backend.assert_all_used()


def test_a_failed_function_says_why():
    # given
    backend = StubBackend("lambda")
    backend.stub("lambda").add_response(
        "get_function_configuration", config(State="Failed", StateReason="Bad zip"))
    # when / then
    with pytest.raises(functions.FunctionNotReadyError, match="failed: Bad zip"):
        functions.wait_until_ready(backend, "f")


def test_a_function_still_pending_at_the_timeout_names_the_state_awaited():
    # given
    backend = StubBackend("lambda", pacing=Pacing(poll_s=1.0))
    stub = backend.stub("lambda")
    stub.add_response("get_function_configuration", config(State="Pending"))
    stub.add_response("get_function", {"Configuration": config(State="Pending")})
    stub.add_response("get_function_configuration", config(State="Pending"))
    # when / then
    with pytest.raises(functions.FunctionNotReadyError, match="function 'f' Active: not reached"):
        functions.wait_until_ready(backend, "f", timeout=0)


def test_log_events_follow_every_page_and_come_oldest_first():
    # given: two pages, the first carrying a token
    backend = StubBackend("logs")
    stub = backend.stub("logs")
    stub.add_response("filter_log_events", {"events": [
        {"timestamp": 2000, "message": "END RequestId: r\n", "logStreamName": "s"}],
        "nextToken": "t"}, {"logGroupName": "/aws/lambda/f", "startTime": 1000})
    stub.add_response("filter_log_events", {"events": [
        {"timestamp": 1000, "message": "START RequestId: r\n", "logStreamName": "s"}]},
        {"logGroupName": "/aws/lambda/f", "startTime": 1000, "nextToken": "t"})
    # when
    frame = logs.log_events(backend, "f", since=1.0)
    # then
    assert frame["message"].tolist() == ["START RequestId: r", "END RequestId: r"]
    backend.assert_all_used()


def test_a_log_group_not_yet_created_has_no_events():
    # given
    backend = StubBackend("logs")
    backend.stub("logs").add_client_error("filter_log_events", "ResourceNotFoundException",
                                          "The specified log group does not exist.", 400)
    # when
    frame = logs.log_events(backend, "f")
    # then
    assert frame.empty
    assert list(frame.columns) == ["time", "stream", "message", "event_id"]


def test_metric_series_asks_for_the_period_the_backend_serves_and_fills_empty_periods():
    # given: an AWS-like backend (60-s periods), one Invocations datapoint
    backend = StubBackend("cloudwatch", pacing=Pacing(metric_period_s=60))
    since = datetime(2026, 1, 1, 12, 0, 30, tzinfo=UTC)
    until = datetime(2026, 1, 1, 12, 2, 10, tzinfo=UTC)
    backend.stub("cloudwatch").add_response(
        "get_metric_data",
        {"MetricDataResults": [{"Id": "m0", "Label": "Invocations", "StatusCode": "Complete",
                                "Timestamps": [datetime(2026, 1, 1, 12, 1, tzinfo=UTC)],
                                "Values": [3.0]}]},
        {"MetricDataQueries": ANY, "StartTime": datetime(2026, 1, 1, 12, 0, tzinfo=UTC),
         "EndTime": datetime(2026, 1, 1, 12, 3, tzinfo=UTC), "ScanBy": "TimestampAscending"})
    # when
    frame = lambda_metrics.metric_series(backend, "f", ["Invocations"], since=since, until=until)
    # then
    assert frame["Invocations"].tolist() == [0.0, 3.0, 0.0]
    backend.assert_all_used()


def test_deleting_a_function_that_is_not_there_answers_false():
    # given: one function that exists and one that does not
    backend = StubBackend("lambda")
    stub = backend.stub("lambda")
    stub.add_response("delete_function", {}, {"FunctionName": "here"})
    stub.add_client_error("delete_function", "ResourceNotFoundException", "no such function", 404)
    # when
    deleted = functions.delete_function(backend, "here")
    missing = functions.delete_function(backend, "gone")
    # then
    backend.assert_all_used()
    assert deleted is True
    assert missing is False
