"""Consistent snapshots of the endpoint's state, at most about a second apart.

What is saved: every moto backend the endpoint has used (:mod:`.backends`) and
every registered *part* of our own (the event source mappings with their
configuration, state and checkpoints). A snapshot is taken under the exclusive
:class:`~localaws.state.gate.RequestGate` and the telemetry lock, so no request
and no log or metric write is half done; our parts are captured before moto's, so
a checkpoint is never ahead of the effects of what it covers.

A snapshot costs what changed: moto's data is cut into parts (one per backend and
per DynamoDB table, :func:`.backends.capture`) and only those marked changed since
the last commit (:mod:`.dirty`), new ones, and tables whose stream moved (a read
rolls shards over and trims them) are pickled; the others keep their stored rows.
What grows inside a part (a table's items, a shard's records, log events, datapoints)
is saved as pieces (:mod:`.pieces`): only the changed ones are taken under the gate,
and pickled after it is released.
Small changes are pickled in place, under the gate; big ones in a forked child
(:mod:`.writer`), which pickles from its copy-on-write image while the endpoint goes
on serving, so the gate is held for the time of a fork. The bytes are committed to
the :class:`~localaws.state.store.StateStore` outside the gate, in one transaction.
The final snapshot of a clean stop is taken in-process (nothing is served any more).

:meth:`Snapshotter.snapshot_once` is the synchronous step; :meth:`Snapshotter.start`
runs it in a thread whenever something changed, at most every ``interval_s``
(and, when a snapshot is slow, rarely enough that pausing for it takes at most
``pause_budget`` of the time, but never less often than every ``max_interval_s``).
:meth:`Snapshotter.close` takes the final one.
"""

from __future__ import annotations

import collections
import functools
import hashlib
import logging
import os
import statistics
import threading
import time
import zlib
from dataclasses import dataclass, field
from typing import Any, Protocol

from localaws.state import backends, codec, dirty
from localaws.state.backends import PREFIX, SKELETON, MotoParts
from localaws.state.dirty import DirtyParts
from localaws.state.gate import RequestGate
from localaws.state.pieces import Piece, Pieces, Plan
from localaws.state.store import SavedStateCorruptError, StateStore, how_to_start_empty
from localaws.state.writer import ForkedSnapshot, SnapshotWriterError

log = logging.getLogger("localaws.state")

MOTO_PART = SKELETON
INLINE_BYTES = 256 * 1024
"""Changed parts pickled in place (under the gate) when they were smaller than this last
time; bigger or new ones go to a forked writer. Pickling 256 KB takes about as long as
a fork of the endpoint (2-3 ms, quiet machine)."""
YIELD_S = 0.0001
"""Pause between two pieces pickled after the gate: the GIL goes to the request
threads waiting for it, instead of after Python's switch interval (5 ms)."""
RECENT = 128
"""How many snapshots' hold breakdowns :class:`SnapshotStats` keeps."""


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
    written_bytes: int = 0  # compressed bytes committed, all snapshots together
    parts: int = 0  # parts in the last snapshot
    parts_written: int = 0  # of which rewritten by it
    recent: collections.deque = field(  # (hold_ms, steps) of the last snapshots
        default_factory=lambda: collections.deque(maxlen=RECENT))

    def hold_summary(self) -> dict[str, Any]:
        """Median and largest hold of the recent snapshots, and of each step, in ms."""
        if not self.recent:
            return {}
        holds = sorted(hold for hold, _ in self.recent)
        names = sorted({name for _, steps in self.recent for name in steps})
        summary: dict[str, Any] = {"snapshots": len(holds),
                                   "hold": [round(statistics.median(holds), 3),
                                            round(holds[-1], 3)]}
        for name in names:
            values = [steps.get(name, 0.0) for _, steps in self.recent]
            summary[name] = [round(statistics.median(values), 3), round(max(values), 3)]
        return summary


class _Steps:
    """Times the steps of one hold (``mark(name)`` ends the step ``name``)."""

    def __init__(self) -> None:
        self.last = time.perf_counter()
        self.ms: dict[str, float] = {}

    def mark(self, name: str) -> None:
        now = time.perf_counter()
        self.ms[name] = self.ms.get(name, 0.0) + (now - self.last) * 1000
        self.last = now


def stream_signature(table: Any) -> tuple[Any, ...] | None:
    """What changes whenever a table's stream does (records, shards, trimming)."""
    stream = getattr(getattr(table, "stream_shard", None), "stream", None)
    if stream is None or not hasattr(stream, "next_seq"):
        return None
    return (id(stream), stream.next_seq, stream.enabled, stream.opened,
            tuple((s.shard_id, s.trimmed_through, s.closed_at, s.last_seq)
                  for s in stream.shards))


