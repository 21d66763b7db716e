"""Which parts of moto's data changed since the last snapshot (exact, never optimistic).

A snapshot re-pickles only the parts marked here. Marks come from three places:

* every **request** that may change something (not a Get/List/Describe/Query/Scan),
  through :class:`~localaws.state.gate.GatedApp` and the pipeline's ``on_dispatch``
  hook: the request's own service, account and region, and, for a DynamoDB item
  write, only the tables it names;
* every change **outside requests** made through :func:`localaws.backends.changing`
  (telemetry, the engine's failure destinations, the alarm evaluator), with the
  backend it names;
* while either runs, every moto backend looked up through ``backends[account][region]``
  on that thread (:func:`install` records ``AccountSpecificBackend.__getitem__``): an
  SNS publish that delivers to SQS marks the SQS backend too, with no list of which
  service reaches which.

What cannot be attributed (a TTL sweep, a change with no backend named, a request
with no service) marks everything. Bookkeeping that moto does on every request (an
access key's and its role's last-used time, :func:`bookkeeping`) is marked *lazily*:
saved by the next snapshot that saves its backend anyway, or by the first snapshot
:data:`LAZY_S` or more later, or by the final snapshot of a clean stop (a crash may
lose it). Marked at once, it would re-save IAM (and walk its ~1,300 managed
policies) on every snapshot while a function calls the endpoint. A mark is a
:data:`Key`:

* ``(service, account, region)``: one backend, for DynamoDB with all its tables;
* ``(service, account, None)``: every region of a service in an account (IAM, STS);
* ``("dynamodb", account, region, table)``: one DynamoDB table (items and stream).
"""

from __future__ import annotations

import contextlib
import threading
from collections.abc import Callable, Iterator, Mapping
from typing import Any

from localaws.errors import RequestError

Key = tuple[Any, ...]

DYNAMODB = "dynamodb"
# DynamoDB writes that change only the items (and stream) of the tables they name.
ITEM_WRITES = frozenset(("PutItem", "UpdateItem", "DeleteItem", "BatchWriteItem",
                         "TransactWriteItems"))
# Services whose backends are global, not regional (a request names a signing region).
GLOBAL_SERVICES = frozenset(("iam", "sts"))
LAZY_S = 60.0
"""How long a lazy mark (:func:`bookkeeping`) may wait for a snapshot that saves it."""


