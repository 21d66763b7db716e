"""A DynamoDB stream's shards and records, as plain data.

A :class:`Stream` is a chain of :class:`Shard` objects: the last one is open and
takes every new record; after ``shard_lifetime`` seconds it is closed (it gets an
``EndingSequenceNumber``) and a child opens (its ``ParentShardId`` names the old
one). Records older than ``stream_retention`` seconds are trimmed, and a closed
shard disappears once everything in it is older than that. Sequence numbers grow
across the whole stream, so a child's numbers are all greater than its parent's.

Everything here is plain data (no locks, threads or files) so that the endpoint's
state can be pickled; the caller serialises access (see :mod:`localaws.streams.registry`).
Time is always passed in (``now``, epoch seconds): the clock is the caller's.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from typing import Any, NamedTuple

FIRST_SEQUENCE_NUMBER = 1100000000017454423009  # 22 digits, as before
GET_RECORDS_MAX_BYTES = 1024 * 1024  # "a maximum of 1 MB of data" [DDBS-API]


class StreamPositionError(Exception):
    """A position in a stream cannot be read (the caller's fault)."""


class TrimmedDataError(StreamPositionError):
    """The position is behind the trim horizon: its records are gone."""


class SequenceNumberError(StreamPositionError):
    """The sequence number does not belong to the shard."""


class StoredRecord(NamedTuple):
    """One stream record: its sequence number, exact arrival time and wire JSON."""

    seq: int
    arrival: float
    body: bytes


@dataclass
class Shard:
    """One shard: an open or closed run of consecutive sequence numbers."""

    shard_id: str
    parent_id: str | None
    starting_seq: int
    opened_at: float
    ending_seq: int | None = None
    closed_at: float | None = None
    last_seq: int | None = None  # the last sequence number given to a record here
    trimmed_through: int = 0  # every record up to this number is gone
    # Kept records are records[head:]; trimming moves head and compacts now and then.
    records: list[StoredRecord] = field(default_factory=list)
    head: int = 0

    def __post_init__(self) -> None:
        if not self.trimmed_through:
            self.trimmed_through = self.starting_seq - 1

    @property
    def is_open(self) -> bool:
        """True while the shard takes new records."""
        return self.closed_at is None

    def to_json(self) -> dict[str, Any]:
        """The shard as ``DescribeStream`` lists it."""
        numbers = {"StartingSequenceNumber": str(self.starting_seq)}
        if self.ending_seq is not None:
            numbers["EndingSequenceNumber"] = str(self.ending_seq)
        out: dict[str, Any] = {"ShardId": self.shard_id, "SequenceNumberRange": numbers}
        if self.parent_id:
            out["ParentShardId"] = self.parent_id
        return out

    @property
    def kept(self) -> int:
        """How many records the shard still holds."""
        return len(self.records) - self.head

    def index_of(self, seq: int) -> int:
        """Index in ``records`` where ``seq`` is (or would be); never before ``head``."""
        if self.head >= len(self.records):
            return len(self.records)
        return max(self.head, self.head + seq - self.records[self.head].seq)

    def record(self, seq: int) -> StoredRecord | None:
        """The record with sequence number ``seq``, if it is still kept."""
        index = self.index_of(seq)
        if index < len(self.records) and self.records[index].seq == seq:
            return self.records[index]
        return None

    def trim(self, horizon: float) -> None:
        """Drop the records that arrived at or before ``horizon``."""
        records, head = self.records, self.head
        while head < len(records) and records[head].arrival <= horizon:
            head += 1
        if head == self.head:
            return
        self.trimmed_through = records[head - 1].seq
        if head > 1024 and head * 2 > len(records):
            del records[:head]
            head = 0
        self.head = head


@dataclass
class Stream:
    """One stream of one table: its shards, oldest first.

    Parameters
    ----------
    arn, label, view_type : str
        The stream's identity and ``StreamViewType``.
    created_at : float
        Epoch seconds; the first shard opens then.
    """

    arn: str
    label: str
    view_type: str
    created_at: float
    next_seq: int = FIRST_SEQUENCE_NUMBER
    enabled: bool = True
    shards: list[Shard] = field(default_factory=list)
    opened: int = 0  # shards opened so far (names them)

    def __post_init__(self) -> None:
        if not self.shards:
            self._open(None, self.created_at)

    def __deepcopy__(self, memo: dict[int, Any]) -> Stream:
        # moto copies a whole table to roll a transaction back; a stream is not
        # rolled back with it (a failed transaction writes no record at all).
        return self

    # -- writing ------------------------------------------------------------------------
    def append(self, build: Any, now: float) -> int:
        """Add a record to the open shard; ``build(seq, arrival)`` makes its wire JSON.

        Returns
        -------
        int
            The record's sequence number.
        """
        shard = self.shards[-1]
        seq = self.next_seq
        self.next_seq += 1
        shard.records.append(StoredRecord(seq, now, build(seq, now)))
        shard.last_seq = seq
        return seq

    def disable(self, now: float) -> None:
        """Stop taking records: the open shard is closed (it stays readable)."""
        if self.enabled:
            self.enabled = False
            if self.shards and self.shards[-1].is_open:
                self._close(self.shards[-1], now)

    def maintain(self, now: float, lifetime: float, retention: float) -> None:
        """Roll the open shard over when its lifetime is up; trim what is too old."""
        self._roll(now, lifetime, retention)
        self._trim(now - retention)

    def _roll(self, now: float, lifetime: float, retention: float) -> None:
        if not self.enabled or not self.shards or not self.shards[-1].is_open:
            return
        shard = self.shards[-1]
        periods = int((now - shard.opened_at) // lifetime)
        if periods <= 0:
            return
        self._close(shard, shard.opened_at + lifetime)
        # After a long idle time, only the shards that would not yet be trimmed
        # are made (each empty); the last one stays open.
        keep = min(periods, int(retention // lifetime) + 2)
        first = shard.opened_at + (periods - keep + 1) * lifetime
        parent = shard
        for i in range(keep):
            child = self._open(parent.shard_id, first + i * lifetime)
            if i < keep - 1:
                self._close(child, child.opened_at + lifetime)
            parent = child

    def _trim(self, horizon: float) -> None:
        for shard in self.shards:
            shard.trim(horizon)
        if any(s.closed_at is not None and s.closed_at <= horizon for s in self.shards):
            self.shards = [s for s in self.shards
                           if s.closed_at is None or s.closed_at > horizon]

    def _open(self, parent_id: str | None, at: float) -> Shard:
        stamp = int(at * 1000)
        if self.shards:  # shard ids sort in creation order (ExclusiveStartShardId)
            stamp = max(stamp, int(self.shards[-1].shard_id.split("-")[1]) + 1)
        suffix = hashlib.sha1(f"{self.arn}#{self.opened}".encode(),
                              usedforsecurity=False).hexdigest()[:8]
        shard = Shard(f"shardId-{stamp:020d}-{suffix}", parent_id, self.next_seq, at)
        self.opened += 1
        self.shards.append(shard)
        return shard

    def _close(self, shard: Shard, at: float) -> None:
        shard.closed_at = at
        if shard.last_seq is None:
            # An empty shard still ends after it starts; the next one starts later.
            shard.ending_seq = shard.starting_seq
            self.next_seq = max(self.next_seq, shard.starting_seq + 1)
        else:
            shard.ending_seq = shard.last_seq

    # -- reading ------------------------------------------------------------------------
    def shard(self, shard_id: str) -> Shard | None:
        """The shard with this id, if it is still part of the stream."""
        for shard in self.shards:
            if shard.shard_id == shard_id:
                return shard
        return None

    def describe_page(self, limit: int, exclusive_start: str | None = None,
                      child_of: str | None = None) -> tuple[list[dict[str, Any]], str | None]:
        """One page of ``DescribeStream`` shards and the ``LastEvaluatedShardId``."""
        shards = self.shards
        if child_of is not None:
            shards = [s for s in shards if s.parent_id == child_of]
        if exclusive_start:
            shards = [s for s in shards if s.shard_id > exclusive_start]
        page = shards[:limit]
        more = len(shards) > limit
        return [s.to_json() for s in page], (page[-1].shard_id if more and page else None)

    @staticmethod
    def start_position(shard: Shard, iterator_type: str, seq: int | None = None) -> int:
        """The first sequence number an iterator of this type reads.

        Raises
        ------
        SequenceNumberError
            ``seq`` is outside the shard.
        TrimmedDataError
            ``seq`` has been trimmed.
        """
        if iterator_type == "TRIM_HORIZON":
            return shard.trimmed_through + 1
        if iterator_type == "LATEST":
            return (shard.ending_seq + 1 if shard.ending_seq is not None
                    else (shard.last_seq or shard.starting_seq - 1) + 1)
        assert seq is not None
        upper = shard.ending_seq if shard.ending_seq is not None else (
            shard.last_seq if shard.last_seq is not None else shard.starting_seq)
        if not shard.starting_seq <= seq <= upper:
            raise SequenceNumberError(seq)
        position = seq if iterator_type == "AT_SEQUENCE_NUMBER" else seq + 1
        if position <= shard.trimmed_through:
            raise TrimmedDataError(seq)
        return position

    @staticmethod
    def read(shard: Shard, position: int, limit: int,
             max_bytes: int = GET_RECORDS_MAX_BYTES) -> tuple[list[bytes], int | None]:
        """Up to ``limit`` records (at most ``max_bytes``) from ``position`` on.

        Returns
        -------
        (list of bytes, int or None)
            The records' wire JSON, and the next position; ``None`` when the shard
            is closed and nothing is left after them (a null ``NextShardIterator``).

        Raises
        ------
        TrimmedDataError
            Records at ``position`` have been trimmed since the iterator was made.
        """
        if position <= shard.trimmed_through:
            raise TrimmedDataError(position)
        out: list[bytes] = []
        records = shard.records
        index = shard.index_of(position)
        size = 0
        while index < len(records) and len(out) < limit:
            body = records[index].body
            if out and size + len(body) > max_bytes:
                break
            out.append(body)
            size += len(body)
            position = records[index].seq + 1
            index += 1
        if not shard.is_open and (shard.last_seq is None or position > shard.last_seq):
            return out, None
        return out, position
