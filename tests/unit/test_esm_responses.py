"""Partial batch responses and on-failure destination messages (esm-semantics §1.5, §3.1).

Scenario ids follow LocalStack's AWS-validated
``test_dynamodb_report_batch_item_failure_scenarios`` / ``..._success_scenarios``.
"""

from __future__ import annotations

import json
from datetime import datetime
from typing import Any

import pytest

from localaws.esm.responses import (
    RECORD_AGE_EXCEEDED,
    RETRY_ATTEMPTS_EXHAUSTED,
    BatchOutcome,
    failure_record,
    parse_batch_item_failures,
)

SEQS = ["900000000000000000001", "900000000000000000002", "1000000000000000000003"]


def epoch(text: str) -> float:
    return datetime.fromisoformat(text.replace("Z", "+00:00")).timestamp()


def as_payload(response: Any) -> bytes:
    return json.dumps(response).encode()


@pytest.mark.parametrize(
    "payload",
    [
        pytest.param(as_payload([]), id="empty_list_success"),
        pytest.param(as_payload(None), id="null_success"),
        pytest.param(as_payload({}), id="empty_dict_success"),
        pytest.param(as_payload({"batchItemFailures": []}),
                     id="empty_batch_item_failures_success"),
        pytest.param(as_payload({"batchItemFailures": None}),
                     id="null_batch_item_failures_success"),
        pytest.param(None, id="no_payload_success"),
        pytest.param(b"", id="empty_payload_success"),
        pytest.param(as_payload(""), id="empty_string_response_success"),
        pytest.param(as_payload({"statusCode": 200}), id="object_without_failures_key_success"),
    ],
)
def test_success_response(payload: bytes | None):
    # given ReportBatchItemFailures and a response that reports nothing
    # when
    outcome = parse_batch_item_failures(payload, SEQS, True)
    # then
    assert outcome.success is True
    assert outcome.failed_from is None
    assert outcome.partial is False


@pytest.mark.parametrize(
    "payload",
    [
        pytest.param(as_payload({"batchItemFailures": [{"itemIdentifier": 123}]}),
                     id="item_identifier_not_present_failure"),
        pytest.param(as_payload({"batchItemFailures": [{"itemIdentifier": "42"}]}),
                     id="item_identifier_not_in_batch_failure"),
        pytest.param(as_payload({"batchItemFailures": [{"itemIdentifier": ""}]}),
                     id="empty_string_item_identifier_failure"),
        pytest.param(as_payload({"batchItemFailures": [{"itemIdentifier": None}]}),
                     id="null_item_identifier_failure"),
        pytest.param(as_payload({"batchItemFailures": [{"foo": 123}]}), id="unknown_key_failure"),
        pytest.param(as_payload({"batchItemFailures": [{"foo": None}]}), id="null_key_failure"),
        pytest.param(as_payload({"batchItemFailures": [
            {"itemIdentifier": SEQS[1]}, {"itemIdentifier": ""}]}),
            id="one_bad_entry_among_valid_failure"),
        pytest.param(as_payload({"batchItemFailures": [None]}), id="null_entry_failure"),
        pytest.param(as_payload({"batchItemFailures": SEQS[1]}), id="failures_not_a_list_failure"),
        pytest.param(b"not json", id="invalid_json_failure"),
        pytest.param(as_payload("done"), id="string_response_failure"),
        pytest.param(as_payload([SEQS[1]]), id="non_empty_list_response_failure"),
    ],
)
def test_whole_batch_failure_response(payload: bytes):
    # given ReportBatchItemFailures and a malformed partial batch response
    # when
    outcome = parse_batch_item_failures(payload, SEQS, True)
    # then the whole batch is retried from its first record
    assert outcome.success is False
    assert outcome.failed_from == SEQS[0]
    assert outcome.partial is False
    assert outcome.reason.startswith("whole batch failed")


def test_partial_failure_retries_from_the_reported_record():
    # given
    payload = as_payload({"batchItemFailures": [{"itemIdentifier": SEQS[1]}]})
    # when
    outcome = parse_batch_item_failures(payload, SEQS, True)
    # then
    assert outcome == BatchOutcome(
        False, SEQS[1], f"1 record(s) reported failed; retrying from {SEQS[1]}", True
    )


def test_partial_failure_uses_the_lowest_sequence_number_as_integers():
    # given identifiers whose string order differs from their numeric order
    failures = [{"itemIdentifier": SEQS[2]}, {"itemIdentifier": SEQS[1]}]
    payload = as_payload({"batchItemFailures": failures})
    # when
    outcome = parse_batch_item_failures(payload, SEQS, True)
    # then
    assert outcome.failed_from == SEQS[1]


@pytest.mark.parametrize(
    "payload",
    [
        pytest.param(as_payload({"batchItemFailures": [{"itemIdentifier": SEQS[1]}]}),
                     id="valid_partial_response"),
        pytest.param(as_payload({"batchItemFailures": [{"itemIdentifier": ""}]}),
                     id="malformed_partial_response"),
        pytest.param(b"not json", id="invalid_json"),
    ],
)
def test_response_is_not_read_when_reporting_is_off(payload: bytes):
    # given a mapping without ReportBatchItemFailures
    # when
    outcome = parse_batch_item_failures(payload, SEQS, False)
    # then
    assert outcome.success is True
    assert outcome.failed_from is None


