"""The AWS timing profile's rules (``localaws.profile``), through its seams: an injected
clock, fake moto readers, requests built as WSGI environs. No endpoint is started."""

from __future__ import annotations

import json
import zlib
from typing import Any

import pytest

from localaws.errors import ServiceError
from localaws.profile import Profile, ProfileSettings, ProfileSettingsError, Timeline
from localaws.profile.settings import DELAYS, JITTER, MIN_DELAY_S
from localaws.protocols import Call
from tests.unit.wsgi import call, signed

ACCOUNT = "123456789012"
T0 = 1_796_400_000.0  # a whole minute


class Clock:
    def __init__(self) -> None:
        self.now = T0 + 10

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += seconds


@pytest.fixture
def clock() -> Clock:
    return Clock()


def make_profile(clock: Clock, scale: float = 1.0, documents: Any = None,
                 queue: tuple[int, int] | None = (1, 0)) -> Profile:
    stored = documents if documents is not None else {}
    return Profile(ProfileSettings("aws", scale), clock, account_id=lambda: ACCOUNT,
                   role_documents=lambda account, arn: list(stored.get(arn, [])),
                   queue_size=lambda region, name: queue)


def json_call(service: str, target: str, params: dict[str, Any]) -> Call:
    signing = {"dynamodbstreams": "dynamodb", "cloudwatch": "monitoring"}.get(service, service)
    return call(headers=signed(signing, **{"X-Amz-Target": target,
                                           "Content-Type": "application/x-amz-json-1.0"}),
                body=json.dumps(params).encode())


def ddb(operation: str, **params: Any) -> Call:
    prefix = "DynamoDBStreams_20120810" if operation == "DescribeStream" else \
        "DynamoDB_20120810"
    service = "dynamodbstreams" if operation == "DescribeStream" else "dynamodb"
    return json_call(service, f"{prefix}.{operation}", params)


def lambda_call(method: str, path: str, body: dict[str, Any] | None = None) -> Call:
    return call(method, f"/2015-03-31/functions{path}", headers=signed("lambda"),
                body=json.dumps(body).encode() if body is not None else b"")


def iam_call(action: str, **params: str) -> Call:
    from urllib.parse import urlencode

    return call(headers=signed("iam", **{"Content-Type": "application/x-www-form-urlencoded"}),
                body=urlencode({"Action": action, "Version": "2010-05-08", **params}).encode())


def ok(document: dict[str, Any], crc: bool = False) -> tuple[int, list, bytes]:
    body = json.dumps(document).encode()
    headers = [("Content-Type", "application/json")]
    if crc:
        headers.append(("x-amz-crc32", str(zlib.crc32(body))))
    return 200, headers, body


def body_of(response: tuple[int, Any, bytes]) -> dict[str, Any]:
    return json.loads(response[2])


def refusal(profile: Profile, request: Call) -> ServiceError:
    with pytest.raises(ServiceError) as caught:
        profile.check(request)
    return caught.value


# --------------------------------------------------------------------------- settings, clock

def test_the_default_profile_installs_nothing_and_publishes_period_one():
    # given
    settings = ProfileSettings.from_env({})
    # when
    document = settings.document()
    # then
    assert not settings.active
    assert document == {"name": "default", "time_scale": 1.0, "metric_period_s": 1}
    assert Timeline(settings).delay("table_creating") == 0.0


@pytest.mark.parametrize("env", [{"WORKSHOP_LOCAL_PROFILE": "slow"},
                                 {"WORKSHOP_LOCAL_PROFILE": "aws",
                                  "WORKSHOP_LOCAL_TIME_SCALE": "0"},
                                 {"WORKSHOP_LOCAL_TIME_SCALE": "fast"}])
def test_settings_refuse_an_unknown_profile_or_a_scale_that_is_not_positive(env):
    # given / when / then
    with pytest.raises(ProfileSettingsError):
        ProfileSettings.from_env(env)


