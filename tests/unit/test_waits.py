"""Waiting for conditions and retrying propagation errors (helpers.waits), without sleeping."""

from __future__ import annotations

import itertools
from collections.abc import Callable

import pytest
from botocore.exceptions import ClientError

from helpers import waits
from helpers.clients import Pacing
from tests.unit.stubs import StubBackend


def client_error(code: str, message: str) -> ClientError:
    return ClientError({"Error": {"Code": code, "Message": message}}, "Op")


def _failing_create(error: Exception, times: int | None = None) -> tuple[Callable[[], str], list]:
    """A create call that raises ``error`` its first ``times`` calls (every call if None).

    After those it returns ``"created"``. Returned with the list it appends one item to per call.
    """
    calls: list[int] = []

    def create() -> str:
        calls.append(1)
        if times is None or len(calls) <= times:
            raise error
        return "created"

    return create, calls


def test_wait_for_returns_the_first_value_that_meets_the_condition():
    # given
    values = iter(["Creating", "Creating", "Enabled"])
    # when
    got = waits.wait_for(lambda: next(values), what="mapping Enabled", timeout=60, interval=0,
                         until=lambda v: v == "Enabled", progress=False)
    # then
    assert got == "Enabled"


def test_a_wait_that_times_out_says_what_did_not_happen_and_what_was_seen():
    # when
    with pytest.raises(waits.WaitTimeoutError) as caught:
        waits.wait_for(lambda: "Creating", what="mapping abc Enabled", timeout=0, interval=0,
                       until=lambda v: v == "Enabled", progress=False)
    # then
    assert "mapping abc Enabled: not reached after 0 s (last seen: Creating)" in str(caught.value)


def test_wait_until_counts_up_to_its_total_with_the_backend_pacing():
    # given
    counts = iter([0, 3, 5])
    backend = StubBackend(pacing=Pacing(poll_s=0.0, patience_s=60.0))
    # when
    got = waits.wait_until(backend, lambda: next(counts), total=5, desc="items", unit="item",
                           interval=0)
    # then
    assert got == 5


def test_wait_until_times_out_after_the_backend_patience():
    # given
    backend = StubBackend(pacing=Pacing(poll_s=0.0, patience_s=0.0))
    # when / then
    with pytest.raises(waits.WaitTimeoutError, match=r"items in replica: .*2 \(wanted 5 items\)"):
        waits.wait_until(backend, lambda: 2, total=5, desc="items in replica", unit="item")


@pytest.mark.parametrize(
    ("code", "message"),
    [
        ("InvalidParameterValueException",
         "The role defined for the function cannot be assumed by Lambda."),
        ("InvalidParameterValueException", "Cannot access stream arn:aws:dynamodb:…/stream/x."),
        ("InvalidParameterValueException",
         "The provided execution role does not have permissions to call SendMessage on SQS"),
        ("ResourceConflictException", "The operation cannot be performed at this time. "
         "The function is currently in the following state: Pending"),
        ("ResourceConflictException", "The operation cannot be performed at this time. "
         "An update is in progress for resource: arn:aws:lambda:us-east-1:1:function:f"),
    ],
)
def test_the_errors_aws_gives_while_a_change_propagates_are_recognised(code, message):
    # when / then
    assert waits.is_propagation_error(client_error(code, message))


@pytest.mark.parametrize(
    ("code", "message"),
    [
        ("InvalidParameterValueException", "The runtime parameter of python3.7 is no longer "
         "supported"),
        ("ResourceNotFoundException", "Function not found"),
        ("ResourceConflictException", "Function already exist: f"),
    ],
)
def test_other_errors_are_not_propagation_errors(code, message):
    # when / then
    assert not waits.is_propagation_error(client_error(code, message))
    assert not waits.is_propagation_error(ValueError(message))


def test_a_propagation_error_is_retried_on_every_backend_until_the_call_succeeds():
    # given: a local backend (no name check), a role that works on the third try
    backend = StubBackend(pacing=Pacing(poll_s=0.0, propagation_s=60.0))
    create, calls = _failing_create(
        client_error("InvalidParameterValueException", "cannot be assumed by Lambda"), times=2)
    # when
    got = waits.retry_while_propagating(backend, create)
    # then
    assert got == "created"
    assert len(calls) == 3


def test_a_propagation_error_is_raised_once_the_propagation_window_is_over():
    # given
    backend = StubBackend(pacing=Pacing(poll_s=0.0, propagation_s=0.0))
    create, _ = _failing_create(
        client_error("InvalidParameterValueException", "cannot be assumed by Lambda"))
    # when / then
    with pytest.raises(ClientError, match="cannot be assumed"):
        waits.retry_while_propagating(backend, create)


