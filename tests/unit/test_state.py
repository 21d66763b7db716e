"""The state machinery through its seams: gate, codec, store and snapshotter (no endpoint)."""

from __future__ import annotations

import collections
import sqlite3
import threading
import weakref

import pytest

from localaws.state import codec
from localaws.state.gate import GatedApp, RequestGate, is_read
from localaws.state.parts import AttributeState
from localaws.state.snapshots import Snapshotter
from localaws.state.store import (
    SavedStateCorruptError,
    SavedStateVersionError,
    StateStore,
)


class _Holder:
    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.condition = threading.Condition()
        self.items = collections.defaultdict(lambda: {})
        self.items["a"]["b"] = 1
        self.by_name = weakref.WeakValueDictionary()
        self.by_name["self"] = self


def test_codec_saves_locks_conditions_lambda_defaultdicts_and_weak_dictionaries():
    # given
    holder = _Holder()
    holder.lock.acquire()  # saved as a fresh, free lock

    # when
    copy = codec.loads(codec.dumps(holder))

    # then
    assert copy.lock.acquire(blocking=False)
    assert isinstance(copy.condition, type(threading.Condition()))
    assert copy.items["a"] == {"b": 1}
    assert copy.items["new"] == {}
    assert copy.by_name["self"] is copy


def test_codec_refuses_a_defaultdict_whose_factory_it_cannot_rebuild():
    # given
    odd = collections.defaultdict(lambda: 42)

    # when / then
    with pytest.raises(Exception, match="cannot save a defaultdict"):
        codec.dumps(odd)


def test_exclusive_waits_for_shared_holders_and_holds_new_ones_back():
    # given
    gate = RequestGate()
    entered = threading.Event()
    release = threading.Event()
    order: list[str] = []

    def request(name: str) -> None:
        with gate.shared():
            order.append(name)
            entered.set()
            release.wait(5)

    first = threading.Thread(target=request, args=("first",))
    first.start()
    entered.wait(5)

    def snapshot() -> None:
        with gate.exclusive(timeout=5) as held:
            order.append(f"snapshot {held}")

    taker = threading.Thread(target=snapshot)
    taker.start()
    while not gate._waiting:  # the snapshot is waiting for "first"
        pass
    second = threading.Thread(target=request, args=("second",))
    second.start()

    # when
    release.set()
    for thread in (first, taker, second):
        thread.join(5)

    # then: the request that came after the waiting snapshot ran after it
    assert order == ["first", "snapshot True", "second"]


def test_exclusive_gives_up_after_its_timeout_and_lets_requests_go_on():
    # given
    gate = RequestGate()
    with gate.shared():
        # when
        with gate.exclusive(timeout=0.05) as held:
            pass
        # then
        assert held is False
        with gate.shared():  # re-entrant, and not held back any more
            pass


def test_a_released_share_lets_a_snapshot_through():
    # given
    gate = RequestGate()
    results: list[bool] = []

    def snapshot() -> None:
        with gate.exclusive(timeout=1) as held:
            results.append(held)

    # when: a long poll waits without its share
    with gate.shared(), gate.released():
        thread = threading.Thread(target=snapshot)
        thread.start()
        thread.join(2)

    # then
    assert results == [True]


@pytest.mark.parametrize(("environ", "read"), [
    ({"HTTP_X_AMZ_TARGET": "DynamoDB_20120810.PutItem"}, False),
    ({"HTTP_X_AMZ_TARGET": "DynamoDB_20120810.Query"}, True),
    ({"HTTP_X_AMZ_TARGET": "DynamoDBStreams_20120810.GetRecords"}, True),
    ({"HTTP_X_AMZ_TARGET": "AmazonSQS.ReceiveMessage"}, False),
    ({"PATH_INFO": "/service/GraniteServiceVersion20100801/operation/PutMetricData",
      "REQUEST_METHOD": "POST"}, False),
    ({"PATH_INFO": "/service/GraniteServiceVersion20100801/operation/GetMetricData",
      "REQUEST_METHOD": "POST"}, True),
    ({"PATH_INFO": "/2015-03-31/functions/f", "REQUEST_METHOD": "GET"}, True),
    ({"PATH_INFO": "/", "REQUEST_METHOD": "POST",
      "CONTENT_TYPE": "application/x-www-form-urlencoded"}, False),
])
def test_requests_that_change_something_are_told_from_reads(environ, read):
    assert is_read(environ) is read


