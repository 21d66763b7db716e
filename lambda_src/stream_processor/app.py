"""E-commerce stream processor (function ``demo-dynamodb-stream-processor``).

Handler string: ``app.lambda_handler``. Runtime: python3.12 or python3.13 (also runs on 3.11).

For every record of a DynamoDB stream batch the function logs what changed in the
``demo-ecommerce-freetier`` table (keys ``PK``/``SK``: ``USER#``, ``PRODUCT#``,
``ORDER#``, ``ITEM#``)::

    Processing INSERT for item: USER#stream-user-001#PROFILE
    Processing INSERT event
    New user stream-user-001: a real system could send a welcome email
    ...
    Successfully processed 3 records

``lambda_handler`` only converts the event: each record becomes a :class:`StreamRecord`
whose images hold Python values (numbers as :class:`~decimal.Decimal`, binaries as
``bytes``), and :func:`record_handler` does the work.

Environment variables
---------------------
``REPORT_BATCH_ITEM_FAILURES`` (``true`` / ``false``, default ``false``)
    Set it to ``true`` exactly when the event source mapping has
    ``FunctionResponseTypes=["ReportBatchItemFailures"]``; the function cannot see the
    mapping's settings. With ``false`` a failing record raises, the invocation fails
    and Lambda retries the whole batch. With ``true`` the function returns
    ``{"batchItemFailures": [{"itemIdentifier": <SequenceNumber>}, ...]}``.

Partial batch responses
-----------------------
When a record fails in partial mode the function stops there and reports that record
*and every record after it*. Lambda checkpoints at the lowest reported sequence number
and delivers everything from it again, so the later records come back anyway.
Processing them now would run their side effects twice and, worse, would apply a later
change to an item before the earlier, failed change to the same item is retried:
stopping at the first failure keeps changes to each key in stream order.

Failure switch (for the advanced-configuration exercise)
--------------------------------------------------------
Failures are driven by data, never by chance. Give an item the string attribute
``fail_mode``; it is read from the NEW image (OLD image for REMOVE, so the stream
must be ``NEW_AND_OLD_IMAGES`` or ``OLD_IMAGE`` for deletes):

``raise``
    Raise :class:`InjectedFailureError`: the whole invocation fails, whatever
    ``REPORT_BATCH_ITEM_FAILURES`` says (retries, bisect, on-failure destination).
``report``
    Fail only this record: reported in ``batchItemFailures`` in partial mode, an
    exception (whole batch retried) otherwise.
``timeout``
    Sleep past the function's timeout (``context.get_remaining_time_in_millis()`` plus
    a margin, capped at :data:`TIMEOUT_SLEEP_CAP_SECONDS`) so Lambda ends the
    invocation with ``Task timed out``. Without a context there is no deadline to
    miss, so :class:`InjectedTimeoutError` is raised at once.

Any other value of ``fail_mode`` is a data error (:class:`FailModeError`).
"""

from __future__ import annotations

import base64
import binascii
import json
import logging
import os
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from boto3.dynamodb.types import TypeDeserializer

ENV_REPORT_BATCH_ITEM_FAILURES = "REPORT_BATCH_ITEM_FAILURES"

EVENT_NAMES = ("INSERT", "MODIFY", "REMOVE")

FAIL_MODE_ATTRIBUTE = "fail_mode"
FAIL_MODE_RAISE = "raise"
FAIL_MODE_REPORT = "report"
FAIL_MODE_TIMEOUT = "timeout"
FAIL_MODES = (FAIL_MODE_RAISE, FAIL_MODE_REPORT, FAIL_MODE_TIMEOUT)

#: Seconds slept beyond the remaining time, so the deadline is surely missed.
TIMEOUT_MARGIN_SECONDS = 2.0
#: Longest sleep for ``fail_mode=timeout``: Lambda's maximum timeout (900 s) plus the margin.
TIMEOUT_SLEEP_CAP_SECONDS = 900.0 + TIMEOUT_MARGIN_SECONDS

ENTITY_USER = "user"
ENTITY_PRODUCT = "product"
ENTITY_ORDER = "order"
ENTITY_ORDER_ITEM = "order item"

_TRUE = frozenset({"true", "1", "yes", "on"})
_FALSE = frozenset({"false", "0", "no", "off", ""})
_MISSING = object()