@dataclass
class _Captured:
    taken: tuple[bool, set[Any]]
    moto: MotoParts
    names: set[str]
    raw: dict[str, bytes]  # pickled in place
    plan: Plan = field(default_factory=Plan)
    encode: Any = None  # pickles one value of this snapshot (a root or a piece)
    pieces_of: dict[str, set[str]] = field(default_factory=dict)  # each moto part's pieces
    forked: ForkedSnapshot | None = None
    signatures: dict[str, Any] = field(default_factory=dict)
    sizes: dict[str, int] = field(default_factory=dict)  # pickled bytes of each part
    digests: dict[str, bytes] = field(default_factory=dict)  # of those pickled in place


def _encode_value(value: Any, references: codec.References) -> bytes:
    return codec.dumps(value.value if isinstance(value, Piece) else value, references)


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
        Pickle big changed parts in a forked child (:mod:`.writer`) instead of under
        the gate; off where ``os.fork`` does not exist.
    writer_timeout_s : float
        How long a forked writer may take before it is killed (the next snapshot retries).
    dirty : DirtyParts, optional
        Which of moto's parts changed (by default everything, every time).
    inline_bytes : int
        Changed parts smaller than this (at their last snapshot) are pickled in place.
    """

    def __init__(self, store: StateStore, gate: RequestGate, parts: dict[str, Part],
                 locks: tuple[Any, ...] = (), interval_s: float = 1.0,
                 pause_budget: float = 0.05, max_interval_s: float = 2.0,
                 gate_timeout_s: float = 2.0, fork: bool = hasattr(os, "fork"),
                 writer_timeout_s: float = 120.0, dirty: DirtyParts | None = None,
                 inline_bytes: int = INLINE_BYTES) -> None:
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
        self.dirty = dirty
        self.inline_bytes = inline_bytes
        self.stats = SnapshotStats()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._write_lock = threading.Lock()
        # What the stored rows hold: each moto part's root object and stream
        # signature, each part's pickled size and digest.
        self._roots: dict[str, Any] = {}
        self._signatures: dict[str, Any] = {}
        self._sizes: dict[str, int] = {}
        self._digests: dict[str, bytes] = {}
        self._stored_sizes: dict[str, int] = {}
        # What of moto's data is saved as pieces (:mod:`.pieces`), and each part's pieces.
        self.pieces = Pieces()
        self._pieces_of: dict[str, set[str]] = {}
        self._lazy_at = time.monotonic()  # when lazy marks were last taken

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
        unknown = {name for name in saved if name != SKELETON
                   and not name.startswith(PREFIX) and name not in self.parts}
        if unknown:
            raise SavedStateCorruptError(
                f"The saved state in {self.store.path} holds parts this endpoint does not know "
                f"({', '.join(sorted(unknown))}). " + how_to_start_empty(self.store.directory))
        try:
            loaded = codec.load_parts(saved)
        except Exception as exc:  # any unpickling failure means a state we cannot use
            raise SavedStateCorruptError(
                f"The saved state in {self.store.path} cannot be loaded ({type(exc).__name__}: "
                f"{exc}). " + how_to_start_empty(self.store.directory)) from None
        backends.restore(loaded.get(SKELETON, {}))
        for name, part in self.parts.items():
            if name in loaded:
                part.import_state(loaded[name])
        return True

    # -- taking ------------------------------------------------------------------------
    def snapshot_once(self, timeout_s: float | None = None, *, final: bool = False) -> bool:
        """Capture what changed now and commit it; False when the gate could not be taken.

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
                steps = _Steps()
                self.gate.changed.clear()
                lazy = final or time.monotonic() - self._lazy_at >= dirty.LAZY_S
                taken = (self.dirty.take(lazy=lazy) if self.dirty is not None
                         else (True, set()))
                if lazy:
                    self._lazy_at = time.monotonic()
                steps.mark("dirty")
                try:
                    captured = self._capture(taken, steps, forked=self.fork and not final)
                except BaseException:
                    self._failed(taken)
                    raise
                if final:
                    self.gate.close()
            paused = time.perf_counter()
            steps.mark("release")
            try:
                changed = self._encode(captured)
                written = self.store.commit(changed, captured.names)
            except BaseException:
                self._failed(taken)
                raise
            self._committed(captured, changed)
            done = time.perf_counter()
            self.stats.count += 1
            self.stats.saved_at = time.time()
            self.stats.pause_ms = (paused - started) * 1000
            self.stats.hold_ms = (paused - held_at) * 1000
            steps.ms["wait"] = (held_at - started) * 1000  # for the gate (not held yet)
            self.stats.recent.append((self.stats.hold_ms, steps.ms))
            self.stats.write_ms = (done - paused) * 1000
            self.stats.written_bytes += written
            self.stats.parts, self.stats.parts_written = len(captured.names), len(changed)
            log.debug("snapshot %d wrote %d bytes: %s", self.stats.count, written,
                      ", ".join(sorted(changed)))
            return True

    def _failed(self, taken: tuple[bool, set[Any]]) -> None:
        self.gate.changed.set()  # nothing saved: the next snapshot retries
        self.pieces.failed()
        if self.dirty is not None:
            self.dirty.put_back(taken)

    def _capture(self, taken: tuple[bool, set[Any]], steps: _Steps, *,
                 forked: bool) -> _Captured:
        acquired = []
        try:
            for lock in self.locks:
                lock.acquire()
                acquired.append(lock)
            steps.mark("locks")
            # Ours first: a checkpoint then never covers an effect moto's copy lacks.
            raw = {name: codec.dumps(part.export_state()) for name, part in self.parts.items()}
            steps.mark("ours")
            moto = backends.capture()
            steps.mark("moto_parts")
            captured = _Captured(taken, moto, set(raw) | set(moto.roots) | {SKELETON}, raw)
            captured.signatures = {name: stream_signature(root)
                                   for name, root in moto.roots.items()
                                   if moto.keys[name][3] is not None}
            due = moto.changed(*taken) | {
                name for name, root in moto.roots.items()
                if self._roots.get(name) is not root
                or captured.signatures.get(name) != self._signatures.get(name)}
            steps.mark("due")
            plan = captured.plan = self.pieces.plan(moto.roots, due)
            captured.pieces_of = {name: (plan.names.get(name, set()) if name in due
                                         else self._pieces_of.get(name, set()))
                                  for name in moto.roots}
            captured.names.update(*captured.pieces_of.values())
            steps.mark("plan")
            references = codec.References(moto.roots, plan)
            raw[SKELETON] = codec.dumps(moto.skeleton, references)
            steps.mark("skeleton")
            values: dict[str, Any] = {name: moto.roots[name] for name in due}
            # Pieces are pickled once the gate is released (or by the writer): only the
            # rest counts for whether to fork.
            big = sum(self._sizes.get(name, self.inline_bytes) for name in values)
            captured.encode = encode = functools.partial(_encode_value, references=references)
            if forked and values and big >= self.inline_bytes:
                try:
                    captured.forked = ForkedSnapshot(values | plan.dirty, {}, encode,
                                                     steps=steps)
                    return captured
                except OSError as exc:  # no memory or processes left: pickle here
                    log.warning("snapshot taken in-process: cannot fork (%s)", exc)
            raw.update((name, encode(value)) for name, value in values.items())
            steps.mark("inline")
            return captured
        finally:
            for lock in reversed(acquired):
                lock.release()

    def _encode(self, captured: _Captured) -> dict[str, bytes]:
        """The compressed bytes of every part to rewrite (outside the gate).

        A part pickled in place whose bytes are those stored is not rewritten.
        """
        changed: dict[str, bytes] = {}
        if captured.forked is None:
            for name, piece in captured.plan.dirty.items():
                captured.raw[name] = captured.encode(piece)
                time.sleep(YIELD_S)
        for name, data in captured.raw.items():
            digest = hashlib.blake2b(data, digest_size=16).digest()
            if self._digests.get(name) != digest:
                changed[name] = zlib.compress(data, 1)
            captured.sizes[name], captured.digests[name] = len(data), digest
        if captured.forked is not None:
            self.stats.forked += 1
            changed.update(captured.forked.result(self.writer_timeout_s))
            captured.sizes.update(captured.forked.sizes)
        return changed

    def _committed(self, captured: _Captured, changed: dict[str, bytes]) -> None:
        """Note what the stored rows now hold (only once the commit is done)."""
        self._roots = dict(captured.moto.roots)
        self._signatures = captured.signatures
        self.pieces.committed(captured.plan, captured.names)
        self._pieces_of = captured.pieces_of
        self._sizes.update(captured.sizes)
        self._digests.update(captured.digests)
        for name in changed:
            if name not in captured.digests:  # pickled by the writer: no digest here
                self._digests.pop(name, None)
            self._stored_sizes[name] = len(changed[name])
        for gone in set(self._stored_sizes) - captured.names:
            del self._stored_sizes[gone]
            self._sizes.pop(gone, None)
            self._digests.pop(gone, None)
        self.stats.stored_bytes = sum(self._stored_sizes.values())

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
