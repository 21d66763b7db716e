"""Unit tests for ``lambda_src/stream_processor/app.py`` (no endpoint, no network)."""

from __future__ import annotations

import json
import subprocess
import sys
from datetime import datetime, timedelta
from decimal import Decimal
from pathlib import Path

import pytest

REPO_ROOT = Path(__file__).resolve().parents[2]
APP_PATH = REPO_ROOT / "lambda_src" / "stream_processor" / "app.py"
TEST_ITEM_EVENT = REPO_ROOT / "tests" / "events" / "lambda_test_item.json"

PRODUCT_KEY = {"PK": {"S": "PRODUCT#p1"}, "SK": {"S": "DETAILS"}}


def product_image(price: str = "10", **extra: dict) -> dict:
    return {**PRODUCT_KEY, "name": {"S": "Widget"}, "price": {"N": price}, **extra}


def body_of(response: dict) -> dict:
    return json.loads(response["body"])


# --- the workshop's own scenarios ----------------------------------------------------


def test_console_sample_event_is_processed_and_returns_the_200_body(
    stream_processor, load_event, lambda_context, caplog
):
    # given
    event = load_event("dynamodb_update")

    # when
    response = stream_processor.lambda_handler(event, lambda_context)

    # then
    assert response["statusCode"] == 200
    body = body_of(response)
    assert body["processed_count"] == 3
    assert body["message"] == "Successfully processed 3 records"
    assert "Processing INSERT for item: Id=101" in caplog.messages
    assert "Processing REMOVE event" in caplog.messages
    assert "batchItemFailures" not in response


def test_timestamp_in_the_body_is_timezone_aware_utc(stream_processor, load_event):
    # given
    event = load_event("dynamodb_update")

    # when
    body = body_of(stream_processor.lambda_handler(event, None))

    # then
    assert datetime.fromisoformat(body["timestamp"]).utcoffset() == timedelta(0)


