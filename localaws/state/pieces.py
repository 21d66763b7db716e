"""What grows, cut into pieces: a snapshot re-pickles only the pieces that changed.

A busy table's part holds all its items and stream records, the Logs backend's every
log event, CloudWatch's every datapoint: pickled whole, each change costs the whole
part, so that a steady write load soon makes every snapshot big enough to fork.
Here the containers that grow are saved as *pieces*, parts of their own
(:data:`PIECE` in their names) that the owner's part refers to:

* a moto table's ``items`` (a dict in insertion order) in chunks of :data:`SIZE`
  keys: new keys join the last chunk, a written key dirties its own chunk. Which keys
  were written is recorded by hooks on moto's ``Table.put_item``, ``Table.delete_item``
  and ``DynamoDBBackend.update_item`` (:class:`ItemWrites`), the only ways moto changes
  a table's items (every request, PartiQL's included, and our TTL sweep go through
  them; a restore or a rolled-back transaction makes a new table, which is cut whole).
  A dict whose size the recorded writes do not explain is cut whole again;
* append-only lists (a stream shard's records, a log stream's events, CloudWatch's
  ``metric_data``) in blocks of :data:`SIZE` elements: a block whose length and first
  and last elements are the same objects as when it was saved is unchanged (only the
  last one grows; a shard's compaction moves every block and so rewrites them all).

The cut is planned under the gate (:meth:`Pieces.plan`, identity checks and the
recorded keys, no pickling) and updated in place; a failed snapshot forgets every
cut (:meth:`Pieces.failed`), so the next one re-cuts whole what it saves.
Containers of at most :data:`SIZE` elements stay inside their owner's part.

Under the gate a changed piece is only *taken*: a slice of the list, a copy of the
chunk's dict (references, microseconds); it is pickled once the gate is released,
because its elements never change once stored: stream records are tuples of bytes,
moto never changes a log event or a datapoint it has stored, and an item is replaced
by a new one on every write except ``UpdateItem``, which changes it in place, so the
hook gives it a copy to change instead (copy-on-write, :func:`install`).
"""

from __future__ import annotations

import copy
import functools
import itertools
import threading
import weakref
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

SIZE = 64
"""Keys per chunk of a table's items, elements per block of a list (a piece pickles in
well under a millisecond on a quiet machine)."""
PIECE = "/~piece/"
"""In the name of every piece (never in an owner's: table names cannot hold a ``/``)."""


# -- which keys the item writes touched ----------------------------------------------------
Written = dict[Any, tuple[Any, bool]]
"""A table's written keys: :func:`plain` key -> (moto's key, whether it left the dict)."""


def plain(key: Any) -> Any:
    """A moto key as a tuple of strings (hashed in nanoseconds; a ``DynamoType``'s hash
    costs microseconds); :data:`_UNKNOWN` for what is no string or binary."""
    value = getattr(key, "value", None)
    return (key.type, value) if isinstance(value, str | bytes) else _UNKNOWN


