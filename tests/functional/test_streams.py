"""DynamoDB Streams on the local endpoint return records in AWS's shape."""

from __future__ import annotations

from datetime import datetime

import pytest
from botocore.exceptions import ClientError

from tests.functional.support import make_table

pytestmark = pytest.mark.functional


def _records(backend, stream_arn: str) -> list[dict]:
    streams = backend.client("dynamodbstreams")
    shard = streams.describe_stream(StreamArn=stream_arn)["StreamDescription"]["Shards"][0]
    iterator = streams.get_shard_iterator(StreamArn=stream_arn, ShardId=shard["ShardId"],
                                          ShardIteratorType="TRIM_HORIZON")["ShardIterator"]
    return streams.get_records(ShardIterator=iterator)["Records"]


def test_describe_stream_works_with_the_pinned_botocore(backend, unique):
    # given
    arn = make_table(backend, f"describe-{unique}")
    # when
    description = backend.client("dynamodbstreams").describe_stream(
        StreamArn=arn)["StreamDescription"]
    # then
    assert description["StreamStatus"] == "ENABLED"
    assert description["StreamViewType"] == "NEW_AND_OLD_IMAGES"
    assert len(description["Shards"]) == 1
    assert description["StreamLabel"] == arn.rsplit("/", 1)[-1]
    assert len(description["StreamLabel"].rsplit(".", 1)[-1]) == 3  # milliseconds


def test_records_have_aws_version_region_and_numeric_time(backend, unique):
    # given
    ddb = backend.client("dynamodb")
    arn = make_table(backend, f"shape-{unique}")
    # when
    ddb.put_item(TableName=f"shape-{unique}", Item={"pk": {"S": "a"}, "n": {"N": "42"}})
    # then
    [record] = _records(backend, arn)
    assert record["eventVersion"] == "1.1"
    assert record["awsRegion"] == backend.region
    assert record["eventSource"] == "aws:dynamodb"
    assert record["eventName"] == "INSERT"
    assert len(record["eventID"]) == 32
    created = record["dynamodb"]["ApproximateCreationDateTime"]
    assert isinstance(created, datetime)
    assert created.microsecond == 0  # rounded down to the second, as on AWS
    assert 21 <= len(record["dynamodb"]["SequenceNumber"]) <= 40


@pytest.mark.parametrize(
    ("view_type", "expected"),
    [
        ("KEYS_ONLY", [["Keys"], ["Keys"], ["Keys"]]),
        ("NEW_IMAGE", [["Keys", "NewImage"], ["Keys", "NewImage"], ["Keys"]]),
        ("OLD_IMAGE", [["Keys"], ["Keys", "OldImage"], ["Keys", "OldImage"]]),
        ("NEW_AND_OLD_IMAGES", [["Keys", "NewImage"], ["Keys", "NewImage", "OldImage"],
                                ["Keys", "OldImage"]]),
    ],
)
def test_images_follow_the_stream_view_type(backend, unique, view_type, expected):
    # given
    table = f"view-{view_type.lower().replace('_', '-')}-{unique}"
    ddb = backend.client("dynamodb")
    arn = make_table(backend, table, view_type=view_type)
    # when
    ddb.put_item(TableName=table, Item={"pk": {"S": "a"}, "v": {"S": "1"}})
    ddb.put_item(TableName=table, Item={"pk": {"S": "a"}, "v": {"S": "2"}})
    ddb.delete_item(TableName=table, Key={"pk": {"S": "a"}})
    # then
    records = _records(backend, arn)
    assert [r["eventName"] for r in records] == ["INSERT", "MODIFY", "REMOVE"]
    images = [[k for k in ("Keys", "NewImage", "OldImage") if k in r["dynamodb"]]
              for r in records]
    assert images == expected


def test_a_write_that_changes_nothing_writes_no_record(backend, unique):
    # given
    table = f"noop-{unique}"
    ddb = backend.client("dynamodb")
    arn = make_table(backend, table)
    item = {"pk": {"S": "same"}, "v": {"N": "1"}}
    ddb.put_item(TableName=table, Item=item)
    # when
    ddb.put_item(TableName=table, Item=item)
    ddb.update_item(TableName=table, Key={"pk": {"S": "same"}},
                    UpdateExpression="SET v = :v", ExpressionAttributeValues={":v": {"N": "1"}})
    # then
    assert [r["eventName"] for r in _records(backend, arn)] == ["INSERT"]


def test_size_bytes_counts_attribute_names_and_values(backend, unique):
    # given: AWS's documented example {id: "Fred"} -> {id: "Fred", name: "Fred"} is 26 bytes
    table = f"size-{unique}"
    ddb = backend.client("dynamodb")
    arn = make_table(backend, table, key="id")
    ddb.put_item(TableName=table, Item={"id": {"S": "Fred"}})
    # when
    ddb.put_item(TableName=table, Item={"id": {"S": "Fred"}, "name": {"S": "Fred"}})
    # then
    assert _records(backend, arn)[1]["dynamodb"]["SizeBytes"] == 26


def test_unknown_shard_iterator_is_a_validation_error_not_a_crash(backend):
    # when
    with pytest.raises(ClientError) as err:
        backend.client("dynamodbstreams").get_records(ShardIterator="x" * 100)
    # then
    assert err.value.response["Error"]["Code"] == "ValidationException"


def test_unknown_shard_is_resource_not_found(backend, unique):
    # given
    arn = make_table(backend, f"shard-{unique}")
    # when
    with pytest.raises(ClientError) as err:
        backend.client("dynamodbstreams").get_shard_iterator(
            StreamArn=arn, ShardId="shardId-00000000000000000000-00000000",
            ShardIteratorType="TRIM_HORIZON")
    # then
    assert err.value.response["Error"]["Code"] == "ResourceNotFoundException"


def test_stream_can_be_disabled_and_enabled_again_with_a_new_arn(backend, unique):
    # given
    table = f"toggle-{unique}"
    ddb = backend.client("dynamodb")
    first = make_table(backend, table)
    # when
    ddb.update_table(TableName=table, StreamSpecification={"StreamEnabled": False})
    ddb.put_item(TableName=table, Item={"pk": {"S": "unseen"}})
    ddb.update_table(TableName=table, StreamSpecification={
        "StreamEnabled": True, "StreamViewType": "NEW_IMAGE"})
    second = ddb.describe_table(TableName=table)["Table"]["LatestStreamArn"]
    ddb.put_item(TableName=table, Item={"pk": {"S": "seen"}})
    # then
    assert second != first
    assert [r["dynamodb"]["Keys"]["pk"]["S"] for r in _records(backend, second)] == ["seen"]
    with pytest.raises(ClientError) as err:
        ddb.update_table(TableName=table, StreamSpecification={
            "StreamEnabled": True, "StreamViewType": "NEW_IMAGE"})
    assert err.value.response["Error"]["Code"] == "ResourceInUseException"
