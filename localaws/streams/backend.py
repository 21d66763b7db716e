"""moto's DynamoDB and DynamoDB Streams, patched to keep streams as AWS does.

* a table's ``stream_shard`` is our :class:`~localaws.streams.changes.TableStream`
  (moto never sees an event source mapping, so it never invokes or empties it);
* every write API runs in a change scope (one record per item change);
  ``BatchWriteItem``'s item writes are written to the stream together, at its end;
* ``DescribeStream`` lists every shard with its lineage, a page at a time
  (``Limit``, ``ExclusiveStartShardId``, ``LastEvaluatedShardId``, ``ShardFilter``);
* ``GetShardIterator`` / ``GetRecords`` read shards by sequence number, answer
  ``TrimmedDataAccessException`` behind the trim horizon, end a closed shard with
  a null ``NextShardIterator`` and expire iterators after 15 minutes;
* unknown iterators, shards and streams get AWS's errors, never a 500.
"""

from __future__ import annotations

import json
import time
from collections import OrderedDict
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from moto.core.exceptions import JsonRESTError
from moto.core.utils import utcnow
from moto.dynamodb.exceptions import (
    MockValidationException,
    ResourceInUseException,
    ResourceNotFoundException,
)
from moto.dynamodb.models import DynamoDBBackend
from moto.dynamodb.models.table import Table
from moto.dynamodb.responses import DynamoHandler
from moto.dynamodbstreams import models as streams_models
from moto.dynamodbstreams.models import DynamoDBStreamsBackend
from moto.dynamodbstreams.responses import DynamoDBStreamsHandler

from localaws.streams import registry
from localaws.streams.changes import TableStream, change_scope
from localaws.streams.shards import (
    SequenceNumberError,
    Shard,
    Stream,
    TrimmedDataError,
)

ITERATOR_TTL_SECONDS = 15 * 60
_MAX_ITERATORS = 50_000
TRIMMED_MESSAGE = "The data you are trying to access has been trimmed."
ITERATOR_TYPES = ("TRIM_HORIZON", "LATEST", "AT_SEQUENCE_NUMBER", "AFTER_SEQUENCE_NUMBER")


