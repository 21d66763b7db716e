"""Unit tests for the replicators (``lambda_src/replicator``, ``lambda_src/replicator_production``).

No endpoint, no network. The teaching version writes through boto3 to moto's in-process
DynamoDB (``mock_aws``), so puts, deletes and types are DynamoDB's own.
"""

from __future__ import annotations

import base64
from decimal import Decimal

import boto3
import pytest
from moto import mock_aws

REPLICA = "logfile_replica"


def log_key(request_id: int) -> dict:
    return {"PK": {"S": f"request#{request_id}"}}


def log_image(request_id: int, **extra: dict) -> dict:
    return {**log_key(request_id), "requestid": {"N": str(request_id)}, **extra}


# --- the teaching version, against moto -------------------------------------------------


@pytest.fixture
def dynamodb(monkeypatch):
    """moto's DynamoDB in this process, with the replica table created."""
    monkeypatch.delenv("AWS_ENDPOINT_URL", raising=False)
    monkeypatch.delenv("AWS_PROFILE", raising=False)
    monkeypatch.setenv("AWS_DEFAULT_REGION", "us-east-1")
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")
    with mock_aws():
        resource = boto3.resource("dynamodb")
        resource.create_table(
            TableName=REPLICA,
            KeySchema=[{"AttributeName": "PK", "KeyType": "HASH"}],
            AttributeDefinitions=[{"AttributeName": "PK", "AttributeType": "S"}],
            BillingMode="PAY_PER_REQUEST",
        )
        yield resource


def replica_items(dynamodb, table: str = REPLICA) -> dict[str, dict]:
    return {item["PK"]: item for item in dynamodb.Table(table).scan()["Items"]}


@pytest.mark.parametrize("event_name", ["new_image", "new_and_old_images"])
def test_inserts_and_modifies_are_put_and_removes_deleted(
    replicator, dynamodb, load_event, event_name, caplog
):
    # given
    dynamodb.Table(REPLICA).put_item(Item={"PK": "request#4003", "requestid": 4003})
    event = load_event(event_name)

    # when
    response = replicator.lambda_handler(event, None)

    # then
    items = replica_items(dynamodb)
    assert sorted(items) == ["request#4001", "request#4002"]
    assert items["request#4002"]["servererror"] == "5xx"
    assert response == {"replicated": 3, "puts": 2, "deletes": 1}
    assert "Replicated 3 records into logfile_replica: 2 puts, 1 deletes" in caplog.messages


def test_the_replica_item_equals_the_new_image(replicator, dynamodb, load_event):
    # given
    event = load_event("new_and_old_images")
    new_image = event["Records"][1]["dynamodb"]["NewImage"]

    # when
    replicator.lambda_handler(event, None)

    # then
    low_level = boto3.client("dynamodb").get_item(TableName=REPLICA, Key=log_key(4002))["Item"]
    assert low_level == new_image


def test_numbers_and_binaries_keep_their_type_and_value(
    replicator, dynamodb, make_record
):
    # given
    blob = bytes([0, 255, 7])
    encoded = base64.b64encode(blob).decode()
    image = log_image(
        1,
        bytessent={"N": "1.5"},
        big={"N": "12345678901234567890123456789012345678"},
        blob={"B": encoded},
        blobs={"BS": [encoded]},
        nested={"M": {"inner": {"L": [{"B": encoded}, {"N": "0.1"}]}}},
    )
    record = make_record("INSERT", log_key(1), new_image=image, view_type="NEW_IMAGE")

    # when
    replicator.lambda_handler({"Records": [record]}, None)

    # then
    item = replica_items(dynamodb)["request#1"]
    assert item["bytessent"] == Decimal("1.5")
    assert item["big"] == Decimal("12345678901234567890123456789012345678")
    assert bytes(item["blob"]) == blob
    assert {bytes(b) for b in item["blobs"]} == {blob}
    assert bytes(item["nested"]["inner"][0]) == blob
    assert item["nested"]["inner"][1] == Decimal("0.1")


def test_replica_table_comes_from_the_environment(
    replicator, dynamodb, load_event, monkeypatch
):
    # given
    monkeypatch.setenv("REPLICA_TABLE", "other_replica")
    dynamodb.create_table(
        TableName="other_replica",
        KeySchema=[{"AttributeName": "PK", "KeyType": "HASH"}],
        AttributeDefinitions=[{"AttributeName": "PK", "AttributeType": "S"}],
        BillingMode="PAY_PER_REQUEST",
    )

    # when
    replicator.lambda_handler(load_event("new_image"), None)

    # then
    assert sorted(replica_items(dynamodb, "other_replica")) == ["request#4001", "request#4002"]
    assert replica_items(dynamodb) == {}


@pytest.mark.parametrize("event_name", ["keys_only", "old_image"])
def test_a_stream_without_new_images_raises_and_says_which_view_type_to_use(
    replicator, dynamodb, load_event, event_name
):
    # given
    event = load_event(event_name)

    # when / then
    with pytest.raises(ValueError, match="NEW_IMAGE or NEW_AND_OLD_IMAGES"):
        replicator.lambda_handler(event, None)


def test_a_failed_write_is_raised_not_swallowed(replicator, dynamodb, load_event):
    # given: the replica table does not exist
    dynamodb.Table(REPLICA).delete()

    # when / then
    with pytest.raises(dynamodb.meta.client.exceptions.ResourceNotFoundException):
        replicator.lambda_handler(load_event("new_image"), None)


def test_unknown_event_name_raises(replicator, dynamodb, make_record):
    # given
    record = make_record("INSERT", log_key(1), new_image=log_image(1))
    record["eventName"] = "TRUNCATE"

    # when / then
    with pytest.raises(ValueError, match="TRUNCATE"):
        replicator.lambda_handler({"Records": [record]}, None)


def test_only_put_item_and_delete_item_are_called(replicator, dynamodb, load_event):
    # given: the lab's IAM policy allows these two table calls and no other
    calls: list[str] = []
    client = replicator.replica_table().meta.client
    client.meta.events.register(
        "before-call.dynamodb.*", lambda model, **_: calls.append(model.name)
    )

    # when
    replicator.lambda_handler(load_event("new_and_old_images"), None)

    # then
    assert set(calls) == {"PutItem", "DeleteItem"}
