"""DynamoDB Streams read directly: a stream's shards and records, and failed batches.

An on-failure destination's message does not hold the records, only where they
are in the stream (``DDBStreamBatchInfo``); :func:`fetch_failed_records` reads
them back while the stream still has them (24 hours).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import pandas as pd

from helpers.clients import Backend
from helpers.display import settings_table


def stream_summary(backend: Backend, stream_arn: str) -> pd.DataFrame:
    """A stream's status, view type, shards and record count, as a two-column table."""
    description = backend.client("dynamodbstreams").describe_stream(StreamArn=stream_arn)[
        "StreamDescription"
    ]
    open_shards = [
        s for s in description["Shards"] if "EndingSequenceNumber" not in s["SequenceNumberRange"]
    ]
    rows = {
        "stream ARN": stream_arn,
        "label": description.get("StreamLabel"),
        "status": description.get("StreamStatus"),
        "view type": description.get("StreamViewType"),
        "shards (open)": f"{len(description['Shards'])} ({len(open_shards)})",
        "records now in the stream": count_stream_records(backend, stream_arn),
    }
    return settings_table(rows)


def stream_shards(backend: Backend, stream_arn: str, *, limit: int | None = None
                  ) -> list[dict[str, Any]]:
    """Every shard of a stream, oldest first: every page of ``DescribeStream``.

    botocore has no paginator for ``DescribeStream``; this follows
    ``LastEvaluatedShardId`` to the end.

    Parameters
    ----------
    backend : Backend
        Where the stream lives.
    stream_arn : str
        The stream's ARN.
    limit : int, optional
        Shards per page (``Limit``; the service's default when omitted).

    Returns
    -------
    list of dict
        The ``Shards`` of every page, in order.
    """
    client = backend.client("dynamodbstreams")
    shards: list[dict[str, Any]] = []
    kwargs: dict[str, Any] = {"StreamArn": stream_arn}
    if limit is not None:
        kwargs["Limit"] = limit
    while True:
        description = client.describe_stream(**kwargs)["StreamDescription"]
        shards.extend(description["Shards"])
        if not description.get("LastEvaluatedShardId"):
            return shards
        kwargs["ExclusiveStartShardId"] = description["LastEvaluatedShardId"]


def stream_records(backend: Backend, stream_arn: str, *, max_calls: int = 200,
                   empty_pages: int = 5) -> list[dict]:
    """Every record the stream holds now, shard by shard, oldest first (``TRIM_HORIZON``).

    A closed shard is read until it ends. An open shard never ends, and on AWS an
    empty page can come before more records: it is read until ``empty_pages``
    empty pages in a row (or ``max_calls`` calls).
    """
    client = backend.client("dynamodbstreams")
    records: list[dict[str, Any]] = []
    for shard in stream_shards(backend, stream_arn):
        iterator = client.get_shard_iterator(
            StreamArn=stream_arn, ShardId=shard["ShardId"], ShardIteratorType="TRIM_HORIZON"
        )["ShardIterator"]
        empty = 0
        for _ in range(max_calls):
            page = client.get_records(ShardIterator=iterator, Limit=1000)
            records.extend(page["Records"])
            iterator = page.get("NextShardIterator")
            empty = 0 if page["Records"] else empty + 1
            if not iterator or empty >= empty_pages:
                break
    return records


def count_stream_records(backend: Backend, stream_arn: str) -> int:
    """How many records the stream holds now (all shards)."""
    return len(stream_records(backend, stream_arn))


def fetch_failed_records(
    backend: Backend, dead_letter: Mapping[str, Any], *, max_calls: int = 50
) -> list[dict[str, Any]]:
    """Read from the stream the records an on-failure message points to.

    Starts with ``GetShardIterator`` at ``AT_SEQUENCE_NUMBER`` =
    ``startSequenceNumber`` and calls ``GetRecords`` until it has passed
    ``endSequenceNumber`` (sequence numbers compare as integers).

    Parameters
    ----------
    backend : Backend
        Where the stream lives.
    dead_letter : mapping
        One message as :func:`receive_messages` returns it.
    max_calls : int
        Most ``GetRecords`` calls.

    Returns
    -------
    list of dict
        The stream records (``eventName``, ``dynamodb`` with ``Keys``, images...).
    """
    info = dead_letter["DDBStreamBatchInfo"]
    start, end = info["startSequenceNumber"], int(info["endSequenceNumber"])
    streams = backend.client("dynamodbstreams")
    iterator = streams.get_shard_iterator(
        StreamArn=info["streamArn"],
        ShardId=info["shardId"],
        ShardIteratorType="AT_SEQUENCE_NUMBER",
        SequenceNumber=start,
    )["ShardIterator"]
    records: list[dict[str, Any]] = []
    for _ in range(max_calls):
        if not iterator:
            break
        page = streams.get_records(ShardIterator=iterator, Limit=100)
        for record in page.get("Records", []):
            if int(record["dynamodb"]["SequenceNumber"]) > end:
                return records
            records.append(record)
        if records and int(records[-1]["dynamodb"]["SequenceNumber"]) >= end:
            break
        if not page.get("Records") and records:
            break
        iterator = page.get("NextShardIterator")
    return records
