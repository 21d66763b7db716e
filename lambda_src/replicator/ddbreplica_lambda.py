"""Replicate a table's changes into a replica table (function ``ddbreplica_lambda``).

Handler string: ``ddbreplica_lambda.lambda_handler``. Runtime: python3.12 or python3.13.

Every record of a DynamoDB stream batch becomes one write on the replica table:
INSERT and MODIFY put the record's ``NewImage``, REMOVE deletes the record's ``Keys``.
The stream must carry new images (``NEW_IMAGE`` or ``NEW_AND_OLD_IMAGES``); with
``KEYS_ONLY`` or ``OLD_IMAGE`` the function raises :class:`StreamViewTypeError`.

Values are never converted: the images stay in DynamoDB JSON and go to the low-level
client as they are, so ``"N": "279.99"`` or a 38-digit number reach the replica
unchanged. Only ``B``/``BS`` values are decoded from the base64 text of the Lambda event
into ``bytes`` (the client encodes them again on the wire).

Writes use ``BatchWriteItem`` in requests of 25. Within one batch, several changes to
the same key collapse to the last one (an INSERT followed by a REMOVE of the same item
becomes one delete): the replica ends in the same state, and ``BatchWriteItem`` refuses
two operations on one key in a request. ``UnprocessedItems`` are sent again with
exponential backoff, at most :data:`MAX_WRITE_ATTEMPTS` times.

Errors are never swallowed. By default any failure raises, so the event source mapping
retries the batch (or bisects it, or sends it to the on-failure destination). With
``REPORT_BATCH_ITEM_FAILURES=true`` the function returns ``batchItemFailures`` holding
the lowest failed record and every record after it: Lambda checkpoints at the lowest
reported sequence number and delivers everything from it again, and replaying puts and
deletes of whole images is idempotent, so the replica converges in stream order.

Environment variables
---------------------
``REPLICA_TABLE`` (default ``logfile_replica``)
    The table written to.
``REPORT_BATCH_ITEM_FAILURES`` (``true`` / ``false``, default ``false``)
    ``true`` exactly when the mapping has ``FunctionResponseTypes=["ReportBatchItemFailures"]``.

Failure switch
--------------
A string attribute ``fail_mode`` on the NEW image (OLD image for REMOVE, when the stream
has it) makes a record fail on purpose: ``raise`` fails the invocation in every mode,
``report`` fails only that record (reported in partial mode, raised otherwise),
``timeout`` sleeps past the function timeout. The attribute is still replicated as it is.

Log line per batch::

    Replicated 100 records into logfile_replica: 97 puts, 2 deletes, 1 collapsed, 0 failed
"""

from __future__ import annotations

import base64
import binascii
import json
import logging
import os
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from functools import lru_cache
from typing import Any

ENV_REPLICA_TABLE = "REPLICA_TABLE"
DEFAULT_REPLICA_TABLE = "logfile_replica"
ENV_REPORT_BATCH_ITEM_FAILURES = "REPORT_BATCH_ITEM_FAILURES"

#: BatchWriteItem accepts at most 25 requests.
BATCH_WRITE_LIMIT = 25
#: Calls per chunk of writes, the first one included, before giving up on UnprocessedItems.
MAX_WRITE_ATTEMPTS = 6
BACKOFF_BASE_SECONDS = 0.05
BACKOFF_CAP_SECONDS = 2.0

REPLICABLE_VIEW_TYPES = ("NEW_IMAGE", "NEW_AND_OLD_IMAGES")
UNREPLICABLE_VIEW_TYPES = ("KEYS_ONLY", "OLD_IMAGE")

FAIL_MODE_ATTRIBUTE = "fail_mode"
FAIL_MODE_RAISE = "raise"
FAIL_MODE_REPORT = "report"
FAIL_MODE_TIMEOUT = "timeout"
FAIL_MODES = (FAIL_MODE_RAISE, FAIL_MODE_REPORT, FAIL_MODE_TIMEOUT)
TIMEOUT_MARGIN_SECONDS = 2.0
TIMEOUT_SLEEP_CAP_SECONDS = 900.0 + TIMEOUT_MARGIN_SECONDS

PUT = "put"
DELETE = "delete"

_TRUE = frozenset({"true", "1", "yes", "on"})
_FALSE = frozenset({"false", "0", "no", "off", ""})

