"""Reading a DynamoDB stream through the Streams API, one synchronous step at a time.

The API is ``DescribeStream``, ``GetShardIterator`` and ``GetRecords`` as a client
has them; in the endpoint it is :class:`localaws.backends.StreamReader`, which
answers them in-process with the same code and errors the HTTP API uses.

:class:`StreamPoller` knows the stream's shards (following their lineage: a child
shard is read only once every record of its parent has been delivered, so the
changes to one item keep their order across a shard rollover) and keeps one
shard iterator per shard. A position behind the trim horizon (a checkpoint whose
records have expired) restarts the shard at its oldest record, as AWS does.
:meth:`StreamPoller.poll` makes one ``GetRecords`` call per readable
shard and returns what it read; it never sleeps and never invokes anything: the
loop that drives it lives in :mod:`localaws.esm.worker`.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from typing import Any

from botocore.exceptions import ClientError

from localaws.esm.records import to_lambda_record

log = logging.getLogger("localaws.esm")

GET_RECORDS_LIMIT = 1000


class StreamGoneError(Exception):
    """The stream no longer exists (table deleted or stream disabled)."""


@dataclass
class ShardState:
    """Reading position of one shard."""

    shard_id: str
    parent_id: str | None
    iterator: str | None = None
    ended: bool = False  # closed and read to its end (a null NextShardIterator)
    buffer: list[dict[str, Any]] = field(default_factory=list)
    window_started: float | None = None  # when the batching window began (monotonic)

    @property
    def exhausted(self) -> bool:
        """Closed, read to its end and every record read handed on."""
        return self.ended and not self.buffer


class StreamPoller:
    """Reads a stream's shards for one mapping.

    Parameters
    ----------
    client : StreamReader or botocore client
        The DynamoDB Streams API (:class:`localaws.backends.StreamReader` in the endpoint).
    stream_arn : str
        The stream.
    starting_position : {"TRIM_HORIZON", "LATEST"}
        Where to start in a shard that has no checkpoint. (The service turns a
        mapping's ``LATEST`` into checkpoints when it is created, so re-reading a
        shard never asks for ``LATEST`` twice.)
    checkpoint : callable
        ``checkpoint(shard_id) -> str | None``: the last sequence number done.
    """

    def __init__(self, client: Any, stream_arn: str, starting_position: str,
                 checkpoint: Any) -> None:
        self.client = client
        self.stream_arn = stream_arn
        self.starting_position = starting_position
        self.checkpoint = checkpoint
        self.shards: dict[str, ShardState] = {}
        self.key_names: list[str] = []
        self.needs_refresh = False  # a shard ended: its children are to be listed

    def refresh_shards(self) -> None:
        """DescribeStream: learn new shards and the table's key names.

        Raises
        ------
        StreamGoneError
            The stream does not exist any more.
        """
        try:
            description = self._describe()
        except ClientError as err:
            if err.response["Error"]["Code"] == "ResourceNotFoundException":
                raise StreamGoneError(self.stream_arn) from err
            raise
        if description.get("StreamStatus") in ("DISABLED", "DISABLING") and not self.shards:
            raise StreamGoneError(self.stream_arn)
        self.key_names = [k["AttributeName"] for k in description.get("KeySchema", [])
                          if k["KeyType"] == "HASH"]
        self.needs_refresh = False
        listed = set()
        for shard in description.get("Shards", []):
            listed.add(shard["ShardId"])
            if shard["ShardId"] not in self.shards:
                self.shards[shard["ShardId"]] = ShardState(shard["ShardId"],
                                                           shard.get("ParentShardId"))
        for shard_id in [s for s, state in self.shards.items()
                         if s not in listed and state.exhausted]:
            del self.shards[shard_id]  # trimmed away after we finished it

    def _describe(self) -> dict[str, Any]:
        shards: list[dict[str, Any]] = []
        start: str | None = None
        while True:
            kwargs: dict[str, Any] = {"StreamArn": self.stream_arn}
            if start:
                kwargs["ExclusiveStartShardId"] = start
            description = self.client.describe_stream(**kwargs)["StreamDescription"]
            shards.extend(description.get("Shards", []))
            start = description.get("LastEvaluatedShardId")
            if not start:
                description["Shards"] = shards
                return description

    def readable(self) -> list[ShardState]:
        """Shards that may be read now: not exhausted, parent exhausted or unknown."""
        out = []
        for shard in self.shards.values():
            if shard.exhausted:
                continue
            parent = self.shards.get(shard.parent_id) if shard.parent_id else None
            if parent is not None and not parent.exhausted:
                continue
            out.append(shard)
        return out

    def _iterator(self, shard: ShardState) -> str | None:
        done = self.checkpoint(shard.shard_id)
        if done is not None:
            kwargs = {"ShardIteratorType": "AFTER_SEQUENCE_NUMBER", "SequenceNumber": done}
        elif shard.parent_id is not None and shard.parent_id in self.shards:
            # A child of a shard we read: start at its beginning.
            kwargs = {"ShardIteratorType": "TRIM_HORIZON"}
        else:
            kwargs = {"ShardIteratorType": self.starting_position}
        try:
            response = self.client.get_shard_iterator(StreamArn=self.stream_arn,
                                                      ShardId=shard.shard_id, **kwargs)
        except ClientError as err:
            code = err.response["Error"]["Code"]
            if code == "ResourceNotFoundException":
                return None  # the shard was trimmed away; a gone stream shows on refresh
            if code != "TrimmedDataAccessException":
                raise
            # The checkpoint's records have expired: go on from the oldest record kept.
            log.warning("shard %s: records after %s were trimmed before they were processed",
                        shard.shard_id, done)
            response = self.client.get_shard_iterator(StreamArn=self.stream_arn,
                                                      ShardId=shard.shard_id,
                                                      ShardIteratorType="TRIM_HORIZON")
        return response.get("ShardIterator")

    def poll(self, shard: ShardState, limit: int = GET_RECORDS_LIMIT) -> int:
        """One GetRecords call on ``shard``; appends Lambda-shaped records to its buffer.

        Returns
        -------
        int
            The number of records read.
        """
        if shard.ended:
            return 0
        if shard.iterator is None:
            shard.iterator = self._iterator(shard)
            if shard.iterator is None:
                shard.ended = True
                self.needs_refresh = True
                return 0
        try:
            response = self.client.get_records(ShardIterator=shard.iterator, Limit=limit)
        except ClientError as err:
            code = err.response["Error"]["Code"]
            if code in ("ExpiredIteratorException", "TrimmedDataAccessException",
                        "ValidationException"):
                log.info("shard %s: %s, re-reading from the checkpoint", shard.shard_id, code)
                self.rewind(shard)
                return 0
            if code == "ResourceNotFoundException":
                raise StreamGoneError(self.stream_arn) from err
            raise
        records = [to_lambda_record(r, self.stream_arn) for r in response.get("Records", [])]
        shard.buffer.extend(records)
        shard.iterator = response.get("NextShardIterator")
        if shard.iterator is None:
            shard.ended = True  # closed: nothing after these records
            self.needs_refresh = True
        return len(records)

    def rewind(self, shard: ShardState) -> None:
        """Forget buffered records and re-read the shard from its checkpoint."""
        shard.buffer.clear()
        shard.iterator = None
        shard.ended = False
        shard.window_started = None
