"""The AWS profile's CloudWatch and Logs rules on a fixed clock: standard-resolution
periods, minutes queryable only after the metric lag, log events after a delay."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from urllib.parse import parse_qsl, urlencode

import pytest

from localaws.profile.observability import ObservabilityRules, _epoch
from localaws.profile.settings import ProfileSettings
from localaws.profile.timeline import Timeline
from tests.unit.wsgi import call, signed

NOW = 1_800_000_030.0  # 30 s into a minute
SETTINGS = ProfileSettings("aws", 1.0)
LAG = SETTINGS.seconds("metric_lag")
VISIBLE = (NOW - LAG) // 60 * 60  # the end of the last queryable minute
LOGS_VISIBLE = int((NOW - SETTINGS.seconds("logs_visible")) * 1000)
CW = "GraniteServiceVersion20100801."
LAMBDA = {"Namespace": "AWS/Lambda", "MetricName": "Invocations"}


@pytest.fixture
def rules() -> ObservabilityRules:
    return ObservabilityRules(Timeline(SETTINGS, lambda: NOW))


def _json_call(service: str, target: str, params: dict):
    return call(headers=signed(service, **{"X-Amz-Target": target,
                                           "Content-Type": "application/x-amz-json-1.0"}),
                body=json.dumps(params).encode())


def _query_call(params: dict):
    return call(headers=signed("monitoring", **{
        "Content-Type": "application/x-www-form-urlencoded"}),
        body=urlencode({"Version": "2010-08-01", **params}).encode())


def test_a_lambda_statistics_query_gets_whole_minute_periods_and_ends_at_the_lag(rules):
    # given
    request = _json_call("monitoring", CW + "GetMetricStatistics", {
        **LAMBDA, "Period": 30, "StartTime": "2027-01-15T07:00:10Z", "EndTime": NOW})
    # when
    answer = rules.check(request)
    # then
    sent = request.json_body()
    assert answer is None
    assert sent["Period"] == 60
    assert sent["StartTime"] == "2027-01-15T07:00:00Z"  # rounded down, in the form sent
    assert sent["EndTime"] == VISIBLE


@pytest.mark.parametrize("period,served", [(60, 60), (90, 120), (3600, 3600), ("x", "x")])
def test_periods_become_the_next_multiple_of_60(rules, period, served):
    # given
    request = _json_call("monitoring", CW + "GetMetricStatistics", {**LAMBDA, "Period": period})
    # when
    rules.check(request)
    # then
    assert request.json_body()["Period"] == served


def test_a_range_not_queryable_yet_is_answered_with_no_datapoints(rules):
    # given
    statistics = _json_call("monitoring", CW + "GetMetricStatistics", {
        **LAMBDA, "Period": 60, "StartTime": VISIBLE, "EndTime": NOW})
    data = _json_call("monitoring", CW + "GetMetricData", {
        "StartTime": VISIBLE + 60, "EndTime": NOW, "MetricDataQueries": [
            {"Id": "m1", "MetricStat": {"Metric": LAMBDA, "Period": 10, "Stat": "Sum"}},
            {"Id": "m2", "Label": "errors", "MetricStat": {"Metric": LAMBDA, "Period": 60}}]})
    # when
    status, _, body = rules.check(statistics)
    data_status, _, data_body = rules.check(data)
    # then
    assert (status, json.loads(body)) == (200, {"Label": "Invocations", "Datapoints": []})
    assert data_status == 200
    assert json.loads(data_body) == {"Messages": [], "MetricDataResults": [
        {"Id": "m1", "Label": "m1", "Timestamps": [], "Values": [], "StatusCode": "Complete"},
        {"Id": "m2", "Label": "errors", "Timestamps": [], "Values": [],
         "StatusCode": "Complete"}]}


def test_a_metric_data_query_gets_standard_periods_in_every_query(rules):
    # given
    request = _json_call("monitoring", CW + "GetMetricData", {
        "StartTime": NOW - 3600, "EndTime": NOW, "MetricDataQueries": [
            {"Id": "m1", "MetricStat": {"Metric": LAMBDA, "Period": 10, "Stat": "Sum"}},
            {"Id": "e", "Expression": "m1 * 2"}]})
    # when
    rules.check(request)
    # then
    sent = request.json_body()
    assert sent["MetricDataQueries"][0]["MetricStat"]["Period"] == 60
    assert sent["EndTime"] == VISIBLE


def test_the_query_protocol_gets_the_same_rules_and_one_second_of_an_early_range(rules):
    # given
    prefix = "MetricDataQueries.member.1.MetricStat"
    request = _query_call({"Action": "GetMetricData", f"{prefix}.Metric.Namespace": "AWS/Lambda",
                           f"{prefix}.Period": "45", "StartTime": str(VISIBLE),
                           "EndTime": str(NOW)})
    # when
    answer = rules.check(request)
    # then
    sent = dict(parse_qsl(request.body.decode()))
    assert answer is None
    assert sent[f"{prefix}.Period"] == "60"
    assert float(sent["EndTime"]) == VISIBLE + 1


def test_metrics_of_other_namespaces_and_other_operations_are_left_alone(rules):
    # given
    other = {"Namespace": "Custom", "MetricName": "x", "Period": 1, "EndTime": NOW}
    requests = [_json_call("monitoring", CW + "GetMetricStatistics", other),
                _query_call({"Action": "GetMetricData", "EndTime": str(NOW)}),
                _json_call("monitoring", CW + "ListMetrics", {"Namespace": "AWS/Lambda"})]
    before = [r.body for r in requests]
    # when
    answers = [rules.check(r) for r in requests]
    # then
    assert answers == [None] * 3
    assert [r.body for r in requests] == before


def test_log_reads_end_where_events_are_readable_yet(rules):
    # given
    late = _json_call("logs", "Logs_20140328.GetLogEvents", {
        "logGroupName": "g", "logStreamName": "s", "startTime": LOGS_VISIBLE + 5})
    early = _json_call("logs", "Logs_20140328.FilterLogEvents", {
        "logGroupName": "g", "endTime": LOGS_VISIBLE - 10})
    # when
    rules.check(late)
    rules.check(early)
    # then
    assert late.json_body()["endTime"] == late.json_body()["startTime"] == LOGS_VISIBLE
    assert early.json_body()["endTime"] == LOGS_VISIBLE - 10


@pytest.mark.parametrize("value,seconds", [
    (12, 12.0), (1.5, 1.5), ("60", 60.0), ("2027-01-15T08:00:00Z",
                                           datetime(2027, 1, 15, 8, tzinfo=UTC).timestamp()),
    ("soon", None), (None, None)])
def test_times_are_read_as_epoch_seconds_or_iso_8601(value, seconds):
    assert _epoch(value) == seconds
