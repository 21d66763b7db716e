"""The forked snapshot writer's child, run in-process (coverage does not follow forks):
``os._exit``, ``os.nice``, the signal handlers and the closing of inherited
descriptors are replaced, so that the test's own process survives it."""

from __future__ import annotations

import os
import pickle
import signal
import zlib

import pytest

from localaws.state import codec, writer


class ExitedError(Exception):
    def __init__(self, status: int) -> None:
        super().__init__(status)
        self.status = status


@pytest.fixture
def child(monkeypatch):
    """``child(values, done) -> (status, bytes written, calls)``."""
    calls: dict[str, list] = {"close_inherited": [], "nice": [], "signal": []}

    def _exit(status: int) -> None:
        raise ExitedError(status)

    monkeypatch.setattr(writer, "_close_inherited", lambda keep: calls["close_inherited"]
                        .append(keep))
    monkeypatch.setattr(writer.os, "nice", lambda n: calls["nice"].append(n))
    monkeypatch.setattr(writer.os, "_exit", _exit)
    monkeypatch.setattr(writer.signal, "signal", lambda *a: calls["signal"].append(a))
    monkeypatch.setattr(writer.gc, "disable", lambda: None)

    def run(values: dict, done: dict) -> tuple[int, bytes, dict]:
        read_fd, write_fd = os.pipe()
        try:
            with pytest.raises(ExitedError) as exited:
                writer._child(values, done, write_fd, codec.dumps)
            os.close(write_fd)
            with os.fdopen(read_fd, "rb") as pipe:
                return exited.value.status, pipe.read(), calls
        except BaseException:
            os.close(read_fd)
            raise
    return run


def test_the_child_sends_every_part_compressed_and_exits_0(child):
    # given
    values, done = {"moto": {"items": [1, 2]}}, {"mappings": codec.dumps("ours")}
    # when
    status, sent, calls = child(values, done)
    # then
    parts, sizes = pickle.loads(sent)
    assert status == 0
    assert {name: codec.loads(zlib.decompress(data)) for name, data in parts.items()} == {
        "moto": {"items": [1, 2]}, "mappings": "ours"}
    assert sizes == {name: len(zlib.decompress(data)) for name, data in parts.items()}
    assert calls["nice"] == [writer.NICENESS]
    assert [args[0] for args in calls["signal"]] == [signal.SIGTERM, signal.SIGINT]
    assert len(calls["close_inherited"]) == 1


def test_a_child_that_cannot_pickle_logs_its_traceback_and_exits_1(child, capfd):
    # when
    status, sent, _ = child({"moto": lambda: None}, {})
    # then
    assert (status, sent) == (1, b"")
    assert "snapshot writer failed:" in capfd.readouterr().err


def test_inherited_descriptors_are_closed_except_the_pipe(monkeypatch):
    # given: two descriptors of ours, one to keep
    keep_r, keep = os.pipe()
    other_r, other = os.pipe()
    # when
    with monkeypatch.context() as patched:
        patched.setattr(writer.os, "listdir", lambda path: ["0", "1", "2", str(other)])
        writer._close_inherited(keep=keep)
    # then
    with pytest.raises(OSError):
        os.fstat(other)
    assert os.fstat(keep) is not None
    for fd in (keep_r, keep, other_r):
        os.close(fd)


def test_without_proc_every_usual_descriptor_is_closed(monkeypatch):
    # given
    closed: list[int] = []

    def no_proc(path: str) -> list[str]:
        raise OSError("no /proc")

    # when (os.close is ours only while the writer runs)
    with monkeypatch.context() as patched:
        patched.setattr(writer.os, "listdir", no_proc)
        patched.setattr(writer.os, "close", closed.append)
        writer._close_inherited(keep=7)
    # then
    assert closed == [fd for fd in range(3, 1024) if fd != 7]