# The Lambda Python runtime installs its own handler on the root logger before it
# imports this module; elsewhere (a notebook, a plain script) nothing would print
# INFO lines, so one stream handler is added in that case only.
logger = logging.getLogger()
logger.setLevel(logging.INFO)
if not logger.handlers:
    _fallback_handler = logging.StreamHandler()
    _fallback_handler.setFormatter(logging.Formatter("[%(levelname)s]\t%(asctime)s\t%(message)s"))
    logger.addHandler(_fallback_handler)

# Indirection so tests can replace the sleep of ``fail_mode=timeout``.
_sleep = time.sleep


class StreamProcessorError(Exception):
    """Base class of the errors raised by this function."""


class ConfigurationError(StreamProcessorError):
    """An environment variable has a value the function does not understand."""


class EventFormatError(StreamProcessorError):
    """The event or one of its records is not shaped like a DynamoDB stream record."""


class FailModeError(StreamProcessorError):
    """The item's ``fail_mode`` attribute holds an unknown value."""


class RecordFailedError(StreamProcessorError):
    """``fail_mode=report``: this record failed, the others may go on."""


class InjectedFailureError(StreamProcessorError):
    """``fail_mode=raise``: the whole invocation must fail, even in partial mode."""


class InjectedTimeoutError(InjectedFailureError):
    """``fail_mode=timeout`` could not (or did not) make the invocation time out."""


class _LambdaEventDeserializer(TypeDeserializer):
    """boto3's deserializer for images found in a Lambda event.

    Lambda delivers ``B`` and ``BS`` values base64-encoded (the event is JSON), while
    :class:`~boto3.dynamodb.types.TypeDeserializer` expects raw bytes. Numbers stay
    :class:`~decimal.Decimal` with DynamoDB's 38-digit precision.
    """

    def _deserialize_b(self, value: str | bytes) -> bytes:
        if isinstance(value, bytes | bytearray):  # already decoded (GetRecords output)
            return bytes(value)
        try:
            return base64.b64decode(value, validate=True)
        except (binascii.Error, TypeError) as error:
            raise EventFormatError(f"binary value {value!r} is not valid base64") from error


_DESERIALIZER = _LambdaEventDeserializer()


def deserialize_image(image: Mapping[str, Any]) -> dict[str, Any]:
    """Turn a DynamoDB-JSON image (``Keys``, ``NewImage``, ``OldImage``) into Python values.

    Parameters
    ----------
    image : Mapping[str, Any]
        Attribute name to DynamoDB-JSON value, e.g. ``{"price": {"N": "279.99"}}``.

    Returns
    -------
    dict[str, Any]
        Attribute name to Python value: ``N`` becomes :class:`~decimal.Decimal`, ``B``
        becomes ``bytes`` (decoded from base64), sets become ``set``.

    Raises
    ------
    EventFormatError
        When a value is not a one-entry DynamoDB-JSON object.
    """
    if not isinstance(image, Mapping):
        raise EventFormatError(f"an image must be an object, got {type(image).__name__}")
    try:
        return {name: _DESERIALIZER.deserialize(value) for name, value in image.items()}
    except (TypeError, AttributeError) as error:
        raise EventFormatError(f"image is not valid DynamoDB JSON: {error}") from error


def format_value(value: Any) -> str:
    """Render an attribute value for a log line (``(none)`` when the attribute is absent)."""
    if value is _MISSING or value is None:
        return "(none)"
    return str(value)


def item_label(keys: Mapping[str, Any]) -> str:
    """Name an item by its key: ``<PK>#<SK>`` for the e-commerce table, ``name=value`` otherwise.

    Parameters
    ----------
    keys : Mapping[str, Any]
        The deserialised ``Keys`` of a record.

    Returns
    -------
    str
        ``"USER#user001#PROFILE"`` for ``{"PK": "USER#user001", "SK": "PROFILE"}``,
        ``"Id=101"`` for the console's sample event.
    """
    if "PK" in keys:
        if "SK" in keys:
            return f"{keys['PK']}#{keys['SK']}"
        return str(keys["PK"])
    return ", ".join(f"{name}={format_value(keys[name])}" for name in sorted(keys))