# The Lambda Python runtime installs its own handler on the root logger; elsewhere one
# stream handler is added so the INFO lines still show.
logger = logging.getLogger()
logger.setLevel(logging.INFO)
if not logger.handlers:
    _fallback_handler = logging.StreamHandler()
    _fallback_handler.setFormatter(logging.Formatter("[%(levelname)s]\t%(asctime)s\t%(message)s"))
    logger.addHandler(_fallback_handler)

# Indirection so tests can replace the sleeps (backoff, fail_mode=timeout).
_sleep = time.sleep


class ReplicationError(Exception):
    """Base class of the errors raised by this function."""


class ConfigurationError(ReplicationError):
    """An environment variable has a value the function does not understand."""


class StreamViewTypeError(ReplicationError):
    """The stream does not carry new images, so nothing can be replicated."""


class RecordFormatError(ReplicationError):
    """A record is not a DynamoDB stream record this function can replicate."""


class BatchWriteError(ReplicationError):
    """Some writes did not reach the replica table.

    Attributes
    ----------
    failed : list[Write]
        The writes that were not applied.
    """

    def __init__(self, message: str, failed: Sequence[Write]) -> None:
        super().__init__(message)
        self.failed = list(failed)


class RecordFailedError(ReplicationError):
    """``fail_mode=report``: this record failed, the others may go on."""


class InjectedFailureError(ReplicationError):
    """``fail_mode=raise``: the whole invocation must fail, even in partial mode."""


class InjectedTimeoutError(InjectedFailureError):
    """``fail_mode=timeout`` could not (or did not) make the invocation time out."""


@dataclass(frozen=True)
class Write:
    """One write on the replica table, standing for one or more stream records.

    Attributes
    ----------
    key_id : str
        Canonical text of the item's key (identifies the item within a batch).
    operation : str
        ``"put"`` or ``"delete"``.
    request : dict
        The ``PutRequest`` or ``DeleteRequest`` entry for ``BatchWriteItem``.
    first_position : int
        Position in the batch of the first record that touched this key.
    records : int
        How many records were collapsed into this write.
    """

    key_id: str
    operation: str
    request: dict[str, Any]
    first_position: int
    records: int = 1


@lru_cache(maxsize=1)
def get_client() -> Any:
    """The DynamoDB client of this execution environment, created on first use.

    boto3 reads the region (and ``AWS_ENDPOINT_URL`` for a local endpoint) from the
    environment Lambda provides.

    Returns
    -------
    botocore.client.BaseClient
    """
    import boto3
    from botocore.config import Config

    return boto3.client("dynamodb", config=Config(retries={"mode": "standard"}))


def replica_table_name() -> str:
    """The replica table: ``REPLICA_TABLE`` or ``logfile_replica``."""
    return os.environ.get(ENV_REPLICA_TABLE, "").strip() or DEFAULT_REPLICA_TABLE


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


def _b64_bytes(value: Any) -> bytes:
    if isinstance(value, bytes | bytearray):  # already decoded (GetRecords output)
        return bytes(value)
    try:
        return base64.b64decode(value, validate=True)
    except (binascii.Error, TypeError, ValueError) as error:
        raise RecordFormatError(f"binary value {value!r} is not valid base64") from error


def decode_binaries(value: Mapping[str, Any]) -> dict[str, Any]:
    """Copy one DynamoDB-JSON value, turning base64 ``B``/``BS`` text into ``bytes``.

    Parameters
    ----------
    value : Mapping[str, Any]
        A one-entry DynamoDB-JSON value such as ``{"B": "Zm9vYmFy"}`` or ``{"M": {...}}``.

    Returns
    -------
    dict[str, Any]
        The same value, ready for the low-level client; numbers stay strings.

    Raises
    ------
    RecordFormatError
        When the value is not a one-entry object or a binary is not base64.
    """
    if not isinstance(value, Mapping) or len(value) != 1:
        raise RecordFormatError(f"{value!r} is not a DynamoDB-JSON value")
    ((kind, inner),) = value.items()
    if kind == "B":
        return {"B": _b64_bytes(inner)}
    if kind == "BS":
        return {"BS": [_b64_bytes(member) for member in inner]}
    if kind == "M":
        return {"M": decode_image(inner)}
    if kind == "L":
        return {"L": [decode_binaries(member) for member in inner]}
    return {kind: inner}


