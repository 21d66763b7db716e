"""Table helpers against moto's threaded server: idempotent creates, streams, loads, counts."""

from __future__ import annotations

import urllib.request
from decimal import Decimal

import pytest
from moto.server import ThreadedMotoServer

from helpers.clients import get_backend
from helpers.ecommerce_data import ecommerce_items
from helpers.logfile_data import logfile_dataset
from helpers.naming import WORKSHOP_TAG
from helpers.table_items import compare_tables, count_items, load_items, scan_all
from helpers.tables import (
    StreamNotEnabledError,
    TableSchemaError,
    create_ecommerce_table,
    create_logfile_table,
    create_replica_table,
    enable_stream,
    stream_arn,
)


@pytest.fixture(scope="module")
def backend():
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    host, port = server.get_host_and_port()
    url = f"http://{host}:{port}"
    urllib.request.urlopen(urllib.request.Request(f"{url}/moto-api/reset", method="POST"))
    try:
        yield get_backend("endpoint", endpoint_url=url, region="us-east-1")
    finally:
        urllib.request.urlopen(urllib.request.Request(f"{url}/moto-api/reset", method="POST"))
        server.stop()


def _tags(backend, table):
    arn = backend.client("dynamodb").describe_table(TableName=table)["Table"]["TableArn"]
    return backend.client("dynamodb").list_tags_of_resource(ResourceArn=arn)["Tags"]


@pytest.mark.parametrize(
    "create", [create_ecommerce_table, create_logfile_table, create_replica_table]
)
def test_creating_a_table_twice_returns_the_same_active_tagged_table(backend, create):
    # given
    first = create(backend)
    # when
    second = create(backend)
    # then
    assert second["TableArn"] == first["TableArn"]
    assert second["TableStatus"] == "ACTIVE"
    assert WORKSHOP_TAG in _tags(backend, second["TableName"])


def test_ecommerce_table_has_pk_sk_two_indexes_and_a_new_and_old_images_stream(backend):
    # given / when
    table = create_ecommerce_table(backend, "shop-schema", tags={"team": "blue"})
    # then
    assert [(k["AttributeName"], k["KeyType"]) for k in table["KeySchema"]] == [
        ("PK", "HASH"),
        ("SK", "RANGE"),
    ]
    indexes = {i["IndexName"]: i for i in table["GlobalSecondaryIndexes"]}
    assert [k["AttributeName"] for k in indexes["GSI1"]["KeySchema"]] == ["GSI1PK", "GSI1SK"]
    assert [k["AttributeName"] for k in indexes["GSI2"]["KeySchema"]] == ["GSI2PK", "GSI2SK"]
    assert table["StreamSpecification"]["StreamViewType"] == "NEW_AND_OLD_IMAGES"
    assert {"Key": "team", "Value": "blue"} in _tags(backend, "shop-schema")


def test_provisioned_logfile_table_has_the_lab_schema_and_5_5_capacity(backend):
    # given / when
    table = create_logfile_table(backend, "logfile-provisioned", billing="PROVISIONED")
    # then
    assert table["KeySchema"] == [{"AttributeName": "PK", "KeyType": "HASH"}]
    assert table["ProvisionedThroughput"]["WriteCapacityUnits"] == 5
    (index,) = table["GlobalSecondaryIndexes"]
    assert index["IndexName"] == "GSI_1"
    assert index["KeySchema"] == [{"AttributeName": "GSI_1_PK", "KeyType": "HASH"}]
    assert index["Projection"] == {"ProjectionType": "INCLUDE", "NonKeyAttributes": ["bytessent"]}
    assert index["ProvisionedThroughput"]["ReadCapacityUnits"] == 5
    assert "StreamSpecification" not in table


def test_provisioned_replica_table_projects_three_attributes_with_10_5_capacity(backend):
    # given / when
    table = create_replica_table(backend, "replica-provisioned", billing="PROVISIONED")
    # then
    (index,) = table["GlobalSecondaryIndexes"]
    assert index["Projection"]["NonKeyAttributes"] == ["bytessent", "requestid", "host"]
    assert table["ProvisionedThroughput"]["ReadCapacityUnits"] == 10
    assert table["ProvisionedThroughput"]["WriteCapacityUnits"] == 5


def test_unknown_billing_mode_is_refused_before_anything_is_created(backend):
    # given / when / then
    with pytest.raises(ValueError, match="PAY_PER_REQUEST, PROVISIONED"):
        create_logfile_table(backend, "never-created", billing="ON_DEMAND")


