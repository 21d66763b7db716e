"""Unit tests for ``helpers.regions`` and ``helpers.replication``: names, stamps, the checks
of convergence, the log reading, and the loop watch through its seam (no endpoint; the two
regions of the comparison are moto's, in-process)."""

from __future__ import annotations

from decimal import Decimal

import boto3
import pandas as pd
import pytest
from moto import mock_aws

from helpers import regions, replication
from helpers.clients import Backend, get_backend
from helpers.naming import Names
from helpers.workshop import SetupError

A, B = "us-east-1", "eu-west-1"


def events(*messages: str) -> pd.DataFrame:
    times = pd.date_range("2026-12-04 10:00", periods=len(messages), freq="10ms", tz="UTC")
    return pd.DataFrame({"time": times, "message": list(messages)})


def line(outcome: str, item: str, origin: str = A, target: str = B, lag: int = 12,
         event: str = "INSERT") -> str:
    return f"{outcome} {event} {item} from {origin} to {target}: {lag} ms after the write"


def test_names_carry_the_prefix_and_the_roles_are_one_per_region():
    # when
    ours = regions.RegionNames.of(Names.with_prefix("alice-"))
    # then
    assert ours.table == "alice-demo-global-users"
    assert ours.roles == ("alice-demo-region-replicator-role-a",
                          "alice-demo-region-replicator-role-b")
    assert regions.known_names(Names())["log group"] == {"/aws/lambda/demo-region-replicator"}


def test_the_second_region_must_differ_from_the_first():
    # given
    cloud = get_backend("endpoint", A, "http://127.0.0.1:1")
    # when / then
    with pytest.raises(SetupError, match="second_region='us-east-1' is the first region"):
        regions.connect_second(cloud, A)
    assert regions.connect_second(cloud, B).region == B
    assert regions.connect_second(cloud).region == B  # the default second region
    assert regions.connect_second(get_backend("endpoint", B, "http://127.0.0.1:1")).region == A


def test_stamped_items_say_where_and_when_they_were_written():
    # when
    item = regions.stamped({"PK": "USER#ana", "SK": "PROFILE", "hops": 0}, B, updated_at=7)
    # then
    assert item == {"PK": {"S": "USER#ana"}, "SK": {"S": "PROFILE"}, "hops": {"N": "0"},
                    "origin": {"S": B}, "updated_at": {"N": "7"}}


def test_the_winner_is_the_latest_write_and_a_tie_goes_to_the_region_sorting_last():
    # given
    key = {"PK": "USER#x", "SK": "PROFILE"}
    written = [regions.stamped({**key, "city": "a"}, A, 5),
               regions.stamped({**key, "city": "b"}, B, 5),
               regions.stamped({"PK": "USER#y", "SK": "PROFILE"}, A, 3),
               regions.stamped({"PK": "USER#y", "SK": "PROFILE"}, B, 4)]
    # when
    best = regions.winners(written)
    # then
    assert best["USER#x#PROFILE"]["origin"] == A  # "us-east-1" > "eu-west-1"
    assert best["USER#y#PROFILE"]["updated_at"] == Decimal(4)


def test_reading_the_logs_counts_invocations_and_outcomes():
    # given
    logged = events("START RequestId: r1 Version: $LATEST", line("applied", "USER#a#P"),
                    "Batch of 1 records: 1 applied, 0 skipped, 0 older, 0 stopped",
                    "START RequestId: r2 Version: $LATEST", line("skipped", "USER#a#P", lag=-3))
    # when
    seen = replication.parse_activity(logged, A)
    # then
    assert list(seen.invocations["request_id"]) == ["r1", "r2"]
    assert seen.count("applied") == 1 and seen.count(("applied", "skipped"), ["USER#a#P"]) == 2
    assert list(seen.records["lag_ms"]) == [12, -3]


def test_lag_is_summarised_per_direction_for_applied_puts_only():
    # given
    seen = replication.parse_activity(events(
        line("applied", "i1", lag=10), line("applied", "i2", lag=30),
        line("applied", "i3", B, A, lag=50), line("older", "i4", lag=999),
        line("applied", "i5", lag=999, event="REMOVE")), A)
    # when
    lag = replication.lag_by_direction(seen.records)
    # then
    assert lag.loc[f"{A} → {B}", "p50"] == 20 and lag.loc[f"{A} → {B}", "records"] == 2
    assert lag.loc[f"{B} → {A}", "p95"] == 50


def scripted(monkeypatch, *steps: replication.Activity) -> None:
    """``replication.activity`` returns these, one per poll, then the last one again."""
    remaining = list(steps)
    monkeypatch.setattr(replication, "activity", lambda *a, **k: (
        remaining.pop(0) if len(remaining) > 1 else remaining[0]))


def invocations(n: int, *lines: str) -> replication.Activity:
    return replication.parse_activity(
        events(*[f"START RequestId: r{i}" for i in range(n)], *lines), A)