def test_each_delay_is_scaled_jittered_within_bounds_and_never_below_the_floor(clock):
    # given
    timeline = Timeline(ProfileSettings("aws", 0.5), clock)
    # when
    draws = [timeline.delay("iam") for _ in range(200)]
    tiny = Timeline(ProfileSettings("aws", 1e-6), clock).delay("function_update")
    # then
    base = DELAYS["iam"].seconds * 0.5
    assert all(base * (1 - JITTER) <= d <= base * (1 + JITTER) for d in draws)
    assert len(set(draws)) > 1
    assert tiny == MIN_DELAY_S


def test_the_same_seed_draws_the_same_delays(clock):
    # given
    first, second = (Timeline(ProfileSettings("aws", 1.0, seed=7), clock) for _ in range(2))
    # when / then
    assert [first.delay("iam") for _ in range(5)] == [second.delay("iam") for _ in range(5)]


def test_a_cap_shortens_the_long_delays_and_leaves_the_short_ones_as_scaled(clock):
    # given
    settings = ProfileSettings("aws", 0.2, max_delay=2.0)
    # when
    scaled = {kind: settings.seconds(kind) for kind in DELAYS}
    draws = [Timeline(settings, clock).delay("gsi_backfill") for _ in range(50)]
    # then
    assert scaled["gsi_backfill"] == scaled["queue_deleted"] == scaled["mapping_polling"] == 2.0
    assert scaled["iam"] == pytest.approx(1.6)
    assert scaled["function_update"] == pytest.approx(0.2)
    assert all(2.0 * (1 - JITTER) <= d <= 2.0 * (1 + JITTER) for d in draws)
    assert settings.document() == {"name": "aws", "time_scale": 0.2, "metric_period_s": 60,
                                   "max_delay_s": 2.0}
    assert ProfileSettings.from_env(settings.to_env()) == settings


@pytest.mark.parametrize("raw", ["0", "-1", "soon", "inf"])
def test_settings_refuse_a_cap_that_is_not_a_positive_number_of_seconds(raw):
    # given
    env = {"WORKSHOP_LOCAL_PROFILE": "aws", "WORKSHOP_LOCAL_PROFILE_MAX_DELAY": raw}
    # when
    with pytest.raises(ProfileSettingsError) as err:
        ProfileSettings.from_env(env)
    # then
    assert "positive number of seconds" in str(err.value)


FIDELITY_ROWS = {"IAM propagation": "iam", "Function Pending": "function_pending",
                 "Function update": "function_update",
                 "Mapping Creating → Enabled": "mapping_enabled",
                 "Mapping's first poll": "mapping_polling", "Polling rate": "poll_interval",
                 "Table CREATING": "table_creating", "Stream ENABLING": "stream_enabling",
                 "GSI backfilling": "gsi_backfill", "Lambda metrics": "metric_lag",
                 "Alarm evaluation": "alarm_interval", "Log events": "logs_visible",
                 "Queue name after DeleteQueue": "queue_deleted"}


def test_the_delays_at_scale_one_are_the_figures_of_fidelity_md():
    # given: the profile's table in FIDELITY.md (behaviour, what, value at S = 1, source)
    from tests.conftest import ROOT

    text = (ROOT / "FIDELITY.md").read_text().split("## The AWS timing profile", 1)[1]
    rows = {cells[1].strip(): cells[3].strip() for line in text.split("\n## ", 1)[0].splitlines()
            if line.startswith("| ") and len(cells := line.split("|")) > 4}
    # when
    shown = {kind: float(rows[row].removeprefix("Enabled + ").split(" s", 1)[0])
             for row, kind in FIDELITY_ROWS.items()}
    # then: every delay is in the table, with its value at S = 1
    assert set(shown) == set(DELAYS)
    assert shown == {kind: delay.seconds for kind, delay in DELAYS.items()}
    assert ProfileSettings("aws", 1.0).seconds("queue_deleted") == 60.0


# --------------------------------------------------------------------------- DynamoDB