def decode_image(image: Mapping[str, Any]) -> dict[str, Any]:
    """Apply :func:`decode_binaries` to every attribute of an image or key."""
    if not isinstance(image, Mapping):
        raise RecordFormatError(f"an image must be an object, got {type(image).__name__}")
    return {name: decode_binaries(value) for name, value in image.items()}


def _json_default(value: Any) -> str:
    if isinstance(value, bytes):
        return base64.b64encode(value).decode("ascii")
    raise TypeError(f"cannot fingerprint {type(value).__name__}")


def _fingerprint(value: Any) -> str:
    return json.dumps(value, sort_keys=True, default=_json_default, separators=(",", ":"))


def key_label(keys: Mapping[str, Any]) -> str:
    """Name an item by its DynamoDB-JSON key for log lines, e.g. ``PK=request#4001``."""
    parts = []
    for name in sorted(keys):
        value = keys[name]
        shown = next(iter(value.values())) if isinstance(value, Mapping) and value else value
        parts.append(f"{name}={shown}")
    return ", ".join(parts)


def _fail_mode(image: Mapping[str, Any] | None, label: str) -> str | None:
    if not image or FAIL_MODE_ATTRIBUTE not in image:
        return None
    raw = image[FAIL_MODE_ATTRIBUTE]
    text = raw.get("S") if isinstance(raw, Mapping) else None
    mode = text.strip().lower() if isinstance(text, str) else None
    if mode not in FAIL_MODES:
        raise RecordFormatError(
            f"item {label}: {FAIL_MODE_ATTRIBUTE}={raw!r} is not one of {', '.join(FAIL_MODES)}"
        )
    return mode


def _apply_fail_mode(mode: str, label: str, context: Any) -> None:
    if mode == FAIL_MODE_RAISE:
        raise InjectedFailureError(f"item {label} has {FAIL_MODE_ATTRIBUTE}=raise")
    if mode == FAIL_MODE_REPORT:
        raise RecordFailedError(f"item {label} has {FAIL_MODE_ATTRIBUTE}=report")
    remaining = getattr(context, "get_remaining_time_in_millis", None)
    if remaining is None:
        raise InjectedTimeoutError(
            f"item {label} has {FAIL_MODE_ATTRIBUTE}=timeout but there is no Lambda context"
        )
    seconds = min(remaining() / 1000 + TIMEOUT_MARGIN_SECONDS, TIMEOUT_SLEEP_CAP_SECONDS)
    logger.warning("Item %s has %s=timeout: sleeping %.1f s", label, FAIL_MODE_ATTRIBUTE, seconds)
    _sleep(seconds)
    raise InjectedTimeoutError(f"item {label}: still running after sleeping {seconds:.1f} s")


def write_for_record(raw: Mapping[str, Any], position: int, context: Any = None) -> Write:
    """Turn one stream record into the write it asks for.

    Parameters
    ----------
    raw : Mapping[str, Any]
        One entry of the event's ``Records``.
    position : int
        Its position in the batch.
    context : LambdaContext, optional
        Only needed by ``fail_mode=timeout``.

    Returns
    -------
    Write

    Raises
    ------
    StreamViewTypeError
        The stream has no new images (``KEYS_ONLY``, ``OLD_IMAGE``).
    RecordFormatError
        The record is malformed or has an unknown ``eventName``.
    RecordFailedError, InjectedFailureError
        The item's ``fail_mode`` asked for it.
    """
    if not isinstance(raw, Mapping) or not isinstance(raw.get("dynamodb"), Mapping):
        raise RecordFormatError("the record has no 'dynamodb' object: not a DynamoDB stream record")
    ddb = raw["dynamodb"]
    view_type = ddb.get("StreamViewType")
    if view_type in UNREPLICABLE_VIEW_TYPES:
        raise StreamViewTypeError(
            f"the stream's view type is {view_type}, which carries no new image: enable the "
            "stream with StreamViewType NEW_IMAGE or NEW_AND_OLD_IMAGES to replicate it"
        )
    keys = ddb.get("Keys")
    if not isinstance(keys, Mapping) or not keys:
        raise RecordFormatError(f"record {ddb.get('SequenceNumber')} has no Keys")
    key = decode_image(keys)
    key_id = _fingerprint(key)
    label = key_label(keys)
    event_name = raw.get("eventName")
    if event_name in ("INSERT", "MODIFY"):
        if "NewImage" not in ddb:
            raise StreamViewTypeError(
                f"{event_name} record {ddb.get('SequenceNumber')} has no NewImage "
                f"(StreamViewType={view_type}): use NEW_IMAGE or NEW_AND_OLD_IMAGES"
            )
        image = ddb["NewImage"]
        mode = _fail_mode(image, label)
        if mode is not None:
            _apply_fail_mode(mode, label, context)
        request = {"PutRequest": {"Item": decode_image(image)}}
        return Write(key_id, PUT, request, position)
    if event_name == "REMOVE":
        mode = _fail_mode(ddb.get("OldImage"), label)
        if mode is not None:
            _apply_fail_mode(mode, label, context)
        return Write(key_id, DELETE, {"DeleteRequest": {"Key": key}}, position)
    raise RecordFormatError(f"eventName {event_name!r} is not one of INSERT, MODIFY, REMOVE")


