"""The stream processor, production variant (handler ``app.lambda_handler``).

It logs the same lines as the teaching version (``lambda_src/stream_processor``) and
adds what a real deployment needs, written with Powertools for AWS Lambda:

* **Partial batch responses, always.** The function answers
  ``{"batchItemFailures": [{"itemIdentifier": <SequenceNumber>}, ...]}`` on every
  invocation. Lambda acts on the answer only when the trigger has
  ``FunctionResponseTypes=["ReportBatchItemFailures"]``; without it the answer is
  ignored and the batch counts as a success, failed records included. There is no
  environment variable to keep in step with the trigger: the trigger's setting is the
  only source of truth.
* **Which records are reported.** Powertools' ``BatchProcessor`` behaviour for stream
  batches, as documented: every record is processed, even after one fails, and each
  failing record is reported on its own (as in AWS's sample function). If every record
  fails, the invocation fails (``BatchProcessingError``). Lambda checkpoints at the
  lowest reported sequence number and delivers every record from there again, in
  stream order, so later changes to the same item are seen again after the failed one:
  per-item order is restored by the redelivery, at the price of running those later
  records twice (the log lines repeat; the work must be idempotent).
* **A failure switch driven by data** (never by chance): the item attribute
  ``fail_mode``, read from the new image (the old image for REMOVE):

  ``raise``    the whole invocation fails (a function error): retries, split batch on
               error, the on-failure destination;
  ``report``   only this record fails: it is reported in ``batchItemFailures``;
  ``timeout``  the function sleeps past its timeout (``Task timed out``);
  ``memory``   the function allocates memory past its ``MemorySize``
               (``AWS_LAMBDA_FUNCTION_MEMORY_SIZE``) until Lambda kills the
               environment (``Runtime.OutOfMemory``).

  Any other value fails that record (``FailModeError``).

Log lines (defined in ``helpers/loglines.py``, checked by ``tests/unit/test_loglines.py``)::

    Received 3 records
    Processing INSERT for item: PRODUCT#p1#DETAILS
    Processing INSERT event
    ...
    Record 400000000000000000000000202 failed: RecordFailedError: ...
    Successfully processed 2 records
    Reported 1 of 3 records as batchItemFailures: 400000000000000000000000202
"""

import logging
import os
import time

from aws_lambda_powertools.utilities.batch import (
    BatchProcessor,
    EventType,
    process_partial_response,
)
from aws_lambda_powertools.utilities.batch.exceptions import BatchProcessingError
from aws_lambda_powertools.utilities.data_classes.dynamo_db_stream_event import (
    DynamoDBRecord,
    DynamoDBRecordEventName,
)

logger = logging.getLogger()
logger.setLevel(logging.INFO)

FAIL_MODE_ATTRIBUTE = "fail_mode"
FAIL_MODES = ("raise", "report", "timeout", "memory")
#: Seconds slept past the remaining time for ``fail_mode=timeout`` (capped at 900 + margin).
TIMEOUT_MARGIN_SECONDS = 2.0
TIMEOUT_SLEEP_CAP_SECONDS = 900.0 + TIMEOUT_MARGIN_SECONDS

#: Size of one allocation of ``fail_mode=memory``, and how far past ``MemorySize`` it goes
#: (the runtime itself already uses some memory, so the limit is crossed before the end).
MEMORY_CHUNK_MB = 16
MEMORY_MARGIN_MB = 64
MEMORY_SIZE_VARIABLE = "AWS_LAMBDA_FUNCTION_MEMORY_SIZE"

# Indirection so tests can replace the sleep of ``fail_mode=timeout``.
_sleep = time.sleep


def _allocate(megabytes: int) -> bytes:
    """``megabytes`` MB, every byte written, so each page counts in the resident set."""
    return b"\xff" * (megabytes * 1024 * 1024)


class StreamProcessorError(Exception):
    """Base class of the errors this function raises on purpose."""


class FailModeError(StreamProcessorError):
    """The item's ``fail_mode`` holds an unknown value (bad data: this record fails)."""


class RecordFailedError(StreamProcessorError):
    """``fail_mode=report``: this record fails, the others go on."""


