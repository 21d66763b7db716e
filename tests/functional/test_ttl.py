"""Time to live: expired items are deleted in the background with a service REMOVE record."""

from __future__ import annotations

import time

import pytest
from botocore.exceptions import ClientError

from tests.functional.stream_endpoint import short_streams_fixture  # noqa: F401
from tests.functional.support import make_table, wait_for
from tests.functional.test_streams_write_apis import stream_records

pytestmark = pytest.mark.functional

SERVICE = {"PrincipalId": "dynamodb.amazonaws.com", "Type": "Service"}  # GetRecords' spelling


def _ttl_table(backend, name: str) -> str:
    arn = make_table(backend, name)
    backend.client("dynamodb").update_time_to_live(
        TableName=name, TimeToLiveSpecification={"Enabled": True, "AttributeName": "expires"})
    return arn


def test_an_expired_item_is_deleted_with_a_service_identity_remove(short_streams, unique):
    # given
    backend = short_streams
    table = f"ttl-{unique}"
    arn = _ttl_table(backend, table)
    ddb = backend.client("dynamodb")
    now = int(time.time())
    ddb.put_item(TableName=table, Item={"pk": {"S": "expired"}, "expires": {"N": str(now - 1)}})
    ddb.put_item(TableName=table, Item={"pk": {"S": "later"}, "expires": {"N": str(now + 3600)}})
    ddb.put_item(TableName=table, Item={"pk": {"S": "text"}, "expires": {"S": str(now - 1)}})
    ddb.put_item(TableName=table, Item={"pk": {"S": "user"}})
    ddb.delete_item(TableName=table, Key={"pk": {"S": "user"}})
    # when
    wait_for(lambda: "Item" not in ddb.get_item(TableName=table, Key={"pk": {"S": "expired"}}),
             timeout=10, message="the TTL sweep")
    # then
    removes = [r for r in stream_records(backend, arn) if r["eventName"] == "REMOVE"]
    by_key = {r["dynamodb"]["Keys"]["pk"]["S"]: r for r in removes}
    assert by_key["expired"]["userIdentity"] == SERVICE
    assert by_key["expired"]["dynamodb"]["OldImage"]["expires"] == {"N": str(now - 1)}
    assert "userIdentity" not in by_key["user"]
    left = {i["pk"]["S"] for i in ddb.scan(TableName=table)["Items"]}
    assert left == {"later", "text"}


def test_describe_time_to_live_shows_the_setting(short_streams, unique):
    # given
    table = f"ttl-describe-{unique}"
    _ttl_table(short_streams, table)
    # when
    description = short_streams.client("dynamodb").describe_time_to_live(
        TableName=table)["TimeToLiveDescription"]
    # then
    assert description == {"TimeToLiveStatus": "ENABLED", "AttributeName": "expires"}


def test_enabling_ttl_twice_is_a_validation_error(short_streams, unique):
    # given
    table = f"ttl-twice-{unique}"
    _ttl_table(short_streams, table)
    # when
    with pytest.raises(ClientError) as err:
        short_streams.client("dynamodb").update_time_to_live(
            TableName=table,
            TimeToLiveSpecification={"Enabled": True, "AttributeName": "expires"})
    # then
    assert err.value.response["Error"]["Code"] == "ValidationException"
    assert err.value.response["Error"]["Message"] == "TimeToLive is already enabled"


def test_disabling_ttl_that_is_off_is_a_validation_error(short_streams, unique):
    # given
    table = f"ttl-off-{unique}"
    make_table(short_streams, table)
    # when
    with pytest.raises(ClientError) as err:
        short_streams.client("dynamodb").update_time_to_live(
            TableName=table, TimeToLiveSpecification={"Enabled": False, "AttributeName": "x"})
    # then
    assert err.value.response["Error"]["Code"] == "ValidationException"
    assert err.value.response["Error"]["Message"] == "TimeToLive is already disabled"


def test_ttl_on_a_missing_table_is_resource_not_found(short_streams, unique):
    # when
    with pytest.raises(ClientError) as err:
        short_streams.client("dynamodb").update_time_to_live(
            TableName=f"missing-{unique}",
            TimeToLiveSpecification={"Enabled": True, "AttributeName": "x"})
    # then
    assert err.value.response["Error"]["Code"] == "ResourceNotFoundException"


def test_an_expired_item_stays_readable_until_the_sweep(backend, unique):
    # given: the session's endpoint sweeps every 5 seconds
    table = f"ttl-readable-{unique}"
    arn = _ttl_table(backend, table)
    ddb = backend.client("dynamodb")
    # when / then: read right after the write; a sweep that happened to run in
    # between shows as a service REMOVE of that very item, and the try is repeated
    for attempt in range(3):
        key = {"pk": {"S": f"expired-{attempt}"}}
        ddb.put_item(TableName=table, Item={**key, "expires": {"N": str(int(time.time()) - 60)}})
        if "Item" in ddb.get_item(TableName=table, Key=key):
            break
        swept = [r for r in stream_records(backend, arn) if r["eventName"] == "REMOVE"
                 and r["dynamodb"]["Keys"] == key and r.get("userIdentity") == SERVICE]
        assert swept, "an expired item vanished without a TTL deletion"
    else:
        pytest.fail("three sweeps raced three reads")