def test_a_new_table_is_creating_and_refuses_item_calls_until_it_is_active(clock):
    # given
    profile = make_profile(clock)
    create = ddb("CreateTable", TableName="orders")
    answered = profile.respond(create, ok({"TableDescription": {
        "TableName": "orders", "TableStatus": "ACTIVE"}}, crc=True))
    # when
    error = refusal(profile, ddb("PutItem", TableName="orders", Item={"pk": {"S": "1"}}))
    # then
    assert body_of(answered)["TableDescription"]["TableStatus"] == "CREATING"
    crc = dict(answered[1])["x-amz-crc32"]
    assert crc == str(zlib.crc32(answered[2]))
    assert (error.code, error.message) == ("ResourceNotFoundException",
                                           "Requested resource not found")
    clock.advance(DELAYS["table_creating"].seconds * (1 + JITTER))
    assert profile.check(ddb("PutItem", TableName="orders", Item={"pk": {"S": "1"}})) is None
    described = profile.respond(ddb("DescribeTable", TableName="orders"), ok(
        {"Table": {"TableName": "orders", "TableStatus": "ACTIVE"}}))
    assert body_of(described)["Table"]["TableStatus"] == "ACTIVE"


def test_a_stream_turned_on_is_enabling_and_the_table_updating_meanwhile(clock):
    # given
    profile = make_profile(clock)
    update = ddb("UpdateTable", TableName="orders", StreamSpecification={
        "StreamEnabled": True, "StreamViewType": "KEYS_ONLY"})
    # when
    answered = profile.respond(update, ok({"TableDescription": {
        "TableName": "orders", "TableStatus": "ACTIVE"}}))
    stream = profile.respond(ddb("DescribeStream", StreamArn="arn:aws:dynamodb:us-east-1:1:"
                                                            "table/orders/stream/x"),
                             ok({"StreamDescription": {"TableName": "orders",
                                                       "StreamStatus": "ENABLED"}}))
    again = refusal(profile, ddb("UpdateTable", TableName="orders", BillingMode="PROVISIONED"))
    # then
    assert body_of(answered)["TableDescription"]["TableStatus"] == "UPDATING"
    assert body_of(stream)["StreamDescription"]["StreamStatus"] == "ENABLING"
    assert again.code == "ResourceInUseException"


def test_a_new_index_is_backfilling_and_a_query_on_it_is_refused(clock):
    # given
    profile = make_profile(clock)
    profile.respond(ddb("UpdateTable", TableName="orders", GlobalSecondaryIndexUpdates=[
        {"Create": {"IndexName": "by-status"}}]), ok({"TableDescription": {}}))
    # when
    error = refusal(profile, ddb("Query", TableName="orders", IndexName="by-status"))
    described = body_of(profile.respond(ddb("DescribeTable", TableName="orders"), ok({"Table": {
        "TableName": "orders", "TableStatus": "ACTIVE",
        "GlobalSecondaryIndexes": [{"IndexName": "by-status", "IndexStatus": "ACTIVE"}]}})))
    # then
    assert (error.code, error.message) == (
        "ValidationException", "Cannot read from backfilling global secondary index")
    assert described["Table"]["GlobalSecondaryIndexes"][0] == {
        "IndexName": "by-status", "IndexStatus": "CREATING", "Backfilling": True}
    assert profile.check(ddb("Query", TableName="orders")) is None  # the table itself


# --------------------------------------------------------------------------- Lambda and IAM

def test_a_fresh_role_cannot_be_assumed_by_lambda_until_it_propagates(clock):
    # given
    profile = make_profile(clock)
    profile.respond(iam_call("CreateRole", RoleName="processor"), (200, [], b""))
    create = {"FunctionName": "fn", "Role": f"arn:aws:iam::{ACCOUNT}:role/processor"}
    # when
    error = refusal(profile, lambda_call("POST", "", create))
    # then
    assert (error.code, error.message) == (
        "InvalidParameterValueException",
        "The role defined for the function cannot be assumed by Lambda.")
    clock.advance(DELAYS["iam"].seconds * (1 + JITTER))
    assert profile.check(lambda_call("POST", "", create)) is None


