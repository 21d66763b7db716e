"""What grows is saved as pieces: only changed pieces are rewritten, and a restore is exact."""

from __future__ import annotations

import datetime
import random

import pytest
from moto.cloudwatch.models import cloudwatch_backends
from moto.dynamodb.models import dynamodb_backends
from moto.logs.models import logs_backends

from localaws.state import codec, pieces
from localaws.state.dirty import DirtyParts
from localaws.state.gate import RequestGate
from localaws.state.snapshots import Snapshotter
from localaws.state.store import StateStore

REGION = "us-east-1"
DDB = "moto.dynamodb.models:dynamodb_backends"


pytestmark = pytest.mark.usefixtures("state_hooks")


def _account() -> str:
    return str(random.randrange(10**11, 10**12))


def _table(account: str, name: str, items: int = 0, sort_key: bool = False) -> None:
    schema = [{"AttributeName": "pk", "KeyType": "HASH"}]
    attr = [{"AttributeName": "pk", "AttributeType": "S"}]
    if sort_key:
        schema.append({"AttributeName": "sk", "KeyType": "RANGE"})
        attr.append({"AttributeName": "sk", "AttributeType": "S"})
    backend = dynamodb_backends[account][REGION]
    backend.create_table(
        name, schema=schema, attr=attr, throughput=None, billing_mode="PAY_PER_REQUEST",
        global_indexes=None, indexes=None, tags=[],
        streams={"StreamEnabled": True, "StreamViewType": "NEW_AND_OLD_IMAGES"},
        sse_specification=None, deletion_protection_enabled=False, warm_throughput=None)
    for i in range(items):
        _item_put(account, name, f"k{i}", sort_key)


def _key(pk: str, sort_key: bool) -> dict:
    return {"pk": {"S": pk}, **({"sk": {"S": "s"}} if sort_key else {})}


def _item_put(account: str, table: str, pk: str, sort_key: bool = False, line: str = "x") -> None:
    dynamodb_backends[account][REGION].put_item(
        table, {**_key(pk, sort_key), "line": {"S": line * 20}})


def _write(d: DirtyParts, account: str, table: str, action, *args) -> None:
    """An item write as the pipeline serves it: recorded, narrowed to its table."""
    with d.recording(tables={(account, REGION): {table}}):
        action(*args)


def _update(account: str, table: str, pk: str, sort_key: bool, value: str) -> None:
    dynamodb_backends[account][REGION].update_item(
        table, _key(pk, sort_key), update_expression="SET line = :v",
        expression_attribute_names={}, expression_attribute_values={":v": {"S": value}},
        attribute_updates=None, expected=None, condition_expression=None,
        return_values_on_condition_check_failure=None)


def _delete(account: str, table: str, pk: str, sort_key: bool) -> None:
    dynamodb_backends[account][REGION].delete_item(table, _key(pk, sort_key))


def _content(table) -> tuple:
    stream = table.stream_shard.stream
    return ([(key, str(value.to_json()) if hasattr(value, "to_json")
              else sorted((k, str(v.to_json())) for k, v in value.items()))
             for key, value in table.items.items()],
            stream.next_seq, [(s.shard_id, s.head, list(s.records)) for s in stream.shards])


def _saved_table(tmp_path, account: str, name: str):
    loaded = codec.load_parts(StateStore(tmp_path).read())
    return loaded["moto"][DDB][account][REGION].tables[name]


def _snapshotter(tmp_path, d: DirtyParts, **kwargs) -> Snapshotter:
    return Snapshotter(StateStore(tmp_path), RequestGate(), {}, dirty=d, **kwargs)