# -- failure_record ----------------------------------------------------------------------

DOC_STREAM = "arn:aws:dynamodb:us-east-2:123456789012:table/mytable/stream/2019-11-14T00:04:06.388"
DOC_FUNCTION = "arn:aws:lambda:us-east-2:123456789012:function:myfunction"
DOC_SHARD = "shardId-00000001573689847184-864758bb"


def stream_record(seq: str, created: float) -> dict[str, Any]:
    return {
        "eventName": "INSERT",
        "dynamodb": {"ApproximateCreationDateTime": created, "SequenceNumber": seq},
    }


def build(condition: str = RETRY_ATTEMPTS_EXHAUSTED, **overrides: Any) -> dict[str, Any]:
    arguments: dict[str, Any] = {
        "condition": condition,
        "request_id": "316aa6d0-8154-xmpl-9af7-85d5f4a6bc81",
        "function_arn": DOC_FUNCTION,
        "invoke_count": 1,
        "response": {"statusCode": 200, "executedVersion": "$LATEST", "functionError": "Unhandled"},
        "shard_id": DOC_SHARD,
        "stream_arn": DOC_STREAM,
        "records": [stream_record("800000000003126276362", epoch("2019-11-14T00:13:19Z"))],
        "now": epoch("2019-11-14T00:13:49.717Z"),
    }
    arguments.update(overrides)
    return failure_record(**arguments)


def test_failure_record_matches_the_documented_example():
    # given the values of the Lambda Developer Guide's example invocation record
    # when
    message = build()
    # then
    assert json.dumps(message) == json.dumps({
        "requestContext": {
            "requestId": "316aa6d0-8154-xmpl-9af7-85d5f4a6bc81",
            "functionArn": DOC_FUNCTION,
            "condition": "RetryAttemptsExhausted",
            "approximateInvokeCount": 1,
        },
        "responseContext": {
            "statusCode": 200,
            "executedVersion": "$LATEST",
            "functionError": "Unhandled",
        },
        "version": "1.0",
        "timestamp": "2019-11-14T00:13:49.717Z",
        "DDBStreamBatchInfo": {
            "shardId": DOC_SHARD,
            "startSequenceNumber": "800000000003126276362",
            "endSequenceNumber": "800000000003126276362",
            "approximateArrivalOfFirstRecord": "2019-11-14T00:13:19Z",
            "approximateArrivalOfLastRecord": "2019-11-14T00:13:19Z",
            "batchSize": 1,
            "streamArn": DOC_STREAM,
        },
    })


def test_partial_failure_record_has_null_function_error():
    # given the last response was a partial batch response (no function error)
    response = {"statusCode": 200, "executedVersion": "$LATEST", "functionError": None}
    # when
    message = build(response=response, invoke_count=4)
    # then the key is present with JSON null
    assert '"functionError": null' in json.dumps(message)
    assert message["requestContext"]["approximateInvokeCount"] == 4


def test_record_age_exceeded_has_no_response_context():
    # given
    # when
    message = build(condition=RECORD_AGE_EXCEEDED)
    # then
    assert list(message) == ["requestContext", "version", "timestamp", "DDBStreamBatchInfo"]
    assert message["requestContext"]["condition"] == "RecordAgeExceeded"


def test_failure_record_describes_the_first_and_last_record_of_the_batch():
    # given three records, the last one created a fraction of a second past 00:13:21
    records = [
        stream_record("800000000003126276362", epoch("2019-11-14T00:13:19Z")),
        stream_record("800000000003126276363", epoch("2019-11-14T00:13:20Z")),
        stream_record("800000000003126276364", epoch("2019-11-14T00:13:21Z") + 0.9),
    ]
    # when
    info = build(records=records)["DDBStreamBatchInfo"]
    # then
    assert info["startSequenceNumber"] == "800000000003126276362"
    assert info["endSequenceNumber"] == "800000000003126276364"
    assert info["approximateArrivalOfFirstRecord"] == "2019-11-14T00:13:19Z"
    assert info["approximateArrivalOfLastRecord"] == "2019-11-14T00:13:21Z"
    assert info["batchSize"] == 3


@pytest.mark.parametrize(
    ("now", "expected"),
    [
        pytest.param(epoch("2019-11-14T00:13:49Z"), "2019-11-14T00:13:49.000Z", id="whole_second"),
        pytest.param(1573690429.717, "2019-11-14T00:13:49.717Z", id="float_millis"),
        pytest.param(1573690429.9999, "2019-11-14T00:13:49.999Z", id="truncated_not_rounded"),
    ],
)
def test_failure_timestamp_has_milliseconds_and_z(now: float, expected: str):
    # given / when
    message = build(now=now)
    # then
    assert message["timestamp"] == expected


@pytest.mark.parametrize(
    ("overrides", "match"),
    [
        pytest.param({"condition": "Throttled"}, "unknown failure condition",
                     id="unknown_condition"),
        pytest.param({"records": []}, "at least one stream record", id="no_records"),
    ],
)
def test_failure_record_refuses_bad_arguments(overrides: dict[str, Any], match: str):
    # given / when / then
    with pytest.raises(ValueError, match=match):
        build(**overrides)
