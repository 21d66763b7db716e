"""Tumbling windows end to end: a real function keeps a running total per window.

The function journals every event it receives and answers with its new state;
the assertions read the journal. Windows are 2 seconds long, so every test sees
at least one window close. Reference: esm-semantics §1.7.
"""

from __future__ import annotations

import json
import time
from collections import defaultdict
from typing import Any

import pytest

from tests.functional.support import (
    EVENT_JOURNAL,
    Journaled,
    journaled_events,
    journaled_function,
    map_stream,
    queue_messages,
    wait_for,
)

pytestmark = pytest.mark.functional

WINDOW_S = 2
# Journals the event, then adds each record's "amount" to the window's state; a
# record whose "mode" is "raise" makes the invocation fail.
TOTALS_HANDLER = EVENT_JOURNAL + '''

def handler(event, context):
    journal_event(event, context)
    state = dict(event["state"])
    for record in event["Records"]:
        image = record["dynamodb"]["NewImage"]
        if image.get("mode", {}).get("S") == "raise":
            raise RuntimeError("poison record")
        state["orders"] = state.get("orders", 0) + 1
        state["revenue"] = state.get("revenue", 0) + int(image["amount"]["N"])
    return {"state": state}
'''


@pytest.fixture
def totals(backend, role, unique) -> Journaled:
    return journaled_function(backend, f"win-{unique}", role=role, handler=TOTALS_HANDLER,
                              source="orders", view_type="NEW_IMAGE")


def _put(backend, totals, pk: str, amount: int, mode: str = "ok") -> None:
    backend.client("dynamodb").put_item(TableName=totals.table, Item={
        "pk": {"S": pk}, "amount": {"N": str(amount)}, "mode": {"S": mode}})


def _map(backend, totals, **settings: Any) -> str:
    return map_stream(backend, totals.name, totals.stream, TumblingWindowInSeconds=WINDOW_S,
                      **settings)


def _by_window(events: list[dict[str, Any]]) -> dict[str, list[dict[str, Any]]]:
    windows: dict[str, list[dict[str, Any]]] = defaultdict(list)
    for event in events:
        windows[event["window"]["start"]].append(event)
    return dict(windows)


def _finals(backend, totals, count: int) -> list[dict[str, Any]]:
    return wait_for(
        lambda: (events := journaled_events(backend, totals.journal_table))
        and len([e for e in events if e["isFinalInvokeForWindow"]]) >= count and events,
        message=f"{count} final window invocation(s)")


def _settled(backend, totals, records: int) -> list[dict[str, Any]]:
    """Events once ``records`` records were delivered and every window they fell in closed.

    Writes made a moment apart may straddle a window boundary, more so on a busy
    machine: the test then sees two windows, each closed by its own final invoke.
    """
    def done() -> list[dict[str, Any]] | None:
        events = journaled_events(backend, totals.journal_table)
        delivered = sum(len(e["Records"]) for e in events)
        windows = _by_window(events)
        closed = all(any(e["isFinalInvokeForWindow"] for e in w) for w in windows.values())
        return events if events and delivered >= records and closed else None

    return wait_for(done, message=f"{records} records delivered and their windows closed")


def test_state_is_carried_through_a_window_and_closed_by_a_final_invoke(backend, totals):
    # given: three orders, delivered one per invocation
    _map(backend, totals, BatchSize=1)
    for pk, amount in (("o1", 10), ("o2", 20), ("o3", 5)):
        _put(backend, totals, pk, amount)
    # when
    events = _settled(backend, totals, 3)
    # then: within each window every invocation gets the state the previous one
    # returned, and the final one (no records) gets the window's totals
    windows = _by_window(events)
    seen = 0
    for window_events in windows.values():
        expected: dict[str, int] = {}
        for event in window_events:
            assert event["state"] == expected
            if event["isFinalInvokeForWindow"]:
                assert event["Records"] == []
                break
            for record in event["Records"]:
                expected = {"orders": expected.get("orders", 0) + 1,
                            "revenue": expected.get("revenue", 0)
                            + int(record["dynamodb"]["NewImage"]["amount"]["N"])}
                seen += 1
    assert seen == 3
    first = events[0]
    assert first["eventSourceARN"] == totals.stream
    assert first["shardId"].startswith("shardId-")
    assert first["isWindowTerminatedEarly"] is False


def test_a_later_window_starts_from_an_empty_state(backend, totals):
    # given: an order, then another once the first window is over
    _map(backend, totals)
    _put(backend, totals, "early", 7)
    _finals(backend, totals, 1)
    # when
    _put(backend, totals, "late", 3)
    events = _finals(backend, totals, 2)
    # then
    windows = _by_window(events)
    assert len(windows) == 2
    (first, *_), (second, *_) = windows.values()
    assert first["state"] == {} and second["state"] == {}
    assert [r["dynamodb"]["Keys"]["pk"]["S"] for r in second["Records"]] == ["late"]
    finals = [e for e in events if e["isFinalInvokeForWindow"]]
    assert [f["state"] for f in finals] == [{"orders": 1, "revenue": 7},
                                            {"orders": 1, "revenue": 3}]


def test_a_failing_record_inside_a_window_is_given_up_and_left_out_of_the_state(
        backend, totals):
    # given: a poison order between two good ones, no retries, bisect on
    sqs = backend.client("sqs")
    url = sqs.create_queue(QueueName=f"{totals.name}-dlq")["QueueUrl"]
    arn = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["QueueArn"])[
        "Attributes"]["QueueArn"]
    _put(backend, totals, "good-1", 10)
    _put(backend, totals, "poison", 99, mode="raise")
    _put(backend, totals, "good-2", 1)
    # when
    _map(backend, totals, MaximumRetryAttempts=0, BisectBatchOnFunctionError=True,
         DestinationConfig={"OnFailure": {"Destination": arn}})
    events = _finals(backend, totals, 1)
    # then
    messages = wait_for(lambda: queue_messages(backend, url), message="the failure record")
    assert messages[0]["DDBStreamBatchInfo"]["batchSize"] == 1
    finals = [e for e in events if e["isFinalInvokeForWindow"]]
    assert sum(f["state"].get("revenue", 0) for f in finals) == 11


def test_event_count_metrics_are_emitted_for_the_mapping(backend, totals):
    # given
    uuid = _map(backend, totals, MetricsConfig={"Metrics": ["EventCount"]})
    # when
    _put(backend, totals, "o1", 1)
    _finals(backend, totals, 1)
    # then
    cloudwatch = backend.client("cloudwatch")

    def total(name: str) -> float:
        now = time.time()
        points = cloudwatch.get_metric_statistics(
            Namespace="AWS/Lambda", MetricName=name, Statistics=["Sum"], Period=60,
            Dimensions=[{"Name": "EventSourceMappingUUID", "Value": uuid}],
            StartTime=now - 600, EndTime=now + 600)["Datapoints"]
        return sum(p["Sum"] for p in points)

    assert wait_for(lambda: total("InvokedEventCount") >= 1, message="InvokedEventCount")
    assert total("PolledEventCount") == 1
    assert total("FailedInvokeEventCount") == 0


def test_window_state_events_are_json_objects(backend, totals):
    # given
    _map(backend, totals)
    _put(backend, totals, "o1", 4)
    # when
    events = _finals(backend, totals, 1)
    # then
    assert all(isinstance(json.loads(json.dumps(e["state"])), dict) for e in events)
    assert all(e["window"]["end"] > e["window"]["start"] for e in events)