class DynamoStreamsError(JsonRESTError):
    """A DynamoDB Streams error in the JSON protocol's shape (the caller's fault)."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__("com.amazonaws.dynamodb.v20120810#" + code, message)


@dataclass
class ShardIterator:
    """Where a shard iterator reads next (``arn`` is the iterator string)."""

    arn: str
    stream_arn: str
    shard_id: str
    position: int
    created: float  # monotonic


class _IteratorTable(OrderedDict):
    """Shard iterators by id, bounded in number (the oldest go first)."""

    def __setitem__(self, key: str, value: ShardIterator) -> None:
        super().__setitem__(key, value)
        while len(self) > _MAX_ITERATORS:
            self.popitem(last=False)


def _new_iterator(backend: DynamoDBStreamsBackend, stream_arn: str, shard_id: str,
                  position: int) -> ShardIterator:
    import base64
    import os

    token = base64.b64encode(os.urandom(96)).decode()
    iterator = ShardIterator(f"{stream_arn}|1|{token}", stream_arn, shard_id, position,
                             time.monotonic())
    backend.shard_iterators[iterator.arn] = iterator
    return iterator


# -- tables -------------------------------------------------------------------------------
def _set_stream_specification(self: Table, streams: dict[str, Any] | None) -> None:
    previous = getattr(self, "stream_shard", None)
    view_type = (self.stream_specification or {}).get("StreamViewType") \
        if hasattr(self, "stream_specification") else None
    _original_set_stream_specification(self, streams)
    if self.stream_specification and self.stream_specification.get("StreamEnabled"):
        self.latest_stream_label = utcnow().isoformat(timespec="milliseconds")
        arn = f"{self.table_arn}/stream/{self.latest_stream_label}"
        with registry.LOCK:
            stream = Stream(arn, self.latest_stream_label,
                            self.stream_specification["StreamViewType"], registry.now())
        self.stream_shard = TableStream(stream, self.region_name, self.hash_key_attr,
                                        self.range_key_attr)
        return
    if isinstance(previous, TableStream):
        with registry.LOCK:
            previous.stream.disable(registry.now())
        self.stream_shard = previous
    if view_type:
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


def _scoped(method: Any, *, atomic: bool, batch: bool = False) -> Any:
    def run(self: Any, *args: Any, **kwargs: Any) -> Any:
        with change_scope(atomic=atomic, batch=batch):
            return method(self, *args, **kwargs)

    run.__name__ = method.__name__
    run.__doc__ = method.__doc__
    return run


# -- streams API ----------------------------------------------------------------------------
def stream_of(backend: DynamoDBStreamsBackend, arn: str) -> Stream:
    """The stream with this ARN, maintained (rolled over and trimmed) to now.

    Raises
    ------
    ResourceNotFoundException
        No table, or the table's current stream has another label.
    """
    try:
        table = backend._get_table_from_arn(arn)
    except (IndexError, JsonRESTError):  # not a stream ARN; no such table (the caller's)
        raise ResourceNotFoundException(
            f"Requested resource not found: Stream: {arn} not found") from None
    target = getattr(table, "stream_shard", None)
    label = arn.rsplit("/", 1)[-1]
    if not isinstance(target, TableStream) or table.latest_stream_label != label:
        raise ResourceNotFoundException(
            f"Requested resource not found: Stream: {arn} not found")
    settings = registry.settings()
    target.stream.maintain(registry.now(), settings.shard_lifetime, settings.stream_retention)
    return target.stream


def _shard_of(stream: Stream, shard_id: str) -> Shard:
    shard = stream.shard(shard_id)
    if shard is None:
        raise ResourceNotFoundException(
            f"Requested resource not found: Shard: {shard_id} in Stream: {stream.arn} not found")
    return shard


def _describe_stream(self: DynamoDBStreamsBackend, arn: str, limit: int | None = None,
                     exclusive_start_shard_id: str | None = None,
                     shard_filter: dict[str, Any] | None = None) -> dict[str, Any]:
    if limit is not None and int(limit) < 1:
        raise DynamoStreamsError(
            "ValidationException",
            f"1 validation error detected: Value '{limit}' at 'limit' failed to satisfy "
            "constraint: Member must have value greater than or equal to 1")
    child_of = None
    if shard_filter:
        if shard_filter.get("Type") != "CHILD_SHARDS" or not shard_filter.get("ShardId"):
            raise DynamoStreamsError(
                "ValidationException",
                "ShardFilter must have Type CHILD_SHARDS and a ShardId")
        child_of = shard_filter["ShardId"]
    table = None
    with registry.LOCK:
        stream = stream_of(self, arn)
        shards, last = stream.describe_page(min(int(limit or 100), 100),
                                            exclusive_start_shard_id, child_of)
        table = self._get_table_from_arn(arn)
        out: dict[str, Any] = {
            "StreamArn": arn,
            "StreamLabel": stream.label,
            "StreamStatus": "ENABLED" if stream.enabled else "DISABLED",
            "StreamViewType": stream.view_type,
            "CreationRequestDateTime": datetime.fromtimestamp(stream.created_at, UTC),
            "TableName": table.name,
            "KeySchema": table.schema,
            "Shards": shards,
        }
    if last:
        out["LastEvaluatedShardId"] = last
    return out


def _get_shard_iterator(self: DynamoDBStreamsBackend, arn: str, shard_id: str,
                        shard_iterator_type: str, sequence_number: Any = None) -> ShardIterator:
    if shard_iterator_type not in ITERATOR_TYPES:
        raise DynamoStreamsError(
            "ValidationException",
            f"1 validation error detected: Value '{shard_iterator_type}' at "
            "'shardIteratorType' failed to satisfy constraint: Member must satisfy enum value "
            f"set: [{', '.join(ITERATOR_TYPES)}]")
    seq = None
    if shard_iterator_type in ("AT_SEQUENCE_NUMBER", "AFTER_SEQUENCE_NUMBER"):
        if sequence_number is None:
            raise DynamoStreamsError(
                "ValidationException",
                "SequenceNumber is required for ShardIteratorType " + shard_iterator_type)
        try:
            seq = int(sequence_number)
        except (TypeError, ValueError):
            raise DynamoStreamsError(
                "ValidationException",
                f"Invalid SequenceNumber {sequence_number} for shard {shard_id}") from None
    with registry.LOCK:
        stream = stream_of(self, arn)
        shard = _shard_of(stream, shard_id)
        try:
            position = Stream.start_position(shard, shard_iterator_type, seq)
        except SequenceNumberError:
            raise DynamoStreamsError(
                "ValidationException",
                f"Invalid SequenceNumber {sequence_number} for shard {shard_id}") from None
        except TrimmedDataError:
            raise DynamoStreamsError("TrimmedDataAccessException", TRIMMED_MESSAGE) from None
    return _new_iterator(self, arn, shard_id, position)


def read_records(backend: DynamoDBStreamsBackend, iterator_arn: str,
                 limit: Any) -> tuple[list[bytes], str | None]:
    """One GetRecords call: the records' wire JSON and the next iterator (or None).

    Raises
    ------
    DynamoStreamsError
        Bad limit, unknown or expired iterator, trimmed data.
    """
    if not isinstance(limit, int) or isinstance(limit, bool) or not 1 <= limit <= 1000:
        raise DynamoStreamsError(
            "ValidationException",
            f"1 validation error detected: Value '{limit}' at 'limit' failed to satisfy "
            "constraint: Member must have value less than or equal to 1000"
            if isinstance(limit, int) and limit > 1000 else
            f"1 validation error detected: Value '{limit}' at 'limit' failed to satisfy "
            "constraint: Member must have value greater than or equal to 1")
    iterator = backend.shard_iterators.get(iterator_arn)
    if not isinstance(iterator, ShardIterator):
        raise DynamoStreamsError("ValidationException", "Invalid ShardIterator")
    age = time.monotonic() - iterator.created
    if age > ITERATOR_TTL_SECONDS:
        stamp = "%a %b %d %H:%M:%S UTC %Y"
        created_at = time.strftime(stamp, time.gmtime(time.time() - age))
        raise DynamoStreamsError(
            "ExpiredIteratorException",
            f"Iterator expired. The iterator was created at time {created_at} while right now "
            f"it is {time.strftime(stamp, time.gmtime())} which is further in the future than "
            "the tolerated delay of 900000 milliseconds.")
    with registry.LOCK:
        stream = stream_of(backend, iterator.stream_arn)
        shard = stream.shard(iterator.shard_id)
        if shard is None:  # the whole shard has been trimmed away
            raise DynamoStreamsError("TrimmedDataAccessException", TRIMMED_MESSAGE)
        try:
            bodies, position = Stream.read(shard, iterator.position, limit)
        except TrimmedDataError:
            raise DynamoStreamsError("TrimmedDataAccessException", TRIMMED_MESSAGE) from None
    if position is None:
        return bodies, None
    if position == iterator.position:
        return bodies, iterator.arn  # nothing new: the same iterator reads on later
    return bodies, _new_iterator(backend, iterator.stream_arn, iterator.shard_id, position).arn


def _get_records(self: DynamoDBStreamsBackend, iterator_arn: str, limit: Any) -> dict[str, Any]:
    bodies, next_iterator = read_records(self, iterator_arn, int(limit))
    out: dict[str, Any] = {"Records": [json.loads(b) for b in bodies]}
    if next_iterator is not None:
        out["NextShardIterator"] = next_iterator
    return out


def _backend_init(self: DynamoDBStreamsBackend, region_name: str, account_id: str) -> None:
    _original_backend_init(self, region_name, account_id)
    self.shard_iterators = _IteratorTable()


def _handler_describe_stream(self: DynamoDBStreamsHandler) -> Any:
    from moto.core.responses import ActionResult

    stream = self.backend.describe_stream(
        self._get_param("StreamArn"), self._get_param("Limit"),
        self._get_param("ExclusiveStartShardId"), self._get_param("ShardFilter"))
    return ActionResult({"StreamDescription": stream})


def _handler_get_shard_iterator(self: DynamoDBStreamsHandler) -> Any:
    from moto.core.responses import ActionResult

    iterator = self.backend.get_shard_iterator(
        self._get_param("StreamArn"), self._get_param("ShardId"),
        self._get_param("ShardIteratorType"), self._get_param("SequenceNumber"))
    return ActionResult({"ShardIterator": iterator.arn})


def last_sequence_numbers(stream_arn: str) -> dict[str, str | None]:
    """Each shard's last sequence number right now (``None`` for an empty shard)."""
    from localaws import backends

    try:
        _, _, _, region, account, _ = stream_arn.split(":", 5)
        backend = backends.streams(account, region)
        with registry.LOCK:
            stream = stream_of(backend, stream_arn)
            return {s.shard_id: None if s.last_seq is None else str(s.last_seq)
                    for s in stream.shards}
    except (KeyError, ValueError, IndexError, JsonRESTError):
        return {}


