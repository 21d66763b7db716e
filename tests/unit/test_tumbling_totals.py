"""Unit tests for ``lambda_src/tumbling_totals/app.py``: revenue per tumbling window."""

from __future__ import annotations

from typing import Any

import pytest

WINDOW = {"start": "2026-12-03T12:00:00Z", "end": "2026-12-03T12:00:30Z"}


@pytest.fixture
def totals(load_lambda_module):
    return load_lambda_module("tumbling_totals", "app")


def order(pk: str, total: str, sk: str = "DETAILS", event: str = "INSERT") -> dict[str, Any]:
    return {"eventName": event, "dynamodb": {"NewImage": {
        "PK": {"S": pk}, "SK": {"S": sk}, "total": {"N": total}}}}


def window_event(records, state, final=False) -> dict[str, Any]:
    return {"Records": records, "window": WINDOW, "state": state, "shardId": "shardId-1",
            "eventSourceARN": "arn", "isFinalInvokeForWindow": final,
            "isWindowTerminatedEarly": False}


def test_new_orders_are_added_to_the_window_state(totals, lambda_context):
    # given a window that has seen one order already
    event = window_event([order("ORDER#2", "10.50"), order("ORDER#3", "0.25")],
                         {"orders": 1, "revenue": "5.00"})
    # when
    response = totals.lambda_handler(event, lambda_context)
    # then
    assert response == {"state": {"orders": 3, "revenue": "15.75"}}


@pytest.mark.parametrize(
    "record",
    [order("ORDER#2", "9", event="MODIFY"), order("ORDER#2", "9", sk="ITEM#P1"),
     order("USER#7", "9")],
    ids=["modified_order", "order_line", "not_an_order"],
)
def test_other_changes_leave_the_state_as_it_is(totals, lambda_context, record):
    # given
    event = window_event([record], {"orders": 1, "revenue": "5.00"})
    # when
    response = totals.lambda_handler(event, lambda_context)
    # then
    assert response == {"state": {"orders": 1, "revenue": "5.00"}}


def test_the_first_batch_of_a_window_starts_from_an_empty_state(totals, lambda_context):
    # given
    event = window_event([order("ORDER#1", "2.00")], {})
    # when / then
    assert totals.lambda_handler(event, lambda_context) == {
        "state": {"orders": 1, "revenue": "2.00"}}


def test_the_final_invoke_logs_the_totals_and_returns_the_state(totals, lambda_context,
                                                                 capsys):
    # given
    state = {"orders": 4, "revenue": "42.00"}
    # when
    response = totals.lambda_handler(window_event([], state, final=True), lambda_context)
    # then
    assert response == {"state": state}
    out = capsys.readouterr().out
    assert out.startswith("WINDOW CLOSED ") and '"revenue": "42.00"' in out
