"""DynamoDB Streams as AWS serves them, on top of moto's tables.

moto records a stream record for every write, but in a shape that differs from
AWS and with a side effect that would ruin the workshop: when a table has an event
source mapping, moto pushes every pending record to Docker on each write and then
empties the stream. This module replaces moto's shard bookkeeping so that:

* records carry ``eventVersion`` "1.1", the table's real region, a numeric
  ``ApproximateCreationDateTime`` (epoch seconds, rounded down as AWS does) and
  ``SizeBytes`` computed from the attribute sizes;
* a write that changes nothing writes no record;
* moto never invokes anything: instead the stream's listeners are woken up, so
  the event-source-mapping engine can poll at once;
* shard iterators expire after 15 minutes (``ExpiredIteratorException``), unknown
  iterators and shards get AWS's errors instead of a 500, and the iterator table
  cannot grow without bound;
* stream labels have millisecond precision, as on AWS.
"""

from __future__ import annotations

import base64
import math
import threading
import time
from collections import OrderedDict
from collections.abc import Callable
from decimal import Decimal
from typing import Any

from moto.core.exceptions import JsonRESTError
from moto.core.utils import utcnow
from moto.dynamodb.exceptions import (
    MockValidationException,
    ResourceInUseException,
    ResourceNotFoundException,
)
from moto.dynamodb.models import DynamoDBBackend
from moto.dynamodb.models.table import StreamRecord, StreamShard, Table
from moto.dynamodbstreams import models as streams_models
from moto.dynamodbstreams.models import DynamoDBStreamsBackend, ShardIterator


class DynamoStreamsError(JsonRESTError):
    """A DynamoDB Streams error in the JSON protocol's shape (the caller's fault)."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__("com.amazonaws.dynamodb.v20120810#" + code, message)

ITERATOR_TTL_SECONDS = 15 * 60
_MAX_ITERATORS = 50_000

Listener = Callable[[str], None]
_listeners: list[Listener] = []
_listeners_lock = threading.Lock()


def add_listener(listener: Listener) -> None:
    """Call ``listener(stream_arn)`` after every new stream record."""
    with _listeners_lock:
        _listeners.append(listener)


def remove_listener(listener: Listener) -> None:
    """Stop calling ``listener``."""
    with _listeners_lock:
        if listener in _listeners:
            _listeners.remove(listener)


def _notify(stream_arn: str) -> None:
    for listener in list(_listeners):
        listener(stream_arn)


def attribute_size(value: dict[str, Any]) -> int:
    """DynamoDB's size of one attribute value in DynamoDB JSON.

    Parameters
    ----------
    value : dict
        A typed value such as ``{"S": "x"}``.

    Returns
    -------
    int
        Bytes as DynamoDB counts them (strings as UTF-8, binaries raw, numbers by
        significant digits, one byte per boolean or null, lists and maps with 3
        bytes of overhead plus one per element).
    """
    (kind, raw), = value.items()
    if kind == "S":
        return len(raw.encode())
    if kind == "N":
        return _number_size(raw)
    if kind == "B":
        return len(_as_bytes(raw))
    if kind in ("BOOL", "NULL"):
        return 1
    if kind == "SS":
        return sum(len(s.encode()) for s in raw)
    if kind == "NS":
        return sum(_number_size(n) for n in raw)
    if kind == "BS":
        return sum(len(_as_bytes(b)) for b in raw)
    if kind == "L":
        return 3 + sum(1 + attribute_size(v) for v in raw)
    if kind == "M":
        return 3 + sum(1 + len(k.encode()) + attribute_size(v) for k, v in raw.items())
    return len(str(raw))


def _as_bytes(raw: Any) -> bytes:
    if isinstance(raw, bytes):
        return raw
    return base64.b64decode(raw)


def _number_size(raw: str) -> int:
    # DynamoDB: about one byte per two significant digits, plus one byte
    # (AWS-recorded: "42" -> 2, "101" -> 3).
    digits = Decimal(raw).normalize().as_tuple().digits
    return math.ceil(len(digits) / 2) + 1


def image_size(image: dict[str, dict[str, Any]] | None) -> int:
    """Sum of name length plus value size over an image's attributes."""
    if not image:
        return 0
    return sum(len(name.encode()) + attribute_size(v) for name, v in image.items())