def classify_item(pk: str, sk: str) -> str | None:
    """Tell which e-commerce entity a key belongs to.

    Parameters
    ----------
    pk, sk : str
        The item's partition and sort key (``""`` when absent).

    Returns
    -------
    str or None
        ``"order"`` (``USER#…``/``ORDER#…`` or ``ORDER#…``/``DETAILS``), ``"order item"``
        (``ORDER#…``/``ITEM#…``), ``"user"`` (``USER#…``/``PROFILE``), ``"product"``
        (``PRODUCT#…``/``DETAILS``), or ``None`` for anything else (addresses, reviews,
        test items such as ``LAMBDA#test-processing``).
    """
    if sk.startswith("ORDER#") or (pk.startswith("ORDER#") and sk in ("", "DETAILS")):
        return ENTITY_ORDER
    if pk.startswith("ORDER#") and sk.startswith("ITEM#"):
        return ENTITY_ORDER_ITEM
    if pk.startswith("USER#") and sk in ("", "PROFILE"):
        return ENTITY_USER
    if pk.startswith("PRODUCT#") and sk in ("", "DETAILS"):
        return ENTITY_PRODUCT
    return None


def _key_id(key: str) -> str:
    return key.split("#", 1)[1] if "#" in key else key


@dataclass(frozen=True)
class StreamRecord:
    """One DynamoDB stream record with its images converted to Python values.

    Attributes
    ----------
    event_name : str
        ``INSERT``, ``MODIFY`` or ``REMOVE``.
    sequence_number : str or None
        ``dynamodb.SequenceNumber``: the ``itemIdentifier`` of a partial batch response.
    keys : dict
        The item's key attributes (present for every stream view type).
    new_image, old_image : dict or None
        The item after / before the change, when the stream view type carries it.
    stream_view_type : str or None
        ``KEYS_ONLY``, ``NEW_IMAGE``, ``OLD_IMAGE`` or ``NEW_AND_OLD_IMAGES``.
    event_id : str or None
        The record's ``eventID``.
    """

    event_name: str
    sequence_number: str | None
    keys: dict[str, Any]
    new_image: dict[str, Any] | None = None
    old_image: dict[str, Any] | None = None
    stream_view_type: str | None = None
    event_id: str | None = field(default=None, compare=False)

    @classmethod
    def from_event(cls, raw: Mapping[str, Any]) -> StreamRecord:
        """Build a record from one entry of a Lambda event's ``Records`` list.

        Raises
        ------
        EventFormatError
            When the entry is not a DynamoDB stream record with a known ``eventName``.
        """
        if not isinstance(raw, Mapping):
            raise EventFormatError(f"a record must be an object, got {type(raw).__name__}")
        ddb = raw.get("dynamodb")
        if not isinstance(ddb, Mapping):
            raise EventFormatError(
                "the record has no 'dynamodb' object: not a DynamoDB stream record"
            )
        event_name = raw.get("eventName")
        if event_name not in EVENT_NAMES:
            raise EventFormatError(
                f"eventName {event_name!r} is not one of {', '.join(EVENT_NAMES)}"
            )
        return cls(
            event_name=event_name,
            sequence_number=ddb.get("SequenceNumber"),
            keys=deserialize_image(ddb.get("Keys") or {}),
            new_image=deserialize_image(ddb["NewImage"]) if "NewImage" in ddb else None,
            old_image=deserialize_image(ddb["OldImage"]) if "OldImage" in ddb else None,
            stream_view_type=ddb.get("StreamViewType"),
            event_id=raw.get("eventID"),
        )

    @property
    def label(self) -> str:
        """The item's name in log lines (see :func:`item_label`)."""
        return item_label(self.keys)

    @property
    def entity(self) -> str | None:
        """The e-commerce entity of the item (see :func:`classify_item`)."""
        pk, sk = self.keys.get("PK", ""), self.keys.get("SK", "")
        if not isinstance(pk, str) or not isinstance(sk, str):
            return None
        return classify_item(pk, sk)


def report_batch_item_failures_enabled() -> bool:
    """Read ``REPORT_BATCH_ITEM_FAILURES`` (default ``false``).

    Raises
    ------
    ConfigurationError
        When the value is not one of true/false/1/0/yes/no/on/off.
    """
    raw = os.environ.get(ENV_REPORT_BATCH_ITEM_FAILURES, "false").strip().lower()
    if raw in _TRUE:
        return True
    if raw in _FALSE:
        return False
    raise ConfigurationError(
        f"{ENV_REPORT_BATCH_ITEM_FAILURES}={raw!r} is not understood: set it to 'true' when "
        "the event source mapping has FunctionResponseTypes=['ReportBatchItemFailures'], "
        "else 'false'"
    )


