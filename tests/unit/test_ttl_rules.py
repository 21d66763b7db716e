"""Which items TTL deletes (no endpoint): numbers in the past, not older than five years."""

from __future__ import annotations

from types import SimpleNamespace

import pytest

from localaws.streams.ttl import FIVE_YEARS_S, expiry_of, is_expired

NOW = 1_700_000_000.0


def _item(**attrs: tuple[str, str]) -> SimpleNamespace:
    return SimpleNamespace(attrs={k: SimpleNamespace(type=t, value=v)
                                  for k, (t, v) in attrs.items()})


@pytest.mark.parametrize(("attribute", "expired"), [
    (("N", str(int(NOW) - 1)), True),
    (("N", f"{NOW - 0.5}"), True),
    (("N", str(int(NOW) + 60)), False),
    (("S", str(int(NOW) - 1)), False),  # not a number: TTL ignores it
    (("N", str(int(NOW - FIVE_YEARS_S) - 10)), False),  # older than five years
])
def test_ttl_deletes_only_numbers_in_the_past_within_five_years(attribute, expired):
    # given
    item = _item(expires=attribute)
    # when
    result = is_expired(expiry_of(item, "expires"), NOW)
    # then
    assert result is expired


def test_an_item_without_the_ttl_attribute_never_expires():
    # when / then
    assert expiry_of(_item(other=("N", "1")), "expires") is None
    assert not is_expired(None, NOW)


@pytest.fixture
def dynamodb(monkeypatch):
    """An in-process moto DynamoDB with the endpoint's UpdateTimeToLive."""
    import boto3
    from moto import mock_aws
    from moto.dynamodb.models import DynamoDBBackend

    from localaws.streams import ttl

    monkeypatch.setattr(DynamoDBBackend, "update_time_to_live", ttl._update_time_to_live)
    with mock_aws():
        yield boto3.client("dynamodb", region_name="us-east-1")


def test_update_time_to_live_takes_the_table_arn_as_aws_does(dynamodb):
    # given
    arn = dynamodb.create_table(
        TableName="t", BillingMode="PAY_PER_REQUEST",
        KeySchema=[{"AttributeName": "id", "KeyType": "HASH"}],
        AttributeDefinitions=[{"AttributeName": "id", "AttributeType": "S"}],
    )["TableDescription"]["TableArn"]
    # when
    dynamodb.update_time_to_live(
        TableName=arn, TimeToLiveSpecification={"Enabled": True, "AttributeName": "expires"})
    # then
    ttl = dynamodb.describe_time_to_live(TableName="t")["TimeToLiveDescription"]
    assert ttl == {"TimeToLiveStatus": "ENABLED", "AttributeName": "expires"}


def test_update_time_to_live_of_a_missing_table_is_resource_not_found(dynamodb):
    # when
    with pytest.raises(dynamodb.exceptions.ResourceNotFoundException):
        dynamodb.update_time_to_live(
            TableName="arn:aws:dynamodb:us-east-1:123456789012:table/none",
            TimeToLiveSpecification={"Enabled": True, "AttributeName": "expires"})