def collapse(writes: Sequence[Write]) -> list[Write]:
    """Keep the last write per key, remembering the first record that touched the key.

    Parameters
    ----------
    writes : Sequence[Write]
        One write per record, in stream order.

    Returns
    -------
    list[Write]
        At most one write per key, ordered by the key's first appearance.
    """
    latest: dict[str, Write] = {}
    for write in writes:
        earlier = latest.get(write.key_id)
        if earlier is None:
            latest[write.key_id] = write
        else:
            latest[write.key_id] = Write(
                write.key_id,
                write.operation,
                write.request,
                earlier.first_position,
                earlier.records + write.records,
            )
    return list(latest.values())


def _chunks(writes: Sequence[Write], size: int) -> Iterator[Sequence[Write]]:
    for start in range(0, len(writes), size):
        yield writes[start : start + size]


def backoff_seconds(attempt: int) -> float:
    """Pause after call number ``attempt`` (1-based) left unprocessed items.

    0.05 s after the first call, doubling each time, never more than 2 s. No jitter:
    one function instance works on a shard at a time, and tests stay deterministic.
    """
    return min(BACKOFF_CAP_SECONDS, BACKOFF_BASE_SECONDS * 2 ** (attempt - 1))


def write_chunk(
    client: Any,
    table: str,
    chunk: Sequence[Write],
    *,
    max_attempts: int = MAX_WRITE_ATTEMPTS,
    sleep: Callable[[float], None] | None = None,
) -> None:
    """Send up to 25 writes with ``BatchWriteItem``, retrying ``UnprocessedItems``.

    Parameters
    ----------
    client : botocore.client.BaseClient
        A DynamoDB client (anything with ``batch_write_item``).
    table : str
        The replica table.
    chunk : Sequence[Write]
        At most :data:`BATCH_WRITE_LIMIT` writes on distinct keys.
    max_attempts : int
        Calls before giving up.
    sleep : callable, optional
        Pause function for the backoff (defaults to :func:`time.sleep`).

    Raises
    ------
    BatchWriteError
        The call failed, or items were still unprocessed after ``max_attempts`` calls;
        ``error.failed`` lists the writes that were not applied.
    """
    pause = sleep or _sleep
    pending = {_fingerprint(write.request): write for write in chunk}
    for attempt in range(1, max_attempts + 1):
        try:
            response = client.batch_write_item(
                RequestItems={table: [write.request for write in pending.values()]}
            )
        except Exception as error:
            raise BatchWriteError(
                f"BatchWriteItem on {table} failed: {type(error).__name__}: {error}",
                list(pending.values()),
            ) from error
        unprocessed = (response.get("UnprocessedItems") or {}).get(table) or []
        try:
            pending = {fp: pending[fp] for fp in map(_fingerprint, unprocessed)}
        except KeyError:
            raise BatchWriteError(
                f"BatchWriteItem on {table} returned an unprocessed request it was not sent",
                list(pending.values()),
            ) from None
        if not pending:
            return
        if attempt < max_attempts:
            delay = backoff_seconds(attempt)
            logger.warning(
                "%d of %d writes unprocessed on %s (attempt %d of %d): retrying in %.2f s",
                len(pending),
                len(chunk),
                table,
                attempt,
                max_attempts,
                delay,
            )
            pause(delay)
    raise BatchWriteError(
        f"{len(pending)} writes still unprocessed on {table} after {max_attempts} attempts",
        list(pending.values()),
    )