class ItemWrites:
    """The hash keys written per table since :meth:`take`; fed by moto's hooks."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._tables: dict[int, tuple[Any, Written]] = {}

    def note(self, table: Any, key: Any, deleted: bool) -> None:
        """``key`` of ``table`` was written (``deleted``: its entry left the dict)."""
        name = plain(key)
        with self._lock:
            entry = self._tables.get(id(table))
            if entry is None or entry[0] is not table:
                entry = self._tables[id(table)] = (table, {})
            keys = entry[1]
            before = keys.pop(name, None)
            keys[name] = (key, deleted or (before is not None and before[1]))

    def take(self) -> dict[int, tuple[Any, Written]]:
        """Everything noted so far (under the gate), and start afresh."""
        with self._lock:
            taken, self._tables = self._tables, {}
            return taken

    def put_back(self, taken: dict[int, tuple[Any, Written]]) -> None:
        """Note again what :meth:`take` returned (tables no snapshot looked at yet)."""
        with self._lock:
            for ident, (table, keys) in taken.items():
                later = self._tables.get(ident)
                if later is not None and later[0] is table:
                    keys = dict(keys)
                    for name, (key, deleted) in later[1].items():
                        before = keys.pop(name, None)
                        keys[name] = (key, deleted or (before is not None and before[1]))
                self._tables[ident] = (table, keys)


_writers: weakref.WeakSet[ItemWrites] = weakref.WeakSet()
_installed = False


def _note(table: Any, key: Any, deleted: bool) -> None:
    for writes in list(_writers):
        writes.note(table, key, deleted)


def install(writes: ItemWrites) -> None:
    """Feed ``writes`` from moto's item writes (the hooks are installed once)."""
    global _installed
    _writers.add(writes)
    if _installed:
        return
    from moto.dynamodb.models import DynamoDBBackend, DynamoType
    from moto.dynamodb.models.table import Table

    put, delete, update = Table.put_item, Table.delete_item, DynamoDBBackend.update_item

    def put_item(self: Any, *args: Any, **kwargs: Any) -> Any:
        item = put(self, *args, **kwargs)
        _note(self, item.hash_key, False)
        return item

    def delete_item(self: Any, hash_key: Any, range_key: Any) -> Any:
        try:
            return delete(self, hash_key, range_key)
        finally:  # a range-key table keeps the hash's (maybe empty) dict
            _note(self, hash_key, not self.has_range_key)

    def update_item(self: Any, table_name: str, key: dict[str, Any], *args: Any,
                    **kwargs: Any) -> Any:
        _copy_before_update(self, table_name, key)
        try:
            return update(self, table_name, key, *args, **kwargs)
        finally:  # in place, even when it fails half-way
            table = self.tables.get(table_name)
            if table is not None and table.hash_key_attr in key:
                _note(table, DynamoType(key[table.hash_key_attr]), False)
            elif table is not None:
                _note(table, _UNKNOWN, False)

    Table.put_item = put_item  # type: ignore[method-assign]
    Table.delete_item = delete_item  # type: ignore[method-assign]
    DynamoDBBackend.update_item = update_item  # type: ignore[method-assign]
    _installed = True


_UNKNOWN = object()
"""Noted when a write's key cannot be told: the table is re-cut whole."""


def _copy_before_update(backend: Any, table_name: str, key: dict[str, Any]) -> None:
    """Put a copy of the item ``UpdateItem`` is about to change in its place.

    The stored item stays as it was for a snapshot that took it (moto changes the copy);
    the dict keeps its order (an existing key is assigned).
    """
    from moto.dynamodb.models import DynamoType

    table = backend.tables.get(table_name)
    if table is None or table.hash_key_attr not in key:
        return
    hash_key = DynamoType(key[table.hash_key_attr])
    holder = table.items
    slot: Any = hash_key
    if table.has_range_key:
        # .get, not [...]: the dict is a defaultdict, a look-up would add an entry.
        holder = table.items.get(hash_key)
        if holder is None or table.range_key_attr not in key:
            return
        slot = DynamoType(key[table.range_key_attr])
    item = holder.get(slot)
    if item is not None:
        holder[slot] = copy.deepcopy(item)


# -- the cut ---------------------------------------------------------------------------------
@dataclass
class _Cut:
    """How one container is saved now: its pieces' names and what each one holds."""

    container: Any
    owner: Any
    part: str
    serial: int
    bounds: list[tuple[int, Any, Any]] = field(default_factory=list)  # list blocks
    # dict chunks: each the plain() keys it holds, in the dict's order (the chunks one
    # after the other hold the dict's keys in its order), and plain key -> chunk
    chunks: list[dict[Any, None]] = field(default_factory=list)
    index: dict[Any, int] = field(default_factory=dict)


@dataclass
class Plan:
    """What one snapshot saves as pieces (made under the gate).

    Attributes
    ----------
    owners : dict
        ``id(owner)`` -> ``(owner, {attribute: (kind, piece names, default factory)})``:
        what :mod:`.codec` writes in place of those attributes.
    dirty : dict
        Piece name -> the :class:`Piece` to pickle (now, or in the forked writer).
    names : dict
        Owner part name -> the names of all its pieces.
    """

    owners: dict[int, tuple[Any, dict[str, tuple[str, list[str], Any]]]] = field(
        default_factory=dict)
    dirty: dict[str, Piece] = field(default_factory=dict)
    names: dict[str, set[str]] = field(default_factory=dict)
    cuts: dict[int, _Cut] = field(default_factory=dict)
    seen: set[int] = field(default_factory=set)  # the containers looked at
    owners_seen: set[int] = field(default_factory=set)  # and their owners


