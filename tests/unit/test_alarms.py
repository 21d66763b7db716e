"""CloudWatch alarm evaluation on the local endpoint (``localaws.alarms``)."""

from __future__ import annotations

import json
import time
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import boto3
import pytest
from moto import mock_aws
from moto.cloudwatch.models import cloudwatch_backends
from moto.core import DEFAULT_ACCOUNT_ID
from moto.core.base_backend import BackendDict

from localaws.alarms import AlarmEvaluator, StateChange, history_items, install, uninstall

REGION = "us-east-1"
NOW = datetime(2026, 11, 23, 18, 40, 30, tzinfo=UTC)
MINUTE = timedelta(minutes=1)


@dataclass
class Aws:
    cloudwatch: Any
    sns: Any
    sqs: Any


@pytest.fixture(scope="module")
def account():
    """One mocked AWS account for the module: moto's patching and the clients are made once.

    A fresh ``mock_aws()`` and fresh clients per test cost 0.3-0.6 s (botocore reads the
    three service models again for each new session); emptying the backends costs
    milliseconds.
    """
    with pytest.MonkeyPatch.context() as patch:
        for name in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN",
                     "AWS_SECURITY_TOKEN"):
            patch.setenv(name, "testing")
        patch.setenv("AWS_DEFAULT_REGION", REGION)
        with mock_aws():
            yield Aws(
                cloudwatch=boto3.client("cloudwatch", region_name=REGION),
                sns=boto3.client("sns", region_name=REGION),
                sqs=boto3.client("sqs", region_name=REGION),
            )


@pytest.fixture
def aws(account: Aws) -> Aws:
    """The module's account, emptied first as ``mock_aws()`` empties it when it starts."""
    BackendDict.reset()
    return account


@pytest.fixture
def evaluator() -> AlarmEvaluator:
    return AlarmEvaluator(clock=lambda: NOW)


@pytest.fixture
def patched_moto():
    install()
    yield
    uninstall()


