"""The replicator, production variant (handler ``ddbreplica_lambda.lambda_handler``).

It makes the same changes as the teaching version (``lambda_src/replicator``): INSERT
and MODIFY put the record's new image on the replica, REMOVE deletes the record's keys.
What it adds, written with Powertools for AWS Lambda:

* **Batched writes.** One ``BatchWriteItem`` per 25 writes instead of one call per
  record. Several changes to one item in a batch collapse to the last one (an INSERT
  then a REMOVE becomes one delete): the replica ends the same, and ``BatchWriteItem``
  refuses two requests on one key. ``UnprocessedItems`` are sent again with
  exponential backoff (0.05 s, doubling, at most 2 s), :data:`MAX_WRITE_ATTEMPTS` calls
  in all; what is still unprocessed then is reported as failed. The role needs
  ``dynamodb:BatchWriteItem``, which the lab's policy (PutItem, DeleteItem) does not
  grant.
* **Partial batch responses, always**: ``{"batchItemFailures": [...]}``, acted on only
  when the trigger has ``FunctionResponseTypes=["ReportBatchItemFailures"]``. Failed
  records are those whose record handler raised (Powertools' ``BatchProcessor``: every
  record is handled, each failing one is reported on its own) plus those whose write
  stayed unprocessed. Lambda checkpoints at the lowest reported sequence number and
  delivers everything after it again, in stream order; the writes are whole-item puts
  and deletes, so replaying them brings each replica item to its latest state in
  stream order. If every record fails, or a ``BatchWriteItem`` call is refused (a
  missing permission, a missing table), the invocation fails and Lambda retries it.
* **The failure switch** ``fail_mode`` on the new image (old image for REMOVE, when
  the stream has it): ``raise`` fails the invocation, ``report`` fails only that
  record, ``timeout`` sleeps past the function timeout. The attribute is otherwise
  ordinary data and is replicated with the item.

Environment: ``REPLICA_TABLE`` (default ``logfile_replica``).

Log lines (``helpers/loglines.py``)::

    Received 100 records
    Replicated 100 records into logfile_replica: 97 puts, 2 deletes
"""

import base64
import functools
import json
import logging
import os
import time
from dataclasses import dataclass, field

import boto3
from aws_lambda_powertools.utilities.batch import (
    BatchProcessor,
    EventType,
    process_partial_response,
)
from aws_lambda_powertools.utilities.batch.exceptions import BatchProcessingError
from aws_lambda_powertools.utilities.data_classes.dynamo_db_stream_event import DynamoDBRecord
from boto3.dynamodb.types import TypeDeserializer, TypeSerializer
from botocore.config import Config

logger = logging.getLogger()
logger.setLevel(logging.INFO)

#: BatchWriteItem takes at most 25 requests.
BATCH_WRITE_LIMIT = 25
#: Calls per chunk, the first one included, before unprocessed writes count as failed.
MAX_WRITE_ATTEMPTS = 6
BACKOFF_BASE_SECONDS = 0.05
BACKOFF_CAP_SECONDS = 2.0

FAIL_MODE_ATTRIBUTE = "fail_mode"
FAIL_MODES = ("raise", "report", "timeout")
TIMEOUT_MARGIN_SECONDS = 2.0
TIMEOUT_SLEEP_CAP_SECONDS = 900.0 + TIMEOUT_MARGIN_SECONDS

# Indirection so tests can replace the sleeps (backoff, fail_mode=timeout).
_sleep = time.sleep


class ReplicationError(Exception):
    """Base class of the errors this function raises on purpose."""


class StreamViewTypeError(ReplicationError):
    """The stream carries no new images (KEYS_ONLY, OLD_IMAGE): nothing to replicate."""


class RecordFormatError(ReplicationError):
    """A record this function cannot replicate (unknown eventName, bad fail_mode)."""


class RecordFailedError(ReplicationError):
    """``fail_mode=report``: this record fails, the others go on."""


class InjectedFailureError(ReplicationError):
    """``fail_mode=raise`` or ``timeout``: the whole invocation must fail."""


class LoggingBatchProcessor(BatchProcessor):
    """Powertools' processor, plus one log line per failed record."""

    def failure_handler(self, record, exception):
        _, error, _ = exception
        sequence_number = record.dynamodb.sequence_number if record is not None else None
        logger.error(f"Record {sequence_number} failed: {type(error).__name__}: {error}")
        return super().failure_handler(record, exception)