def test_a_new_function_is_pending_and_refuses_invocations_until_active(clock):
    # given
    profile = make_profile(clock)
    answered = profile.respond(lambda_call("POST", "", {"FunctionName": "fn"}),
                               (201, [], json.dumps({"FunctionName": "fn",
                                                     "State": "Active"}).encode()))
    # when
    error = refusal(profile, lambda_call("POST", "/fn/invocations", {}))
    # then
    assert {k: body_of(answered)[k] for k in ("State", "StateReason", "StateReasonCode")} == {
        "State": "Pending", "StateReason": "The function is being created.",
        "StateReasonCode": "Creating"}
    assert (error.code, error.status) == ("ResourceConflictException", 409)
    assert error.message == ("The operation cannot be performed at this time. The function is "
                             "currently in the following state: Pending")
    clock.advance(DELAYS["function_pending"].seconds * (1 + JITTER))
    assert profile.check(lambda_call("POST", "/fn/invocations", {})) is None


def test_an_update_is_in_progress_and_a_second_one_is_refused(clock):
    # given
    profile = make_profile(clock)
    update = lambda_call("PUT", "/fn/configuration", {"MemorySize": 256})
    answered = profile.respond(update, ok({"FunctionName": "fn", "LastUpdateStatus":
                                           "Successful"}))
    # when
    error = refusal(profile, lambda_call("PUT", "/fn/configuration", {"MemorySize": 512}))
    # then
    assert body_of(answered)["LastUpdateStatus"] == "InProgress"
    assert error.message == ("The operation cannot be performed at this time. An update is in "
                             f"progress for resource: arn:aws:lambda:us-east-1:{ACCOUNT}:"
                             "function:fn")
    shown = profile.respond(lambda_call("GET", "/fn"), ok({"Configuration": {
        "FunctionName": "fn", "LastUpdateStatus": "Successful"}}))
    assert body_of(shown)["Configuration"]["LastUpdateStatus"] == "InProgress"


def test_the_other_services_see_a_role_s_old_policies_until_each_change_propagates(clock):
    # given
    arn = f"arn:aws:iam::{ACCOUNT}:role/processor"
    stored = {arn: ["read"]}
    profile = make_profile(clock, documents=stored)
    first = iam_call("PutRolePolicy", RoleName="processor", PolicyName="w", PolicyDocument="{}")
    profile.check(first)
    stored[arn] = ["read", "write"]
    profile.respond(first, (200, [], b""))
    # when
    seen_now = profile.role_view(ACCOUNT, arn, stored[arn])
    clock.advance(DELAYS["iam"].seconds * (1 + JITTER) + 0.01)
    seen_later = profile.role_view(ACCOUNT, arn, stored[arn])
    # then
    assert seen_now == ["read"]
    assert seen_later == ["read", "write"]


# --------------------------------------------------------------------------- CloudWatch, Logs

def test_lambda_metrics_are_served_per_minute_up_to_the_last_minute_past_its_lag(clock):
    # given
    profile = make_profile(clock, scale=0.1)
    clock.now = T0 + 5 * 60 + 30  # 30 s into a minute; the lag is 9 s
    request = json_call("cloudwatch", "GraniteServiceVersion20100801.GetMetricData", {
        "MetricDataQueries": [{"Id": "e", "MetricStat": {"Metric": {
            "Namespace": "AWS/Lambda", "MetricName": "Errors"}, "Period": 1, "Stat": "Sum"}}],
        "StartTime": T0 + 7, "EndTime": T0 + 10 * 60})
    # when
    answer = profile.check(request)
    # then
    sent = json.loads(request.body)
    assert answer is None
    assert sent["MetricDataQueries"][0]["MetricStat"]["Period"] == 60
    assert (sent["StartTime"], sent["EndTime"]) == (T0, T0 + 5 * 60)