def requested_fail_mode(record: StreamRecord) -> str | None:
    """The ``fail_mode`` the item asks for: NEW image, or OLD image for REMOVE.

    Returns
    -------
    str or None
        ``"raise"``, ``"report"``, ``"timeout"`` or ``None`` (no switch, or no image).

    Raises
    ------
    FailModeError
        When the attribute holds anything else.
    """
    image = record.old_image if record.event_name == "REMOVE" else record.new_image
    if not image or FAIL_MODE_ATTRIBUTE not in image:
        return None
    value = image[FAIL_MODE_ATTRIBUTE]
    mode = value.strip().lower() if isinstance(value, str) else None
    if mode not in FAIL_MODES:
        raise FailModeError(
            f"item {record.label}: {FAIL_MODE_ATTRIBUTE}={value!r} is not one of "
            f"{', '.join(FAIL_MODES)}"
        )
    return mode


def _apply_fail_mode(mode: str, record: StreamRecord, context: Any) -> None:
    if mode == FAIL_MODE_RAISE:
        raise InjectedFailureError(
            f"item {record.label} has {FAIL_MODE_ATTRIBUTE}=raise: failing the invocation"
        )
    if mode == FAIL_MODE_REPORT:
        raise RecordFailedError(
            f"item {record.label} has {FAIL_MODE_ATTRIBUTE}=report: failing this record"
        )
    remaining = getattr(context, "get_remaining_time_in_millis", None)
    if remaining is None:
        raise InjectedTimeoutError(
            f"item {record.label} has {FAIL_MODE_ATTRIBUTE}=timeout but the function runs "
            "without a Lambda context, so there is no timeout to exceed"
        )
    seconds = min(remaining() / 1000 + TIMEOUT_MARGIN_SECONDS, TIMEOUT_SLEEP_CAP_SECONDS)
    logger.warning(
        "Item %s has %s=timeout: sleeping %.1f s, past the function timeout",
        record.label,
        FAIL_MODE_ATTRIBUTE,
        seconds,
    )
    _sleep(seconds)
    raise InjectedTimeoutError(
        f"item {record.label}: still running after sleeping {seconds:.1f} s for "
        f"{FAIL_MODE_ATTRIBUTE}=timeout (the runtime did not stop the function)"
    )


def handle_insert(record: StreamRecord) -> None:
    """React to a new item: recognise new users, products, orders and order items."""
    logger.info("Processing INSERT event")
    entity = record.entity
    pk, sk = str(record.keys.get("PK", "")), str(record.keys.get("SK", ""))
    if entity == ENTITY_USER:
        logger.info("New user %s: a real system could send a welcome email", _key_id(pk))
    elif entity == ENTITY_PRODUCT:
        logger.info("New product %s: a real system could add it to the search index", _key_id(pk))
    elif entity == ENTITY_ORDER:
        order = sk if sk.startswith("ORDER#") else pk
        logger.info("New order %s: a real system could start fulfilment", _key_id(order))
    elif entity == ENTITY_ORDER_ITEM:
        logger.info("Order %s gained item %s", _key_id(pk), _key_id(sk))


def handle_modify(record: StreamRecord) -> None:
    """React to an update: log ``status`` and ``price`` changes."""
    logger.info("Processing MODIFY event")
    if record.old_image is None or record.new_image is None:
        logger.info(
            "No old and new image to compare (StreamViewType=%s): use NEW_AND_OLD_IMAGES",
            record.stream_view_type,
        )
        return
    for attribute, label in (("status", "Status"), ("price", "Price")):
        before = record.old_image.get(attribute, _MISSING)
        after = record.new_image.get(attribute, _MISSING)
        if before != after:
            logger.info(
                "%s changed from %s to %s", label, format_value(before), format_value(after)
            )


