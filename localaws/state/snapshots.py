"""Consistent snapshots of the endpoint's state, at most about a second apart.

What is saved: every moto backend the endpoint has used (:mod:`.backends`) and
every registered *part* of our own (the event source mappings with their
configuration, state and checkpoints). A snapshot is taken under the exclusive
:class:`~localaws.state.gate.RequestGate` and the telemetry lock, so no request
and no log or metric write is half done; our parts are captured before moto's, so
a checkpoint is never ahead of the effects of what it covers. Under the gate our
parts are pickled (they are small) and the process forks (:mod:`.writer`): the
child pickles moto's data from its copy-on-write image while the endpoint goes on
serving, so the gate is held for the time of a fork, not of pickling everything.
The bytes are written to the :class:`~localaws.state.store.StateStore` outside
the gate. The final snapshot of a clean stop is taken in-process (nothing is
served any more).

:meth:`Snapshotter.snapshot_once` is the synchronous step; :meth:`Snapshotter.start`
runs it in a thread whenever something changed, at most every ``interval_s``
(and, when a snapshot is slow, rarely enough that pausing for it takes at most
``pause_budget`` of the time, but never less often than every ``max_interval_s``).
:meth:`Snapshotter.close` takes the final one.
"""

from __future__ import annotations

import logging
import os
import threading
import time
from dataclasses import dataclass
from typing import Any, Protocol

from localaws.state import backends, codec
from localaws.state.gate import RequestGate
from localaws.state.store import SavedStateCorruptError, StateStore, how_to_start_empty
from localaws.state.writer import ForkedSnapshot, SnapshotWriterError

log = logging.getLogger("localaws.state")

MOTO_PART = "moto"


class Part(Protocol):
    """A piece of our own state that snapshots carry."""

    def export_state(self) -> Any:
        """A picklable copy of the state (taken under the part's own lock)."""

    def import_state(self, state: Any) -> None:
        """Replace the state with a copy :meth:`export_state` made."""


@dataclass
class SnapshotStats:
    """What the last snapshots cost (for ``status`` and the benchmarks)."""

    count: int = 0
    saved_at: float | None = None
    pause_ms: float = 0.0
    hold_ms: float = 0.0
    write_ms: float = 0.0
    stored_bytes: int = 0
    skipped: int = 0
    forked: int = 0