class AwsStreamRecord(StreamRecord):
    """A stream record in the shape AWS's GetRecords returns."""

    def __init__(self, table: Table, stream_type: str, event_name: str,
                 old: Any, new: Any, seq: int) -> None:
        super().__init__(table, stream_type, event_name, old, new, seq)
        rec = self.record
        rec["eventVersion"] = "1.1"
        rec["awsRegion"] = table.region_name
        dynamodb = rec["dynamodb"]
        self.arrival = time.time()
        dynamodb["ApproximateCreationDateTime"] = float(math.floor(self.arrival))
        dynamodb["SizeBytes"] = (image_size(dynamodb.get("Keys"))
                                 + image_size(dynamodb.get("NewImage"))
                                 + image_size(dynamodb.get("OldImage")))
        # AWS's key order inside "dynamodb".
        order = ("ApproximateCreationDateTime", "Keys", "NewImage", "OldImage",
                 "SequenceNumber", "SizeBytes", "StreamViewType")
        rec["dynamodb"] = {k: dynamodb[k] for k in order if k in dynamodb}


def _shard_add(self: StreamShard, old: Any, new: Any) -> None:
    if old is not None and new is not None and old.to_json() == new.to_json():
        return  # AWS writes no stream record for a write that changes nothing
    spec = self.table.stream_specification or {}
    if not spec.get("StreamEnabled"):
        return  # a disabled stream records nothing
    view_type = spec["StreamViewType"]
    if old is None:
        event_name = "INSERT"
    elif new is None:
        event_name = "REMOVE"
    else:
        event_name = "MODIFY"
    seq = len(self.items) + self.starting_sequence_number
    self.items.append(AwsStreamRecord(self.table, view_type, event_name, old, new, seq))
    _notify(f"{self.table.table_arn}/stream/{self.table.latest_stream_label}")


class _IteratorTable(OrderedDict):
    """Shard iterators by id, expiring after 15 minutes and bounded in number."""

    def __setitem__(self, key: str, value: ShardIterator) -> None:
        value.created = time.monotonic()  # type: ignore[attr-defined]
        super().__setitem__(key, value)
        while len(self) > _MAX_ITERATORS:
            self.popitem(last=False)


def _backend_init(self: DynamoDBStreamsBackend, region_name: str, account_id: str) -> None:
    _original_backend_init(self, region_name, account_id)
    self.shard_iterators = _IteratorTable()


def _get_shard_iterator(self: DynamoDBStreamsBackend, arn: str, shard_id: str,
                        shard_iterator_type: str, sequence_number: Any = None) -> ShardIterator:
    table = _stream_table(self, arn)
    shard = table.stream_shard
    if shard is None or shard.id != shard_id:
        raise ResourceNotFoundException(
            f"Requested resource not found: Shard: {shard_id} in Stream: {arn} not found")
    if shard_iterator_type in ("AT_SEQUENCE_NUMBER", "AFTER_SEQUENCE_NUMBER"):
        if sequence_number is None:
            raise DynamoStreamsError(
                "ValidationException",
                "SequenceNumber is required for ShardIteratorType " + shard_iterator_type)
        last = shard.starting_sequence_number + len(shard.items)
        if not shard.starting_sequence_number <= int(sequence_number) <= last:
            raise DynamoStreamsError(
                "ValidationException",
                f"Invalid SequenceNumber {sequence_number} for shard {shard_id}")
    iterator = ShardIterator(self, shard, shard_iterator_type, sequence_number)
    self.shard_iterators[iterator.arn] = iterator
    return iterator