def handle_remove(record: StreamRecord) -> None:
    """React to a deletion: recognise deleted users, products and orders."""
    logger.info("Processing REMOVE event")
    entity = record.entity
    pk, sk = str(record.keys.get("PK", "")), str(record.keys.get("SK", ""))
    if entity == ENTITY_USER:
        logger.info("User %s deleted: a real system could clean up the user's data", _key_id(pk))
    elif entity == ENTITY_PRODUCT:
        logger.info(
            "Product %s deleted: a real system could drop it from the search index", _key_id(pk)
        )
    elif entity == ENTITY_ORDER:
        order = sk if sk.startswith("ORDER#") else pk
        logger.info("Order %s deleted", _key_id(order))


_HANDLERS = {"INSERT": handle_insert, "MODIFY": handle_modify, "REMOVE": handle_remove}


def record_handler(record: StreamRecord, context: Any = None) -> None:
    """Process one stream record; raise to signal that it failed.

    Parameters
    ----------
    record : StreamRecord
        The converted record.
    context : LambdaContext, optional
        Only needed by ``fail_mode=timeout``.

    Raises
    ------
    InjectedFailureError
        ``fail_mode=raise`` or ``timeout``: the invocation must fail.
    RecordFailedError
        ``fail_mode=report``.
    FailModeError
        Unknown ``fail_mode`` value.
    """
    logger.info("Processing %s for item: %s", record.event_name, record.label)
    mode = requested_fail_mode(record)
    if mode is not None:
        _apply_fail_mode(mode, record, context)
    _HANDLERS[record.event_name](record)


def _records_of(event: Any) -> list[Any]:
    records = event.get("Records") if isinstance(event, Mapping) else None
    if not isinstance(records, list):
        raise EventFormatError(
            "the event has no 'Records' list: this function expects a DynamoDB stream event "
            "(try the console's 'DynamoDB Update' template)"
        )
    return records


def _sequence_number(raw: Any) -> str | None:
    ddb = raw.get("dynamodb") if isinstance(raw, Mapping) else None
    value = ddb.get("SequenceNumber") if isinstance(ddb, Mapping) else None
    return value if isinstance(value, str) and value else None


def _failures_from(records: list[Any], position: int, error: Exception) -> list[dict[str, str]]:
    """``batchItemFailures`` for the record at ``position`` and every record after it."""
    numbers = [_sequence_number(raw) for raw in records[position:]]
    if None in numbers:
        raise EventFormatError(
            "cannot report a partial batch failure: a record has no dynamodb.SequenceNumber"
        ) from error
    logger.error(
        "Record %s failed (%s: %s): reporting it and the %d records after it as batchItemFailures",
        numbers[0],
        type(error).__name__,
        error,
        len(numbers) - 1,
        exc_info=error,
    )
    return [{"itemIdentifier": number} for number in numbers]


def lambda_handler(event: Mapping[str, Any], context: Any) -> dict[str, Any]:
    """Entry point: convert each record and hand it to :func:`record_handler`.

    Parameters
    ----------
    event : Mapping[str, Any]
        A DynamoDB stream event (``{"Records": [...]}``).
    context : LambdaContext
        The Lambda context (may be ``None`` when called by hand).

    Returns
    -------
    dict
        ``{"statusCode": 200, "body": "<json>"}``; the body holds ``message``
        (``Successfully processed N records``), ``timestamp`` (UTC, ISO 8601) and
        ``processed_count``. In partial mode the dict also has ``batchItemFailures``.

    Raises
    ------
    Exception
        Whatever a record raised, when partial mode is off (Lambda then retries the
        batch), and :class:`InjectedFailureError` in every mode.
    """
    report_failures = report_batch_item_failures_enabled()
    records = _records_of(event)
    failures: list[dict[str, str]] = []
    processed = 0
    for position, raw in enumerate(records):
        try:
            record_handler(StreamRecord.from_event(raw), context)
        except InjectedFailureError as error:
            logger.error("Record %s: %s", _sequence_number(raw), error)
            raise
        except Exception as error:
            if not report_failures:
                logger.error(
                    "Error processing record %s: %s: %s",
                    _sequence_number(raw),
                    type(error).__name__,
                    error,
                )
                raise
            failures = _failures_from(records, position, error)
            break
        processed += 1

    logger.info("Successfully processed %d records", processed)
    body = {
        "message": f"Successfully processed {processed} records",
        "timestamp": datetime.now(UTC).isoformat(),
        "processed_count": processed,
    }
    response: dict[str, Any] = {"statusCode": 200, "body": json.dumps(body)}
    if report_failures:
        response["batchItemFailures"] = failures
    return response