def test_gated_app_notes_changes_and_answers_503_once_closed():
    # given
    gate = RequestGate()
    app = GatedApp(lambda environ, start: (start("200 OK", []), [b"ok"])[1], gate)
    statuses: list[str] = []

    def start(status, headers):
        statuses.append(status)

    # when
    app({"HTTP_X_AMZ_TARGET": "DynamoDB_20120810.PutItem", "PATH_INFO": "/"}, start)
    changed = gate.changed.is_set()
    gate.close()
    app({"HTTP_X_AMZ_TARGET": "DynamoDB_20120810.PutItem", "PATH_INFO": "/"}, start)

    # then
    assert changed
    assert statuses == ["200 OK", "503 Service Unavailable"]


def test_store_round_trips_a_snapshot(tmp_path):
    # given
    store = StateStore(tmp_path)

    # when
    store.write({"moto": b"m" * 1000, "mappings": b"x"})
    store.close()

    # then
    assert StateStore(tmp_path).read() == {"moto": b"m" * 1000, "mappings": b"x"}


def test_an_empty_directory_means_nothing_saved(tmp_path):
    assert StateStore(tmp_path).read() is None


def test_store_refuses_another_version(tmp_path):
    # given
    store = StateStore(tmp_path)
    store.write({"moto": b"m"})
    store.close()
    with sqlite3.connect(store.path) as db:
        db.execute("UPDATE meta SET value = '99' WHERE key = 'format'")

    # when / then
    with pytest.raises(SavedStateVersionError, match=r"state format 99.*localaws reset"):
        StateStore(tmp_path).read()


@pytest.mark.parametrize("damage", ["garbage", "checksum", "missing part"])
def test_store_refuses_a_damaged_file(tmp_path, damage):
    # given
    store = StateStore(tmp_path)
    store.write({"moto": b"m", "mappings": b"x"})
    store.close()
    if damage == "garbage":
        store.path.write_bytes(b"\x00garbage" * 512)
    else:
        with sqlite3.connect(store.path) as db:
            if damage == "checksum":
                db.execute("UPDATE parts SET sha256 = 'bad' WHERE name = 'moto'")
            else:
                db.execute("DELETE FROM parts WHERE name = 'mappings'")

    # when / then
    with pytest.raises(SavedStateCorruptError, match=r"damaged.*--ephemeral"):
        StateStore(tmp_path).read()


class _Registry:
    def __init__(self) -> None:
        self._lock = threading.RLock()
        self.entries: dict[str, int] = {}
        self.runtime = "not saved"


def test_snapshotter_saves_registered_parts_and_restores_them(tmp_path, monkeypatch):
    # given: no moto state, one registry of ours
    monkeypatch.setattr("localaws.state.backends.capture", lambda: {})
    restored_moto: list[dict] = []
    monkeypatch.setattr("localaws.state.backends.restore", restored_moto.append)
    registry = _Registry()
    registry.entries["a"] = 1
    gate = RequestGate()
    gate.changed.set()
    snapshotter = Snapshotter(StateStore(tmp_path), gate,
                              {"registry": AttributeState(registry, ("entries",),
                                                          registry._lock)})

    # when
    taken = snapshotter.snapshot_once()
    fresh = _Registry()
    again = Snapshotter(StateStore(tmp_path), RequestGate(),
                        {"registry": AttributeState(fresh, ("entries",), fresh._lock)})
    restored = again.restore()

    # then
    assert taken and not gate.changed.is_set()
    assert restored and fresh.entries == {"a": 1} and fresh.runtime == "not saved"
    assert restored_moto == [{}]


def test_snapshotter_refuses_parts_it_does_not_know(tmp_path):
    # given
    store = StateStore(tmp_path)
    store.write({"moto": codec.dumps({}), "tumbling": codec.dumps({})})
    store.close()

    # when / then
    with pytest.raises(SavedStateCorruptError, match="tumbling"):
        Snapshotter(StateStore(tmp_path), RequestGate(), {}).restore()