class DirtyParts:
    """The marks since the last snapshot; thread-safe."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._keys: set[Key] = set()
        self._everything = True  # nothing saved yet: the first snapshot saves it all
        self._local = threading.local()

    # -- marking ------------------------------------------------------------------------
    def mark(self, *keys: Key) -> None:
        """Mark these parts changed."""
        with self._lock:
            self._keys.update(keys)

    def mark_everything(self) -> None:
        """Mark every part changed (a change that cannot be attributed)."""
        with self._lock:
            self._everything = True

    @contextlib.contextmanager
    def recording(self, *keys: Key, tables: dict[tuple[str, str], set[str]] | None = None,
                  look_ups: bool = True) -> Iterator[None]:
        """Mark ``keys`` and every backend this thread looks up until the block ends.

        Parameters
        ----------
        keys : Key
            Parts the caller knows it changes.
        tables : dict, optional
            ``{(account, region): {table, ...}}``: a DynamoDB backend looked up in that
            account and region changes only those tables (an item write).
        look_ups : bool
            Count look-ups from the start; a request's recording counts them only once
            :meth:`note_call` says the request is past its checks (which only read).
        """
        frames = getattr(self._local, "frames", None)
        if frames is None:
            frames = self._local.frames = []
        frame: dict[str, Any] = {"keys": set(keys), "tables": dict(tables or {}),
                                 "look_ups": look_ups}
        frames.append(frame)
        _recorders.active = frames
        try:
            yield
        finally:
            frames.pop()
            if not frames:
                _recorders.active = None
            self.mark(*_resolve(frame))

    def changes(self, *keys: Key) -> contextlib.AbstractContextManager[None]:
        """:meth:`recording` for a change outside requests; no ``keys`` marks everything."""
        if not keys:
            self.mark_everything()
        return self.recording(*keys)

    def note_call(self, call: Any) -> None:
        """The pipeline's hook: what a request about to be served may change.

        Added to this thread's recording (:class:`~localaws.state.gate.GatedApp` opens
        it); a request it cannot attribute marks everything.

        Parameters
        ----------
        call : localaws.protocols.Call
            The request, past every check.
        """
        from localaws.state.gate import is_read, is_ungated

        # Our providers (Invoke, the mapping API) keep their state in our own parts and
        # change moto's only through localaws.backends, which marks it.
        if is_read(call.environ) or is_ungated(call.path):
            return
        from localaws.backends import account_of

        found = None if call.path.startswith("/moto-api") else request_keys(
            call.service, account_of(call.access_key_id), call.region,
            call.header("x-amz-target"), call.json_body)
        frames = getattr(self._local, "frames", None)
        if found is None or not frames:
            self.mark_everything()
            return
        keys, tables = found
        frames[-1]["look_ups"] = True
        frames[-1]["keys"].update(keys)
        for where, names in tables.items():
            frames[-1]["tables"].setdefault(where, set()).update(names)

    # -- taking -------------------------------------------------------------------------
    def take(self, *, lazy: bool = False) -> tuple[bool, set[Key]]:
        """``(everything, keys)`` marked so far, and start afresh (under the gate).

        Parameters
        ----------
        lazy : bool
            Take the lazy marks (:func:`bookkeeping`) too.
        """
        with self._lock:
            taken = self._everything, self._keys
            self._everything, self._keys = False, set()
        if lazy:
            with _lazy_lock:
                taken[1].update(_lazy)
                _lazy.clear()
        return taken

    def put_back(self, taken: tuple[bool, set[Key]]) -> None:
        """Mark again what :meth:`take` returned (its snapshot failed)."""
        everything, keys = taken
        with self._lock:
            self._everything = self._everything or everything
            self._keys.update(keys)


def _resolve(frame: dict[str, Any]) -> set[Key]:
    keys: set[Key] = set()
    tables = frame["tables"]
    for key in frame["keys"]:
        if key[0] == DYNAMODB and len(key) == 3 and (key[1], key[2]) in tables:
            keys.update((DYNAMODB, key[1], key[2], name) for name in tables[(key[1], key[2])])
        else:
            keys.add(key)
    return keys


# -- looking backends up ----------------------------------------------------------------
class _Recorders(threading.local):
    active: list[dict[str, Any]] | None = None


_recorders = _Recorders()
_installed = False
_lazy: set[Key] = set()
_lazy_lock = threading.Lock()


@contextlib.contextmanager
def bookkeeping(*keys: Key) -> Iterator[None]:
    """A change of ``keys`` that may wait for a later snapshot (marked lazily).

    Look-ups made in the block are not recorded: what the block changes is ``keys``.
    """
    frames, _recorders.active = _recorders.active, None
    try:
        yield
    finally:
        _recorders.active = frames
        with _lazy_lock:
            _lazy.update(keys)


def install() -> None:
    """Record ``backends[account][region]`` look-ups made during a recording (idempotent)."""
    global _installed
    if _installed:
        return
    from moto.core.base_backend import AccountSpecificBackend

    original = AccountSpecificBackend.__getitem__

    def __getitem__(self: Any, region_name: str) -> Any:  # noqa: N807 - moto's method
        frames = _recorders.active
        if frames and frames[-1]["look_ups"]:
            frames[-1]["keys"].add((self.service_name, self.account_id, region_name))
        return original(self, region_name)

    AccountSpecificBackend.__getitem__ = __getitem__  # type: ignore[method-assign]
    _installed = True


# -- requests -----------------------------------------------------------------------------
def request_keys(service: str | None, account: str, region: str, target: str | None,
                 body: Callable[[], Mapping[str, Any]],
                 ) -> tuple[set[Key], dict[tuple[str, str], set[str]]] | None:
    """What a changing request may change: ``(keys, table hints)``; ``None`` for "anything".

    Parameters
    ----------
    service : str or None
        The request's botocore service name, which is moto's ``BackendDict.service_name``
        for every service the endpoint serves (``None``: not known).
    account, region : str
        Whose data moto serves it from.
    target : str or None
        The ``X-Amz-Target`` header (DynamoDB's operation).
    body : callable
        Gives the request body as parsed JSON (``Call.json_body``, parsed once for the
        whole pipeline); called only for a DynamoDB item write, which names its
        tables there.
    """
    if not service:
        return None
    if service in GLOBAL_SERVICES:
        return {(service, account, None)}, {}
    keys: set[Key] = {(service, account, region)}
    operation = (target or "").rsplit(".", 1)[-1]
    if service == DYNAMODB and operation in ITEM_WRITES:
        names = item_write_tables(operation, body)
        if names is not None:
            return keys, {(account, region): names}
    return keys, {}


def item_write_tables(operation: str, body: Callable[[], Mapping[str, Any]]) -> set[str] | None:
    """The tables a DynamoDB item write names; ``None`` when the body does not say."""
    try:
        params = body()
        if operation == "BatchWriteItem":
            names = set(params["RequestItems"])
        elif operation == "TransactWriteItems":
            names = {next(iter(item.values()))["TableName"] for item in params["TransactItems"]}
        else:
            names = {params["TableName"]}
    except (RequestError, ValueError, KeyError, TypeError, AttributeError, StopIteration):
        return None
    # A table named by its ARN may live elsewhere: the whole backend is marked then.
    if not all(isinstance(name, str) and not name.startswith("arn:") for name in names):
        return None
    return names
