"""The state machinery through its seams: gate, codec, store and snapshotter (no endpoint)."""

from __future__ import annotations

import collections
import os
import socket
import sqlite3
import threading
import weakref
import zlib

import pytest

from localaws.state import codec
from localaws.state.backends import MotoParts
from localaws.state.gate import GatedApp, RequestGate, is_read
from localaws.state.parts import AttributeState
from localaws.state.snapshots import Snapshotter
from localaws.state.store import (
    SavedStateCorruptError,
    SavedStateVersionError,
    StateStore,
)
from localaws.state.writer import ForkedSnapshot, SnapshotWriterError


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
    monkeypatch.setattr("localaws.state.backends.capture", MotoParts)
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


class _WaitsForParent:
    """Pickles only once the test writes to the FIFO at ``path`` (so the child is surely busy).

    A FIFO by path, because the child closes every descriptor it inherits.
    """

    def __init__(self, path) -> None:
        self.path = path

    def __reduce__(self):
        with open(self.path, "rb") as fifo:
            fifo.read(1)
        return str, ("pickled",)


def _fifo(tmp_path):
    path = tmp_path / "go"
    os.mkfifo(path)
    return path


def _go(path) -> None:
    with open(path, "wb") as fifo:
        fifo.write(b"x")


def _decoded(parts: dict[str, bytes]) -> dict[str, object]:
    return {name: codec.loads(zlib.decompress(data)) for name, data in parts.items()}


def test_a_forked_snapshot_holds_the_state_as_it_was_at_the_fork():
    # given
    state = {"items": [1, 2, 3]}

    # when: the parent changes the state right after forking
    forked = ForkedSnapshot({"moto": state}, {"mappings": codec.dumps("ours")})
    state["items"].append(4)
    parts = forked.result(timeout_s=60)

    # then
    assert _decoded(parts) == {"moto": {"items": [1, 2, 3]}, "mappings": "ours"}


def test_a_forked_writer_that_fails_is_reported_and_reaped():
    # given: something pickle cannot carry
    forked = ForkedSnapshot({"moto": lambda: None}, {})

    # when / then
    with pytest.raises(SnapshotWriterError, match="exited with 1"):
        forked.result(timeout_s=60)
    with pytest.raises(ChildProcessError):
        os.waitpid(forked.pid, os.WNOHANG)


def test_a_forked_writer_that_hangs_is_killed(tmp_path):
    # given: a writer that waits for a FIFO nobody writes to
    forked = ForkedSnapshot({"moto": _WaitsForParent(_fifo(tmp_path))}, {})

    # when / then
    with pytest.raises(SnapshotWriterError, match="killed"):
        forked.result(timeout_s=0.2)
    with pytest.raises(ChildProcessError):
        os.waitpid(forked.pid, os.WNOHANG)


def test_a_forked_writer_lets_go_of_the_listening_socket_at_once(tmp_path):
    # given: a listening socket, and a writer still busy pickling
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen()
    port = listener.getsockname()[1]
    go = _fifo(tmp_path)
    forked = ForkedSnapshot({"moto": _WaitsForParent(go)}, {})

    # when: once the child is pickling, the parent closes its listener (as a killed
    # endpoint's would be) and binds the port again
    with open(go, "wb") as fifo:  # opens once the child has opened its end
        listener.close()
        again = socket.socket()
        try:
            again.bind(("127.0.0.1", port))  # EADDRINUSE if the child still held it
            again.listen()
        finally:
            again.close()
            fifo.write(b"x")

    # then
    assert _decoded(forked.result(timeout_s=60)) == {"moto": "pickled"}


def test_requests_go_on_while_a_forked_snapshot_is_pickled(tmp_path, monkeypatch):
    # given: moto's data takes until the test says so to pickle
    go = _fifo(tmp_path)
    name = "moto/svc:backends/123456789012/us-east-1"
    monkeypatch.setattr("localaws.state.backends.capture", lambda: MotoParts(
        roots={name: _WaitsForParent(go)},
        keys={name: ("svc", "123456789012", "us-east-1", None)}))
    gate = RequestGate()
    gate.changed.set()
    snapshotter = Snapshotter(StateStore(tmp_path), gate, {}, fork=True)
    taker = threading.Thread(target=snapshotter.snapshot_once)
    try:
        taker.start()
        while not snapshotter.stats.forked:  # forked, and the gate released
            pass

        # when: a request passes the gate while the child is still pickling
        with gate.shared():
            during = taker.is_alive()
    finally:
        _go(go)
        taker.join(60)

    # then: the request did not wait for the snapshot, which was saved whole
    assert during
    assert codec.loads(StateStore(tmp_path).read()[name]) == "pickled"
