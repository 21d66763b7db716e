"""Turning the endpoint's state into bytes and back (pickle, as moto and LocalStack do).

moto keeps every service's data in plain Python objects held by one ``BackendDict``
per service; LocalStack and moto's own persistence save those whole with pickle.
We do the same with the standard library's pickler and a dispatch table (looked up
by exact type in C, so ordinary objects cost nothing extra) for what pickle cannot
carry or should not:

* locks, conditions and events are saved as fresh ones (nobody holds them while a
  snapshot is taken);
* weak-value dictionaries are saved with their current entries, and moto's
  ``defaultdict(lambda: {})`` as a ``defaultdict(dict)``;
* an IAM backend is saved without the ~1,600 AWS managed policies moto builds for
  it (24 MB and two thirds of a second to pickle, and they never change): only
  those attached to something are saved, the rest are rebuilt by moto on load;
  IAM backends moto made for a look-up and nobody used are not saved at all;
* DynamoDB Streams' shard iterators are not saved (see ``_fresh_streams_backend``).

A snapshot is made of *parts* pickled one by one (one per moto backend and per
DynamoDB table, see :mod:`.backends`). An object that is the root of another part is
pickled as a reference to it (:class:`References`: by exact type in the same dispatch
table, so other objects cost nothing), and :func:`load_parts` puts the references
back, so the objects parts share are shared again after a restore.
"""

from __future__ import annotations

import collections
import copyreg
import functools
import io
import pickle
import threading
import weakref
from typing import Any

PROTOCOL = pickle.HIGHEST_PROTOCOL


def _new_condition() -> threading.Condition:
    return threading.Condition()


def _new_event() -> threading.Event:
    return threading.Event()


def _reduce_defaultdict(obj: collections.defaultdict) -> Any:
    factory = obj.default_factory
    if "<" in getattr(factory, "__qualname__", ""):  # a lambda or a local function
        made = factory()
        if type(made) not in (dict, list, set) or made:
            raise pickle.PicklingError(
                f"cannot save a defaultdict made by {factory.__qualname__}")
        factory = type(made)
    return collections.defaultdict, (factory,), None, None, iter(obj.items())


def _reduce_iam_backend(backend: Any) -> Any:
    from moto.iam.models import AWSManagedPolicy

    state = dict(backend.__dict__)
    attached = [p for p in state.pop("aws_managed_policies") if p.attachment_count]
    others = {arn: p for arn, p in state.pop("managed_policies").items()
              if type(p) is not AWSManagedPolicy or p.attachment_count}
    return _rebuild_iam_backend, (type(backend), state, attached, others)


def _rebuild_iam_backend(cls: type, state: dict[str, Any], attached: list[Any],
                         others: dict[str, Any]) -> Any:
    backend = cls.__new__(cls)
    backend.__dict__.update(state)
    saved = {p.arn: p for p in attached}
    backend.aws_managed_policies = [saved.get(p.arn, p) for p in backend._init_aws_policies()]
    backend.managed_policies = {p.arn: p for p in backend.aws_managed_policies}
    backend.managed_policies.update(others)
    return backend


def pristine_iam(backend: Any) -> bool:
    """True for an IAM backend moto made on a look-up and nobody used (rebuilt on demand)."""
    from moto.iam.models import AWSManagedPolicy, IAMBackend

    if type(backend) is not IAMBackend or getattr(backend, "account_password_policy", None):
        return False
    skip = {"aws_managed_policies", "managed_policies"}
    if any(v for k, v in vars(backend).items()
           if k not in skip and isinstance(v, dict | list | set)):
        return False
    return not any(p.attachment_count or type(p) is not AWSManagedPolicy
                   for p in backend.managed_policies.values())


def _reduce_account_backends(accounts: Any) -> Any:
    # The regions' backends of one account; unused IAM partitions are left out.
    kept = [(region, b) for region, b in accounts.items() if not pristine_iam(b)]
    return _new_account_backends, (type(accounts), vars(accounts)), None, None, iter(kept)


def _new_account_backends(cls: type, state: dict[str, Any]) -> Any:
    accounts = dict.__new__(cls)
    accounts.__dict__.update(state)
    return accounts


def _fresh_streams_backend(backend: Any) -> Any:
    # Its only state is the shard iterators: tens of thousands of them under a busy
    # mapping (one per GetRecords), each valid 15 minutes. Not saved: a reader
    # resumes from a sequence number, which keeps its meaning.
    return type(backend), (backend.region_name, backend.account_id)


@functools.cache
def _dispatch_table() -> dict[type, Any]:
    from moto.core.base_backend import AccountSpecificBackend
    from moto.dynamodbstreams.models import DynamoDBStreamsBackend
    from moto.iam.models import IAMBackend

    table = dict(copyreg.dispatch_table)
    table.update({
        type(threading.Lock()): lambda _: (threading.Lock, ()),
        type(threading.RLock()): lambda _: (threading.RLock, ()),
        threading.Condition: lambda _: (_new_condition, ()),
        threading.Event: lambda _: (_new_event, ()),
        weakref.WeakValueDictionary: lambda d: (weakref.WeakValueDictionary, (dict(d),)),
        collections.defaultdict: _reduce_defaultdict,
        IAMBackend: _reduce_iam_backend,
        AccountSpecificBackend: _reduce_account_backends,
        DynamoDBStreamsBackend: _fresh_streams_backend,
    })
    return table