@pytest.mark.parametrize("sort_key", [False, True])
@pytest.mark.parametrize("fork", [False, True])
def test_a_restore_after_random_item_writes_equals_the_live_table_in_order(tmp_path, fork,
                                                                            sort_key):
    # given: a table of several pieces, snapshotted once
    account = _account()
    _table(account, "big", items=3 * pieces.SIZE, sort_key=sort_key)
    d = DirtyParts()
    snapshotter = _snapshotter(tmp_path, d, fork=fork, inline_bytes=50_000)
    snapshotter.snapshot_once()
    rng = random.Random(11)

    # when: new keys, overwrites, in-place updates, deletes and deletes then re-puts,
    # between many snapshots (some forked)
    for step in range(15):
        for n in range(rng.randrange(1, 12)):
            pk = f"k{rng.randrange(4 * pieces.SIZE)}"
            choice = rng.randrange(5)
            if choice == 0:
                _write(d, account, "big", _item_put, account, "big", f"new{step}-{n}", sort_key)
            elif choice == 1:
                _write(d, account, "big", _item_put, account, "big", pk, sort_key, "y")
            elif choice == 2:
                _write(d, account, "big", _update, account, "big", pk, sort_key, f"u{step}")
            elif choice == 3:
                _write(d, account, "big", _delete, account, "big", pk, sort_key)
            else:
                _write(d, account, "big", _delete, account, "big", pk, sort_key)
                _write(d, account, "big", _item_put, account, "big", pk, sort_key, "z")
        snapshotter.snapshot_once()

    # then: the saved table is the live one: items, their order, stream records
    live = dynamodb_backends[account][REGION].tables["big"]
    assert _content(_saved_table(tmp_path, account, "big")) == _content(live)
    assert any(pieces.PIECE in name for name in snapshotter.store.versions())


def test_a_steady_append_rewrites_only_the_last_pieces_without_a_fork(tmp_path):
    # given: a table of several pieces, snapshotted once
    account = _account()
    _table(account, "big", items=4 * pieces.SIZE)
    d = DirtyParts()
    snapshotter = _snapshotter(tmp_path, d, fork=True)
    snapshotter.snapshot_once()
    before = snapshotter.store.versions()
    forked = snapshotter.stats.forked

    # when: a few new items
    for i in range(3):
        _write(d, account, "big", _item_put, account, "big", f"n{i}")
    snapshotter.snapshot_once()

    # then: the table's shell, its last chunk of items and its last block of stream
    # records are rewritten in place; every other piece keeps its row
    after = snapshotter.store.versions()
    table_part = f"moto/{DDB}/{account}/{REGION}/table/big"
    rewritten = {name for name in after
                 if name.startswith(table_part) and after[name] != before.get(name)}
    assert rewritten == {table_part, *(name for name in rewritten if pieces.PIECE in name)}
    assert 1 <= len(rewritten - {table_part}) <= 4
    assert len([name for name in after if name.startswith(table_part + pieces.PIECE)]) >= 8
    assert snapshotter.stats.forked == forked
    live = dynamodb_backends[account][REGION].tables["big"]
    assert _content(_saved_table(tmp_path, account, "big")) == _content(live)


def test_a_piece_taken_under_the_gate_keeps_the_item_as_it_was_when_updated_later():
    # given: a planned piece of a big table
    account = _account()
    _table(account, "big", items=2 * pieces.SIZE)
    cut = pieces.Pieces()
    name = f"moto/{DDB}/{account}/{REGION}/table/big"
    table = dynamodb_backends[account][REGION].tables["big"]
    plan = cut.plan({name: table}, {name})
    first = next(piece for piece in plan.dirty.values()
                 if piece.value and hasattr(piece.value[0][-1], "attrs"))
    key, taken = first.value[0]

    # when: the item is updated in place after the gate is released, before pickling
    _update(account, "big", key.value, False, "changed")

    # then: the piece still holds the item as it was; the table holds the new one
    assert taken.attrs["line"].value == "x" * 20
    assert table.items[key].attrs["line"].value == "changed"