processor = LoggingBatchProcessor(event_type=EventType.DynamoDBStreams)


def raise_injected_failure():
    """Re-raise a ``fail_mode=raise``/``timeout`` failure the processor caught, if any."""
    for _, error, _ in processor.exceptions:
        if isinstance(error, InjectedFailureError):
            raise error


@functools.cache
def replica_client():
    """The low-level DynamoDB client, created on first use (region from the environment)."""
    return boto3.client("dynamodb", config=Config(retries={"mode": "standard"}))


def replica_table_name():
    return os.environ.get("REPLICA_TABLE", "").strip() or "logfile_replica"


class StreamDeserializer(TypeDeserializer):
    """boto3's reader of DynamoDB JSON; Lambda's event carries binaries as base64 text."""

    def _deserialize_b(self, value):
        return super()._deserialize_b(base64.b64decode(value))


_deserializer, _serializer = StreamDeserializer(), TypeSerializer()


def to_request_json(image):
    """An image of the event as the low-level client takes it: numbers exact, bytes for B."""
    return {
        name: _serializer.serialize(_deserializer.deserialize(value))
        for name, value in image.items()
    }


def fingerprint(request):
    """Canonical text of a write request, to match ``UnprocessedItems`` to what was sent."""

    def default(value):
        if isinstance(value, bytes | bytearray):
            return base64.b64encode(bytes(value)).decode("ascii")
        raise TypeError(type(value).__name__)

    return json.dumps(request, sort_keys=True, default=default, separators=(",", ":"))


@dataclass(eq=False)
class Write:
    """One write on the replica, standing for the batch's records on one item."""

    request: dict
    sequence_numbers: list = field(default_factory=list)

    @property
    def is_put(self):
        return "PutRequest" in self.request


class PendingWrites:
    """The writes a batch asks for, at most one per item, in order of first appearance."""

    def __init__(self):
        self.by_key = {}

    def add(self, record: DynamoDBRecord, lambda_context=None):
        """Powertools' record handler: turn one record into a write (raise to fail it)."""
        raw = record.raw_event["dynamodb"]
        view_type = raw.get("StreamViewType")
        if view_type in ("KEYS_ONLY", "OLD_IMAGE"):
            raise StreamViewTypeError(
                f"the stream's view type is {view_type}, which carries no new image: enable "
                "the stream with StreamViewType NEW_IMAGE or NEW_AND_OLD_IMAGES"
            )
        event_name = record.raw_event.get("eventName")
        keys = to_request_json(raw["Keys"])
        if event_name in ("INSERT", "MODIFY"):
            apply_fail_mode(raw.get("NewImage"), keys, lambda_context)
            request = {"PutRequest": {"Item": to_request_json(raw["NewImage"])}}
        elif event_name == "REMOVE":
            apply_fail_mode(raw.get("OldImage"), keys, lambda_context)
            request = {"DeleteRequest": {"Key": keys}}
        else:
            raise RecordFormatError(f"Unknown eventName {event_name!r}")
        key_id = fingerprint(keys)
        earlier = self.by_key.get(key_id)
        numbers = (earlier.sequence_numbers if earlier else []) + [raw.get("SequenceNumber")]
        self.by_key[key_id] = Write(request, numbers)


