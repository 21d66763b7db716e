"""Unit tests for the stream processor: the teaching version (``lambda_src/stream_processor``).

No endpoint, no network: the handler is called with the sample events of
``tests/events`` and its log lines are read from ``caplog``.
"""

from __future__ import annotations

import json
from datetime import datetime, timedelta

import pytest

PRODUCT_KEY = {"PK": {"S": "PRODUCT#p1"}, "SK": {"S": "DETAILS"}}


def product(price: str = "10", status: str = "active") -> dict:
    return {**PRODUCT_KEY, "price": {"N": price}, "status": {"S": status}}


def body_of(response: dict) -> dict:
    return json.loads(response["body"])


def test_console_sample_event_returns_the_200_body_with_the_count(
    stream_processor, load_event, lambda_context, caplog
):
    # given
    event = load_event("dynamodb_update")

    # when
    response = stream_processor.lambda_handler(event, lambda_context)

    # then
    assert response["statusCode"] == 200
    assert body_of(response)["processed_count"] == 3
    assert body_of(response)["message"] == "Successfully processed 3 records"
    assert "Processing INSERT for item: Id=101" in caplog.messages


def test_body_timestamp_is_utc(stream_processor, load_event):
    # given
    event = load_event("dynamodb_update")

    # when
    body = body_of(stream_processor.lambda_handler(event, None))

    # then
    assert datetime.fromisoformat(body["timestamp"]).utcoffset() == timedelta(0)


def test_test_item_logs_the_lines_page_4_2_tells_learners_to_look_for(
    stream_processor, load_event, lambda_context, caplog
):
    # given
    event = load_event("lambda_test_item")

    # when
    stream_processor.lambda_handler(event, lambda_context)

    # then
    assert caplog.messages == [
        "Processing INSERT for item: LAMBDA#test-processing#EVENT#001",
        "Processing INSERT event",
        "Successfully processed 1 records",
    ]


def test_insert_recognises_users_products_and_orders_by_key(
    stream_processor, load_event, caplog
):
    # given
    event = load_event("ecommerce_insert")

    # when
    stream_processor.lambda_handler(event, None)

    # then: the order lives under its user (USER#…/ORDER#…) and is still an order
    assert [m for m in caplog.messages if m.startswith("New ")] == [
        "New user: a real shop would send a welcome email",
        "New product: a real shop would add it to the search index",
        "New order: a real shop would start fulfilment",
    ]


def test_modify_logs_status_and_price_changes(stream_processor, load_event, caplog):
    # given
    event = load_event("ecommerce_modify")

    # when
    stream_processor.lambda_handler(event, None)

    # then
    assert "Status changed from pending to processing" in caplog.messages
    assert "Price changed from 299 to 279.99" in caplog.messages


def test_modify_without_changes_logs_no_change(stream_processor, make_record, caplog):
    # given
    record = make_record("MODIFY", PRODUCT_KEY, new_image=product(), old_image=product())

    # when
    stream_processor.lambda_handler({"Records": [record]}, None)

    # then
    assert not [m for m in caplog.messages if "changed from" in m]


def test_modify_reports_an_attribute_that_appears(stream_processor, make_record, caplog):
    # given
    old = {**PRODUCT_KEY, "price": {"N": "10"}}
    record = make_record("MODIFY", PRODUCT_KEY, new_image=product(), old_image=old)

    # when
    stream_processor.lambda_handler({"Records": [record]}, None)

    # then
    assert "Status changed from None to active" in caplog.messages


def test_modify_on_a_new_image_stream_says_what_view_type_it_needs(
    stream_processor, make_record, caplog
):
    # given
    record = make_record("MODIFY", PRODUCT_KEY, new_image=product(), view_type="NEW_IMAGE")

    # when
    response = stream_processor.lambda_handler({"Records": [record]}, None)

    # then
    assert body_of(response)["processed_count"] == 1
    assert any("NEW_AND_OLD_IMAGES" in m for m in caplog.messages)


def test_remove_recognises_the_deleted_entity(stream_processor, load_event, caplog):
    # given
    event = load_event("ecommerce_remove")

    # when
    stream_processor.lambda_handler(event, None)

    # then
    assert "Product deleted: a real shop would drop it from the search index" in caplog.messages
    assert "User deleted: a real shop would clean up the user's data" in caplog.messages


def test_unknown_event_name_raises_so_lambda_retries(stream_processor, make_record):
    # given
    record = make_record("INSERT", PRODUCT_KEY, new_image=product())
    record["eventName"] = "UPSERT"

    # when / then
    with pytest.raises(ValueError, match="UPSERT"):
        stream_processor.lambda_handler({"Records": [record]}, None)


def test_an_event_that_is_not_a_stream_event_raises(stream_processor):
    # given
    event = {"key1": "value1"}  # the console's default "hello-world" test event

    # when / then
    with pytest.raises(KeyError, match="Records"):
        stream_processor.lambda_handler(event, None)


def test_a_failing_record_stops_the_batch_before_the_summary_line(
    stream_processor, make_record, caplog
):
    # given
    good = make_record("INSERT", PRODUCT_KEY, new_image=product(), sequence_number="1")
    bad = make_record("INSERT", PRODUCT_KEY, new_image=product(), sequence_number="2")
    del bad["dynamodb"]["Keys"]

    # when
    with pytest.raises(KeyError):
        stream_processor.lambda_handler({"Records": [good, bad]}, None)

    # then: nothing claims success, so the retried batch is not counted twice
    assert not [m for m in caplog.messages if m.startswith("Successfully processed")]