class Pieces:
    """The cut of every container as stored, and the plans that change it."""

    def __init__(self) -> None:
        self.writes = ItemWrites()
        install(self.writes)
        self._cuts: dict[int, _Cut] = {}  # id(container) -> its cut, as committed
        self._serials = itertools.count(1)

    def plan(self, roots: dict[str, Any], due: set[str]) -> Plan:
        """The pieces of the ``due`` parts (under the gate, before anything is pickled).

        Parameters
        ----------
        roots : dict
            Part name -> its root object (:class:`.backends.MotoParts`).
        due : set
            The parts pickled by this snapshot.
        """
        taken = self.writes.take()
        plan = Plan()
        try:
            self._plan(roots, due, taken, plan)
        finally:  # the writes to tables not saved now count for the next snapshot
            self.writes.put_back({key: writes for key, writes in taken.items()
                                  if key not in plan.owners_seen})
        return plan

    def _plan(self, roots: dict[str, Any], due: set[str],
              taken: dict[int, tuple[Any, dict[Any, bool]]], plan: Plan) -> None:
        for name in due:
            root = roots[name]
            for owner, attribute, container in _containers(root):
                plan.seen.add(id(container))
                plan.owners_seen.add(id(owner))
                if isinstance(container, dict):
                    writes = taken.get(id(owner))
                    keys: Written = (writes[1] if writes is not None and writes[0] is owner
                                     else {})
                    cut = self._cut_dict(name, owner, container, keys, _UNKNOWN in keys, plan)
                else:
                    cut = self._cut_list(name, owner, container, plan)
                if cut is None:
                    continue
                names = [_name(name, cut.serial, k)
                         for k in range(len(cut.chunks) if isinstance(container, dict)
                                        else len(cut.bounds))]
                factory = getattr(container, "default_factory", None)
                plan.owners.setdefault(id(owner), (owner, {}))[1][attribute] = (
                    "dict" if isinstance(container, dict) else "list", names, factory)
                plan.names.setdefault(name, set()).update(names)
                plan.cuts[id(container)] = cut

    def _cut_list(self, part: str, owner: Any, values: list[Any], plan: Plan) -> _Cut | None:
        if len(values) <= SIZE:
            return None
        old = self._cuts.get(id(values))
        fresh = (old is None or old.container is not values or old.owner is not owner
                 or old.part != part)
        cut = _Cut(values, owner, part, next(self._serials)) if fresh else old
        blocks = (len(values) + SIZE - 1) // SIZE
        del cut.bounds[blocks:]
        # Appends change only the last stored block and add new ones; anything else
        # (a shard's compaction) moves the first block too, and then all are checked.
        first = 0
        if cut.bounds and _same(values, 0, cut.bounds[0]):
            first = len(cut.bounds) - 1
        for k in range(first, blocks):
            start, end = k * SIZE, min(len(values), (k + 1) * SIZE)
            bound = (end - start, values[start], values[end - 1])
            if k < len(cut.bounds):
                if _same(values, k, cut.bounds[k]):
                    continue
                cut.bounds[k] = bound
            else:
                cut.bounds.append(bound)
            plan.dirty[_name(part, cut.serial, k)] = _slice(values, start, end)
        return cut

    def _cut_dict(self, part: str, owner: Any, items: dict[Any, Any], keys: Written,
                  whole: bool, plan: Plan) -> _Cut | None:
        old = self._cuts.get(id(items))
        if len(items) <= SIZE:
            return None
        fresh = (whole or old is None or old.container is not items or old.owner is not owner
                 or old.part != part)
        recut = None if fresh else _recut(old, items, keys)
        taken = None if recut is None else _take_chunks(items, *recut)
        if taken is None:  # re-cut whole
            cut = _Cut(items, owner, part, next(self._serials))
            keys_in_order = map(plain, items)
            while chunk := dict.fromkeys(itertools.islice(keys_in_order, SIZE)):
                cut.index.update(dict.fromkeys(chunk, len(cut.chunks)))
                cut.chunks.append(chunk)
            if _UNKNOWN in cut.index or len(cut.index) != len(items):
                return None  # keys we cannot tell apart: the table's part holds its items
            taken = _take_chunks(items, cut, set(range(len(cut.chunks))))
            assert taken is not None  # a fresh cut is the dict's order
        else:
            cut = recut[0]
        for k, piece in taken.items():
            plan.dirty[_name(part, cut.serial, k)] = piece
        return cut

    def committed(self, plan: Plan, parts: set[str]) -> None:
        """The plan's cuts are stored now; ``parts`` are the parts of the snapshot."""
        for seen in plan.seen:
            self._cuts.pop(seen, None)
        self._cuts.update(plan.cuts)
        for key in [key for key, cut in self._cuts.items() if cut.part not in parts]:
            del self._cuts[key]

    def failed(self) -> None:
        """Nothing of the plan was stored: forget every cut (the next ones re-cut whole)."""
        self._cuts.clear()