def _stream_table(backend: DynamoDBStreamsBackend, arn: str) -> Table:
    try:
        table = backend._get_table_from_arn(arn)
    except Exception:
        raise ResourceNotFoundException(
            f"Requested resource not found: Stream: {arn} not found") from None
    label = arn.rsplit("/", 1)[-1]
    if table.latest_stream_label != label or table.stream_shard is None:
        raise ResourceNotFoundException(
            f"Requested resource not found: Stream: {arn} not found")
    return table


def _get_records(self: DynamoDBStreamsBackend, iterator_arn: str, limit: int) -> dict[str, Any]:
    if not 1 <= int(limit) <= 1000:
        raise DynamoStreamsError(
            "ValidationException",
            f"1 validation error detected: Value '{limit}' at 'limit' failed to satisfy "
            "constraint: Member must have value less than or equal to 1000"
            if int(limit) > 1000 else
            f"1 validation error detected: Value '{limit}' at 'limit' failed to satisfy "
            "constraint: Member must have value greater than or equal to 1")
    iterator = self.shard_iterators.get(iterator_arn)
    if iterator is None:
        raise DynamoStreamsError("ValidationException", "Invalid ShardIterator")
    age = time.monotonic() - getattr(iterator, "created", time.monotonic())
    if age > ITERATOR_TTL_SECONDS:
        stamp = "%a %b %d %H:%M:%S UTC %Y"
        created_at = time.strftime(stamp, time.gmtime(time.time() - age))
        raise DynamoStreamsError(
            "ExpiredIteratorException",
            f"Iterator expired. The iterator was created at time {created_at} while right now "
            f"it is {time.strftime(stamp, time.gmtime())} which is further in the future than "
            "the tolerated delay of 900000 milliseconds.")
    return iterator.get(int(limit))


def _set_stream_specification(self: Table, streams: dict[str, Any] | None) -> None:
    view_type = (self.stream_specification or {}).get("StreamViewType") \
        if hasattr(self, "stream_specification") else None
    _original_set_stream_specification(self, streams)
    if self.stream_specification and self.stream_specification.get("StreamEnabled"):
        self.latest_stream_label = utcnow().isoformat(timespec="milliseconds")
    elif view_type:
        # A disabled stream stays readable (24 hours on AWS) and keeps its view type.
        self.stream_specification = {"StreamEnabled": False, "StreamViewType": view_type}


def _update_table_streams(self: Any, table: Table, stream_specification: dict[str, Any]) -> None:
    enabling = bool(stream_specification.get("StreamEnabled"))
    currently = bool((table.stream_specification or {}).get("StreamEnabled"))
    if enabling and currently:
        raise ResourceInUseException(f"Table already has an enabled stream: {table.table_arn}")
    if not enabling and not currently:
        raise MockValidationException("Table already has no stream enabled")
    table.set_stream_specification(stream_specification)


def _describe_stream(self: DynamoDBStreamsBackend, arn: str) -> dict[str, Any]:
    table = _stream_table(self, arn)
    spec = table.stream_specification or {}
    description = _original_describe_stream(self, arn)
    description["StreamStatus"] = "ENABLED" if spec.get("StreamEnabled") else "DISABLED"
    return description


_original_backend_init = DynamoDBStreamsBackend.__init__
_original_describe_stream = DynamoDBStreamsBackend.describe_stream
_original_set_stream_specification = Table.set_stream_specification
_installed = False