def test_a_metric_query_none_of_whose_range_is_visible_gets_no_datapoints(clock):
    # given
    profile = make_profile(clock)
    request = json_call("cloudwatch", "GraniteServiceVersion20100801.GetMetricData", {
        "MetricDataQueries": [{"Id": "e", "MetricStat": {"Metric": {
            "Namespace": "AWS/Lambda", "MetricName": "Errors"}, "Period": 60, "Stat": "Sum"}}],
        "StartTime": clock.now - 30, "EndTime": clock.now + 60})
    # when
    status, _, body = profile.check(request)
    # then
    assert status == 200
    assert json.loads(body)["MetricDataResults"] == [
        {"Id": "e", "Label": "e", "Timestamps": [], "Values": [], "StatusCode": "Complete"}]


def test_custom_metrics_are_not_delayed(clock):
    # given
    profile = make_profile(clock)
    params = {"Namespace": "Workshop", "MetricName": "Orders", "Period": 1,
              "StartTime": clock.now - 30, "EndTime": clock.now + 60, "Statistics": ["Sum"]}
    request = json_call("cloudwatch", "GraniteServiceVersion20100801.GetMetricStatistics",
                        params)
    # when
    profile.check(request)
    # then
    assert json.loads(request.body) == params


def test_log_events_are_read_up_to_their_visibility_delay(clock):
    # given
    profile = make_profile(clock)
    request = json_call("logs", "Logs_20140328.FilterLogEvents", {"logGroupName": "/aws/x"})
    # when
    profile.check(request)
    # then
    visible = int((clock.now - DELAYS["logs_visible"].seconds) * 1000)
    assert json.loads(request.body) == {"logGroupName": "/aws/x", "endTime": visible}


# --------------------------------------------------------------------------- SQS

def sqs(operation: str, **params: Any) -> Call:
    return json_call("sqs", f"AmazonSQS.{operation}", params)


def test_a_deleted_queue_s_name_is_refused_until_its_window_is_over(clock):
    # given
    profile = make_profile(clock, scale=0.01)
    url = f"http://127.0.0.1/{ACCOUNT}/inbox"
    profile.respond(sqs("DeleteQueue", QueueUrl=url), (200, [], b"{}"))
    # when
    status, headers, body = profile.check(sqs("CreateQueue", QueueName="inbox"))
    # then
    assert status == 400
    assert headers["x-amzn-query-error"] == "AWS.SimpleQueueService.QueueDeletedRecently;Sender"
    assert json.loads(body)["message"] == ("You must wait 60 seconds after deleting a queue "
                                           "before you can create another with the same name.")
    clock.advance(60 * 0.01 + 0.01)
    assert profile.check(sqs("CreateQueue", QueueName="inbox")) is None


def test_short_polls_of_a_small_queue_sometimes_come_back_empty_but_long_polls_never(clock):
    # given
    profile = make_profile(clock, queue=(1, 0))
    url = f"http://127.0.0.1/{ACCOUNT}/inbox"
    # when
    short = [profile.check(sqs("ReceiveMessage", QueueUrl=url)) for _ in range(40)]
    long = [profile.check(sqs("ReceiveMessage", QueueUrl=url, WaitTimeSeconds=5))
            for _ in range(40)]
    # then
    empty = [a for a in short if a is not None]
    assert 0 < len(empty) < 40
    assert all(json.loads(a[2]) == {} for a in empty)
    assert long == [None] * 40


def test_a_large_queue_is_never_polled_empty(clock):
    # given
    profile = make_profile(clock, queue=(500, 0))
    # when
    answers = [profile.check(sqs("ReceiveMessage", QueueUrl="http://h/1/q")) for _ in range(40)]
    # then
    assert answers == [None] * 40


def test_a_delay_cap_without_the_aws_profile_is_refused_not_ignored():
    # given: the default profile, which has no delays to cap
    env = {"WORKSHOP_LOCAL_PROFILE_MAX_DELAY": "2"}
    # when / then
    with pytest.raises(ProfileSettingsError, match="add --profile aws"):
        ProfileSettings.from_env(env)