def topic_with_queue(aws: Aws, name: str) -> tuple[str, str]:
    topic_arn = aws.sns.create_topic(Name=name)["TopicArn"]
    queue_url = aws.sqs.create_queue(QueueName=f"{name}-inbox")["QueueUrl"]
    queue_arn = aws.sqs.get_queue_attributes(
        QueueUrl=queue_url, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
    aws.sns.subscribe(TopicArn=topic_arn, Protocol="sqs", Endpoint=queue_arn)
    return topic_arn, queue_url


def notifications(aws: Aws, queue_url: str) -> list[tuple[str, dict[str, Any]]]:
    received = []
    while True:
        batch = aws.sqs.receive_message(QueueUrl=queue_url, MaxNumberOfMessages=10)
        messages = batch.get("Messages", [])
        if not messages:
            return received
        for message in messages:
            envelope = json.loads(message["Body"])
            received.append((envelope["Subject"], json.loads(envelope["Message"])))
            aws.sqs.delete_message(QueueUrl=queue_url, ReceiptHandle=message["ReceiptHandle"])


def put_alarm(aws: Aws, name: str, **overrides: Any) -> None:
    params: dict[str, Any] = {
        "AlarmName": name,
        "Namespace": "AWS/Lambda",
        "MetricName": "Errors",
        "Dimensions": [{"Name": "FunctionName", "Value": "orders"}],
        "Statistic": "Sum",
        "Period": 60,
        "EvaluationPeriods": 1,
        "Threshold": 0.0,
        "ComparisonOperator": "GreaterThanThreshold",
    }
    params.update(overrides)
    aws.cloudwatch.put_metric_alarm(**{k: v for k, v in params.items() if v is not None})


def put_values(aws: Aws, metric: str, values: list[float], at: datetime, *,
               function: str = "orders", unit: str = "Count") -> None:
    aws.cloudwatch.put_metric_data(Namespace="AWS/Lambda", MetricData=[
        {
            "MetricName": metric,
            "Value": value,
            "Unit": unit,
            "Timestamp": at,
            "Dimensions": [{"Name": "FunctionName", "Value": function}],
        }
        for value in values
    ])


def alarm_of(aws: Aws, name: str) -> dict[str, Any]:
    return aws.cloudwatch.describe_alarms(AlarmNames=[name])["MetricAlarms"][0]


def state_of(aws: Aws, name: str) -> str:
    return alarm_of(aws, name)["StateValue"]


def test_errors_above_zero_put_the_alarm_in_alarm_and_notify_its_topic(aws, evaluator):
    # given
    topic_arn, queue_url = topic_with_queue(aws, "alerts")
    put_alarm(aws, "orders-errors", AlarmActions=[topic_arn],
              AlarmDescription="The orders function failed", TreatMissingData="notBreaching")
    put_values(aws, "Errors", [1, 2], NOW - timedelta(seconds=25))
    # when
    changes = evaluator.evaluate_once()
    # then
    reason = ("Threshold Crossed: 1 out of the last 1 datapoints [3.0 (23/11/26 18:40:00)] "
              "was greater than the threshold (0.0) "
              "(minimum 1 datapoint for INSUFFICIENT_DATA -> ALARM transition).")
    assert changes == [StateChange("orders-errors", "INSUFFICIENT_DATA", "ALARM", reason,
                                   DEFAULT_ACCOUNT_ID, REGION, NOW)]
    described = alarm_of(aws, "orders-errors")
    assert described["StateValue"] == "ALARM"
    assert described["StateReason"] == reason
    reason_data = json.loads(described["StateReasonData"])
    assert reason_data["recentDatapoints"] == [3.0]
    assert reason_data["evaluatedDatapoints"] == [
        {"timestamp": "2026-11-23T18:40:00.000+0000", "sampleCount": 2.0, "value": 3.0}]
    [(subject, message)] = notifications(aws, queue_url)
    assert subject == 'ALARM: "orders-errors" in US East (N. Virginia)'
    assert message["AlarmName"] == "orders-errors"
    assert message["AlarmDescription"] == "The orders function failed"
    assert message["AWSAccountId"] == DEFAULT_ACCOUNT_ID
    assert message["NewStateValue"] == "ALARM"
    assert message["OldStateValue"] == "INSUFFICIENT_DATA"
    assert message["NewStateReason"] == reason
    assert message["StateChangeTime"] == "2026-11-23T18:40:30.000+0000"
    assert message["Region"] == "US East (N. Virginia)"
    assert message["AlarmArn"] == (
        f"arn:aws:cloudwatch:{REGION}:{DEFAULT_ACCOUNT_ID}:alarm:orders-errors")
    assert message["AlarmActions"] == [topic_arn]
    assert message["OKActions"] == []
    assert message["InsufficientDataActions"] == []
    assert message["Trigger"] == {
        "MetricName": "Errors",
        "Namespace": "AWS/Lambda",
        "StatisticType": "Statistic",
        "Statistic": "SUM",
        "Unit": None,
        "Dimensions": [{"value": "orders", "name": "FunctionName"}],
        "Period": 60,
        "EvaluationPeriods": 1,
        "DatapointsToAlarm": 1,
        "ComparisonOperator": "GreaterThanThreshold",
        "Threshold": 0.0,
        "TreatMissingData": "notBreaching",
        "EvaluateLowSampleCountPercentile": "",
    }


def test_a_state_change_is_recorded_in_the_alarm_history(aws, evaluator):
    # given
    put_alarm(aws, "orders-errors")
    put_values(aws, "Errors", [1], NOW - timedelta(seconds=5))
    # when
    evaluator.evaluate_once()
    # then
    alarm = cloudwatch_backends[DEFAULT_ACCOUNT_ID][REGION].alarms["orders-errors"]
    [item] = history_items(alarm)
    assert item["HistoryItemType"] == "StateUpdate"
    assert item["HistorySummary"] == "Alarm updated from INSUFFICIENT_DATA to ALARM"
    assert item["Timestamp"] == NOW
    data = json.loads(item["HistoryData"])
    assert data["oldState"]["stateValue"] == "INSUFFICIENT_DATA"
    assert data["newState"]["stateValue"] == "ALARM"
    assert data["newState"]["stateReasonData"]["recentDatapoints"] == [1.0]


def test_a_new_alarm_without_data_is_insufficient_data_and_sends_nothing(aws, evaluator):
    # given
    topic_arn, queue_url = topic_with_queue(aws, "alerts")
    put_alarm(aws, "orders-errors", InsufficientDataActions=[topic_arn])
    # when
    changes = evaluator.evaluate_once()
    # then
    assert changes == []
    assert state_of(aws, "orders-errors") == "INSUFFICIENT_DATA"
    assert notifications(aws, queue_url) == []


@pytest.mark.parametrize(("treat_missing", "later"), [
    pytest.param("notBreaching", 2 * MINUTE,
                 id="the_last_datapoint_is_evaluated_while_it_is_in_the_range"),
    pytest.param("ignore", 10 * MINUTE, id="ignore_keeps_the_current_state"),
])
def test_an_alarm_stays_in_alarm_when_data_stops(aws, evaluator, treat_missing, later):
    # given
    put_alarm(aws, "orders-errors", TreatMissingData=treat_missing)
    put_values(aws, "Errors", [1], NOW - timedelta(seconds=5))
    evaluator.evaluate_once()
    # when
    changes = evaluator.evaluate_once(now=NOW + later)
    # then
    assert changes == []
    assert state_of(aws, "orders-errors") == "ALARM"


def test_the_alarm_returns_to_ok_and_notifies_ok_actions_when_errors_stop(aws, evaluator):
    # given
    alarm_topic, alarm_queue = topic_with_queue(aws, "alerts")
    ok_topic, ok_queue = topic_with_queue(aws, "recoveries")
    put_alarm(aws, "orders-errors", TreatMissingData="notBreaching",
              AlarmActions=[alarm_topic], OKActions=[ok_topic])
    put_values(aws, "Errors", [1], NOW - timedelta(seconds=5))
    evaluator.evaluate_once()
    # when
    changes = evaluator.evaluate_once(now=NOW + 3 * MINUTE)
    # then
    reason = ("Threshold Crossed: no datapoints were received for 1 period and "
              "1 missing datapoint was treated as [NonBreaching].")
    assert [(c.old, c.new, c.reason) for c in changes] == [("ALARM", "OK", reason)]
    assert state_of(aws, "orders-errors") == "OK"
    [(subject, message)] = notifications(aws, ok_queue)
    assert subject == 'OK: "orders-errors" in US East (N. Virginia)'
    assert (message["OldStateValue"], message["NewStateValue"]) == ("ALARM", "OK")
    assert len(notifications(aws, alarm_queue)) == 1


def test_a_newer_datapoint_without_errors_returns_the_alarm_to_ok(aws, evaluator):
    # given
    put_alarm(aws, "orders-errors")
    put_values(aws, "Errors", [1], NOW - timedelta(seconds=5))
    evaluator.evaluate_once()
    put_values(aws, "Errors", [0, 0], NOW + MINUTE)
    # when
    changes = evaluator.evaluate_once(now=NOW + MINUTE + timedelta(seconds=5))
    # then
    assert [(c.old, c.new) for c in changes] == [("ALARM", "OK")]
    assert changes[0].reason == (
        "Threshold Crossed: 1 out of the last 1 datapoints [0.0 (23/11/26 18:41:00)] was not "
        "greater than the threshold (0.0) (minimum 1 datapoint for ALARM -> OK transition).")


def test_missing_data_under_missing_goes_to_insufficient_data(aws, evaluator):
    # given
    topic_arn, queue_url = topic_with_queue(aws, "alerts")
    put_alarm(aws, "orders-errors", TreatMissingData="missing",
              InsufficientDataActions=[topic_arn])
    put_values(aws, "Errors", [1], NOW - timedelta(seconds=5))
    evaluator.evaluate_once()
    # when
    changes = evaluator.evaluate_once(now=NOW + 3 * MINUTE)
    # then
    assert [(c.old, c.new, c.reason) for c in changes] == [
        ("ALARM", "INSUFFICIENT_DATA", "Insufficient Data: 1 datapoint was unknown.")]
    assert state_of(aws, "orders-errors") == "INSUFFICIENT_DATA"
    [(subject, message)] = notifications(aws, queue_url)
    assert subject == 'INSUFFICIENT_DATA: "orders-errors" in US East (N. Virginia)'
    assert message["NewStateValue"] == "INSUFFICIENT_DATA"


def test_breaching_treats_missing_data_as_breaching(aws, evaluator):
    # given
    put_alarm(aws, "heartbeat", MetricName="Invocations", Statistic="SampleCount",
              ComparisonOperator="LessThanThreshold", Threshold=1.0,
              TreatMissingData="breaching")
    # when
    changes = evaluator.evaluate_once()
    # then
    assert [(c.new, c.reason) for c in changes] == [
        ("ALARM", "Threshold Crossed: no datapoints were received for 1 period and "
                  "1 missing datapoint was treated as [Breaching].")]
    assert state_of(aws, "heartbeat") == "ALARM"


def test_alarms_on_dynamodb_metrics_always_ignore_missing_data(aws, evaluator):
    # given
    put_alarm(aws, "orders-throttles", Namespace="AWS/DynamoDB",
              MetricName="ThrottledRequests", Dimensions=[{"Name": "TableName", "Value": "orders"}],
              TreatMissingData="breaching")
    # when
    changes = evaluator.evaluate_once()
    # then
    assert changes == []
    assert state_of(aws, "orders-throttles") == "INSUFFICIENT_DATA"


@pytest.mark.parametrize(("pattern", "to_alarm", "expected"), [
    ("X-0-X", 2, "ALARM"),
    ("0X00X", 2, "OK"),
    ("XX0--", 2, "ALARM"),
    ("XXX--", 3, "ALARM"),
    ("XX0XX", 3, "OK"),
])
def test_m_out_of_n_needs_m_breaching_datapoints_among_the_last_n(aws, evaluator, pattern,
                                                                  to_alarm, expected):
    # given: one character per minute, oldest first, the last one is the current minute
    put_alarm(aws, "orders-errors", EvaluationPeriods=3, DatapointsToAlarm=to_alarm,
              TreatMissingData="notBreaching")
    put_pattern(aws, pattern)
    # when
    evaluator.evaluate_once()
    # then
    assert state_of(aws, "orders-errors") == expected


def put_pattern(aws: Aws, pattern: str) -> None:
    current = NOW.replace(second=0)
    for age, char in enumerate(reversed(pattern)):
        if char != "-":
            put_values(aws, "Errors", [1.0 if char == "X" else 0.0],
                       current - age * MINUTE + timedelta(seconds=10))


DOCUMENTED = {
    # Tables of "How alarm state is evaluated when data is missing" (CloudWatch user guide):
    # 5 datapoints retrieved, N = 3; expected state for missing, ignore, breaching,
    # notBreaching. "RETAIN" keeps the state the alarm had (here INSUFFICIENT_DATA).
    ("0-X-X", 3): ("OK", "OK", "OK", "OK"),
    ("0----", 3): ("OK", "OK", "OK", "OK"),
    ("-----", 3): ("INSUFFICIENT_DATA", "RETAIN", "ALARM", "OK"),
    ("0XX-X", 3): ("ALARM", "ALARM", "ALARM", "ALARM"),
    ("----X", 3): ("INSUFFICIENT_DATA", "RETAIN", "ALARM", "OK"),
    ("X----", 3): ("ALARM", "RETAIN", "ALARM", "OK"),
    ("0-X-X", 2): ("ALARM", "ALARM", "ALARM", "ALARM"),
    ("00X0X", 2): ("ALARM", "ALARM", "ALARM", "ALARM"),
    ("0-X--", 2): ("OK", "OK", "ALARM", "OK"),
    ("----0", 2): ("OK", "OK", "ALARM", "OK"),
    ("----X", 2): ("INSUFFICIENT_DATA", "RETAIN", "ALARM", "OK"),
}
TREATMENTS = ("missing", "ignore", "breaching", "notBreaching")


@pytest.mark.parametrize(("pattern", "to_alarm", "treatment", "expected"), [
    (pattern, to_alarm, treatment, states[i])
    for (pattern, to_alarm), states in DOCUMENTED.items()
    for i, treatment in enumerate(TREATMENTS)
])
def test_missing_data_is_treated_as_the_cloudwatch_documentation_tables_show(
        aws, evaluator, pattern, to_alarm, treatment, expected):
    # given: a new alarm, in INSUFFICIENT_DATA until it is evaluated
    put_alarm(aws, "orders-errors", EvaluationPeriods=3, DatapointsToAlarm=to_alarm,
              TreatMissingData=treatment)
    put_pattern(aws, pattern)
    # when
    evaluator.evaluate_once()
    # then
    retained = "INSUFFICIENT_DATA" if expected == "RETAIN" else expected
    assert state_of(aws, "orders-errors") == retained


@pytest.mark.parametrize(("alarm", "metric", "statistic", "threshold", "values", "expected"), [
    pytest.param("orders-iterator-age", "IteratorAge", "Maximum", 30000.0,
                 [1000, 45000, 2000], "ALARM", id="maximum_iterator_age_above_30_s"),
    pytest.param("orders-iterator-age", "IteratorAge", "Maximum", 30000.0,
                 [1000, 30000, 2000], "OK", id="maximum_iterator_age_at_30_s"),
    pytest.param("orders-duration", "Duration", "Average", 20000.0,
                 [10000, 40000], "ALARM", id="average_duration_above_20_s"),
    pytest.param("orders-duration", "Duration", "Average", 20000.0,
                 [10000, 20000, 30000], "OK", id="average_duration_at_20_s"),
])
def test_a_statistic_above_its_threshold_alarms(aws, evaluator, alarm, metric, statistic,
                                                threshold, values, expected):
    # given
    put_alarm(aws, alarm, MetricName=metric, Statistic=statistic, Threshold=threshold)
    put_values(aws, metric, values, NOW - timedelta(seconds=20), unit="Milliseconds")
    # when
    evaluator.evaluate_once()
    # then
    assert state_of(aws, alarm) == expected


@pytest.mark.parametrize(("comparison", "expected"), [
    ("GreaterThanThreshold", "OK"),
    ("GreaterThanOrEqualToThreshold", "ALARM"),
    ("LessThanThreshold", "OK"),
    ("LessThanOrEqualToThreshold", "ALARM"),
])
def test_a_value_equal_to_the_threshold_breaches_only_the_or_equal_operators(
        aws, evaluator, comparison, expected):
    # given
    put_alarm(aws, "orders-duration", MetricName="Duration", Statistic="Maximum",
              Threshold=20000.0, ComparisonOperator=comparison)
    put_values(aws, "Duration", [20000], NOW - timedelta(seconds=20), unit="Milliseconds")
    # when
    evaluator.evaluate_once()
    # then
    assert state_of(aws, "orders-duration") == expected


def test_percentile_statistics_are_evaluated(aws, evaluator):
    # given
    put_alarm(aws, "orders-p90", MetricName="Duration", Statistic=None, Threshold=500.0,
              ExtendedStatistic="p90")
    params = alarm_of(aws, "orders-p90")
    put_values(aws, "Duration", [100.0] * 8 + [900.0, 1000.0], NOW - timedelta(seconds=20),
               unit="Milliseconds")
    # when
    evaluator.evaluate_once()
    # then
    assert params["ExtendedStatistic"] == "p90"
    assert state_of(aws, "orders-p90") == "ALARM"


def test_only_the_metric_with_the_alarm_dimensions_counts(aws, evaluator):
    # given
    put_alarm(aws, "orders-errors")
    put_values(aws, "Errors", [0], NOW - timedelta(seconds=20))
    put_values(aws, "Errors", [5], NOW - timedelta(seconds=20), function="payments")
    aws.cloudwatch.put_metric_data(Namespace="AWS/Lambda", MetricData=[{
        "MetricName": "Errors",
        "Value": 7,
        "Timestamp": NOW - timedelta(seconds=20),
        "Dimensions": [{"Name": "FunctionName", "Value": "orders"},
                       {"Name": "Resource", "Value": "orders:live"}],
    }])
    # when
    evaluator.evaluate_once()
    # then
    assert state_of(aws, "orders-errors") == "OK"


def test_a_unit_on_the_alarm_keeps_values_of_other_units_out(aws, evaluator):
    # given
    put_alarm(aws, "orders-duration", MetricName="Duration", Statistic="Maximum",
              Threshold=20000.0, Unit="Milliseconds")
    put_values(aws, "Duration", [30], NOW - timedelta(seconds=20), unit="Seconds")
    # when
    evaluator.evaluate_once()
    # then
    assert state_of(aws, "orders-duration") == "INSUFFICIENT_DATA"


def test_no_notification_is_sent_while_the_state_stays_the_same(aws, evaluator):
    # given
    topic_arn, queue_url = topic_with_queue(aws, "alerts")
    put_alarm(aws, "orders-errors", AlarmActions=[topic_arn])
    put_values(aws, "Errors", [1], NOW - timedelta(seconds=20))
    first = evaluator.evaluate_once()
    put_values(aws, "Errors", [4], NOW - timedelta(seconds=10))
    # when
    second = evaluator.evaluate_once(now=NOW + timedelta(seconds=2))
    # then
    assert len(first) == 1
    assert second == []
    assert len(notifications(aws, queue_url)) == 1
    assert "[1.0 (23/11/26 18:40:00)]" in alarm_of(aws, "orders-errors")["StateReason"]


def test_disabled_actions_change_the_state_without_notifying(aws, evaluator):
    # given
    topic_arn, queue_url = topic_with_queue(aws, "alerts")
    put_alarm(aws, "orders-errors", AlarmActions=[topic_arn], ActionsEnabled=False)
    put_values(aws, "Errors", [1], NOW - timedelta(seconds=20))
    # when
    evaluator.evaluate_once()
    # then
    assert state_of(aws, "orders-errors") == "ALARM"
    assert notifications(aws, queue_url) == []


def test_set_alarm_state_runs_the_actions_and_lasts_until_the_next_evaluation(aws, evaluator):
    # given
    topic_arn, queue_url = topic_with_queue(aws, "alerts")
    put_alarm(aws, "orders-errors", AlarmActions=[topic_arn])
    put_values(aws, "Errors", [0], NOW - timedelta(seconds=20))
    evaluator.evaluate_once()
    aws.cloudwatch.set_alarm_state(AlarmName="orders-errors", StateValue="ALARM",
                                   StateReason="Testing the notification")
    # when
    observed = evaluator.evaluate_once(now=NOW + timedelta(seconds=2))
    evaluated = evaluator.evaluate_once(now=NOW + timedelta(seconds=4))
    # then
    assert [(c.old, c.new, c.reason) for c in observed] == [
        ("OK", "ALARM", "Testing the notification")]
    assert [(c.old, c.new) for c in evaluated] == [("ALARM", "OK")]
    [(subject, message)] = notifications(aws, queue_url)
    assert subject.startswith("ALARM: ")
    assert message["NewStateReason"] == "Testing the notification"


def test_updating_an_alarm_keeps_its_state_and_sends_nothing_again(aws, evaluator):
    # given
    topic_arn, queue_url = topic_with_queue(aws, "alerts")
    put_alarm(aws, "orders-errors", AlarmActions=[topic_arn])
    put_values(aws, "Errors", [1], NOW - timedelta(seconds=20))
    evaluator.evaluate_once()
    put_alarm(aws, "orders-errors", AlarmActions=[topic_arn], AlarmDescription="updated")
    # when
    changes = evaluator.evaluate_once(now=NOW + timedelta(seconds=2))
    # then
    assert changes == []
    assert state_of(aws, "orders-errors") == "ALARM"
    assert len(notifications(aws, queue_url)) == 1


def test_installed_moto_creates_alarms_in_insufficient_data_and_keeps_state_on_update(
        aws, evaluator, patched_moto):
    # given
    put_alarm(aws, "orders-errors")
    created = alarm_of(aws, "orders-errors")
    put_values(aws, "Errors", [1], NOW - timedelta(seconds=20))
    evaluator.evaluate_once()
    # when
    put_alarm(aws, "orders-errors", AlarmDescription="updated")
    # then
    assert (created["StateValue"], created["StateReason"]) == (
        "INSUFFICIENT_DATA", "Unchecked: Initial alarm creation")
    assert state_of(aws, "orders-errors") == "ALARM"


@pytest.mark.parametrize("comparison", [
    "LessThanLowerOrGreaterThanUpperThreshold",
    "LessThanLowerThreshold",
    "GreaterThanUpperThreshold",
])
def test_anomaly_detection_operators_are_marked_unsupported(aws, evaluator, comparison):
    # given
    put_alarm(aws, "orders-band", ComparisonOperator=comparison)
    put_values(aws, "Errors", [1], NOW - timedelta(seconds=20))
    # when
    evaluator.evaluate_once()
    # then
    described = alarm_of(aws, "orders-band")
    assert described["StateValue"] == "INSUFFICIENT_DATA"
    assert "anomaly-detection" in described["StateReason"]
    assert comparison in described["StateReason"]


def test_metric_math_alarms_are_marked_unsupported(aws, evaluator):
    # given
    aws.cloudwatch.put_metric_alarm(
        AlarmName="orders-error-rate", EvaluationPeriods=1, Threshold=5.0,
        ComparisonOperator="GreaterThanThreshold",
        Metrics=[
            {"Id": "rate", "Expression": "100 * errors / invocations", "ReturnData": True},
            {"Id": "errors", "ReturnData": False, "MetricStat": {
                "Metric": {"Namespace": "AWS/Lambda", "MetricName": "Errors"},
                "Period": 60, "Stat": "Sum"}},
            {"Id": "invocations", "ReturnData": False, "MetricStat": {
                "Metric": {"Namespace": "AWS/Lambda", "MetricName": "Invocations"},
                "Period": 60, "Stat": "Sum"}},
        ])
    aws.cloudwatch.set_alarm_state(AlarmName="orders-error-rate", StateValue="ALARM",
                                   StateReason="testing")
    evaluator.evaluate_once()
    # when
    evaluator.evaluate_once(now=NOW + timedelta(seconds=2))
    # then
    described = alarm_of(aws, "orders-error-rate")
    assert described["StateValue"] == "INSUFFICIENT_DATA"
    assert "metric-math alarms" in described["StateReason"]


def test_the_background_thread_evaluates_until_stopped(aws, patched_moto):
    # given
    evaluator = AlarmEvaluator(interval_s=0.05, clock=lambda: NOW)
    put_alarm(aws, "orders-errors")
    put_values(aws, "Errors", [1], NOW - timedelta(seconds=20))
    # when
    evaluator.start()
    try:
        deadline = time.monotonic() + 5
        while state_of(aws, "orders-errors") != "ALARM" and time.monotonic() < deadline:
            time.sleep(0.02)
    finally:
        started = time.monotonic()
        evaluator.stop()
        stopped_after = time.monotonic() - started
    # then
    assert state_of(aws, "orders-errors") == "ALARM"
    assert stopped_after < 1


def test_with_complete_periods_a_breach_counts_only_once_its_minute_is_over(aws):
    # given: CloudWatch's cadence (the AWS timing profile)
    moments = [NOW]
    evaluator = AlarmEvaluator(60.0, clock=lambda: moments[-1], complete_periods=True)
    put_alarm(aws, "orders-errors")
    put_values(aws, "Errors", [1], NOW - timedelta(seconds=25))
    # when
    during = evaluator.evaluate_once()
    moments.append(NOW + timedelta(seconds=30))  # 18:41:00: the minute is complete
    after = evaluator.evaluate_once()
    # then
    assert during == []
    assert state_of(aws, "orders-errors") == "ALARM"
    assert [(c.old, c.new) for c in after] == [("INSUFFICIENT_DATA", "ALARM")]
