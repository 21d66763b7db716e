"""Unit tests for the stream processor: the teaching version (``lambda_src/stream_processor``).

No endpoint, no network: the handler is called with the sample events of
``tests/events`` and its log lines are read from ``caplog``.
"""

from __future__ import annotations

import json
from datetime import datetime, timedelta

import pytest
from aws_lambda_powertools.utilities.batch.exceptions import (
    BatchProcessingError,
    UnexpectedBatchTypeError,
)

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


# --- the production variant (lambda_src/stream_processor_production) --------------------


@pytest.fixture
def production(load_lambda_module):
    """``lambda_src/stream_processor_production/app.py``, freshly imported."""
    return load_lambda_module("stream_processor_production", "app")


def batch_of(make_record, *fail_modes: str | None) -> dict:
    """One INSERT per entry, sequence numbers 1, 2, …; ``fail_mode`` set where given."""
    records = []
    for number, mode in enumerate(fail_modes, start=1):
        key = {"PK": {"S": f"PRODUCT#p{number}"}, "SK": {"S": "DETAILS"}}
        image = {**key, "price": {"N": "10"}}
        if mode is not None:
            image["fail_mode"] = {"S": mode}
        records.append(
            make_record("INSERT", key, new_image=image, sequence_number=str(number))
        )
    return {"Records": records}


def test_production_answers_an_empty_partial_response_on_success(production, load_event):
    # given
    event = load_event("dynamodb_update")

    # when
    response = production.lambda_handler(event, None)

    # then
    assert response == {"batchItemFailures": []}


def test_production_ignores_the_old_environment_switch(production, load_event, monkeypatch):
    # given: the variable that used to mirror the trigger's FunctionResponseTypes
    monkeypatch.setenv("REPORT_BATCH_ITEM_FAILURES", "false")
    event = load_event("ecommerce_poison_batch")

    # when
    response = production.lambda_handler(event, None)

    # then: the answer does not depend on it
    assert response == {"batchItemFailures": [{"itemIdentifier": "400000000000000000000000402"}]}


def test_report_fails_only_that_record_and_the_later_ones_still_run(
    production, make_record, caplog
):
    # given
    event = batch_of(make_record, None, "report", None, None)

    # when
    response = production.lambda_handler(event, None)

    # then: as AWS's sample and Powertools do, only the failing record is reported
    assert response == {"batchItemFailures": [{"itemIdentifier": "2"}]}
    processed = [m for m in caplog.messages if m.startswith("Processing INSERT for item")]
    assert len(processed) == 4
    assert "Successfully processed 3 records" in caplog.messages


def test_each_failing_record_is_reported(production, make_record):
    # given
    event = batch_of(make_record, "report", None, "report")

    # when
    response = production.lambda_handler(event, None)

    # then: Lambda checkpoints at the lowest one, "1"
    assert response == {"batchItemFailures": [{"itemIdentifier": "1"}, {"itemIdentifier": "3"}]}


def test_unknown_fail_mode_is_bad_data_and_fails_that_record(production, make_record, caplog):
    # given
    event = batch_of(make_record, None, "explode")

    # when
    response = production.lambda_handler(event, None)

    # then
    assert response == {"batchItemFailures": [{"itemIdentifier": "2"}]}
    assert any("FailModeError" in m and "explode" in m for m in caplog.messages)


def test_when_every_record_fails_the_invocation_fails(production, make_record):
    # given
    event = batch_of(make_record, "report", "report")

    # when / then: Powertools raises, so Lambda retries the whole batch
    with pytest.raises(BatchProcessingError, match="All records failed"):
        production.lambda_handler(event, None)


def test_raise_fails_the_whole_invocation_after_logging_the_batch(
    production, make_record, caplog
):
    # given
    event = batch_of(make_record, None, "raise", None)

    # when
    with pytest.raises(production.InjectedFailureError, match="fail_mode=raise"):
        production.lambda_handler(event, None)

    # then: every delivered record was logged, and nothing claims success
    assert len([m for m in caplog.messages if m.startswith("Processing INSERT for")]) == 3
    assert not [m for m in caplog.messages if m.startswith("Successfully processed")]