def test_test_item_logs_the_lines_the_workshop_tells_learners_to_find(
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


def test_insert_recognises_new_user_product_order_and_order_item(
    stream_processor, load_event, caplog
):
    # given
    event = load_event("ecommerce_insert")

    # when
    stream_processor.lambda_handler(event, None)

    # then
    messages = caplog.messages
    assert "Processing INSERT for item: USER#stream-user-001#PROFILE" in messages
    assert sum(m.startswith("New user stream-user-001") for m in messages) == 1
    assert any(m.startswith("New product stream-prod-001") for m in messages)
    assert any(m.startswith("New order stream-order-001") for m in messages)
    assert "Order stream-order-001 gained item stream-prod-001" in messages
    assert messages[-1] == "Successfully processed 4 records"


def test_order_stored_under_a_user_key_is_an_order_not_a_new_user(
    stream_processor, make_record, caplog
):
    # given: the seed's text search would call this a user (USER# in PK)
    keys = {"PK": {"S": "USER#u1"}, "SK": {"S": "ORDER#o1"}}
    event = {"Records": [make_record("INSERT", keys, new_image={**keys, "status": {"S": "new"}})]}

    # when
    stream_processor.lambda_handler(event, None)

    # then
    assert any(m.startswith("New order o1") for m in caplog.messages)
    assert not any(m.startswith("New user") for m in caplog.messages)


def test_entity_is_read_from_key_values_not_from_attribute_text(
    stream_processor, make_record, caplog
):
    # given: a product whose attributes mention USER# and ORDER#
    image = product_image(note={"S": "USER#someone asked about ORDER#o9"})
    event = {"Records": [make_record("INSERT", PRODUCT_KEY, new_image=image)]}

    # when
    stream_processor.lambda_handler(event, None)

    # then
    assert any(m.startswith("New product p1") for m in caplog.messages)
    assert not any(m.startswith(("New user", "New order")) for m in caplog.messages)


@pytest.mark.parametrize(
    ("pk", "sk", "entity"),
    [
        ("USER#u1", "PROFILE", "user"),
        ("USER#u1", "", "user"),
        ("USER#u1", "ORDER#o1", "order"),
        ("USER#u1", "ADDRESS#home", None),
        ("PRODUCT#p1", "DETAILS", "product"),
        ("PRODUCT#p1", "REVIEW#u1", None),
        ("ORDER#o1", "DETAILS", "order"),
        ("ORDER#o1", "ITEM#p1", "order item"),
        ("CATEGORY#books", "DETAILS", None),
        ("LAMBDA#test-processing", "EVENT#001", None),
    ],
)
def test_classify_item_names_the_single_table_entities(stream_processor, pk, sk, entity):
    # given / when
    result = stream_processor.classify_item(pk, sk)

    # then
    assert result == entity


def test_modify_logs_status_and_price_changes(stream_processor, load_event, caplog):
    # given
    event = load_event("ecommerce_modify")

    # when
    stream_processor.lambda_handler(event, None)

    # then
    assert "Processing MODIFY for item: USER#stream-user-001#ORDER#stream-order-001" in (
        caplog.messages
    )
    assert "Status changed from pending to processing" in caplog.messages
    assert "Price changed from 299 to 279.99" in caplog.messages
    assert "Processing MODIFY event" in caplog.messages


def test_modify_that_keeps_status_and_price_logs_no_change(stream_processor, make_record, caplog):
    # given: only the stock changes; 10 and 10.0 are the same number
    old = product_image("10", status={"S": "active"}, stock={"N": "5"})
    new = product_image("10.0", status={"S": "active"}, stock={"N": "4"})
    event = {"Records": [make_record("MODIFY", PRODUCT_KEY, new_image=new, old_image=old)]}

    # when
    stream_processor.lambda_handler(event, None)

    # then
    assert not any("changed from" in m for m in caplog.messages)


def test_modify_logs_an_attribute_that_appears(stream_processor, make_record, caplog):
    # given
    old = {**PRODUCT_KEY, "name": {"S": "Widget"}}
    new = {**old, "status": {"S": "active"}}
    event = {"Records": [make_record("MODIFY", PRODUCT_KEY, new_image=new, old_image=old)]}

    # when
    stream_processor.lambda_handler(event, None)

    # then
    assert "Status changed from (none) to active" in caplog.messages


def test_modify_on_a_new_image_stream_says_there_is_nothing_to_compare(
    stream_processor, load_event, caplog
):
    # given: NEW_IMAGE streams carry no OldImage
    event = load_event("new_image")

    # when
    response = stream_processor.lambda_handler(event, None)

    # then
    assert body_of(response)["processed_count"] == 3
    assert any("No old and new image to compare" in m for m in caplog.messages)
    assert "Processing MODIFY for item: request#4002" in caplog.messages


def test_remove_recognises_deleted_product_and_user(stream_processor, load_event, caplog):
    # given
    event = load_event("ecommerce_remove")

    # when
    stream_processor.lambda_handler(event, None)

    # then
    assert "Processing REMOVE for item: PRODUCT#stream-prod-001#DETAILS" in caplog.messages
    assert caplog.messages.count("Processing REMOVE event") == 2
    assert any(m.startswith("Product stream-prod-001 deleted") for m in caplog.messages)
    assert any(m.startswith("User stream-user-001 deleted") for m in caplog.messages)


def test_keys_only_records_are_processed_from_their_keys(stream_processor, load_event, caplog):
    # given
    event = load_event("keys_only")

    # when
    response = stream_processor.lambda_handler(event, None)

    # then
    assert body_of(response)["processed_count"] == 3
    assert "Processing REMOVE for item: request#4003" in caplog.messages


# --- conversion of images ------------------------------------------------------------


def test_images_become_python_values_with_decimals_and_bytes(stream_processor, make_record):
    # given
    big = "12345678901234567890123456789012345678"
    image = {
        **PRODUCT_KEY,
        "price": {"N": "279.99"},
        "big": {"N": big},
        "tiny": {"N": "-0.000001"},
        "ratings": {"NS": ["4.5", "3"]},
        "thumbnail": {"B": "Zm9vYmFy"},
        "chunks": {"BS": ["AAE=", "/w=="]},
        "tags": {"SS": ["a", "b"]},
        "specs": {"M": {"weight": {"N": "1.25"}, "raw": {"B": "AA=="}}},
        "history": {"L": [{"N": "1"}, {"S": "x"}, {"NULL": True}, {"BOOL": False}]},
    }
    raw = make_record("INSERT", PRODUCT_KEY, new_image=image)

    # when
    record = stream_processor.StreamRecord.from_event(raw)

    # then
    item = record.new_image
    assert item["price"] == Decimal("279.99") and type(item["price"]) is Decimal
    assert str(item["big"]) == big
    assert str(item["tiny"]) == "-0.000001"
    assert item["ratings"] == {Decimal("4.5"), Decimal("3")}
    assert item["thumbnail"] == b"foobar" and type(item["thumbnail"]) is bytes
    assert item["chunks"] == {b"\x00\x01", b"\xff"}
    assert item["tags"] == {"a", "b"}
    assert item["specs"] == {"weight": Decimal("1.25"), "raw": b"\x00"}
    assert item["history"] == [Decimal("1"), "x", None, False]
    assert record.keys == {"PK": "PRODUCT#p1", "SK": "DETAILS"}
    assert record.sequence_number == "500000000000000000001"


def test_binary_that_is_not_base64_is_an_event_format_error(stream_processor, make_record):
    # given
    raw = make_record("INSERT", PRODUCT_KEY, new_image=product_image(blob={"B": "not base64!"}))

    # when / then
    with pytest.raises(stream_processor.EventFormatError, match="not valid base64"):
        stream_processor.StreamRecord.from_event(raw)


def test_item_label_uses_pk_and_sk_or_names_other_keys(stream_processor):
    # given / when / then
    assert stream_processor.item_label({"PK": "USER#u1", "SK": "PROFILE"}) == "USER#u1#PROFILE"
    assert stream_processor.item_label({"PK": "request#1"}) == "request#1"
    assert stream_processor.item_label({"Id": Decimal("101")}) == "Id=101"


# --- errors and partial batch responses ------------------------------------------------


def poison_batch(make_record, mode: str) -> dict:
    records = []
    for number, extra in ((1, {}), (2, {"fail_mode": {"S": mode}}), (3, {})):
        keys = {"PK": {"S": f"PRODUCT#batch-{number:03d}"}, "SK": {"S": "DETAILS"}}
        records.append(
            make_record(
                "INSERT",
                keys,
                new_image={**keys, "price": {"N": "1"}, **extra},
                sequence_number=f"60000000000000000000{number}",
            )
        )
    return {"Records": records}


def test_poison_record_is_reported_with_every_later_record_in_partial_mode(
    stream_processor, load_event, monkeypatch, caplog, failed_sequence_numbers
):
    # given
    monkeypatch.setenv("REPORT_BATCH_ITEM_FAILURES", "true")
    event = load_event("ecommerce_poison_batch")

    # when
    response = stream_processor.lambda_handler(event, None)

    # then
    assert failed_sequence_numbers(response) == [
        "400000000000000000000000402",
        "400000000000000000000000403",
    ]
    assert body_of(response)["processed_count"] == 1
    assert "Successfully processed 1 records" in caplog.messages
    assert "Processing INSERT for item: PRODUCT#batch-003#DETAILS" not in caplog.messages


def test_partial_mode_without_failures_returns_an_empty_failure_list(
    stream_processor, load_event, monkeypatch
):
    # given
    monkeypatch.setenv("REPORT_BATCH_ITEM_FAILURES", "TRUE")
    event = load_event("ecommerce_insert")

    # when
    response = stream_processor.lambda_handler(event, None)

    # then
    assert response["batchItemFailures"] == []
    assert response["statusCode"] == 200


def test_poison_record_raises_without_partial_mode(stream_processor, make_record, caplog):
    # given
    event = poison_batch(make_record, "report")

    # when / then
    with pytest.raises(stream_processor.RecordFailedError, match="fail_mode=report"):
        stream_processor.lambda_handler(event, None)
    assert not any(m.startswith("Successfully processed") for m in caplog.messages)
    assert any(
        m.startswith("Error processing record 600000000000000000002") for m in caplog.messages
    )


@pytest.mark.parametrize("partial", ["false", "true"])
def test_fail_mode_raise_fails_the_invocation_in_every_mode(
    stream_processor, make_record, monkeypatch, partial
):
    # given
    monkeypatch.setenv("REPORT_BATCH_ITEM_FAILURES", partial)
    event = poison_batch(make_record, "raise")

    # when / then
    with pytest.raises(stream_processor.InjectedFailureError, match="fail_mode=raise"):
        stream_processor.lambda_handler(event, None)


def test_unexpected_record_error_is_reported_in_partial_mode(
    stream_processor, make_record, monkeypatch, failed_sequence_numbers
):
    # given: an unknown fail_mode value is a data error, like any bad record
    monkeypatch.setenv("REPORT_BATCH_ITEM_FAILURES", "true")
    event = poison_batch(make_record, "explode")

    # when
    response = stream_processor.lambda_handler(event, None)

    # then
    assert failed_sequence_numbers(response) == ["600000000000000000002", "600000000000000000003"]


def test_unknown_fail_mode_raises_without_partial_mode(stream_processor, make_record):
    # given
    event = poison_batch(make_record, "explode")

    # when / then
    with pytest.raises(stream_processor.FailModeError, match="explode"):
        stream_processor.lambda_handler(event, None)


def test_fail_mode_of_a_remove_is_read_from_the_old_image(
    stream_processor, make_record, monkeypatch, failed_sequence_numbers
):
    # given
    monkeypatch.setenv("REPORT_BATCH_ITEM_FAILURES", "true")
    old = product_image(fail_mode={"S": "report"})
    event = {
        "Records": [make_record("REMOVE", PRODUCT_KEY, old_image=old, sequence_number="7" * 21)]
    }

    # when
    response = stream_processor.lambda_handler(event, None)

    # then
    assert failed_sequence_numbers(response) == ["7" * 21]


def test_fail_mode_timeout_sleeps_past_the_remaining_time(
    stream_processor, make_record, monkeypatch, lambda_context
):
    # given
    slept: list[float] = []
    monkeypatch.setattr(stream_processor, "_sleep", slept.append)
    lambda_context.remaining_millis = 1_500
    event = poison_batch(make_record, "timeout")

    # when / then
    with pytest.raises(stream_processor.InjectedTimeoutError, match="still running"):
        stream_processor.lambda_handler(event, lambda_context)
    assert slept == [1.5 + stream_processor.TIMEOUT_MARGIN_SECONDS]


def test_fail_mode_timeout_sleep_is_capped(
    stream_processor, make_record, monkeypatch, lambda_context
):
    # given
    slept: list[float] = []
    monkeypatch.setattr(stream_processor, "_sleep", slept.append)
    lambda_context.remaining_millis = 10_000_000
    event = poison_batch(make_record, "timeout")

    # when
    with pytest.raises(stream_processor.InjectedTimeoutError):
        stream_processor.lambda_handler(event, lambda_context)

    # then
    assert slept == [stream_processor.TIMEOUT_SLEEP_CAP_SECONDS]


def test_fail_mode_timeout_without_context_fails_at_once(
    stream_processor, make_record, monkeypatch
):
    # given
    slept: list[float] = []
    monkeypatch.setattr(stream_processor, "_sleep", slept.append)
    event = poison_batch(make_record, "timeout")

    # when / then
    with pytest.raises(stream_processor.InjectedTimeoutError, match="no timeout to exceed"):
        stream_processor.lambda_handler(event, None)
    assert slept == []


def test_partial_mode_without_sequence_numbers_fails_the_invocation(
    stream_processor, make_record, monkeypatch
):
    # given
    monkeypatch.setenv("REPORT_BATCH_ITEM_FAILURES", "true")
    event = poison_batch(make_record, "report")
    del event["Records"][2]["dynamodb"]["SequenceNumber"]

    # when / then
    with pytest.raises(stream_processor.EventFormatError, match="SequenceNumber"):
        stream_processor.lambda_handler(event, None)


def test_record_with_unknown_event_name_is_an_error(stream_processor, make_record):
    # given
    event = {"Records": [make_record("UPSERT", PRODUCT_KEY, new_image=product_image())]}

    # when / then
    with pytest.raises(stream_processor.EventFormatError, match="UPSERT"):
        stream_processor.lambda_handler(event, None)


def test_event_without_records_is_an_error(stream_processor):
    # given: the console's "hello-world" template
    event = {"key1": "value1"}

    # when / then
    with pytest.raises(stream_processor.EventFormatError, match="Records"):
        stream_processor.lambda_handler(event, None)


def test_unreadable_partial_mode_setting_is_a_configuration_error(
    stream_processor, load_event, monkeypatch
):
    # given
    monkeypatch.setenv("REPORT_BATCH_ITEM_FAILURES", "maybe")

    # when / then
    with pytest.raises(stream_processor.ConfigurationError, match="maybe"):
        stream_processor.lambda_handler(load_event("lambda_test_item"), None)


# --- logging -----------------------------------------------------------------------


def test_log_lines_show_when_no_logging_handler_is_installed(tmp_path):
    # given: a fresh interpreter where nothing configured logging
    script = (
        "import json, sys\n"
        f"sys.path.insert(0, {str(APP_PATH.parent)!r})\n"
        "import app\n"
        f"event = json.loads(open({str(TEST_ITEM_EVENT)!r}).read())\n"
        "app.lambda_handler(event, None)\n"
    )

    # when
    result = subprocess.run(
        [sys.executable, "-B", "-c", script],
        capture_output=True,
        text=True,
        timeout=60,
        cwd=tmp_path,
    )

    # then
    assert result.returncode == 0, result.stderr
    assert "Processing INSERT for item: LAMBDA#test-processing#EVENT#001" in result.stderr
    assert "Successfully processed 1 records" in result.stderr
