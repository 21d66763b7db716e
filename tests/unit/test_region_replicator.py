"""Unit tests for ``lambda_src/region_replicator``: the loop seatbelt, loop prevention,
last-writer-wins with its tie-breaker, and deletes, through the handler.

No endpoint: the handler gets a table of moto's in-process DynamoDB (``mock_aws``) in
the other region, so conditions and types are DynamoDB's own.
"""

from __future__ import annotations

import os
from decimal import Decimal

import boto3
import pytest
from moto import mock_aws

TABLE = "demo-global-users"
HERE, THERE = "us-east-1", "eu-west-1"
KEY = {"PK": {"S": "USER#ana"}, "SK": {"S": "PROFILE"}}


@pytest.fixture
def region_replicator(load_lambda_module):
    return load_lambda_module("region_replicator", "app")


@pytest.fixture
def target(monkeypatch):
    """The other region's table (moto), and the function's environment in this region."""
    for name in ("AWS_ENDPOINT_URL", "AWS_PROFILE", "RULE", "MAX_HOPS"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("RULE", "copy-everything")  # undone after the test, as run() changes it
    monkeypatch.setenv("AWS_REGION", HERE)
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")
    with mock_aws():
        resource = boto3.resource("dynamodb", region_name=THERE)
        table = resource.create_table(
            TableName=TABLE, BillingMode="PAY_PER_REQUEST",
            KeySchema=[{"AttributeName": "PK", "KeyType": "HASH"},
                       {"AttributeName": "SK", "KeyType": "RANGE"}],
            AttributeDefinitions=[{"AttributeName": "PK", "AttributeType": "S"},
                                  {"AttributeName": "SK", "AttributeType": "S"}])
        yield table


def image(origin: str, updated_at: int, **extra: dict) -> dict:
    return {**KEY, "origin": {"S": origin}, "updated_at": {"N": str(updated_at)}, **extra}


def stored(table) -> dict | None:
    return table.get_item(Key={"PK": "USER#ana", "SK": "PROFILE"}).get("Item")


def run(module, table, rule, *records):
    os.environ["RULE"] = rule
    return module.lambda_handler({"Records": list(records)}, None, table=table)


def test_copy_everything_stamps_a_hop_so_each_copy_differs(region_replicator, target,
                                                           make_record):
    # given: an item written here, two hops old
    record = make_record("INSERT", KEY, new_image=image(HERE, 1, hops={"N": "2"}))
    # when
    counts = run(region_replicator, target, "copy-everything", record)
    # then: the copy carries hops 3, so the other region's stream records it
    assert counts["applied"] == 1
    assert stored(target)["hops"] == Decimal(3)


def test_copy_everything_stops_an_item_at_the_hop_limit(region_replicator, target,
                                                        make_record, monkeypatch):
    # given
    monkeypatch.setenv("MAX_HOPS", "4")
    record = make_record("MODIFY", KEY, new_image=image(HERE, 1, hops={"N": "4"}))
    # when
    counts = run(region_replicator, target, "copy-everything", record)
    # then
    assert counts == {"applied": 0, "skipped": 0, "older": 0, "stopped": 1}
    assert stored(target) is None


@pytest.mark.parametrize("rule", ["skip-replicated", "last-writer-wins"])
def test_a_change_written_by_replication_is_skipped(region_replicator, target, make_record,
                                                    rule):
    # given: an image whose origin is the other region (its replicator wrote it here)
    record = make_record("INSERT", KEY, new_image=image(THERE, 5))
    # when
    counts = run(region_replicator, target, rule, record)
    # then: nothing goes back
    assert counts["skipped"] == 1 and stored(target) is None


def test_skip_replicated_lets_an_older_change_overwrite_a_newer_one(region_replicator, target,
                                                                     make_record):
    # given: the target holds a change made later than the one arriving
    target.put_item(Item={"PK": "USER#ana", "SK": "PROFILE", "origin": THERE, "updated_at": 9})
    record = make_record("MODIFY", KEY, new_image=image(HERE, 5))
    # when
    run(region_replicator, target, "skip-replicated", record)
    # then: the naive rule loses the newer change (the regions diverge)
    assert stored(target)["updated_at"] == 5


@pytest.mark.parametrize(("theirs", "mine", "winner"), [
    ((THERE, 9), (HERE, 5), THERE),  # the target's change is later: it stays
    ((THERE, 5), (HERE, 9), HERE),  # the arriving change is later: it wins
    ((THERE, 7), (HERE, 7), HERE),  # a tie: the region whose name sorts last wins
])
def test_last_writer_wins_with_the_region_as_tie_breaker(region_replicator, target, make_record,
                                                         theirs, mine, winner):
    # given
    target.put_item(Item={"PK": "USER#ana", "SK": "PROFILE", "origin": theirs[0],
                          "updated_at": theirs[1]})
    record = make_record("MODIFY", KEY, new_image=image(*mine))
    # when
    counts = run(region_replicator, target, "last-writer-wins", record)
    # then
    assert stored(target)["origin"] == winner
    assert counts["applied" if winner == HERE else "older"] == 1


def test_last_writer_wins_deletes_only_what_is_not_newer(region_replicator, target,
                                                         make_record):
    # given: the target changed the item after the version that was deleted here
    target.put_item(Item={"PK": "USER#ana", "SK": "PROFILE", "origin": THERE, "updated_at": 9})
    stale = make_record("REMOVE", KEY, old_image=image(HERE, 5))
    # when
    counts = run(region_replicator, target, "last-writer-wins", stale)
    # then: the newer item stays; the same delete of the version it holds goes through
    assert counts["older"] == 1 and stored(target) is not None
    current = make_record("REMOVE", KEY, old_image=image(THERE, 9))
    assert run(region_replicator, target, "last-writer-wins", current)["applied"] == 1
    assert stored(target) is None


def test_a_tombstone_wins_over_an_older_update(region_replicator, target, make_record):
    # given: the target holds an update; here the item was "deleted" later, as a tombstone
    target.put_item(Item={"PK": "USER#ana", "SK": "PROFILE", "origin": THERE, "updated_at": 5})
    tombstone = make_record("MODIFY", KEY, new_image=image(HERE, 6, deleted={"BOOL": True}))
    # when
    run(region_replicator, target, "last-writer-wins", tombstone)
    # then
    assert stored(target)["deleted"] is True


def test_an_unknown_rule_is_refused(region_replicator, target, make_record):
    # given
    record = make_record("INSERT", KEY, new_image=image(HERE, 1))
    # when / then
    with pytest.raises(ValueError, match="RULE='copy' is unknown"):
        run(region_replicator, target, "copy", record)


def test_every_record_line_is_one_the_notebook_reads(region_replicator, target, make_record,
                                                     caplog):
    # given: one record of each outcome
    from helpers.replication import RECORD_LINE

    target.put_item(Item={"PK": "USER#ana", "SK": "PROFILE", "origin": THERE, "updated_at": 9})
    records = [make_record("MODIFY", KEY, new_image=image(HERE, 5)),
               make_record("INSERT", KEY, new_image=image(THERE, 5))]
    # when
    with caplog.at_level("INFO"):
        run(region_replicator, target, "last-writer-wins", *records)
    # then
    read = [RECORD_LINE.search(m) for m in caplog.messages if "after the write" in m]
    assert [(m["outcome"], m["item"], m["target"]) for m in read] == [
        ("older", "USER#ana#PROFILE", THERE), ("skipped", "USER#ana#PROFILE", THERE)]
