"""The endpoint's write gate: requests share it, a snapshot holds it alone.

Every request that reaches moto passes the gate in *shared* mode; a snapshot
takes it *exclusively*, which waits until the requests in flight are done and
holds new ones back, so it sees no half-done operation (an item without its
stream record, a message half moved). :class:`GatedApp` is the WSGI middleware
that does this and notes which requests changed something, so that an idle
endpoint writes no snapshot.

Not gated: the endpoint's own paths (health, engine restart), ``Invoke`` (it runs
the learner's code, which calls back into the endpoint; what an invocation changes
— logs, metrics, other services — passes the gate on its own, through
:mod:`localaws.backends`) and the event-source-mapping API (its reads of moto's data
pass the gate in :mod:`localaws.backends`; mappings are kept under the mapping
service's lock, which a snapshot takes). A long-polling SQS
``ReceiveMessage`` leaves the gate while it waits for messages.
"""

from __future__ import annotations

import contextlib
import re
import threading
import time
from collections.abc import Iterator
from typing import Any

_READ_PREFIXES = ("Get", "List", "Describe", "Query", "Scan", "BatchGet")
# Our own providers: Invoke runs the learner's code, which calls back into the endpoint
# over HTTP (holding the gate there would make a waiting snapshot and the call wait for
# each other); the mapping API's reads of moto's data pass the gate in
# localaws.backends. Both keep their state under their own locks (a snapshot takes those).
_UNGATED = re.compile(r"^/(_workshop/|2015-03-31/functions/[^/]+/invocations/?$"
                      r"|2015-03-31/event-source-mappings)")
_CBOR_OPERATION = re.compile(r"/operation/(?P<op>[A-Za-z]+)$")


def is_ungated(path: str) -> bool:
    """True for the paths that do not pass the gate (our providers and admin paths)."""
    return _UNGATED.match(path) is not None


class GateClosedError(RuntimeError):
    """The endpoint is stopping: no more changes are accepted (ours, by design)."""


class RequestGate:
    """A shared/exclusive gate that prefers the exclusive holder (no starvation)."""

    def __init__(self) -> None:
        self._cond = threading.Condition()
        self._shared = 0
        self._exclusive = False
        self._waiting = 0
        self._closed = False
        self._local = threading.local()
        self.changed = threading.Event()

    @contextlib.contextmanager
    def shared(self) -> Iterator[None]:
        """Hold the gate with others (re-entrant within a thread).

        Raises
        ------
        GateClosedError
            The gate was closed for good (the endpoint is stopping).
        """
        depth = getattr(self._local, "depth", 0)
        if depth == 0:
            with self._cond:
                while self._exclusive or self._waiting:
                    self._cond.wait()
                if self._closed:
                    raise GateClosedError("the local endpoint is stopping")
                self._shared += 1
        self._local.depth = depth + 1
        try:
            yield
        finally:
            self._local.depth = depth
            if depth == 0:
                with self._cond:
                    self._shared -= 1
                    if self._shared == 0:
                        self._cond.notify_all()

    @contextlib.contextmanager
    def released(self) -> Iterator[None]:
        """Let go of this thread's share while waiting (e.g. a long poll); take it back."""
        depth = getattr(self._local, "depth", 0)
        if depth == 0:
            yield
            return
        with self._cond:
            self._shared -= 1
            self._local.depth = 0
            if self._shared == 0:
                self._cond.notify_all()
        try:
            yield
        finally:
            with self._cond:
                while self._exclusive or self._waiting:
                    self._cond.wait()
                self._shared += 1  # even if closed: the request is finishing
                self._local.depth = depth

    @contextlib.contextmanager
    def exclusive(self, timeout: float) -> Iterator[bool]:
        """Hold the gate alone; yields False (not held) if others did not leave in time."""
        deadline = time.monotonic() + timeout
        with self._cond:
            self._waiting += 1
            try:
                while self._exclusive or self._shared:
                    left = deadline - time.monotonic()
                    if left <= 0:
                        break
                    self._cond.wait(left)
                acquired = not (self._exclusive or self._shared)
                if acquired:
                    self._exclusive = True
            finally:
                self._waiting -= 1
                if not acquired:
                    self._cond.notify_all()
        try:
            yield acquired
        finally:
            if acquired:
                with self._cond:
                    self._exclusive = False
                    self._cond.notify_all()

    def close(self) -> None:
        """Refuse every new request from now on (the endpoint is stopping)."""
        with self._cond:
            self._closed = True
            self._cond.notify_all()


def is_read(environ: dict[str, Any]) -> bool:
    """True for requests that change nothing worth saving (Get*, List*, Describe*...)."""
    target = environ.get("HTTP_X_AMZ_TARGET")
    if target:
        return target.rsplit(".", 1)[-1].startswith(_READ_PREFIXES)
    match = _CBOR_OPERATION.search(environ.get("PATH_INFO", ""))
    if match:
        return match.group("op").startswith(_READ_PREFIXES)
    # REST (Lambda): GET and HEAD read. Query protocol (IAM, STS, SNS) keeps the action
    # in the body: such a request counts as a change.
    return environ.get("REQUEST_METHOD") in ("GET", "HEAD")


class GatedApp:
    """WSGI middleware: passes requests through the :class:`RequestGate`.

    Parameters
    ----------
    app : callable
        The endpoint's WSGI application (the router).
    gate : RequestGate
        The gate; ``gate.changed`` is set after every request that changed something.
    dirty : DirtyParts, optional
        Notes which of moto's parts a changing request touched (:mod:`.dirty`).
    """

    def __init__(self, app: Any, gate: RequestGate, dirty: Any = None) -> None:
        self.app = app
        self.gate = gate
        self.dirty = dirty

    def __call__(self, environ: dict[str, Any], start_response: Any) -> Any:
        if is_ungated(environ.get("PATH_INFO", "")):
            if not is_read(environ):
                self.gate.changed.set()
            return self.app(environ, start_response)
        try:
            reading = is_read(environ)
            with self.gate.shared(), (contextlib.nullcontext() if reading or self.dirty is None
                                      else self.dirty.recording(look_ups=False)):
                result = self.app(environ, start_response)
                try:
                    body = list(result)
                finally:
                    close = getattr(result, "close", None)
                    if close is not None:
                        close()
            if not reading:
                self.gate.changed.set()
            return body
        except GateClosedError:
            body_out = (b'{"__type":"ServiceUnavailableException","message":"The local '
                        b'endpoint is stopping"}')
            start_response("503 Service Unavailable", [
                ("Content-Type", "application/json"), ("Content-Length", str(len(body_out))),
                ("x-amzn-ErrorType", "ServiceUnavailableException")])
            return [body_out]


_long_poll_gate: RequestGate | None = None


def release_during_long_polls(gate: RequestGate) -> None:
    """Make SQS long polls leave ``gate`` while they wait for messages (idempotent)."""
    global _long_poll_gate
    from moto.sqs.models import Queue

    if _long_poll_gate is None:
        original = Queue.wait_for_messages

        def wait_for_messages(self: Any, timeout: int) -> None:
            current = _long_poll_gate
            if current is None:
                return original(self, timeout)
            with current.released():
                return original(self, timeout)

        Queue.wait_for_messages = wait_for_messages  # type: ignore[method-assign]
    _long_poll_gate = gate