class Snapshotter:
    """Takes and restores snapshots of the whole endpoint state.

    Parameters
    ----------
    store : StateStore
        Where snapshots go.
    gate : RequestGate
        The endpoint's write gate.
    parts : dict
        Our own state by name (each a :class:`Part`).
    locks : sequence
        Further locks held while capturing (the telemetry lock).
    interval_s : float
        Least time between two snapshots.
    pause_budget : float
        Largest share of the time the endpoint may spend paused for snapshots.
    max_interval_s : float
        Most time between two snapshots while something changes, however slow they are.
    gate_timeout_s : float
        How long a snapshot waits for the requests in flight before it is postponed.
    fork : bool
        Pickle moto's data in a forked child (:mod:`.writer`) instead of under the
        gate; off where ``os.fork`` does not exist.
    writer_timeout_s : float
        How long a forked writer may take before it is killed (the next snapshot retries).
    """

    def __init__(self, store: StateStore, gate: RequestGate, parts: dict[str, Part],
                 locks: tuple[Any, ...] = (), interval_s: float = 1.0,
                 pause_budget: float = 0.05, max_interval_s: float = 2.0,
                 gate_timeout_s: float = 2.0, fork: bool = hasattr(os, "fork"),
                 writer_timeout_s: float = 120.0) -> None:
        self.store = store
        self.gate = gate
        self.parts = parts
        self.locks = locks
        self.interval_s = interval_s
        self.pause_budget = pause_budget
        self.max_interval_s = max_interval_s
        self.gate_timeout_s = gate_timeout_s
        self.fork = fork
        self.writer_timeout_s = writer_timeout_s
        self.stats = SnapshotStats()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._write_lock = threading.Lock()

    # -- restoring --------------------------------------------------------------------
    def restore(self) -> bool:
        """Load the saved snapshot, if any; True when something was restored.

        Raises
        ------
        SavedStateError
            The saved state is from another version or damaged (the message says how
            to start empty).
        """
        saved = self.store.read()
        if saved is None:
            return False
        try:
            loaded = {name: codec.loads(data) for name, data in saved.items()}
        except Exception as exc:  # any unpickling failure means a state we cannot use
            raise SavedStateCorruptError(
                f"The saved state in {self.store.path} cannot be loaded ({type(exc).__name__}: "
                f"{exc}). " + how_to_start_empty(self.store.directory)) from None
        unknown = set(loaded) - {MOTO_PART, *self.parts}
        if unknown:
            raise SavedStateCorruptError(
                f"The saved state in {self.store.path} holds parts this endpoint does not know "
                f"({', '.join(sorted(unknown))}). " + how_to_start_empty(self.store.directory))
        backends.restore(loaded.get(MOTO_PART, {}))
        for name, part in self.parts.items():
            if name in loaded:
                part.import_state(loaded[name])
        return True

    # -- taking ------------------------------------------------------------------------
    def snapshot_once(self, timeout_s: float | None = None, *, final: bool = False) -> bool:
        """Capture the state now and write it; False when the gate could not be taken.

        With ``final`` the gate closes while it is held: no request can change
        anything after the last snapshot (later ones get a 503).
        """
        with self._write_lock:
            started = time.perf_counter()
            with self.gate.exclusive(self.gate_timeout_s if timeout_s is None
                                     else timeout_s) as held:
                if not held:
                    self.stats.skipped += 1
                    log.warning("snapshot postponed: requests did not finish within %.1f s",
                                self.gate_timeout_s)
                    return False
                held_at = time.perf_counter()
                self.gate.changed.clear()
                try:
                    captured = self._capture(forked=self.fork and not final)
                except BaseException:
                    self.gate.changed.set()  # nothing saved: the next snapshot retries
                    raise
                if final:
                    self.gate.close()
            paused = time.perf_counter()
            try:
                if isinstance(captured, ForkedSnapshot):
                    self.stats.forked += 1
                    stored = self.store.write_compressed(
                        captured.result(self.writer_timeout_s))
                else:
                    stored = self.store.write(captured)
            except BaseException:
                self.gate.changed.set()
                raise
            done = time.perf_counter()
            self.stats.count += 1
            self.stats.saved_at = time.time()
            self.stats.pause_ms = (paused - started) * 1000
            self.stats.hold_ms = (paused - held_at) * 1000
            self.stats.write_ms = (done - paused) * 1000
            self.stats.stored_bytes = stored
            return True

    def _capture(self, *, forked: bool) -> dict[str, bytes] | ForkedSnapshot:
        acquired = []
        try:
            for lock in self.locks:
                lock.acquire()
                acquired.append(lock)
            # Ours first: a checkpoint then never covers an effect moto's copy lacks.
            blobs = {name: codec.dumps(part.export_state()) for name, part in self.parts.items()}
            moto = backends.capture()  # shallow copies: pickled before anything changes
            if forked:
                try:
                    return ForkedSnapshot({MOTO_PART: moto}, blobs)
                except OSError as exc:  # no memory or processes left: pickle here
                    log.warning("snapshot taken in-process: cannot fork (%s)", exc)
            blobs[MOTO_PART] = codec.dumps(moto)
            return blobs
        finally:
            for lock in reversed(acquired):
                lock.release()

    # -- the loop -----------------------------------------------------------------------
    def start(self) -> None:
        """Snapshot in the background whenever something changed."""
        self._stop.clear()
        self._thread = threading.Thread(target=self._loop, name="state-snapshots",
                                        daemon=True)
        self._thread.start()

    def _loop(self) -> None:
        while not self._stop.is_set():
            if not self.gate.changed.wait(0.5):
                continue
            began = time.monotonic()
            try:
                self.snapshot_once()
            except SnapshotWriterError as exc:
                log.error("snapshot failed (%s); the next one retries", exc)
            except Exception:
                log.exception("snapshot failed; the next one retries")
            # A slow snapshot (a big state, a busy machine) spaces the next ones out,
            # up to ``max_interval_s``: the loss window stays bounded.
            pause_s = self.stats.pause_ms / 1000
            rest = min(max(self.interval_s, pause_s / self.pause_budget), self.max_interval_s)
            self._stop.wait(max(0.0, began + rest - time.monotonic()))

    def close(self) -> None:
        """Stop the loop, take the final snapshot (waiting for requests) and close the gate."""
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=30)
        try:
            if not self.snapshot_once(timeout_s=30.0, final=True):
                log.error("final snapshot not taken: requests did not finish in 30 s")
        finally:
            self.gate.close()
            self.store.close()