class InjectedFailureError(StreamProcessorError):
    """``fail_mode=raise``: the whole invocation must fail."""


class InjectedTimeoutError(InjectedFailureError):
    """``fail_mode=timeout`` found no deadline to miss, or outlived it."""


class InjectedMemoryError(InjectedFailureError):
    """``fail_mode=memory`` found no ``MemorySize``, or was not stopped at it."""


class LoggingBatchProcessor(BatchProcessor):
    """Powertools' processor, plus one log line per failed record."""

    def failure_handler(self, record, exception):
        _, error, _ = exception
        sequence_number = record.dynamodb.sequence_number if record is not None else None
        logger.error(f"Record {sequence_number} failed: {type(error).__name__}: {error}")
        return super().failure_handler(record, exception)


processor = LoggingBatchProcessor(event_type=EventType.DynamoDBStreams)


def raise_injected_failure():
    """Re-raise a ``fail_mode=raise``/``timeout``/``memory`` failure the processor caught."""
    for _, error, _ in processor.exceptions:
        if isinstance(error, InjectedFailureError):
            raise error


def lambda_handler(event, context):
    """Process a batch of stream records; report the failed ones.

    Parameters
    ----------
    event : dict
        A DynamoDB stream event (``{"Records": [...]}``).
    context : LambdaContext
        The Lambda context (``None`` when called by hand).

    Returns
    -------
    dict
        ``{"batchItemFailures": [{"itemIdentifier": <SequenceNumber>}, ...]}``.

    Raises
    ------
    InjectedFailureError
        A record asked for it (``fail_mode=raise``, ``timeout`` or ``memory``).
    aws_lambda_powertools.utilities.batch.exceptions.BatchProcessingError
        Every record failed, or the event is not a DynamoDB stream event
        (``UnexpectedBatchTypeError``).
    """
    records = event.get("Records") if isinstance(event, dict) else None
    logger.info(f"Received {len(records) if isinstance(records, list) else 0} records")
    try:
        response = process_partial_response(
            event=event, record_handler=record_handler, processor=processor, context=context
        )
    except BatchProcessingError:
        raise_injected_failure()  # a fail_mode=raise record explains it better
        raise
    raise_injected_failure()

    failed = [failure["itemIdentifier"] for failure in response["batchItemFailures"]]
    logger.info(f"Successfully processed {len(processor.records) - len(failed)} records")
    if failed:
        logger.error(
            f"Reported {len(failed)} of {len(processor.records)} records as "
            f"batchItemFailures: {', '.join(map(str, failed))}"
        )
    return response


def record_handler(record: DynamoDBRecord, lambda_context=None):
    """Process one record; raise to make it fail (Powertools reports it)."""
    keys = record.dynamodb.keys
    logger.info(f"Processing {record.event_name.name} for item: {item_name(keys)}")
    apply_fail_mode(record, lambda_context)
    HANDLERS[record.event_name](record)


def handle_insert(record: DynamoDBRecord):
    logger.info("Processing INSERT event")
    pk, sk = key_values(record)
    if sk.startswith("ORDER#"):
        logger.info("New order: a real shop would start fulfilment")
    elif pk.startswith("USER#"):
        logger.info("New user: a real shop would send a welcome email")
    elif pk.startswith("PRODUCT#"):
        logger.info("New product: a real shop would add it to the search index")


def handle_modify(record: DynamoDBRecord):
    logger.info("Processing MODIFY event")
    change = record.dynamodb
    if "OldImage" not in change or "NewImage" not in change:
        logger.info("No old and new image to compare: the stream needs NEW_AND_OLD_IMAGES")
        return
    for attribute, label in (("status", "Status"), ("price", "Price")):
        before, after = change.old_image.get(attribute), change.new_image.get(attribute)
        if before != after:
            logger.info(f"{label} changed from {before} to {after}")


def handle_remove(record: DynamoDBRecord):
    logger.info("Processing REMOVE event")
    pk, sk = key_values(record)
    if sk.startswith("ORDER#"):
        logger.info("Order deleted: a real shop would cancel its shipment")
    elif pk.startswith("USER#"):
        logger.info("User deleted: a real shop would clean up the user's data")
    elif pk.startswith("PRODUCT#"):
        logger.info("Product deleted: a real shop would drop it from the search index")


