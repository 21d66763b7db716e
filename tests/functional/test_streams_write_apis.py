"""One stream record per item change, for every write API and every view type."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
from botocore.exceptions import ClientError

from helpers.streams import stream_shards
from tests.functional.support import make_table

pytestmark = pytest.mark.functional

VIEW_TYPES = ("KEYS_ONLY", "NEW_IMAGE", "OLD_IMAGE", "NEW_AND_OLD_IMAGES")


def _s(value: str) -> dict[str, str]:
    return {"S": value}


def _item(pk: str, v: str) -> dict[str, Any]:
    return {"pk": _s(pk), "v": _s(v)}


def stream_records(backend: Any, stream_arn: str) -> list[dict[str, Any]]:
    """Every record still kept in every shard of a stream, parents first."""
    streams = backend.client("dynamodbstreams")
    out: list[dict[str, Any]] = []
    for shard in stream_shards(backend, stream_arn):
        try:
            iterator = streams.get_shard_iterator(
                StreamArn=stream_arn, ShardId=shard["ShardId"],
                ShardIteratorType="TRIM_HORIZON")["ShardIterator"]
            while iterator:
                page = streams.get_records(ShardIterator=iterator)
                out.extend(page["Records"])
                if not page["Records"]:
                    break
                iterator = page.get("NextShardIterator")
        except ClientError as err:  # trimmed away since it was listed: its records are gone
            if err.response["Error"]["Code"] not in ("TrimmedDataAccessException",
                                                     "ResourceNotFoundException"):
                raise
    return out


# Each scenario writes through one API and returns the changes AWS records:
# (eventName, image before, image after).
Scenario = Callable[[Any, str], list[tuple[str, Any, Any]]]


def put_new_then_replace(ddb, table):
    ddb.put_item(TableName=table, Item=_item("a", "1"))
    ddb.put_item(TableName=table, Item=_item("a", "2"))
    return [("INSERT", None, _item("a", "1")), ("MODIFY", _item("a", "1"), _item("a", "2"))]


def update_creates_then_modifies(ddb, table):
    for value in ("1", "2"):
        ddb.update_item(TableName=table, Key={"pk": _s("a")}, UpdateExpression="SET v = :v",
                        ExpressionAttributeValues={":v": _s(value)})
    return [("INSERT", None, _item("a", "1")), ("MODIFY", _item("a", "1"), _item("a", "2"))]


def delete_existing_and_missing(ddb, table):
    ddb.put_item(TableName=table, Item=_item("a", "1"))
    ddb.delete_item(TableName=table, Key={"pk": _s("a")})
    ddb.delete_item(TableName=table, Key={"pk": _s("never")})
    return [("INSERT", None, _item("a", "1")), ("REMOVE", _item("a", "1"), None)]


def batch_write_puts_and_deletes(ddb, table):
    ddb.put_item(TableName=table, Item=_item("old", "0"))
    ddb.batch_write_item(RequestItems={table: [
        {"PutRequest": {"Item": _item("a", "1")}},
        {"PutRequest": {"Item": _item("b", "1")}},
        {"DeleteRequest": {"Key": {"pk": _s("old")}}},
    ]})
    return [("INSERT", None, _item("old", "0")), ("INSERT", None, _item("a", "1")),
            ("INSERT", None, _item("b", "1")), ("REMOVE", _item("old", "0"), None)]


def transaction_put_update_delete(ddb, table):
    ddb.put_item(TableName=table, Item=_item("gone", "0"))
    ddb.transact_write_items(TransactItems=[
        {"Put": {"TableName": table, "Item": _item("a", "1")}},
        {"Update": {"TableName": table, "Key": {"pk": _s("b")},
                    "UpdateExpression": "SET v = :v",
                    "ExpressionAttributeValues": {":v": _s("1")}}},
        {"Delete": {"TableName": table, "Key": {"pk": _s("gone")}}},
    ])
    return [("INSERT", None, _item("gone", "0")), ("INSERT", None, _item("a", "1")),
            ("INSERT", None, _item("b", "1")), ("REMOVE", _item("gone", "0"), None)]


def failed_transaction_writes_nothing(ddb, table):
    ddb.put_item(TableName=table, Item=_item("a", "1"))
    with pytest.raises(ClientError) as err:
        ddb.transact_write_items(TransactItems=[
            {"Put": {"TableName": table, "Item": _item("b", "1")}},
            {"Update": {"TableName": table, "Key": {"pk": _s("c")},
                        "UpdateExpression": "SET v = :v",
                        "ExpressionAttributeValues": {":v": _s("1")}}},
            {"Put": {"TableName": table, "Item": _item("a", "2"),
                     "ConditionExpression": "attribute_not_exists(pk)"}},
        ])
    assert err.value.response["Error"]["Code"] == "TransactionCanceledException"
    return [("INSERT", None, _item("a", "1"))]


def failed_conditions_write_nothing(ddb, table):
    ddb.put_item(TableName=table, Item=_item("a", "1"))
    for call in (
        lambda: ddb.put_item(TableName=table, Item=_item("a", "2"),
                             ConditionExpression="attribute_not_exists(pk)"),
        lambda: ddb.update_item(TableName=table, Key={"pk": _s("a")},
                                UpdateExpression="SET v = :v", ConditionExpression="v = :x",
                                ExpressionAttributeValues={":v": _s("3"), ":x": _s("9")}),
        lambda: ddb.delete_item(TableName=table, Key={"pk": _s("a")},
                                ConditionExpression="v = :x",
                                ExpressionAttributeValues={":x": _s("9")}),
    ):
        with pytest.raises(ClientError) as err:
            call()
        assert err.value.response["Error"]["Code"] == "ConditionalCheckFailedException"
    return [("INSERT", None, _item("a", "1"))]


def writes_that_change_nothing(ddb, table):
    ddb.put_item(TableName=table, Item=_item("a", "1"))
    ddb.put_item(TableName=table, Item=_item("a", "1"))
    ddb.update_item(TableName=table, Key={"pk": _s("a")}, UpdateExpression="SET v = :v",
                    ExpressionAttributeValues={":v": _s("1")})
    return [("INSERT", None, _item("a", "1"))]


# moto's PartiQL parser takes literals only (parameters give a 500 there).
def partiql_insert_update_delete(ddb, table):
    ddb.execute_statement(Statement=f"INSERT INTO \"{table}\" VALUE {{'pk': 'a', 'v': '1'}}")
    ddb.execute_statement(Statement=f"UPDATE \"{table}\" SET v = '2' WHERE pk = 'a'")
    ddb.execute_statement(Statement=f"DELETE FROM \"{table}\" WHERE pk = 'a'")
    return [("INSERT", None, _item("a", "1")), ("MODIFY", _item("a", "1"), _item("a", "2")),
            ("REMOVE", _item("a", "2"), None)]


def partiql_batch(ddb, table):
    ddb.batch_execute_statement(Statements=[
        {"Statement": f"INSERT INTO \"{table}\" VALUE {{'pk': '{pk}', 'v': '1'}}"}
        for pk in ("a", "b")])
    return [("INSERT", None, _item("a", "1")), ("INSERT", None, _item("b", "1"))]


def partiql_transaction(ddb, table):
    ddb.put_item(TableName=table, Item=_item("b", "1"))
    ddb.execute_transaction(TransactStatements=[
        {"Statement": f"INSERT INTO \"{table}\" VALUE {{'pk': 'a', 'v': '1'}}"},
        {"Statement": f"UPDATE \"{table}\" SET v = '2' WHERE pk = 'b'"},
    ])
    return [("INSERT", None, _item("b", "1")), ("INSERT", None, _item("a", "1")),
            ("MODIFY", _item("b", "1"), _item("b", "2"))]


SCENARIOS: list[Scenario] = [
    put_new_then_replace, update_creates_then_modifies, delete_existing_and_missing,
    batch_write_puts_and_deletes, transaction_put_update_delete,
    failed_transaction_writes_nothing, failed_conditions_write_nothing,
    writes_that_change_nothing, partiql_insert_update_delete, partiql_batch,
    partiql_transaction,
]


@pytest.mark.parametrize("view_type", VIEW_TYPES)
@pytest.mark.parametrize("scenario", SCENARIOS, ids=lambda s: s.__name__)
def test_every_item_change_writes_one_record_with_the_view_types_images(
        backend, unique, scenario, view_type):
    # given
    table = f"w-{scenario.__name__[:20].replace('_', '-')}-{unique}"
    arn = make_table(backend, table, view_type=view_type)
    ddb = backend.client("dynamodb")
    # when
    expected = scenario(ddb, table)
    # then
    records = stream_records(backend, arn)
    got = [(r["eventName"], r["dynamodb"]["Keys"], r["dynamodb"].get("OldImage"),
            r["dynamodb"].get("NewImage")) for r in records]
    want = []
    for name, old, new in expected:
        keys = {"pk": (old or new)["pk"]}
        want.append((name, keys,
                     old if view_type in ("OLD_IMAGE", "NEW_AND_OLD_IMAGES") else None,
                     new if view_type in ("NEW_IMAGE", "NEW_AND_OLD_IMAGES") else None))
    assert got == want
    assert all(r["dynamodb"]["StreamViewType"] == view_type for r in records)
    seqs = [int(r["dynamodb"]["SequenceNumber"]) for r in records]
    assert seqs == sorted(set(seqs))
