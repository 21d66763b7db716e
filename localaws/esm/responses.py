"""What a DynamoDB stream batch's invocation means, and what gets sent when it is given up.

Two pure pieces of the event source mapping's error handling:

* :func:`parse_batch_item_failures` reads a successful invocation's response the
  way Lambda does when ``FunctionResponseTypes`` is ``["ReportBatchItemFailures"]``:
  a complete success, a partial failure (retry from the lowest failed sequence
  number) or a whole-batch failure.
* :func:`failure_record` builds the JSON message that an on-failure destination
  (SQS queue or SNS topic) receives when a batch is discarded.

A function error (``FunctionError`` set on the invocation) is the caller's to
detect: it always fails the whole batch, whatever the payload says.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

RETRY_ATTEMPTS_EXHAUSTED = "RetryAttemptsExhausted"
"""Condition when the retries are used up (``1 + MaximumRetryAttempts`` invocations)."""
RECORD_AGE_EXCEEDED = "RecordAgeExceeded"
"""Condition when records got older than ``MaximumRecordAgeInSeconds``."""
CONDITIONS = (RETRY_ATTEMPTS_EXHAUSTED, RECORD_AGE_EXCEEDED)

_EMPTY_RESPONSES: tuple[Any, ...] = (None, [], {}, "")


@dataclass(frozen=True)
class BatchOutcome:
    """How Lambda reads one batch's response.

    Attributes
    ----------
    success : bool
        ``True`` when the whole batch is done and the checkpoint moves past it.
    failed_from : str or None
        When ``success`` is false: the sequence number to retry from. For a valid
        partial failure it is the lowest reported ``itemIdentifier`` (compared as
        integers); for a whole-batch failure it is the batch's first record.
    reason : str
        Why, in words (for logs and notebooks).
    partial : bool
        ``True`` for a valid partial batch response (``failed_from`` came from the
        function), ``False`` for success or a whole-batch failure.
    """

    success: bool
    failed_from: str | None
    reason: str
    partial: bool = False


def parse_batch_item_failures(
    payload: bytes | None, sequence_numbers: list[str], report_enabled: bool
) -> BatchOutcome:
    """Interpret the response of an invocation that returned without a function error.

    Parameters
    ----------
    payload : bytes or None
        The invocation's response payload (JSON), ``None`` or ``b""`` when empty.
    sequence_numbers : list of str
        The ``dynamodb.SequenceNumber`` of every record of the batch, in order.
    report_enabled : bool
        Whether the mapping's ``FunctionResponseTypes`` holds
        ``"ReportBatchItemFailures"``. When false the payload is not read.

    Returns
    -------
    BatchOutcome
        Success for an empty or null response, ``[]``, ``{}``, or a
        ``batchItemFailures`` that is missing, null or empty. A partial failure,
        from the lowest failed sequence number, when every entry has an
        ``itemIdentifier`` that is one of the batch's sequence numbers. A
        whole-batch failure otherwise: an empty, null, unknown or non-string
        ``itemIdentifier``, an entry without that key, or a response that is not
        JSON or not an object.

    Examples
    --------
    >>> parse_batch_item_failures(b'{"batchItemFailures": []}', ["1", "2"], True).success
    True
    >>> body = b'{"batchItemFailures": [{"itemIdentifier": "2"}]}'
    >>> parse_batch_item_failures(body, ["1", "2"], True).failed_from
    '2'
    """
    if not report_enabled:
        return BatchOutcome(True, None, "ReportBatchItemFailures is off: the response is not read")
    if payload is None or not payload.strip():
        return BatchOutcome(True, None, "empty response")
    try:
        response = json.loads(payload)
    except ValueError:
        return _whole_batch(sequence_numbers, "the response is not valid JSON")
    if _is_empty(response):
        return BatchOutcome(True, None, f"empty response ({json.dumps(response)})")
    if not isinstance(response, dict):
        return _whole_batch(sequence_numbers, "the response is not a JSON object")
    failures = response.get("batchItemFailures")
    if failures is None or failures == []:
        return BatchOutcome(True, None, "no batchItemFailures reported")
    if not isinstance(failures, list):
        return _whole_batch(sequence_numbers, "batchItemFailures is not an array")
    in_batch = set(sequence_numbers)
    failed: list[str] = []
    for index, entry in enumerate(failures):
        where = f"batchItemFailures[{index}]"
        if not isinstance(entry, dict) or "itemIdentifier" not in entry:
            return _whole_batch(sequence_numbers, f"{where} has no itemIdentifier")
        identifier = entry["itemIdentifier"]
        if identifier is None or identifier == "":
            return _whole_batch(sequence_numbers, f"{where}.itemIdentifier is empty or null")
        if not isinstance(identifier, str) or identifier not in in_batch:
            return _whole_batch(
                sequence_numbers,
                f"{where}.itemIdentifier {json.dumps(identifier)} is not a sequence number "
                "of this batch",
            )
        failed.append(identifier)
    lowest = min(failed, key=int)
    return BatchOutcome(
        False, lowest, f"{len(failed)} record(s) reported failed; retrying from {lowest}", True
    )


def _is_empty(response: Any) -> bool:
    return any(type(response) is type(empty) and response == empty for empty in _EMPTY_RESPONSES)


def _whole_batch(sequence_numbers: list[str], reason: str) -> BatchOutcome:
    first = sequence_numbers[0] if sequence_numbers else None
    return BatchOutcome(False, first, f"whole batch failed: {reason}")


def failure_record(
    *,
    condition: str,
    request_id: str,
    function_arn: str,
    invoke_count: int,
    response: dict[str, Any] | None,
    shard_id: str,
    stream_arn: str,
    records: list[dict[str, Any]],
    now: float,
) -> dict[str, Any]:
    """Build the message an on-failure destination receives for a discarded batch.

    Parameters
    ----------
    condition : str
        :data:`RETRY_ATTEMPTS_EXHAUSTED` or :data:`RECORD_AGE_EXCEEDED`.
    request_id : str
        Request id of the last invocation.
    function_arn : str
        The mapping's ``FunctionArn``.
    invoke_count : int
        Invocations made for these records (``approximateInvokeCount``).
    response : dict or None
        The last invocation's ``statusCode``, ``executedVersion`` and
        ``functionError`` (``None`` for a partial batch response; sent as JSON
        null). Ignored for :data:`RECORD_AGE_EXCEEDED`, whose message has no
        ``responseContext``; ``None`` also leaves ``responseContext`` out.
    shard_id : str
        The shard the records came from.
    stream_arn : str
        The stream's ARN.
    records : list of dict
        The discarded records, in order, as delivered to the function.
    now : float
        Epoch seconds of the failure (``timestamp``).

    Returns
    -------
    dict
        The message, keys in AWS's order; ``json.dumps`` it for SQS or SNS.

    Raises
    ------
    ValueError
        Unknown ``condition`` or no ``records``.
    """
    if condition not in CONDITIONS:
        raise ValueError(f"unknown failure condition {condition!r}; expected one of {CONDITIONS}")
    if not records:
        raise ValueError("a failure record needs at least one stream record")
    message: dict[str, Any] = {
        "requestContext": {
            "requestId": request_id,
            "functionArn": function_arn,
            "condition": condition,
            "approximateInvokeCount": invoke_count,
        }
    }
    if response is not None and condition != RECORD_AGE_EXCEEDED:
        message["responseContext"] = {
            "statusCode": response.get("statusCode", 200),
            "executedVersion": response.get("executedVersion", "$LATEST"),
            "functionError": response.get("functionError"),
        }
    first, last = records[0]["dynamodb"], records[-1]["dynamodb"]
    message["version"] = "1.0"
    message["timestamp"] = _iso_millis(now)
    message["DDBStreamBatchInfo"] = {
        "shardId": shard_id,
        "startSequenceNumber": first["SequenceNumber"],
        "endSequenceNumber": last["SequenceNumber"],
        "approximateArrivalOfFirstRecord": _iso_seconds(first["ApproximateCreationDateTime"]),
        "approximateArrivalOfLastRecord": _iso_seconds(last["ApproximateCreationDateTime"]),
        "batchSize": len(records),
        "streamArn": stream_arn,
    }
    return message


def _iso_millis(epoch: float) -> str:
    seconds, millis = divmod(math.floor(round(epoch * 1000, 3)), 1000)
    return datetime.fromtimestamp(seconds, UTC).strftime("%Y-%m-%dT%H:%M:%S.") + f"{millis:03d}Z"


def _iso_seconds(epoch: float) -> str:
    return datetime.fromtimestamp(math.floor(epoch), UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
