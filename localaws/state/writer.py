"""Pickling a snapshot in a forked copy of the endpoint, off the request path.

Pickling every moto backend takes tens of milliseconds on a quiet machine and up
to a second on a busy one; done under the exclusive request gate, that is how long
every request waits. Instead the snapshot forks under the gate, as Redis's
``BGSAVE`` does: the child process starts with a copy-on-write image of the
endpoint's memory as of that instant (consistent, because the gate is held), the
parent lets requests go on at once, and the child pickles and compresses at its
own pace and sends the result back through a pipe. The parent computes the
checksums and commits to SQLite (one writer, one process, as SQLite wants it).

While the child lives the parent's garbage collector skips the objects they share
(``gc.freeze``), and the child runs at a lower priority (``nice``), so that the
endpoint's requests and functions go first on a busy machine.

The child runs only the standard library's pickler (with :mod:`.codec`'s dispatch
table) and ``zlib``, neither of which takes a lock another thread of the parent
could have held at the fork; it closes every inherited file descriptor except its
pipe at once (the listening socket, the warm workers' pipes, the database), so a
parent killed meanwhile leaves its port free, and it dies on the broken pipe.
"""

from __future__ import annotations

import contextlib
import gc
import os
import pickle
import select
import signal
import time
import traceback
import zlib
from collections.abc import Callable
from typing import Any

from localaws.state import codec

NICENESS = 5
"""How much lower the writer's scheduling priority is than the endpoint's."""


class SnapshotWriterError(RuntimeError):
    """The forked writer failed or took too long (ours: a bug, or the machine)."""


def _close_inherited(keep: int) -> None:
    try:
        descriptors = [int(name) for name in os.listdir("/proc/self/fd")]
    except OSError:  # no /proc: close what a process usually has open
        descriptors = list(range(3, 1024))
    for fd in descriptors:
        if fd > 2 and fd != keep:
            with contextlib.suppress(OSError):
                os.close(fd)


def _child(values: dict[str, Any], done: dict[str, bytes], write_fd: int,
           encode: Callable[[Any], bytes]) -> None:
    status = 1
    try:
        for signum in (signal.SIGTERM, signal.SIGINT):
            with contextlib.suppress(ValueError, OSError):
                signal.signal(signum, signal.SIG_DFL)
        _close_inherited(keep=write_fd)
        gc.disable()  # nothing to collect in a process that lives a second
        # Below the endpoint and its functions: on a busy machine the requests go
        # first and the snapshot takes a little longer.
        os.nice(NICENESS)
        raw = dict(done)
        raw.update((name, encode(value)) for name, value in values.items())
        encoded = {name: zlib.compress(data, 1) for name, data in raw.items()}
        sizes = {name: len(data) for name, data in raw.items()}
        payload = pickle.dumps((encoded, sizes), protocol=pickle.HIGHEST_PROTOCOL)
        view = memoryview(payload)
        while view:
            view = view[os.write(write_fd, view):]
        status = 0
    except BaseException:  # reported on the endpoint's log, then exit
        with contextlib.suppress(OSError):
            os.write(2, ("snapshot writer failed:\n" + traceback.format_exc()).encode())
    finally:
        os._exit(status)


class ForkedSnapshot:
    """A snapshot being pickled by a child process; :meth:`result` waits for it.

    Parameters
    ----------
    values : dict
        Part name -> object to pickle in the child.
    done : dict
        Part name -> bytes already pickled (passed through as they are).
    encode : callable, optional
        Pickles one value (:func:`.codec.dumps` by default; a snapshot passes one that
        writes the roots of other parts as references).
    """

    def __init__(self, values: dict[str, Any], done: dict[str, bytes],
                 encode: Callable[[Any], bytes] = codec.dumps, *, steps: Any = None) -> None:
        mark = steps.mark if steps is not None else (lambda name: None)
        codec.dumps(None)  # builds the dispatch table (imports moto) before the fork
        read_fd, write_fd = os.pipe()
        mark("fork_setup")
        # While the child lives, the parent's collector leaves the objects it shares
        # with the child alone: a full collection would touch (and so copy) them all.
        gc.freeze()
        mark("gc_freeze")
        try:
            pid = os.fork()
        except OSError:
            gc.unfreeze()
            os.close(read_fd)
            os.close(write_fd)
            raise
        if pid == 0:  # pragma: no cover - the child never returns (coverage cannot see it)
            os.close(read_fd)
            _child(values, done, write_fd, encode)
        mark("fork")
        os.close(write_fd)
        self.pid = pid
        self.sizes: dict[str, int] = {}  # each part's pickled bytes, once done
        self._read_fd = read_fd
        self.started = time.perf_counter()

    def result(self, timeout_s: float) -> dict[str, bytes]:
        """The compressed parts (name -> zlib bytes), once the child is done.

        Raises
        ------
        SnapshotWriterError
            The child failed (its traceback is on the endpoint's log) or did not
            finish within ``timeout_s`` (it is killed).
        """
        chunks: list[bytes] = []
        deadline = time.monotonic() + timeout_s
        try:
            while True:
                left = deadline - time.monotonic()
                if left <= 0 or not select.select([self._read_fd], [], [], left)[0]:
                    os.kill(self.pid, signal.SIGKILL)
                    raise SnapshotWriterError(
                        f"the snapshot writer took more than {timeout_s:.0f} s; killed")
                chunk = os.read(self._read_fd, 1 << 20)
                if not chunk:
                    break
                chunks.append(chunk)
        finally:
            os.close(self._read_fd)
            _, status = os.waitpid(self.pid, 0)
            gc.unfreeze()
        code = os.waitstatus_to_exitcode(status)
        if code != 0:
            raise SnapshotWriterError(f"the snapshot writer exited with {code}")
        try:
            encoded, self.sizes = pickle.loads(b"".join(chunks))
            return encoded
        except Exception as exc:
            raise SnapshotWriterError(f"the snapshot writer sent a damaged result "
                                      f"({type(exc).__name__}: {exc})") from None
