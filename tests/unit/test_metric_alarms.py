"""Alarms, notifications and messages as the helpers read them (metric_alarms, messaging)."""

from __future__ import annotations

import json
from typing import Any

import pytest

from helpers import messaging, metric_alarms
from helpers.clients import Pacing
from helpers.waits import WaitTimeoutError
from tests.unit.stubs import StubBackend

QUEUE = "http://127.0.0.1:9/123456789012/alerts-inbox"
PATIENT = Pacing(poll_s=0.0, patience_s=60.0)


def alarm(name: str, state: str, reason: str = "Threshold Crossed") -> dict[str, Any]:
    return {"AlarmName": name, "StateValue": state, "StateReason": reason, "MetricName": "Errors",
            "Statistic": "Sum", "Threshold": 0.0, "EvaluationPeriods": 2, "DatapointsToAlarm": 1,
            "Period": 60}


def notification(name: str, old: str, new: str) -> dict[str, Any]:
    body = {"Type": "Notification", "Message": json.dumps(
        {"AlarmName": name, "OldStateValue": old, "NewStateValue": new,
         "NewStateReason": "r", "StateChangeTime": f"2026-01-01T00:00:0{len(old)}Z"})}
    return {"MessageId": "m", "ReceiptHandle": f"h-{name}-{new}", "Body": json.dumps(body)}


def test_the_alarms_are_named_after_the_function():
    # when / then
    assert metric_alarms.alarm_names("f") == ["f-errors", "f-duration", "f-iterator-age"]


def test_wait_for_alarm_returns_once_the_alarm_is_in_the_state():
    # given
    backend = StubBackend("cloudwatch", pacing=PATIENT)
    for state in ("INSUFFICIENT_DATA", "OK", "ALARM"):
        backend.stub("cloudwatch").add_response(
            "describe_alarms", {"MetricAlarms": [alarm("f-errors", state)]},
            {"AlarmNames": ["f-errors"]})
    # when
    found = metric_alarms.wait_for_alarm(backend, "f-errors")
    # then
    assert found["StateValue"] == "ALARM"
    backend.assert_all_used()


def test_an_alarm_that_never_fires_times_out_with_its_state():
    # given
    backend = StubBackend("cloudwatch")
    backend.stub("cloudwatch").add_response("describe_alarms",
                                            {"MetricAlarms": [alarm("f-errors", "OK")]})
    # when / then
    with pytest.raises(WaitTimeoutError, match=r"alarm f-errors ALARM: .*last seen: OK"):
        metric_alarms.wait_for_alarm(backend, "f-errors")


def test_wait_for_evaluation_names_the_alarms_not_yet_evaluated():
    # given
    backend = StubBackend("cloudwatch")
    backend.stub("cloudwatch").add_response("describe_alarms", {"MetricAlarms": [
        alarm("f-errors", "OK"),
        alarm("f-duration", "INSUFFICIENT_DATA", "Unchecked: Initial alarm creation")]})
    # when / then
    with pytest.raises(WaitTimeoutError, match="unchecked: f-duration"):
        metric_alarms.wait_for_evaluation(backend, ["f-errors", "f-duration"])


def test_alarms_table_describes_each_condition():
    # given
    backend = StubBackend("cloudwatch")
    backend.stub("cloudwatch").add_response("describe_alarms",
                                            {"MetricAlarms": [alarm("f-errors", "OK")]})
    # when
    table = metric_alarms.alarms_table(backend, ["f-errors"])
    # then
    assert table.loc[0, "condition"] == "Errors Sum > 0 in 1 of 2 periods of 60 s"


def test_notifications_are_read_until_the_awaited_one_arrives():
    # given: the OK notification first, the ALARM one in the next read
    backend = StubBackend("sqs", pacing=PATIENT)
    stub = backend.stub("sqs")
    stub.add_response("receive_message", {"Messages": [notification("f-errors", "INSUFFICIENT_DATA",
                                                                    "OK")]})
    stub.add_response("delete_message", {})
    stub.add_response("receive_message", {})
    stub.add_response("receive_message", {"Messages": [notification("f-errors", "OK", "ALARM")]})
    stub.add_response("delete_message", {})
    stub.add_response("receive_message", {})
    # when
    frame = metric_alarms.alarm_notifications(backend, QUEUE, until=("f-errors", "ALARM"))
    # then
    assert frame[["from", "to"]].values.tolist() == [["INSUFFICIENT_DATA", "OK"], ["OK", "ALARM"]]
    backend.assert_all_used()


def test_a_notification_that_never_arrives_is_a_timeout_not_an_empty_table():
    # given
    backend = StubBackend("sqs")
    backend.stub("sqs").add_response("receive_message", {})
    # when / then
    with pytest.raises(WaitTimeoutError, match="notification that f-errors went to ALARM"):
        metric_alarms.alarm_notifications(backend, QUEUE, until=("f-errors", "ALARM"))


def test_receive_messages_unwraps_sns_envelopes_and_deletes_what_it_read():
    # given
    backend = StubBackend("sqs", pacing=PATIENT)
    stub = backend.stub("sqs")
    stub.add_response("receive_message", {"Messages": [
        notification("f-errors", "OK", "ALARM"),
        {"MessageId": "m2", "ReceiptHandle": "h2", "Body": "plain text"}]})
    stub.add_response("delete_message", {}, {"QueueUrl": QUEUE,
                                             "ReceiptHandle": "h-f-errors-ALARM"})
    stub.add_response("delete_message", {}, {"QueueUrl": QUEUE, "ReceiptHandle": "h2"})
    stub.add_response("receive_message", {})
    # when
    found = messaging.receive_messages(backend, QUEUE, expected=2)
    # then
    assert found[0]["NewStateValue"] == "ALARM"
    assert found[1] == "plain text"
    backend.assert_all_used()


def test_fewer_messages_than_expected_is_a_timeout_that_counts_them():
    # given
    backend = StubBackend("sqs")
    backend.stub("sqs").add_response("receive_message", {})
    # when / then
    with pytest.raises(WaitTimeoutError, match=r"2 message\(s\) in alerts-inbox.*0 message"):
        messaging.receive_messages(backend, QUEUE, expected=2)


def test_the_dead_letters_table_reads_the_batch_info():
    # given
    letter = {"requestContext": {"condition": "RetryAttemptsExhausted",
                                 "approximateInvokeCount": 3},
              "responseContext": {"functionError": "Unhandled"},
              "DDBStreamBatchInfo": {"batchSize": 2, "startSequenceNumber": "1",
                                     "endSequenceNumber": "2", "shardId": "s"}}
    # when
    table = messaging.dead_letters_table([letter])
    # then
    assert table.loc[0, "condition"] == "RetryAttemptsExhausted"
    assert table.loc[0, "batch size"] == 2