def _records_of(event: Any) -> list[Any]:
    records = event.get("Records") if isinstance(event, Mapping) else None
    if not isinstance(records, list):
        raise RecordFormatError(
            "the event has no 'Records' list: this function expects a DynamoDB stream event"
        )
    return records


def _sequence_number(raw: Any) -> str | None:
    ddb = raw.get("dynamodb") if isinstance(raw, Mapping) else None
    value = ddb.get("SequenceNumber") if isinstance(ddb, Mapping) else None
    return value if isinstance(value, str) and value else None


def _read_writes(records: list[Any], partial: bool, context: Any) -> tuple[list[Write], int | None]:
    """Writes for the records up to the first failed one, and that record's position."""
    writes: list[Write] = []
    for position, raw in enumerate(records):
        try:
            writes.append(write_for_record(raw, position, context))
        except (StreamViewTypeError, InjectedFailureError):
            raise
        except Exception as error:
            if not partial:
                raise
            logger.error(
                "Record %s failed: %s: %s",
                _sequence_number(raw),
                type(error).__name__,
                error,
                exc_info=error,
            )
            return writes, position
    return writes, None


def _apply(client: Any, table: str, writes: list[Write], partial: bool) -> list[Write]:
    """Send every chunk; return the writes that failed (partial mode) or raise."""
    failed: list[Write] = []
    for chunk in _chunks(writes, BATCH_WRITE_LIMIT):
        try:
            write_chunk(client, table, chunk)
        except BatchWriteError as error:
            if not partial:
                raise
            logger.error("%s", error)
            failed.extend(error.failed)
    return failed


def _item_failures(records: list[Any], start: int | None) -> list[dict[str, str]]:
    if start is None:
        return []
    numbers = [_sequence_number(raw) for raw in records[start:]]
    if None in numbers:
        raise RecordFormatError(
            "cannot report a partial batch failure: a record has no dynamodb.SequenceNumber"
        )
    return [{"itemIdentifier": number} for number in numbers]


def lambda_handler(event: Mapping[str, Any], context: Any, client: Any = None) -> dict[str, Any]:
    """Entry point: replicate a batch of stream records into the replica table.

    Parameters
    ----------
    event : Mapping[str, Any]
        A DynamoDB stream event (``{"Records": [...]}``).
    context : LambdaContext
        The Lambda context (may be ``None`` when called by hand).
    client : botocore.client.BaseClient, optional
        DynamoDB client to write with; defaults to :func:`get_client`.

    Returns
    -------
    dict
        ``table``, ``records``, ``puts``, ``deletes``, ``collapsed`` and ``failed``
        counts; in partial mode also ``batchItemFailures``.

    Raises
    ------
    StreamViewTypeError
        The stream cannot be replicated (in every mode).
    ReplicationError or botocore.exceptions.ClientError
        Any failure, when ``REPORT_BATCH_ITEM_FAILURES`` is off.
    """
    partial = report_batch_item_failures_enabled()
    table = replica_table_name()
    records = _records_of(event)
    per_record, first_failed = _read_writes(records, partial, context)
    writes = collapse(per_record)
    failed = _apply(client if client is not None else get_client(), table, writes, partial)

    starts = [write.first_position for write in failed]
    if first_failed is not None:
        starts.append(first_failed)
    failures = _item_failures(records, min(starts) if starts else None)
    failed_ids = {write.key_id for write in failed}
    puts = sum(1 for w in writes if w.operation == PUT and w.key_id not in failed_ids)
    deletes = sum(1 for w in writes if w.operation == DELETE and w.key_id not in failed_ids)
    collapsed = len(per_record) - len(writes)
    logger.info(
        "Replicated %d records into %s: %d puts, %d deletes, %d collapsed, %d failed",
        len(records) - len(failures),
        table,
        puts,
        deletes,
        collapsed,
        len(failures),
    )
    if failures:
        logger.error(
            "Reporting %d records as batchItemFailures, from sequence number %s",
            len(failures),
            failures[0]["itemIdentifier"],
        )
    response: dict[str, Any] = {
        "table": table,
        "records": len(records),
        "puts": puts,
        "deletes": deletes,
        "collapsed": collapsed,
        "failed": len(failures),
    }
    if partial:
        response["batchItemFailures"] = failures
    return response
