"""Item changes collected per request: what a batch's scope writes to the stream."""

from __future__ import annotations

import json

import pytest

from localaws.streams import registry
from localaws.streams.changes import TableStream, change_scope, record_change
from localaws.streams.shards import Stream


class _Value:
    def __init__(self, raw: str) -> None:
        self.raw = raw

    def to_json(self) -> dict[str, str]:
        return {"S": self.raw}


class _Item:
    """The part of moto's ``Item`` a change is read from."""

    def __init__(self, pk: str, **attrs: str) -> None:
        self.hash_key = _Value(pk)
        self.range_key = None
        self.attrs = {"pk": {"S": pk}, **{k: {"S": v} for k, v in attrs.items()}}

    def to_json(self) -> dict[str, dict]:
        return {"Attributes": dict(self.attrs)}


@pytest.fixture
def table():
    return TableStream(Stream("arn:aws:dynamodb:us-east-1:1:table/t/stream/x", "x",
                              "NEW_AND_OLD_IMAGES", registry.now()), "us-east-1", "pk", None)


@pytest.fixture
def notified(monkeypatch):
    seen: list[str] = []
    monkeypatch.setattr(registry, "_listeners", [seen.append])
    return seen


def _records(table: TableStream) -> list[tuple[str, str]]:
    bodies = [json.loads(r.body) for s in table.stream.shards for r in s.records]
    return [(b["eventName"], b["dynamodb"]["Keys"]["pk"]["S"]) for b in bodies]


def test_a_batch_writes_its_calls_records_in_order_at_its_end(table, notified):
    # given a batch scope whose item writes each run in their own scope
    with change_scope(batch=True):
        for pk in ("a", "b", "c"):
            with change_scope():
                record_change(table, None, _Item(pk))
        # then nothing is written while the batch runs
        assert _records(table) == [] and notified == []
    # and at its end every call's record is, in order, with one notification
    assert _records(table) == [("INSERT", "a"), ("INSERT", "b"), ("INSERT", "c")]
    assert notified == [table.stream.arn]


def test_two_calls_of_a_batch_on_one_item_keep_a_record_each(table, notified):
    # given a batch that puts an item, then deletes it, in two calls
    with change_scope(batch=True):
        with change_scope():
            record_change(table, None, _Item("a"))
        with change_scope():
            record_change(table, _Item("a"), None)
    # then both changes are on the stream, as when each call wrote its own
    assert _records(table) == [("INSERT", "a"), ("REMOVE", "a")]


def test_changes_within_one_call_still_merge_into_one_record(table, notified):
    # given one call that reports a new item twice (moto's UpdateItem on a new key)
    with change_scope(batch=True), change_scope():
        record_change(table, None, _Item("a"))
        record_change(table, _Item("a"), _Item("a", n="1"))
    # then the stream holds one INSERT with the last image
    assert _records(table) == [("INSERT", "a")]
    body = json.loads(table.stream.shards[-1].records[-1].body)
    assert body["dynamodb"]["NewImage"] == {"pk": {"S": "a"}, "n": {"S": "1"}}


def test_a_failing_batch_writes_the_calls_done_before_the_failure(table, notified):
    # given a batch whose second call fails
    with pytest.raises(RuntimeError), change_scope(batch=True):
        with change_scope():
            record_change(table, None, _Item("a"))
        with change_scope():
            raise RuntimeError("moto refused the second item")
    # then the first call's record is written (BatchWriteItem is not atomic)
    assert _records(table) == [("INSERT", "a")]