def test_another_error_is_raised_at_once():
    # given
    backend = StubBackend(pacing=Pacing(poll_s=0.0, propagation_s=60.0))
    create, calls = _failing_create(client_error("ValidationException", "bad"))
    # when / then
    with pytest.raises(ClientError, match="bad"):
        waits.retry_while_propagating(backend, create)
    assert len(calls) == 1


def test_within_first_answer_nothing_is_retried():
    # given
    backend = StubBackend(pacing=Pacing(poll_s=0.0, propagation_s=60.0))
    create, calls = _failing_create(
        client_error("InvalidParameterValueException", "Cannot access stream x"))
    # when
    with waits.first_answer(), pytest.raises(ClientError):
        waits.retry_while_propagating(backend, create)
    # then
    assert len(calls) == 1


def test_run_waiter_turns_a_waiter_failure_into_a_timeout_that_names_the_condition():
    # given: a table that stays CREATING
    backend = StubBackend("dynamodb", pacing=Pacing(poll_s=1.0))
    backend.stub("dynamodb").add_response(
        "describe_table", {"Table": {"TableName": "orders", "TableStatus": "CREATING"}},
        {"TableName": "orders"})
    # when / then: a timeout shorter than one poll gives the waiter one attempt
    with pytest.raises(waits.WaitTimeoutError, match="table orders ACTIVE: not reached after 0 s"):
        waits.run_waiter(backend, backend.client("dynamodb"), "table_exists",
                         what="table orders ACTIVE", timeout=0, TableName="orders")
    backend.assert_all_used()


class _Clock:
    """monotonic() and sleep() for helpers.waits: each sleep moves time on."""

    def __init__(self) -> None:
        self.now = 0.0

    def monotonic(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.now += seconds


def test_a_count_that_keeps_growing_is_waited_for_past_the_timeout(monkeypatch):
    # given: a count that grows by one every 10 s, and a 15-s timeout
    clock = _Clock()
    monkeypatch.setattr(waits.time, "monotonic", clock.monotonic)
    monkeypatch.setattr(waits.time, "sleep", clock.sleep)
    counts = iter(range(0, 6))
    # when
    value = waits.wait_for(lambda: next(counts), what="items copied", timeout=15,
                           interval=10, until=lambda n: n >= 5, total=5, progress=False)
    # then: 50 s in all, never 15 s without progress
    assert value == 5
    assert clock.now == 50


def test_a_count_that_stops_growing_times_out_saying_so(monkeypatch):
    # given: a count stuck at 2
    clock = _Clock()
    monkeypatch.setattr(waits.time, "monotonic", clock.monotonic)
    monkeypatch.setattr(waits.time, "sleep", clock.sleep)
    counts = iter([0, 1, 2] + [2] * 10)
    # when
    with pytest.raises(waits.WaitTimeoutError) as error:
        waits.wait_for(lambda: next(counts), what="items copied", timeout=15, interval=10,
                       until=lambda n: n >= 5, total=5, progress=False)
    # then
    assert "without progress for 15 s" in str(error.value)


@pytest.mark.parametrize(("last", "expected"), [
    ((2.0, 600), 1.0),    # 300 items/s, 1,400 to go: 4.7 s away, so the longest delay
    ((6.0, 1800), 2 / 3),  # 200 to go: polled when they should be there
    ((6.6, 1990), 0.25),   # 10 to go: never sooner than the interval
    ((3.0, 0), 0.25),      # not grown yet: every interval
])
def test_a_growing_count_is_polled_when_its_rate_says_it_will_be_complete(last, expected):
    # when
    delay = waits.count_poll_delay((0.0, 0), last, 2000, interval=0.25, max_interval=1.0)
    # then
    assert delay == pytest.approx(expected)


def test_wait_until_polls_a_growing_count_less_often_than_its_interval(monkeypatch):
    # given: 100 items a second on a fake clock, counted by each poll
    clock = _Clock()
    monkeypatch.setattr(waits.time, "monotonic", clock.monotonic)
    monkeypatch.setattr(waits.time, "sleep", clock.sleep)
    polls = []

    def count() -> int:
        polls.append(clock.now)
        return min(500, int(clock.now * 100))

    backend = StubBackend(pacing=Pacing(poll_s=0.0, patience_s=60.0))
    # when
    got = waits.wait_until(backend, count, total=500, desc="items", unit="item")
    # then: the count is reached with 1-s polls while far, then when due, not 20 polls at 0.25 s
    assert got == 500
    assert len(polls) < 10
    assert max(b - a for a, b in itertools.pairwise(polls)) == pytest.approx(1.0)