class _Joined:
    """In an owner's saved state: a container saved as pieces (:mod:`.pieces`)."""

    def __init__(self, kind: str, pieces: list[Any], factory: Any) -> None:
        self.kind, self.pieces, self.factory = kind, pieces, factory

    def join(self) -> Any:
        if self.kind == "list":
            return [value for piece in self.pieces for value in piece]
        joined = {} if self.factory is None else collections.defaultdict(self.factory)
        for piece in self.pieces:
            joined.update(piece)
        return joined


class _PieceRef:
    """Pickled as a reference to the piece ``name`` (loaded by :func:`load_parts`)."""

    def __init__(self, name: str) -> None:
        self.name = name

    def __reduce__(self) -> Any:
        return _part, (self.name,)


def _set_state(obj: Any, state: dict[str, Any]) -> None:
    """Unpickling an owner: its state, each container joined from its pieces."""
    obj.__dict__.update({key: value.join() if isinstance(value, _Joined) else value
                         for key, value in state.items()})


def _owner_reducer(plan: Any) -> Any:
    owners = plan.owners

    def reduce(obj: Any) -> Any:
        entry = owners.get(id(obj))
        if entry is None or entry[0] is not obj:
            return obj.__reduce_ex__(PROTOCOL)
        state = dict(vars(obj))
        for attribute, (kind, names, factory) in entry[1].items():
            state[attribute] = _Joined(kind, [_PieceRef(name) for name in names], factory)
        return copyreg.__newobj__, (type(obj),), state, None, None, _set_state

    return reduce


class References:
    """The roots of the parts of a snapshot, for pickling one part with references to the rest.

    Parameters
    ----------
    roots : dict
        Part name -> the object it holds (each object in one part only).
    plan : pieces.Plan, optional
        The containers saved as pieces: their owners are pickled with references to them.
    """

    def __init__(self, roots: dict[str, Any], plan: Any = None) -> None:
        self.names = {id(root): name for name, root in roots.items()}
        self._roots = roots  # keeps the objects (and so their ids) alive
        self._types = {type(root) for root in roots.values()}
        self.plan = plan
        self._root: Any = None
        self._table: dict[type, Any] | None = None

    def dispatch_table(self, root: Any) -> dict[type, Any]:
        """The codec's dispatch table, where every other part's root is a reference.

        Built once per :class:`References`; the table returned last serves ``root``
        (pickle one part at a time with it).
        """
        self._root = root
        if self._table is None:
            self._table = self._build()
        return self._table

    def _build(self) -> dict[type, Any]:
        table = dict(_dispatch_table())
        if self.plan is not None and self.plan.owners:
            from localaws.state.pieces import owner_types

            reduce_owner = _owner_reducer(self.plan)
            table.update(dict.fromkeys(owner_types(), reduce_owner))
        names = self.names
        for kind in self._types:
            base = table.get(kind)

            def reduce(obj: Any, base: Any = base) -> Any:
                name = names.get(id(obj))
                if name is not None and obj is not self._root:
                    return _part, (name,)
                return base(obj) if base is not None else obj.__reduce_ex__(PROTOCOL)

            table[kind] = reduce
        return table


_resolve_part: Any = None


def _part(name: str) -> Any:
    """Unpickling a reference: the part ``name`` (loaded by :func:`load_parts`)."""
    if _resolve_part is None:
        raise pickle.UnpicklingError(f"a reference to part {name!r} outside load_parts")
    return _resolve_part(name)


def load_parts(blobs: dict[str, bytes]) -> dict[str, Any]:
    """Unpickle every part, each once, references between them made into the objects.

    Pieces (:mod:`.pieces`) are joined into their owners and not returned themselves.

    Raises
    ------
    pickle.UnpicklingError
        A reference to a part that is missing, or parts that refer to each other in
        a cycle (the state is damaged).
    """
    global _resolve_part
    loaded: dict[str, Any] = {}
    loading: set[str] = set()

    def resolve(name: str) -> Any:
        if name in loaded:
            return loaded[name]
        if name in loading:
            raise pickle.UnpicklingError(f"part {name!r} refers to itself through others")
        if name not in blobs:
            raise pickle.UnpicklingError(f"part {name!r} is referred to but missing")
        loading.add(name)
        try:
            loaded[name] = pickle.loads(blobs[name])
        finally:
            loading.discard(name)
        return loaded[name]

    _resolve_part = resolve
    try:
        for name in blobs:
            resolve(name)
    finally:
        _resolve_part = None
    from localaws.state.pieces import PIECE

    return {name: value for name, value in loaded.items() if PIECE not in name}


def dumps(value: Any, references: References | None = None) -> bytes:
    """Serialize ``value`` (the roots of other parts as references to them).

    Raises
    ------
    pickle.PicklingError, TypeError, AttributeError
        Something in ``value`` cannot be saved.
    RuntimeError
        ``value`` changed while it was being saved.
    """
    buffer = io.BytesIO()
    pickler = pickle.Pickler(buffer, protocol=PROTOCOL)
    pickler.dispatch_table = (_dispatch_table() if references is None
                              else references.dispatch_table(value))
    pickler.dump(value)
    return buffer.getvalue()


def loads(data: bytes) -> Any:
    """The value :func:`dumps` saved."""
    return pickle.loads(data)  # only ever our own file, in the user's state directory