def test_timeout_sleeps_past_the_remaining_time(production, make_record, lambda_context, sleeps):
    # given
    lambda_context.remaining_millis = 3_000
    event = batch_of(make_record, "timeout")

    # when
    with pytest.raises(production.InjectedTimeoutError):
        production.lambda_handler(event, lambda_context)

    # then
    assert sleeps == [3.0 + production.TIMEOUT_MARGIN_SECONDS]


def test_timeout_sleep_is_capped(production, make_record, lambda_context, sleeps):
    # given
    lambda_context.remaining_millis = 5_000_000
    event = batch_of(make_record, "timeout")

    # when
    with pytest.raises(production.InjectedTimeoutError):
        production.lambda_handler(event, lambda_context)

    # then
    assert sleeps == [production.TIMEOUT_SLEEP_CAP_SECONDS]


def test_timeout_without_a_context_fails_at_once(production, make_record, sleeps):
    # given
    event = batch_of(make_record, "timeout")

    # when / then
    with pytest.raises(production.InjectedTimeoutError, match="no Lambda context"):
        production.lambda_handler(event, None)
    assert sleeps == []


def test_remove_reads_the_switch_from_the_old_image(production, make_record):
    # given
    old = {**PRODUCT_KEY, "fail_mode": {"S": "report"}}
    ok = make_record("REMOVE", {"PK": {"S": "USER#u1"}}, old_image={"PK": {"S": "USER#u1"}},
                     sequence_number="1")
    failing = make_record("REMOVE", PRODUCT_KEY, old_image=old, sequence_number="2")

    # when
    response = production.lambda_handler({"Records": [ok, failing]}, None)

    # then
    assert response == {"batchItemFailures": [{"itemIdentifier": "2"}]}


def test_a_failure_does_not_leak_into_the_next_invocation(production, make_record):
    # given
    production.lambda_handler(batch_of(make_record, None, "report"), None)

    # when
    response = production.lambda_handler(batch_of(make_record, None, None), None)

    # then
    assert response == {"batchItemFailures": []}


def test_production_refuses_an_event_that_is_not_a_stream_event(production):
    # given
    event = {"key1": "value1"}

    # when / then
    with pytest.raises(UnexpectedBatchTypeError):
        production.lambda_handler(event, None)


@pytest.fixture
def allocations(production, monkeypatch) -> list[int]:
    """The megabytes ``fail_mode=memory`` asks for, recorded instead of allocated."""
    asked: list[int] = []

    def allocate(megabytes: int) -> bytes:
        asked.append(megabytes)
        return b""

    monkeypatch.setattr(production, "_allocate", allocate)
    return asked


def test_memory_is_a_recognised_fail_mode(production):
    # given / when / then
    assert "memory" in production.FAIL_MODES


def test_memory_allocates_in_chunks_past_the_memory_size(
    production, make_record, lambda_context, allocations, monkeypatch
):
    # given
    monkeypatch.setenv("AWS_LAMBDA_FUNCTION_MEMORY_SIZE", "128")
    event = batch_of(make_record, None, "memory")

    # when: nothing kills this process, so the function gives up past the limit
    with pytest.raises(production.InjectedMemoryError, match="still running"):
        production.lambda_handler(event, lambda_context)

    # then
    assert set(allocations) == {production.MEMORY_CHUNK_MB}
    assert sum(allocations) >= 128 + production.MEMORY_MARGIN_MB
    assert sum(allocations) < 128 + production.MEMORY_MARGIN_MB + production.MEMORY_CHUNK_MB


def test_memory_without_a_memory_size_fails_at_once(
    production, make_record, allocations, monkeypatch
):
    # given: not in Lambda
    monkeypatch.delenv("AWS_LAMBDA_FUNCTION_MEMORY_SIZE", raising=False)
    event = batch_of(make_record, "memory")

    # when / then
    with pytest.raises(production.InjectedMemoryError, match="AWS_LAMBDA_FUNCTION_MEMORY_SIZE"):
        production.lambda_handler(event, None)
    assert allocations == []


def test_an_allocated_chunk_is_written_so_it_counts_in_the_resident_set(production):
    # given / when
    chunk = production._allocate(1)

    # then
    assert len(chunk) == 1024 * 1024
    assert chunk.count(0) == 0
