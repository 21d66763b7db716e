"""Shards roll over with lineage, and a mapping reads parents before children.

Runs on an endpoint whose shards live 2 seconds and whose records are kept 20
seconds (``tests/functional/stream_endpoint.py``). Where a test only needs shards to
have rolled over, it moves the stream clock on by their lifetimes
(``advance_stream_clock``) instead of waiting; the mapping tests roll over in real
time, while writes keep coming.
"""

from __future__ import annotations

import itertools
import json
import threading
import time

import pytest
from botocore.exceptions import ClientError

from helpers.streams import stream_shards
from tests.functional.stream_endpoint import (  # noqa: F401
    advance_stream_clock,
    short_streams_fixture,
)
from tests.functional.support import (
    journal,
    journaled_function,
    make_role,
    make_table,
    map_stream,
    wait_for,
)

pytestmark = pytest.mark.functional


def _shards(backend, arn: str, limit: int = 100) -> list[dict]:
    return stream_shards(backend, arn, limit=limit)


def _lifetime(backend) -> float:
    return float(backend.health["streams"]["shard_lifetime"])


def test_the_open_shard_rolls_over_into_a_child_that_names_its_parent(short_streams, unique):
    # given
    backend = short_streams
    table = f"roll-{unique}"
    arn = make_table(backend, table)
    ddb = backend.client("dynamodb")
    ddb.put_item(TableName=table, Item={"pk": {"S": "before"}})
    # when
    advance_stream_clock(backend, _lifetime(backend))
    wait_for(lambda: len(_shards(backend, arn)) >= 2, timeout=4 * _lifetime(backend),
             message="a rollover")
    ddb.put_item(TableName=table, Item={"pk": {"S": "after"}})
    # then
    shards = _shards(backend, arn)
    parent, child = shards[0], shards[1]
    assert "EndingSequenceNumber" in parent["SequenceNumberRange"]
    assert child["ParentShardId"] == parent["ShardId"]
    assert int(child["SequenceNumberRange"]["StartingSequenceNumber"]) > int(
        parent["SequenceNumberRange"]["EndingSequenceNumber"])
    assert "EndingSequenceNumber" not in shards[-1]["SequenceNumberRange"]


def test_a_closed_shard_ends_with_a_null_next_shard_iterator(short_streams, unique):
    # given
    backend = short_streams
    table = f"closed-{unique}"
    arn = make_table(backend, table)
    backend.client("dynamodb").put_item(TableName=table, Item={"pk": {"S": "a"}})
    advance_stream_clock(backend, _lifetime(backend))
    wait_for(lambda: len(_shards(backend, arn)) >= 2, timeout=4 * _lifetime(backend),
             message="a rollover")
    streams = backend.client("dynamodbstreams")
    first = _shards(backend, arn)[0]["ShardId"]
    iterator = streams.get_shard_iterator(StreamArn=arn, ShardId=first,
                                          ShardIteratorType="TRIM_HORIZON")["ShardIterator"]
    # when
    pages = []
    while iterator and len(pages) < 10:
        page = streams.get_records(ShardIterator=iterator)
        pages.append(page)
        iterator = page.get("NextShardIterator")
    # then
    assert iterator is None
    assert [r["dynamodb"]["Keys"]["pk"]["S"] for p in pages for r in p["Records"]] == ["a"]


def test_describe_stream_pages_with_limit_and_exclusive_start(short_streams, unique):
    # given
    backend = short_streams
    arn = make_table(backend, f"pages-{unique}")
    advance_stream_clock(backend, 2 * _lifetime(backend))
    wait_for(lambda: len(_shards(backend, arn)) >= 3, timeout=6 * _lifetime(backend),
             message="three shards")
    # when
    streams = backend.client("dynamodbstreams")
    first = streams.describe_stream(StreamArn=arn, Limit=1)["StreamDescription"]
    # then
    assert len(first["Shards"]) == 1
    assert first["LastEvaluatedShardId"] == first["Shards"][0]["ShardId"]
    paged = [s["ShardId"] for s in _shards(backend, arn, limit=1)]
    assert paged[:3] == [s["ShardId"] for s in _shards(backend, arn)][:3]
    assert len(paged) == len(set(paged))


def test_a_shard_filter_lists_the_children_of_a_shard(short_streams, unique):
    # given
    backend = short_streams
    arn = make_table(backend, f"children-{unique}")
    advance_stream_clock(backend, _lifetime(backend))
    wait_for(lambda: len(_shards(backend, arn)) >= 2, timeout=4 * _lifetime(backend),
             message="a rollover")
    parent = _shards(backend, arn)[0]["ShardId"]
    # when
    children = backend.client("dynamodbstreams").describe_stream(
        StreamArn=arn, ShardFilter={"Type": "CHILD_SHARDS", "ShardId": parent},
    )["StreamDescription"]["Shards"]
    # then
    assert [c["ParentShardId"] for c in children] == [parent]


def test_a_bad_describe_limit_is_a_validation_error(short_streams, unique):
    # given
    arn = make_table(short_streams, f"limit-{unique}")
    # when
    with pytest.raises(ClientError) as err:
        short_streams.client("dynamodbstreams", config=_no_validation()).describe_stream(
            StreamArn=arn, Limit=0)
    # then
    assert err.value.response["Error"]["Code"] == "ValidationException"


def _no_validation():
    import botocore.config

    return botocore.config.Config(parameter_validation=False)


@pytest.mark.parametrize("parallelization", [1, 10])
def test_a_mapping_delivers_every_record_across_rollovers_in_per_key_order(
        short_streams, unique, parallelization):
    # given
    backend = short_streams
    name = f"lineage-{parallelization}-{unique}"
    role = make_role(backend, f"{name}-role")
    arn = journaled_function(backend, name, role=role, Timeout=30).stream
    map_stream(backend, name, arn, BatchSize=10, ParallelizationFactor=parallelization)
    ddb = backend.client("dynamodb")
    keys = [f"k{i}" for i in range(12)]
    # when: writes keep coming while at least two rollovers happen
    written: list[tuple[str, int]] = []
    stop = threading.Event()
    start = time.monotonic()
    version = 0
    while not stop.is_set():
        for key in keys:
            ddb.put_item(TableName=f"{name}-source",
                         Item={"pk": {"S": key}, "v": {"N": str(version)}})
            written.append((key, version))
        version += 1
        if time.monotonic() - start > 2.5 * _lifetime(backend):
            stop.set()
    # then
    shards = _shards(backend, arn)
    assert len(shards) >= 3
    for parent, child in itertools.pairwise(shards):
        assert child["ParentShardId"] == parent["ShardId"]
    delivered = wait_for(
        lambda: (j := journal(backend, f"{name}-journal"))
        and sum(len(i["seqs"]) for i in j) >= len(written) and j,
        timeout=60, message="every record delivered")
    seqs = [s for invocation in delivered for s in invocation["seqs"]]
    assert len(seqs) == len(set(seqs)) == len(written)  # no gap, no duplicate
    per_key: dict[str, list[int]] = {}
    for invocation in delivered:  # oldest first
        for key, seq in zip(invocation["keys"], invocation["seqs"], strict=True):
            per_key.setdefault(json.loads(key)["pk"]["S"], []).append(int(seq))
    assert sorted(per_key) == sorted(keys)
    for key, key_seqs in per_key.items():
        assert key_seqs == sorted(key_seqs), f"{key} out of order"