def test_existing_table_with_other_keys_raises_a_schema_error(backend):
    # given
    create_ecommerce_table(backend, "taken-name")
    # when
    with pytest.raises(TableSchemaError) as info:
        create_logfile_table(backend, "taken-name")
    # then
    message = str(info.value)
    assert "'taken-name' already exists" in message
    assert "PK (HASH), SK (RANGE) instead of PK (HASH)" in message
    assert "no index GSI_1" in message


def test_enabling_a_stream_twice_with_the_same_view_type_keeps_its_arn(backend):
    # given
    create_logfile_table(backend, "logfile-stream")
    first = enable_stream(backend, "logfile-stream", "NEW_IMAGE")
    # when
    second = enable_stream(backend, "logfile-stream", "NEW_IMAGE")
    # then
    assert second == first == stream_arn(backend, "logfile-stream")
    assert first.startswith("arn:aws:dynamodb:us-east-1:")
    assert ":table/logfile-stream/stream/" in first


def test_stream_arn_of_a_table_without_stream_says_how_to_enable_it(backend):
    # given
    create_replica_table(backend, "no-stream")
    # when / then
    with pytest.raises(StreamNotEnabledError, match="enable_stream"):
        stream_arn(backend, "no-stream")


def test_loading_the_exercise_datasets_gives_the_lab_counts(backend):
    # given: the lab's three data sets (notebook 00 loads medium1 and medium2 into the
    # local endpoint and its test checks 4,000 items, one with servererror)
    datasets = {name: logfile_dataset(name) for name in ("small1", "medium1", "medium2")}
    create_logfile_table(backend, "logfile-load")
    # when
    report = load_items(backend, "logfile-load", datasets["small1"], progress=False)
    # then
    assert [len(rows) for rows in datasets.values()] == [500, 2000, 2000]
    assert sum("servererror" in row.to_item()
               for row in datasets["medium1"] + datasets["medium2"]) == 1
    assert report.count == 500 and report.seconds > 0 and report.table == "logfile-load"
    assert count_items(backend, "logfile-load") == 500
    assert count_items(backend, "logfile-load", filter_attr="servererror") == sum(
        "servererror" in row.to_item() for row in datasets["small1"])


def test_loaded_log_items_read_back_with_their_keys_and_decimal_numbers(backend):
    # given
    create_logfile_table(backend, "logfile-read")
    rows = logfile_dataset("stream")[:50]
    # when
    load_items(backend, "logfile-read", rows, progress=False)
    items = {item["PK"]: item for item in scan_all(backend, "logfile-read")}
    # then
    assert len(items) == 50
    assert items["request#4001"] == rows[0].to_item()
    assert isinstance(items["request#4001"]["bytessent"], Decimal)


def test_compare_tables_finds_a_changed_decimal_a_missing_and_an_extra_item(backend):
    # given
    create_ecommerce_table(backend, "shop-a")
    create_ecommerce_table(backend, "shop-b")
    items = ecommerce_items()
    load_items(backend, "shop-a", items, progress=False)
    load_items(backend, "shop-b", items, progress=False)
    identical = compare_tables(backend, "shop-a", "shop-b")
    shop_b = backend.resource("dynamodb").Table("shop-b")
    product = next(i for i in items if i["PK"].startswith("PRODUCT#"))
    shop_b.put_item(Item={**product, "price": product["price"] - Decimal("0.01")})
    shop_b.delete_item(Key={"PK": "USER#user001", "SK": "PROFILE"})
    shop_b.put_item(Item={"PK": "LAMBDA#test-processing", "SK": "EVENT#001"})
    # when
    diff = compare_tables(backend, "shop-a", "shop-b")
    # then
    assert identical.identical and identical.count_a == len(items)
    assert not diff.identical
    assert diff.missing_in_b == [{"PK": "USER#user001", "SK": "PROFILE"}]
    assert diff.extra_in_b == [{"PK": "LAMBDA#test-processing", "SK": "EVENT#001"}]
    ((in_a, in_b),) = diff.different
    assert in_a["price"] - in_b["price"] == Decimal("0.01")
    assert "different: 1" in diff.summary()


def test_count_items_of_an_empty_table_is_zero(backend):
    # given
    create_replica_table(backend, "empty-replica")
    # when / then
    assert count_items(backend, "empty-replica") == 0
    assert count_items(backend, "empty-replica", filter_attr="servererror") == 0