HANDLERS = {
    DynamoDBRecordEventName.INSERT: handle_insert,
    DynamoDBRecordEventName.MODIFY: handle_modify,
    DynamoDBRecordEventName.REMOVE: handle_remove,
}


def key_values(record: DynamoDBRecord):
    keys = record.dynamodb.keys
    return str(keys.get("PK") or ""), str(keys.get("SK") or "")


def item_name(keys):
    """``<PK>#<SK>`` on the shop's table; ``name=value`` on others (as the teaching version)."""
    if "PK" in keys:
        return "#".join(str(keys[name]) for name in ("PK", "SK") if name in keys)
    return ", ".join(f"{name}={keys[name]}" for name in sorted(keys))


def requested_fail_mode(record: DynamoDBRecord):
    """The item's ``fail_mode`` (new image; old image for REMOVE), or None.

    Raises
    ------
    FailModeError
        When the attribute holds something else than raise, report, timeout or memory.
    """
    change = record.dynamodb
    removed = record.event_name is DynamoDBRecordEventName.REMOVE
    image = change.old_image if removed else change.new_image
    if FAIL_MODE_ATTRIBUTE not in image:
        return None
    value = image[FAIL_MODE_ATTRIBUTE]
    if value not in FAIL_MODES:
        raise FailModeError(
            f"{FAIL_MODE_ATTRIBUTE}={value!r} is not one of {', '.join(FAIL_MODES)}"
        )
    return value


def apply_fail_mode(record: DynamoDBRecord, context):
    mode = requested_fail_mode(record)
    item = item_name(record.dynamodb.keys)
    if mode == "raise":
        raise InjectedFailureError(f"item {item} has fail_mode=raise: the invocation fails")
    if mode == "report":
        raise RecordFailedError(f"item {item} has fail_mode=report: this record fails")
    if mode == "timeout":
        if context is None:
            raise InjectedTimeoutError(f"item {item} has fail_mode=timeout but no Lambda context")
        seconds = min(
            context.get_remaining_time_in_millis() / 1000 + TIMEOUT_MARGIN_SECONDS,
            TIMEOUT_SLEEP_CAP_SECONDS,
        )
        logger.warning(f"Item {item} has fail_mode=timeout: sleeping {seconds:.1f} s")
        _sleep(seconds)
        raise InjectedTimeoutError(f"item {item}: still running after {seconds:.1f} s")
    if mode == "memory":
        exhaust_memory(item)


def exhaust_memory(item: str):
    """Allocate past the function's ``MemorySize`` so Lambda kills the environment.

    Allocates ``MEMORY_CHUNK_MB`` at a time and keeps every chunk, up to ``MemorySize``
    plus ``MEMORY_MARGIN_MB``: on Lambda (and the local executor) the environment is
    killed on the way (``Runtime.OutOfMemory``); where nothing enforces the limit, the
    allocation stops there and the invocation fails instead of eating the host's memory.

    Parameters
    ----------
    item : str
        The item's name, for the log line and the error.

    Raises
    ------
    InjectedMemoryError
        ``AWS_LAMBDA_FUNCTION_MEMORY_SIZE`` is not set (not running in Lambda), or the
        process was still alive after allocating past it.
    """
    size = os.environ.get(MEMORY_SIZE_VARIABLE, "")
    if not size.isdigit():
        raise InjectedMemoryError(
            f"item {item} has fail_mode=memory but no {MEMORY_SIZE_VARIABLE} to exceed"
        )
    target_mb = int(size) + MEMORY_MARGIN_MB
    logger.warning(
        f"Item {item} has fail_mode=memory: allocating up to {target_mb} MB "
        f"(MemorySize {size} MB) in {MEMORY_CHUNK_MB} MB chunks"
    )
    held = []
    while len(held) * MEMORY_CHUNK_MB < target_mb:
        held.append(_allocate(MEMORY_CHUNK_MB))
    raise InjectedMemoryError(
        f"item {item}: still running after allocating {len(held) * MEMORY_CHUNK_MB} MB"
    )
