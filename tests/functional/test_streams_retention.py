"""Retention: old records are trimmed, and a mapping behind the horizon goes on as AWS.

Runs on an endpoint that keeps records 20 seconds and rolls shards every 2
(``tests/functional/stream_endpoint.py``). Records are aged by moving the endpoint's
stream clock on (``POST /_workshop/streams/clock``) instead of waiting a retention:
the engine reads every record's age from that clock.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta

import pytest
from botocore.exceptions import ClientError

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
    queue_messages,
    wait_for,
    wait_for_state,
)
from tests.functional.test_streams_write_apis import stream_records

pytestmark = pytest.mark.functional

TRIMMED = "The data you are trying to access has been trimmed."


def _retention(backend) -> float:
    return float(backend.health["streams"]["stream_retention"])


def _pipeline(backend, name: str) -> str:
    role = make_role(backend, f"{name}-role", extra=[
        {"Effect": "Allow", "Action": "sqs:SendMessage", "Resource": "*"}])
    return journaled_function(backend, name, role=role, Timeout=30).stream


def _put(backend, name: str, pk: str, mode: str = "ok") -> None:
    backend.client("dynamodb").put_item(TableName=f"{name}-source",
                                        Item={"pk": {"S": pk}, "mode": {"S": mode}})


def _delivered(backend, name: str) -> list[str]:
    return [json.loads(k)["pk"]["S"] for i in journal(backend, f"{name}-journal")
            for k in i["keys"]]


def test_records_older_than_the_retention_are_gone_from_the_stream(short_streams, unique):
    # given
    backend = short_streams
    table = f"trim-{unique}"
    arn = make_table(backend, table)
    ddb = backend.client("dynamodb")
    ddb.put_item(TableName=table, Item={"pk": {"S": "old"}})
    streams = backend.client("dynamodbstreams")
    shard = streams.describe_stream(StreamArn=arn)["StreamDescription"]["Shards"][0]
    first_seq = shard["SequenceNumberRange"]["StartingSequenceNumber"]
    iterator = streams.get_shard_iterator(StreamArn=arn, ShardId=shard["ShardId"],
                                          ShardIteratorType="TRIM_HORIZON")["ShardIterator"]
    # when: "old" grows older than the retention
    advance_stream_clock(backend, _retention(backend) + 0.5)
    ddb.put_item(TableName=table, Item={"pk": {"S": "new"}})
    # then
    with pytest.raises(ClientError) as err:
        streams.get_records(ShardIterator=iterator)
    assert err.value.response["Error"]["Code"] == "TrimmedDataAccessException"
    assert err.value.response["Error"]["Message"] == TRIMMED
    assert [r["dynamodb"]["Keys"]["pk"]["S"] for r in stream_records(backend, arn)] == ["new"]
    still_there = streams.describe_stream(StreamArn=arn)["StreamDescription"]["Shards"]
    if any(s["ShardId"] == shard["ShardId"] for s in still_there):
        with pytest.raises(ClientError) as err:
            streams.get_shard_iterator(StreamArn=arn, ShardId=shard["ShardId"],
                                       ShardIteratorType="AT_SEQUENCE_NUMBER",
                                       SequenceNumber=first_seq)
        assert err.value.response["Error"]["Code"] == "TrimmedDataAccessException"


def test_a_mapping_behind_the_horizon_skips_what_expired_and_iterator_age_shows_it(
        short_streams, unique):
    # given: a mapping that has processed "seen", then is disabled
    backend = short_streams
    name = f"behind-{unique}"
    arn = _pipeline(backend, name)
    lam = backend.client("lambda")
    uuid = map_stream(backend, name, arn)
    _put(backend, name, "seen")
    wait_for(lambda: _delivered(backend, name) == ["seen"], message="the first record")
    lam.update_event_source_mapping(UUID=uuid, Enabled=False)
    wait_for_state(backend, uuid, "Disabled")
    # when: "expired" outlives the retention while the mapping is off
    _put(backend, name, "expired")
    advance_stream_clock(backend, _retention(backend) / 2)
    _put(backend, name, "late")
    advance_stream_clock(backend, _retention(backend) / 2 + 0.5)
    lam.update_event_source_mapping(UUID=uuid, Enabled=True)
    # then
    wait_for(lambda: "late" in _delivered(backend, name), message="the kept record")
    assert _delivered(backend, name) == ["seen", "late"]
    now = datetime.now(UTC)
    ages = backend.client("cloudwatch").get_metric_statistics(
        Namespace="AWS/Lambda", MetricName="IteratorAge", Statistics=["Maximum"], Period=60,
        Dimensions=[{"Name": "FunctionName", "Value": name}],
        StartTime=now - timedelta(minutes=5), EndTime=now + timedelta(minutes=5))["Datapoints"]
    # "late" was at least half a retention old when it was sent
    assert max(p["Maximum"] for p in ages) >= _retention(backend) / 2 * 1000


def test_a_failing_record_is_retried_until_it_expires_from_the_stream(short_streams, unique):
    # given: infinite retries and record age, an on-failure queue
    backend = short_streams
    name = f"expire-{unique}"
    arn = _pipeline(backend, name)
    sqs = backend.client("sqs")
    url = sqs.create_queue(QueueName=f"{name}-dlq")["QueueUrl"]
    queue_arn = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["QueueArn"])[
        "Attributes"]["QueueArn"]
    map_stream(backend, name, arn, BatchSize=1,
               DestinationConfig={"OnFailure": {"Destination": queue_arn}})
    # when: "poison" is retried, then "next" written half a retention after it
    _put(backend, name, "poison", "raise")
    wait_for(lambda: _delivered(backend, name).count("poison") > 1,
             message="a retry of the poison record")
    advance_stream_clock(backend, _retention(backend) / 2)
    _put(backend, name, "next")
    advance_stream_clock(backend, _retention(backend) / 2 + 0.5)
    # then: once "poison" is older than the retention it is given up, and "next" goes on
    wait_for(lambda: "next" in _delivered(backend, name), timeout=4 * _retention(backend),
             message="the record after the poison one")
    [message] = wait_for(lambda: queue_messages(backend, url), message="the failure record")
    info = message["DDBStreamBatchInfo"]
    assert info["batchSize"] == 1
    assert _delivered(backend, name).count("poison") > 1