def test_log_events_and_datapoints_are_saved_as_pieces_and_restored_whole(tmp_path):
    # given: a log stream and a metric with several pieces each, snapshotted
    account = _account()
    logs = logs_backends[account][REGION]
    logs.create_log_group("/aws/lambda/f", {})
    logs.create_log_stream("/aws/lambda/f", "s")
    watch = cloudwatch_backends[account][REGION]
    d = DirtyParts()
    snapshotter = _snapshotter(tmp_path, d, fork=False)

    def emit(n: int, base: int) -> None:
        with d.changes(("logs", account, REGION), ("cloudwatch", account, REGION)):
            logs.put_log_events("/aws/lambda/f", "s", [
                {"timestamp": 1_700_000_000_000 + base + i, "message": f"m{base + i}"}
                for i in range(n)])
            watch.put_metric_data("NS", [{
                "MetricName": "Invocations", "Value": float(base + i), "Unit": "Count",
                "Timestamp": datetime.datetime(2026, 12, 7, 6, 0)} for i in range(n)])

    emit(3 * pieces.SIZE, 0)
    snapshotter.snapshot_once()

    # when: more of both, snapshotted again
    emit(5, 10_000)
    snapshotter.snapshot_once()

    # then
    loaded = codec.load_parts(StateStore(tmp_path).read())
    saved_logs = loaded["moto"]["moto.logs.models:logs_backends"][account][REGION]
    events = saved_logs.groups["/aws/lambda/f"].streams["s"].events
    assert [e.message for e in events] == [
        e.message for e in logs.groups["/aws/lambda/f"].streams["s"].events]
    saved_watch = loaded["moto"]["moto.cloudwatch.models:cloudwatch_backends"][account][REGION]
    assert [m.value for m in saved_watch.metric_data] == [m.value for m in watch.metric_data]
    assert snapshotter.stats.parts_written < snapshotter.stats.parts / 2


def test_a_failed_snapshot_forgets_the_cut_and_the_next_one_saves_the_table_right(
        tmp_path, monkeypatch):
    # given: a table of several pieces, snapshotted once
    account = _account()
    _table(account, "big", items=3 * pieces.SIZE)
    d = DirtyParts()
    snapshotter = _snapshotter(tmp_path, d, fork=False)
    snapshotter.snapshot_once()

    # when: a snapshot fails at its commit, and more writes follow
    _write(d, account, "big", _update, account, "big", "k1", False, "lost?")
    _write(d, account, "big", _item_put, account, "big", "n1")
    commit = snapshotter.store.commit

    def fail(*args, **kwargs):
        raise OSError("disk full")

    monkeypatch.setattr(snapshotter.store, "commit", fail)
    with pytest.raises(OSError):
        snapshotter.snapshot_once()
    monkeypatch.setattr(snapshotter.store, "commit", commit)
    _write(d, account, "big", _item_put, account, "big", "n2")
    snapshotter.snapshot_once()

    # then: nothing of the failed snapshot is missing
    live = dynamodb_backends[account][REGION].tables["big"]
    assert _content(_saved_table(tmp_path, account, "big")) == _content(live)


def test_an_entry_the_hooks_did_not_see_makes_the_table_cut_whole_again(tmp_path):
    # given: a table of several pieces, snapshotted once
    account = _account()
    _table(account, "big", items=3 * pieces.SIZE, sort_key=True)
    d = DirtyParts()
    snapshotter = _snapshotter(tmp_path, d, fork=False)
    snapshotter.snapshot_once()

    # when: an entry appears without an item write (moto's defaultdict on a look-up),
    # then an item write to the table
    table = dynamodb_backends[account][REGION].tables["big"]
    from moto.dynamodb.models import DynamoType

    table.get_item(DynamoType({"S": "ghost"}), DynamoType({"S": "s"}))
    _write(d, account, "big", _item_put, account, "big", "n1", True)
    snapshotter.snapshot_once()

    # then: the saved table has every entry, in order
    assert _content(_saved_table(tmp_path, account, "big")) == _content(table)