def _recut(cut: _Cut, items: dict[Any, Any], keys: Written,
           ) -> tuple[_Cut, set[int]] | None:
    """The cut after the recorded writes; ``None`` when they do not explain the dict."""
    dirty: set[int] = set()
    new = []
    for name, (key, deleted) in keys.items():
        k = cut.index.get(name)
        if k is not None and (deleted or key not in items):
            del cut.chunks[k][name], cut.index[name]
            dirty.add(k)
            k = None
        if k is not None:
            dirty.add(k)
        elif key in items:
            new.append(name)
    if new:
        # A key that took a new place in the dict is at its end, in the order written.
        tail = [plain(key) for key in itertools.islice(reversed(items), len(new))][::-1]
        if set(tail) != set(new):
            return None
        for key in tail:
            if not cut.chunks or len(cut.chunks[-1]) >= SIZE:
                cut.chunks.append({})
            cut.chunks[-1][key] = None
            cut.index[key] = len(cut.chunks) - 1
            dirty.add(len(cut.chunks) - 1)
    if len(cut.index) != len(items):  # a change the hooks did not see
        return None
    return cut, dirty


def _same(values: list[Any], k: int, bound: tuple[int, Any, Any]) -> bool:
    """True when block ``k`` holds what it held when ``bound`` was taken."""
    length, first, last = bound
    start = k * SIZE
    return (len(values) >= start + length and values[start] is first
            and values[start + length - 1] is last
            and (length == SIZE or len(values) == start + length))


def _name(part: str, serial: int, k: int) -> str:
    return f"{part}{PIECE}{serial}/{k}"


class Piece:
    """A piece to pickle: its elements as of the plan (references, taken under the gate).

    The elements themselves never change once stored (see the module docstring), so
    the piece can be pickled after the gate is released.
    """

    def __init__(self, value: Any) -> None:
        self.value = value


def _slice(values: list[Any], start: int, end: int) -> Piece:
    return Piece(values[start:end])


def _take_chunks(items: dict[Any, Any], cut: _Cut, dirty: set[int]) -> dict[int, Piece] | None:
    """The dirty chunks' ``(key, value)`` pairs, taken by position (no key is hashed).

    ``None`` when a chunk's first or last key is not where the cut says (then the
    dict is cut whole again). A range-key table keeps a dict per hash key, which later
    writes change: those are copied.
    """
    taken: dict[int, Piece] = {}
    start, total = 0, len(items)
    for k, chunk in enumerate(cut.chunks):
        size = len(chunk)
        if k in dirty and size:
            if start * 2 > total:  # nearer the end: count from there
                skip = total - start - size
                pairs = list(itertools.islice(reversed(items.items()), skip, skip + size))
                pairs.reverse()
            else:
                pairs = list(itertools.islice(items.items(), start, start + size))
            first, last = next(iter(chunk)), next(reversed(chunk))
            if len(pairs) != size or plain(pairs[0][0]) != first or plain(pairs[-1][0]) != last:
                return None
            taken[k] = Piece([(key, dict(value) if type(value) is dict else value)
                              for key, value in pairs])
        elif k in dirty:
            taken[k] = Piece([])
        start += size
    return taken


def _containers(root: Any) -> Iterator[tuple[Any, str, Any]]:
    """``(owner, attribute, container)`` of every container in ``root`` that is cut."""
    from moto.cloudwatch.models import CloudWatchBackend
    from moto.dynamodb.models.table import Table
    from moto.logs.models import LogsBackend

    if isinstance(root, Table):
        yield root, "items", root.items
        stream = getattr(getattr(root, "stream_shard", None), "stream", None)
        for shard in getattr(stream, "shards", ()):
            yield shard, "records", shard.records
    elif isinstance(root, LogsBackend):
        for group in root.groups.values():
            for log_stream in group.streams.values():
                yield log_stream, "events", log_stream.events
    elif isinstance(root, CloudWatchBackend):
        yield root, "metric_data", root.metric_data


@functools.cache
def owner_types() -> tuple[type, ...]:
    """The exact types whose objects may own cut containers (for the pickler's table)."""
    from moto.cloudwatch.models import CloudWatchBackend
    from moto.dynamodb.models.table import Table
    from moto.logs.models import LogStream

    from localaws.streams.shards import Shard

    tables, stack = [], [Table]
    while stack:
        kind = stack.pop()
        tables.append(kind)
        stack.extend(kind.__subclasses__())
    return (*tables, Shard, LogStream, CloudWatchBackend)