def lambda_handler(event, context):
    """Replicate a batch of stream records; report the records that did not make it.

    Returns
    -------
    dict
        ``{"batchItemFailures": [{"itemIdentifier": <SequenceNumber>}, ...]}``.

    Raises
    ------
    InjectedFailureError
        A record asked for it (``fail_mode=raise`` or ``timeout``).
    botocore.exceptions.ClientError
        A ``BatchWriteItem`` call was refused (permission, missing table, throttling
        after the client's own retries).
    aws_lambda_powertools.utilities.batch.exceptions.BatchProcessingError
        Every record failed (e.g. a ``KEYS_ONLY`` stream).
    """
    records = event.get("Records") if isinstance(event, dict) else None
    logger.info(f"Received {len(records) if isinstance(records, list) else 0} records")
    pending = PendingWrites()
    try:
        response = process_partial_response(
            event=event, record_handler=pending.add, processor=processor, context=context
        )
    except BatchProcessingError:
        raise_injected_failure()  # a fail_mode=raise record explains it better
        raise
    raise_injected_failure()

    table = replica_table_name()
    writes = list(pending.by_key.values())
    unprocessed = write_all(replica_client(), table, writes)
    failed = [f["itemIdentifier"] for f in response["batchItemFailures"]]
    failed += [number for write in unprocessed for number in write.sequence_numbers]
    applied = [write for write in writes if write not in unprocessed]
    puts = sum(1 for write in applied if write.is_put)
    logger.info(
        f"Replicated {len(processor.records) - len(failed)} records into {table}: "
        f"{puts} puts, {len(applied) - puts} deletes"
    )
    if failed:
        failed.sort(key=lambda number: int(number) if str(number).isdigit() else -1)
        logger.error(
            f"Reported {len(failed)} of {len(processor.records)} records as "
            f"batchItemFailures: {', '.join(map(str, failed))}"
        )
    return {"batchItemFailures": [{"itemIdentifier": number} for number in failed]}


def backoff_seconds(attempt):
    """Pause after call number ``attempt`` (1-based) left items unprocessed."""
    return min(BACKOFF_CAP_SECONDS, BACKOFF_BASE_SECONDS * 2 ** (attempt - 1))


def write_all(client, table, writes):
    """Send the writes 25 at a time; return those still unprocessed at the end."""
    unprocessed = []
    for start in range(0, len(writes), BATCH_WRITE_LIMIT):
        unprocessed += write_chunk(client, table, writes[start : start + BATCH_WRITE_LIMIT])
    return unprocessed


def write_chunk(client, table, chunk, max_attempts=MAX_WRITE_ATTEMPTS):
    """One ``BatchWriteItem`` (plus retries of ``UnprocessedItems``) for up to 25 writes.

    Returns
    -------
    list of Write
        The writes still unprocessed after ``max_attempts`` calls.

    Raises
    ------
    botocore.exceptions.ClientError
        A call was refused: nothing is guessed, the invocation fails.
    """
    pending = {fingerprint(write.request): write for write in chunk}
    for attempt in range(1, max_attempts + 1):
        response = client.batch_write_item(
            RequestItems={table: [write.request for write in pending.values()]}
        )
        returned = (response.get("UnprocessedItems") or {}).get(table) or []
        pending = {fp: pending[fp] for fp in map(fingerprint, returned) if fp in pending}
        if not pending:
            return []
        if attempt < max_attempts:
            delay = backoff_seconds(attempt)
            logger.warning(
                f"{len(pending)} of {len(chunk)} writes unprocessed on {table} "
                f"(call {attempt} of {max_attempts}): retrying in {delay:.2f} s"
            )
            _sleep(delay)
    logger.error(f"{len(pending)} writes still unprocessed on {table} after {max_attempts} calls")
    return list(pending.values())


def apply_fail_mode(image, keys, context):
    """Act on the item's ``fail_mode`` attribute, if any (see the module docstring)."""
    if FAIL_MODE_ATTRIBUTE not in (image or {}):
        return
    value = image[FAIL_MODE_ATTRIBUTE].get("S")  # None when it is not a string
    item = ", ".join(f"{name}={next(iter(v.values()))}" for name, v in sorted(keys.items()))
    if value not in FAIL_MODES:
        raise RecordFormatError(f"item {item}: fail_mode={value!r} is not one of {FAIL_MODES}")
    if value == "raise":
        raise InjectedFailureError(f"item {item} has fail_mode=raise: the invocation fails")
    if value == "report":
        raise RecordFailedError(f"item {item} has fail_mode=report: this record fails")
    if context is None:
        raise InjectedFailureError(f"item {item} has fail_mode=timeout but no Lambda context")
    seconds = min(
        context.get_remaining_time_in_millis() / 1000 + TIMEOUT_MARGIN_SECONDS,
        TIMEOUT_SLEEP_CAP_SECONDS,
    )
    logger.warning(f"Item {item} has fail_mode=timeout: sleeping {seconds:.1f} s")
    _sleep(seconds)
    raise InjectedFailureError(f"item {item}: still running after {seconds:.1f} s")