def test_a_loop_that_stops_by_itself_leaves_the_triggers_alone(monkeypatch):
    # given: the loop climbs, then a replicator logs "stopped" and nothing more happens
    scripted(monkeypatch, invocations(3), invocations(9, line("stopped", "USER#loop#P")))
    disabled = []
    # when
    watch = replication.watch_loop([], "f", since=0, disable=lambda: disabled.append(1),
                                   budget=100, deadline_s=60, quiet_s=0, interval=0)
    # then
    assert watch.stopped_by == "hop limit" and len(watch.activity.invocations) == 9
    assert disabled == []


@pytest.mark.parametrize(("budget", "deadline_s", "stopped_by"),
                         [(5, 60, "budget"), (100, -1, "deadline")])
def test_a_loop_that_goes_on_gets_its_triggers_disabled(monkeypatch, budget, deadline_s,
                                                        stopped_by):
    # given: a loop with no seatbelt
    scripted(monkeypatch, invocations(2), invocations(6))
    disabled = []
    # when
    watch = replication.watch_loop([], "f", since=0, disable=lambda: disabled.append(1),
                                   budget=budget, deadline_s=deadline_s, interval=0)
    # then
    assert watch.stopped_by == stopped_by and disabled == [1]


def test_waiting_ends_when_the_step_is_done_and_times_out_otherwise(monkeypatch):
    # given
    scripted(monkeypatch, invocations(1), invocations(2, line("applied", "USER#a#P")))
    # when
    seen = replication.wait_for([], "f", since=0, done=lambda s: s.count("applied") == 1,
                                interval=0)
    # then
    assert len(seen.invocations) == 2
    with pytest.raises(TimeoutError, match="not done after 0 s"):
        replication.wait_for([], "f", since=0, done=lambda s: False, timeout=0, interval=0)


@pytest.fixture
def two_regions(monkeypatch):
    """Both regions of moto's in-process DynamoDB (``mock_aws``), each with the table."""
    monkeypatch.delenv("AWS_ENDPOINT_URL", raising=False)
    with mock_aws():
        session = boto3.session.Session(aws_access_key_id="testing",
                                        aws_secret_access_key="testing")
        clouds = [Backend("endpoint", r, None, session) for r in (A, B)]
        for cloud in clouds:
            cloud.client("dynamodb").create_table(
                TableName="t", BillingMode="PAY_PER_REQUEST",
                KeySchema=[{"AttributeName": "PK", "KeyType": "HASH"},
                           {"AttributeName": "SK", "KeyType": "RANGE"}],
                AttributeDefinitions=[{"AttributeName": "PK", "AttributeType": "S"},
                                      {"AttributeName": "SK", "AttributeType": "S"}])
        yield clouds


def test_regions_are_compared_item_by_item_and_against_the_winners(two_regions):
    # given: one item the same in both regions, one different, one only in A
    a, b = (c.client("dynamodb") for c in two_regions)
    same = regions.stamped({"PK": "USER#s", "SK": "P", "city": "Hue"}, A, 1)
    newer = regions.stamped({"PK": "USER#d", "SK": "P", "city": "Cork"}, B, 9)
    for client in (a, b):
        client.put_item(TableName="t", Item=same)
    older = regions.stamped({"PK": "USER#d", "SK": "P", "city": "Hue"}, A, 2)
    a.put_item(TableName="t", Item=older)
    b.put_item(TableName="t", Item=newer)
    a.put_item(TableName="t", Item=regions.stamped({"PK": "USER#o", "SK": "P"}, A, 3))
    # when
    rows = regions.compare(two_regions, "t", ["city"]).set_index("item")
    check = regions.check_winners(two_regions, "t", [same, older, newer]).set_index("item")
    # then
    assert rows["same"].to_dict() == {"USER#d#P": False, "USER#o#P": False, "USER#s#P": True}
    assert rows.loc["USER#o#P", B] == "absent" and rows.loc["USER#d#P", A] == "Hue"
    assert check.loc["USER#d#P", f"{A} holds it"] == False  # noqa: E712
    assert check.loc["USER#d#P", f"{B} holds it"] == True  # noqa: E712


def test_where_the_engine_says_both_regions_are_idle_no_quiet_period_is_waited_out(monkeypatch):
    # given: quiet periods far longer than the deadline and the timeout
    asked = []
    monkeypatch.setattr(replication, "mappings_caught_up",
                        lambda backends, function: lambda: asked.append(function) or True)
    scripted(monkeypatch, invocations(9, line("stopped", "USER#loop#P")))
    # when
    watch = replication.watch_loop([], "f", since=0, disable=lambda: None, budget=100,
                                   deadline_s=1, quiet_s=600, interval=0)
    seen = replication.wait_for([], "f", since=0, done=lambda s: len(s.invocations) == 9,
                                quiet_s=600, timeout=1, interval=0)
    # then: stopped by the hop limit, and done, without waiting for either quiet period
    assert watch.stopped_by == "hop limit" and len(seen.invocations) == 9
    assert asked and set(asked) == {"f"}
