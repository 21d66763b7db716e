"""One batch's delivery through the engine's seam: retries, bisect, partial responses,
record age and tumbling windows, with an injected function, wait and clock.

No endpoint, no thread, no sleep: ``DeliveryHooks`` gets a scripted function, a
wait that only advances a fake clock, and a destination that collects messages.
References: esm-semantics §1.4 (errors), §1.5 (partial batch responses), §1.7
(tumbling windows), §3.1 (failure records).
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import pytest

from localaws.errors import ServiceError
from localaws.esm.config import MappingConfig
from localaws.esm.processor import BatchDelivery, DeliveryHooks, DeliveryStoppedError
from localaws.esm.windows import Window, returned_state, window_of
from tests.unit.stubs import Result

STREAM = "arn:aws:dynamodb:us-east-1:123456789012:table/orders/stream/2025-11-25T10:00:00.000"
FUNCTION = "arn:aws:lambda:us-east-1:123456789012:function:f"
QUEUE = "arn:aws:sqs:us-east-1:123456789012:dlq"
SHARD = "shardId-00000001764000000000-0000abcd"
T0 = 1_764_000_000.0


def record(n: int, *, created: float = T0, mode: str = "ok") -> dict[str, Any]:
    """A Lambda-shaped stream record; ``mode`` is read by the scripted function."""
    return {
        "eventID": f"{n:032x}", "eventName": "INSERT", "eventVersion": "1.1",
        "eventSource": "aws:dynamodb", "awsRegion": "us-east-1",
        "dynamodb": {
            "ApproximateCreationDateTime": float(int(created)),
            "Keys": {"pk": {"S": f"r{n}"}},
            "NewImage": {"pk": {"S": f"r{n}"}, "mode": {"S": mode}},
            "SequenceNumber": f"{100000000000000000000 + n}",
            "SizeBytes": 20, "StreamViewType": "NEW_IMAGE",
        },
        "eventSourceARN": STREAM,
    }  # fmt: skip


def seq(rec: dict[str, Any]) -> str:
    return rec["dynamodb"]["SequenceNumber"]


@dataclass
class Harness:
    """A scripted function, a fake clock and an on-failure destination."""

    respond: Callable[[dict[str, Any]], Any]
    config: MappingConfig
    now: float = T0 + 1
    events: list[dict[str, Any]] = field(default_factory=list)
    sent: list[dict[str, Any]] = field(default_factory=list)
    waits: list[float] = field(default_factory=list)
    results: list[str] = field(default_factory=list)
    stop_after_waits: int | None = None

    def invoke(self, payload: bytes) -> Result:
        event = json.loads(payload)
        self.events.append(event)
        answer = self.respond(event)
        if isinstance(answer, ServiceError):
            raise answer
        if isinstance(answer, Result):
            return answer
        return Result(json.dumps(answer).encode())

    def wait(self, seconds: float) -> bool:
        if seconds:
            self.waits.append(seconds)
            self.now += seconds
        return self.stop_after_waits is not None and len(self.waits) >= self.stop_after_waits

    def hooks(self) -> DeliveryHooks:
        return DeliveryHooks(
            invoke=self.invoke, send_failure=self.sent.append, config=lambda: self.config,
            wait=self.wait, set_result=self.results.append,
            arrival=lambda r: r["dynamodb"]["ApproximateCreationDateTime"],
            clock=lambda: self.now,
        )

    def delivery(self) -> BatchDelivery:
        return BatchDelivery(self.hooks(), SHARD, STREAM)

    def batches(self) -> list[list[str]]:
        """The NewImage pk of every record of every invocation, in order."""
        return [[r["dynamodb"]["Keys"]["pk"]["S"] for r in e["Records"]] for e in self.events]


def mapping(**settings: Any) -> MappingConfig:
    return MappingConfig(uuid="u", function_arn=FUNCTION, event_source_arn=STREAM,
                         starting_position="TRIM_HORIZON", event_source_mapping_arn="arn",
                         on_failure_destination=QUEUE, **settings)


def modes(event: dict[str, Any]) -> list[str]:
    return [r["dynamodb"]["NewImage"]["mode"]["S"] for r in event["Records"]]


def by_mode(event: dict[str, Any]) -> Any:
    """Raise on a "raise" record, report "report" records, else succeed."""
    if "raise" in modes(event):
        return Result(b'{"errorMessage": "boom"}', function_error="Unhandled")
    return {"batchItemFailures": [{"itemIdentifier": seq(r)} for r in event["Records"]
                                  if r["dynamodb"]["NewImage"]["mode"]["S"] == "report"]}


# -- retries ---------------------------------------------------------------------------


@pytest.mark.parametrize("retries", [0, 1, 3])
def test_a_failing_batch_is_invoked_retries_plus_one_times_then_sent_to_the_destination(
        retries: int):
    # given
    harness = Harness(by_mode, mapping(maximum_retry_attempts=retries))
    # when
    report = harness.delivery().deliver([record(1, mode="raise"), record(2)])
    # then
    assert len(harness.events) == retries + 1
    (message,) = harness.sent
    assert message["requestContext"]["condition"] == "RetryAttemptsExhausted"
    assert message["requestContext"]["approximateInvokeCount"] == retries + 1
    assert message["responseContext"]["functionError"] == "Unhandled"
    assert message["DDBStreamBatchInfo"]["batchSize"] == 2
    assert (report.failed_to_destination, report.invoked_events) == (2, 2 * (retries + 1))


def test_retries_back_off_through_the_injected_wait():
    # given
    harness = Harness(by_mode, mapping(maximum_retry_attempts=3))
    # when
    harness.delivery().deliver([record(1, mode="raise")])
    # then
    assert harness.waits == [0.02, 0.05, 0.1]


def test_throttles_wait_without_consuming_retries():
    # given: two throttles, then success
    answers = iter([ServiceError("TooManyRequestsException", "Rate Exceeded.", status=429)] * 2)
    harness = Harness(lambda e: next(answers, {}), mapping(maximum_retry_attempts=0))
    # when
    report = harness.delivery().deliver([record(1)])
    # then
    assert (report.throttles, report.invocations, report.processed) == (2, 1, 1)
    assert harness.sent == []


def test_a_missing_function_is_not_counted_as_a_throttle_and_consumes_no_retry():
    # given: the function is missing twice (deleted and created again), then answers
    missing = ServiceError("ResourceNotFoundException", "Function not found: f", status=404)
    answers = iter([missing] * 2)
    harness = Harness(lambda e: next(answers, {}), mapping(maximum_retry_attempts=0))
    # when
    report = harness.delivery().deliver([record(1)])
    # then
    assert (report.throttles, report.not_invoked, report.processed) == (0, 2, 1)
    assert harness.results[:2] == ["PROBLEM: Function call failed"] * 2
    assert len(harness.waits) == 2 and harness.sent == []


def test_a_stopping_mapping_interrupts_the_retries():
    # given
    harness = Harness(by_mode, mapping(), stop_after_waits=2)
    # when / then
    with pytest.raises(DeliveryStoppedError):
        harness.delivery().deliver([record(1, mode="raise")])
    assert len(harness.events) == 2


# -- bisect ----------------------------------------------------------------------------


def test_bisect_isolates_the_poison_record_with_halves_in_order():
    # given
    harness = Harness(by_mode, mapping(bisect_on_error=True, maximum_retry_attempts=0))
    records = [record(1), record(2), record(3, mode="raise"), record(4)]
    # when
    report = harness.delivery().deliver(records)
    # then
    assert harness.batches() == [["r1", "r2", "r3", "r4"], ["r1", "r2"], ["r3", "r4"],
                                 ["r3"], ["r4"]]
    (message,) = harness.sent
    assert message["DDBStreamBatchInfo"]["startSequenceNumber"] == seq(records[2])
    assert message["DDBStreamBatchInfo"]["batchSize"] == 1
    assert report.processed == 3


def test_bisect_also_splits_a_response_that_counts_as_a_complete_failure():
    # given: ReportBatchItemFailures with an empty itemIdentifier (a complete failure)
    def respond(event: dict[str, Any]) -> Any:
        return {"batchItemFailures": [{"itemIdentifier": ""}]} if len(event["Records"]) > 1 \
            else {}
    harness = Harness(respond, mapping(bisect_on_error=True, maximum_retry_attempts=0,
                                       function_response_types=["ReportBatchItemFailures"]))
    # when
    report = harness.delivery().deliver([record(1), record(2)])
    # then: "If your invocation fails and BisectBatchOnFunctionError is turned on, the
    # batch is bisected regardless of your ReportBatchItemFailures setting."
    assert harness.batches() == [["r1", "r2"], ["r1"], ["r2"]]
    assert (report.processed, harness.sent) == (2, [])


# -- partial batch responses (esm-semantics §1.5, one test per row) ---------------------

SUCCESS_ROWS = {
    "empty_batch_item_failures_list": {"batchItemFailures": []},
    "null_batch_item_failures_list": {"batchItemFailures": None},
    "empty_event_response": {},
    "null_event_response": None,
    "empty_list_response": [],
}
FAILURE_ROWS = {
    "empty_string_item_identifier": {"batchItemFailures": [{"itemIdentifier": ""}]},
    "null_item_identifier": {"batchItemFailures": [{"itemIdentifier": None}]},
    "item_identifier_with_a_bad_key_name": {"batchItemFailures": [{"foo": "1"}]},
    "item_identifier_not_a_sequence_number": {"batchItemFailures": [{"itemIdentifier": 123}]},
}


@pytest.mark.parametrize("response", SUCCESS_ROWS.values(), ids=SUCCESS_ROWS.keys())
def test_partial_response_success_rows_complete_the_batch_in_one_invocation(response: Any):
    # given
    harness = Harness(lambda e: response, mapping(
        maximum_retry_attempts=3, function_response_types=["ReportBatchItemFailures"]))
    # when
    report = harness.delivery().deliver([record(1), record(2)])
    # then
    assert (len(harness.events), report.processed, harness.sent) == (1, 2, [])
    assert harness.results == ["OK"]


@pytest.mark.parametrize("response", FAILURE_ROWS.values(), ids=FAILURE_ROWS.keys())
def test_partial_response_failure_rows_retry_the_whole_batch(response: Any):
    # given
    harness = Harness(lambda e: response, mapping(
        maximum_retry_attempts=3, function_response_types=["ReportBatchItemFailures"]))
    # when
    harness.delivery().deliver([record(1), record(2)])
    # then
    assert harness.batches() == [["r1", "r2"]] * 4
    (message,) = harness.sent
    assert message["responseContext"]["functionError"] is None
    assert message["DDBStreamBatchInfo"]["batchSize"] == 2


def test_partial_response_retries_from_the_lowest_reported_sequence_number():
    # given: r2 and r4 report failure; Lambda uses the lowest as the checkpoint
    harness = Harness(by_mode, mapping(
        maximum_retry_attempts=1, function_response_types=["ReportBatchItemFailures"]))
    records = [record(1), record(2, mode="report"), record(3), record(4, mode="report")]
    # when
    report = harness.delivery().deliver(records)
    # then
    assert harness.batches() == [["r1", "r2", "r3", "r4"], ["r2", "r3", "r4"]]
    (message,) = harness.sent
    assert message["DDBStreamBatchInfo"]["startSequenceNumber"] == seq(records[1])
    assert message["DDBStreamBatchInfo"]["batchSize"] == 3
    assert message["requestContext"]["approximateInvokeCount"] == 2
    assert report.processed == 1


def test_partial_response_is_not_read_unless_report_batch_item_failures_is_on():
    # given
    harness = Harness(by_mode, mapping(maximum_retry_attempts=1))
    # when
    report = harness.delivery().deliver([record(1, mode="report")])
    # then
    assert (len(harness.events), report.processed, harness.sent) == (1, 1, [])


def test_partial_response_with_bisect_splits_at_the_sequence_number_without_using_retries():
    # given: r3 always reports itself failed; no retries allowed
    harness = Harness(by_mode, mapping(
        bisect_on_error=True, maximum_retry_attempts=0,
        function_response_types=["ReportBatchItemFailures"]))
    # when
    harness.delivery().deliver([record(1), record(2), record(3, mode="report"), record(4)])
    # then: split at r3 (a fresh retry count), then r3 onwards is given up
    assert harness.batches() == [["r1", "r2", "r3", "r4"], ["r3", "r4"]]
    (message,) = harness.sent
    assert message["DDBStreamBatchInfo"]["batchSize"] == 2


# -- record age ------------------------------------------------------------------------


def test_records_older_than_the_maximum_age_go_to_the_destination_without_responsecontext():
    # given: a record that fails forever, 60 s maximum age, the clock moves with the waits
    harness = Harness(by_mode, mapping(maximum_record_age=60, maximum_retry_attempts=-1))
    # when
    report = harness.delivery().deliver([record(1, mode="raise")])
    # then
    (message,) = harness.sent
    assert message["requestContext"]["condition"] == "RecordAgeExceeded"
    assert message["requestContext"]["approximateInvokeCount"] == len(harness.events)
    assert "responseContext" not in message
    assert harness.now - T0 - sum(harness.waits[-1:]) <= 60 < harness.now - T0
    assert report.failed_to_destination == 1


def test_a_poison_record_too_old_goes_to_the_destination_and_the_shard_moves_on():
    # given: the over-the-wire test's scenario (tests/functional/test_esm_engine.py,
    # ``make test-slow``): batch size 1, infinite retries, 60 s maximum age, "after"
    # written behind the poison some retries later; the clock moves with the waits
    harness = Harness(by_mode, mapping(maximum_record_age=60, maximum_retry_attempts=-1,
                                       batch_size=1), stop_after_waits=500)
    poison, after = record(1, mode="raise"), record(2, created=T0 + 4)
    # when: the shard delivers its batches one after the other
    first = harness.delivery().deliver([poison])
    second = harness.delivery().deliver([after])
    # then: the poison goes to the destination with the number of times it was really
    # invoked, and the next batch is the record behind it
    pks = [pk for batch in harness.batches() for pk in batch]
    assert pks[-1] == "r2" and set(pks[:-1]) == {"r1"} and len(pks) > 2
    (message,) = harness.sent
    assert list(message) == ["requestContext", "version", "timestamp", "DDBStreamBatchInfo"]
    assert message["requestContext"]["condition"] == "RecordAgeExceeded"
    assert message["requestContext"]["approximateInvokeCount"] == len(pks) - 1
    info = message["DDBStreamBatchInfo"]
    assert info["startSequenceNumber"] == info["endSequenceNumber"] == seq(poison)
    assert info["batchSize"] == 1
    assert (first.failed_to_destination, first.processed) == (1, 0)
    assert (second.processed, second.failed_to_destination) == (1, 0)


def test_a_record_already_too_old_is_never_sent_to_the_function():
    # given
    harness = Harness(by_mode, mapping(maximum_record_age=60), now=T0 + 61)
    # when
    harness.delivery().deliver([record(1)])
    # then
    assert harness.events == []
    assert harness.sent[0]["requestContext"]["approximateInvokeCount"] == 1


def test_without_a_destination_given_up_records_are_dropped():
    # given
    cfg = mapping(maximum_retry_attempts=0)
    cfg.on_failure_destination = None
    harness = Harness(by_mode, cfg)
    # when
    report = harness.delivery().deliver([record(1, mode="raise")])
    # then
    assert (report.dropped, report.failed_to_destination, harness.sent) == (1, 0, [])


# -- tumbling windows (esm-semantics §1.7) -----------------------------------------------


def counting(event: dict[str, Any]) -> Any:
    """A window function: counts records in its state; raises on a "raise" record."""
    if "raise" in modes(event):
        return Result(b'{"errorMessage": "boom"}', function_error="Unhandled")
    state = dict(event["state"])
    state["count"] = state.get("count", 0) + len(event["Records"])
    return {"state": state}


def test_window_state_is_carried_from_one_invocation_to_the_next():
    # given
    harness = Harness(counting, mapping(tumbling_window=60))
    window = window_of(T0, 60)
    delivery = harness.delivery()
    # when
    delivery.deliver([record(1), record(2)], window)
    delivery.deliver([record(3)], window)
    # then
    assert [e["state"] for e in harness.events] == [{}, {"count": 2}]
    assert window.state == {"count": 3}


def test_window_event_has_aws_shape():
    # given
    harness = Harness(counting, mapping(tumbling_window=300))
    # when
    harness.delivery().deliver([record(1)], Window(1596128400, 1596128700))
    # then
    (event,) = harness.events
    assert list(event) == ["Records", "window", "state", "shardId", "eventSourceARN",
                           "isFinalInvokeForWindow", "isWindowTerminatedEarly"]
    assert event["window"] == {"start": "2020-07-30T17:00:00Z", "end": "2020-07-30T17:05:00Z"}
    assert (event["shardId"], event["eventSourceARN"]) == (SHARD, STREAM)
    assert (event["isFinalInvokeForWindow"], event["isWindowTerminatedEarly"]) == (False, False)


def test_final_invoke_carries_the_state_and_no_records():
    # given
    harness = Harness(counting, mapping(tumbling_window=60))
    window = Window(0, 60, {"count": 5})
    # when
    harness.delivery().finish_window(window)
    # then
    (event,) = harness.events
    assert (event["Records"], event["state"], event["isFinalInvokeForWindow"]) == (
        [], {"count": 5}, True)


def test_a_failed_final_invoke_is_retried_until_it_succeeds():
    # given: the final invocation fails twice
    answers = iter([Result(b"{}", function_error="Unhandled"), {"batchItemFailures": []}])
    harness = Harness(lambda e: next(answers, {"state": {}}), mapping(tumbling_window=60))
    # when
    report = harness.delivery().finish_window(Window(0, 60, {"count": 1}))
    # then: the answer without state counts as a failure too
    assert report.invocations == 3
    assert harness.results[-1] == "OK"


def test_a_window_response_without_state_is_a_failed_invocation():
    # given
    harness = Harness(lambda e: {"batchItemFailures": []}, mapping(
        tumbling_window=60, maximum_retry_attempts=1))
    window = window_of(T0, 60)
    # when
    harness.delivery().deliver([record(1)], window)
    # then
    assert len(harness.events) == 2
    assert harness.sent[0]["requestContext"]["condition"] == "RetryAttemptsExhausted"
    assert window.state == {}


def test_failure_inside_a_window_keeps_the_state_of_the_records_done():
    # given: bisect isolates the poison record; the halves carry the state along
    harness = Harness(counting, mapping(tumbling_window=60, bisect_on_error=True,
                                        maximum_retry_attempts=0))
    window = window_of(T0, 60)
    # when
    harness.delivery().deliver([record(1), record(2, mode="raise"), record(3), record(4)],
                               window)
    # then: r1, r3, r4 are counted, the poison record r2 is not
    assert harness.batches() == [["r1", "r2", "r3", "r4"], ["r1", "r2"], ["r1"], ["r2"],
                                 ["r3", "r4"]]
    assert [e["state"] for e in harness.events] == [{}, {}, {}, {"count": 1}, {"count": 1}]
    assert window.state == {"count": 3}
    assert harness.sent[0]["DDBStreamBatchInfo"]["batchSize"] == 1


def test_partial_response_in_a_window_keeps_the_returned_state_and_retries_the_rest():
    # given: the function counts only the records before the one it reports
    def respond(event: dict[str, Any]) -> Any:
        failed = [r for r in event["Records"]
                  if r["dynamodb"]["NewImage"]["mode"]["S"] == "report"]
        done = event["Records"].index(failed[0]) if failed else len(event["Records"])
        return {"state": {"count": event["state"].get("count", 0) + done},
                "batchItemFailures": [{"itemIdentifier": seq(r)} for r in failed[:1]]}
    harness = Harness(respond, mapping(tumbling_window=60, maximum_retry_attempts=1,
                                       function_response_types=["ReportBatchItemFailures"]))
    window = window_of(T0, 60)
    # when
    harness.delivery().deliver([record(1), record(2), record(3, mode="report")], window)
    # then
    assert harness.batches() == [["r1", "r2", "r3"], ["r3"]]
    assert [e["state"] for e in harness.events] == [{}, {"count": 2}]
    assert window.state == {"count": 2}


def test_windows_are_aligned_to_multiples_of_their_length():
    # given / when
    window = window_of(T0 + 75, 30)
    # then
    assert (window.start % 30, window.end - window.start) == (0, 30)
    assert window.contains(T0 + 75) and not window.contains(window.end)


@pytest.mark.parametrize(
    ("payload", "state"),
    [(b'{"state": {"a": 1}}', {"a": 1}), (b'{"state": {}}', {}), (b"{}", None),
     (b'{"state": null}', None), (b'{"state": 3}', None), (b"null", None), (b"", None),
     (b"not json", None)],
)
def test_only_an_object_state_counts_as_a_window_answer(payload: bytes, state: Any):
    # given / when / then
    assert returned_state(payload) == state