def install() -> None:
    """Patch moto's DynamoDB Streams bookkeeping (idempotent)."""
    global _installed
    if _installed:
        return
    StreamShard.add = _shard_add  # type: ignore[method-assign]
    Table.set_stream_specification = _set_stream_specification  # type: ignore[method-assign]
    DynamoDBStreamsBackend.__init__ = _backend_init  # type: ignore[method-assign]
    DynamoDBStreamsBackend.get_shard_iterator = _get_shard_iterator  # type: ignore[method-assign]
    DynamoDBStreamsBackend.get_records = _get_records  # type: ignore[method-assign]
    DynamoDBStreamsBackend.describe_stream = _describe_stream  # type: ignore[method-assign]
    DynamoDBBackend.update_table_streams = _update_table_streams  # type: ignore[method-assign]
    streams_models.DynamoDBStreamsBackend = DynamoDBStreamsBackend
    _installed = True


def arrival_time(stream_arn: str, sequence_number: str) -> float | None:
    """When a record reached the stream (epoch seconds, sub-second precision).

    ``ApproximateCreationDateTime`` is rounded down to the second, as on AWS; the
    engine uses this exact time for ``IteratorAge`` and ``MaximumRecordAgeInSeconds``.
    Returns ``None`` when the record is unknown.
    """
    from moto.dynamodb.models import dynamodb_backends

    try:
        _, _, _, region, account, resource = stream_arn.split(":", 5)
        table_name = resource.split("/")[1]
        shard = dynamodb_backends[account][region].tables[table_name].stream_shard
        index = int(sequence_number) - shard.starting_sequence_number
        record = shard.items[index] if 0 <= index < len(shard.items) else None
    except (KeyError, ValueError, IndexError, AttributeError):
        return None
    return getattr(record, "arrival", None)



def serve_get_records(body: bytes, account_id: str, region: str) -> tuple[int, dict[str, str],
                                                                          bytes]:
    """Answer a GetRecords call directly (JSON protocol), bypassing moto's serializer.

    The records are kept in their wire shape already, so they are written out
    with ``json.dumps``; moto's model-driven serializer costs more than the rest
    of the call and GetRecords is the engine's hottest call.
    """
    import json

    from moto.dynamodbstreams.models import dynamodbstreams_backends

    headers = {"Content-Type": "application/x-amz-json-1.0"}
    try:
        params = json.loads(body or b"{}")
        iterator = params.get("ShardIterator")
        if not isinstance(iterator, str) or not iterator:
            raise DynamoStreamsError("ValidationException",
                                     "1 validation error detected: Value null at "
                                     "'shardIterator' failed to satisfy constraint: Member "
                                     "must not be null")
        limit = params.get("Limit", 1000)
        result = dynamodbstreams_backends[account_id][region].get_records(iterator, limit)
    except JsonRESTError as err:
        headers["x-amzn-ErrorType"] = err.error_type.rsplit("#", 1)[-1]
        return err.code, headers, str(err.get_body()).encode()
    except ValueError:
        headers["x-amzn-ErrorType"] = "SerializationException"
        return 400, headers, b'{"__type":"SerializationException","message":"Invalid JSON"}'
    return 200, headers, json.dumps(result, separators=(",", ":"),
                                    default=_json_default).encode()


def last_sequence_numbers(stream_arn: str) -> dict[str, str | None]:
    """Each shard's last sequence number right now (``None`` for an empty shard)."""
    from moto.dynamodb.models import dynamodb_backends

    try:
        _, _, _, region, account, resource = stream_arn.split(":", 5)
        table = dynamodb_backends[account][region].tables[resource.split("/")[1]]
    except (KeyError, ValueError, IndexError):
        return {}
    shard = table.stream_shard
    if shard is None or table.latest_stream_label != stream_arn.rsplit("/", 1)[-1]:
        return {}
    last = shard.starting_sequence_number + len(shard.items) - 1 if shard.items else None
    return {shard.id: None if last is None else str(last)}


def _json_default(value: Any) -> Any:
    if isinstance(value, bytes | bytearray):
        return base64.b64encode(value).decode()
    if isinstance(value, set | frozenset):
        return list(value)
    raise TypeError(f"{type(value).__name__} is not JSON serializable")