def arrival_time(stream_arn: str, sequence_number: str) -> float | None:
    """When a record reached the stream (epoch seconds, sub-second precision).

    ``ApproximateCreationDateTime`` is rounded down to the second, as on AWS; the
    engine uses this exact time for ``IteratorAge`` and ``MaximumRecordAgeInSeconds``.
    Returns ``None`` when the record is unknown (or trimmed).
    """
    from localaws import backends

    try:
        _, _, _, region, account, resource = stream_arn.split(":", 5)
        seq = int(sequence_number)
        target = backends.dynamodb_table(account, region, resource.split("/")[1]).stream_shard
    except (KeyError, ValueError, IndexError, AttributeError):
        return None
    if not isinstance(target, TableStream) or target.stream.arn != stream_arn:
        return None
    with registry.LOCK:
        for shard in reversed(target.stream.shards):
            if shard.starting_seq <= seq:
                record = shard.record(seq)
                return None if record is None else record.arrival
    return None


_original_backend_init = DynamoDBStreamsBackend.__init__
_original_set_stream_specification = Table.set_stream_specification
_installed = False


def install() -> None:
    """Patch moto's DynamoDB and DynamoDB Streams (idempotent)."""
    global _installed
    if _installed:
        return
    Table.set_stream_specification = _set_stream_specification  # type: ignore[method-assign]
    for name, atomic in (("put_item", False), ("update_item", False), ("delete_item", False),
                         ("execute_statement", False), ("execute_transaction", False),
                         ("transact_write_items", True)):
        setattr(DynamoDBBackend, name, _scoped(getattr(DynamoDBBackend, name), atomic=atomic))
    # moto's handler runs a batch's puts and deletes one backend call at a time
    DynamoHandler.batch_write_item = _scoped(  # type: ignore[method-assign]
        DynamoHandler.batch_write_item, atomic=False, batch=True)
    DynamoDBBackend.update_table_streams = _update_table_streams  # type: ignore[method-assign]
    DynamoDBStreamsBackend.__init__ = _backend_init  # type: ignore[method-assign]
    DynamoDBStreamsBackend.get_shard_iterator = _get_shard_iterator  # type: ignore[method-assign]
    DynamoDBStreamsBackend.get_records = _get_records  # type: ignore[method-assign]
    DynamoDBStreamsBackend.describe_stream = _describe_stream  # type: ignore[method-assign]
    DynamoDBStreamsHandler.describe_stream = _handler_describe_stream  # type: ignore
    DynamoDBStreamsHandler.get_shard_iterator = _handler_get_shard_iterator  # type: ignore
    streams_models.DynamoDBStreamsBackend = DynamoDBStreamsBackend
    _installed = True
