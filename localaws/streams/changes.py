"""Item changes, collected per write request: one stream record per item change.

moto reports a change to the table's ``stream_shard`` every time it touches an
item, which is not always once per change: ``UpdateItem`` on a new item first
puts the bare key and then updates it (two INSERTs), and a failed transaction
writes some items before it rolls the table back. Every write API therefore runs
inside a :func:`change_scope`: the changes reported meanwhile are merged per item
(the image before the first, the image after the last) and written to the stream
when the request ends, as one record per item that really changed; an atomic
request that fails writes none.

``BatchWriteItem`` runs its puts and deletes one backend call at a time: each call
keeps its own scope (its own records, as before), and the batch's scope
(``batch=True``) writes them all at its end, in order, under one hold of the stream
lock and with one notification per stream.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

from localaws.streams import registry
from localaws.streams.records import record_builder
from localaws.streams.shards import Stream

_local = threading.local()


@dataclass
class TableStream:
    """What a moto table holds as its ``stream_shard``: its stream and key names.

    Plain data; moto calls :meth:`add` on every item change.
    """

    stream: Stream
    region: str
    hash_attr: str
    range_attr: str | None

    def __deepcopy__(self, memo: dict[int, Any]) -> TableStream:
        return self  # see Stream.__deepcopy__

    def add(self, old: Any, new: Any) -> None:
        """moto's hook: an item changed from ``old`` to ``new`` (moto ``Item`` or None)."""
        record_change(self, old, new)

    def keys_of(self, item: Any) -> dict[str, Any]:
        """The key attributes of a moto ``Item``, in DynamoDB JSON."""
        keys = {self.hash_attr: item.hash_key.to_json()}
        if self.range_attr is not None and item.range_key is not None:
            keys[self.range_attr] = item.range_key.to_json()
        return keys


@dataclass
class _Change:
    target: TableStream
    keys: dict[str, Any]
    old: dict[str, Any] | None
    new: dict[str, Any] | None


@dataclass
class _Scope:
    identity: dict[str, str] | None
    changes: dict[tuple[Any, ...], _Change] = field(default_factory=dict)
    batch: bool = False
    done: list[_Change] = field(default_factory=list)  # a batch's finished calls


@contextmanager
def change_scope(*, atomic: bool = False, identity: dict[str, str] | None = None,
                 batch: bool = False) -> Iterator[None]:
    """Collect the item changes of one write request; write them at the end.

    Scopes nest: only the outermost one writes. Inside a ``batch`` scope each nested
    scope keeps its own changes, which the batch writes at its end.

    Parameters
    ----------
    atomic : bool
        When the request fails, write nothing (moto rolled the tables back).
    identity : dict, optional
        ``userIdentity`` for the records (TTL deletions).
    batch : bool
        The request runs several item writes, each in its own scope (``BatchWriteItem``).
    """
    outer = getattr(_local, "scope", None)
    if outer is not None and not outer.batch:
        yield
        return
    scope = _local.scope = _Scope(identity, batch=batch)
    try:
        yield
    except BaseException:
        _local.scope = outer
        if not atomic:
            _finish(scope, outer)
        raise
    _local.scope = outer
    _finish(scope, outer)


def _finish(scope: _Scope, outer: _Scope | None) -> None:
    changes = [*scope.done, *scope.changes.values()]
    if outer is not None:  # one call of a batch: written with the batch's
        outer.done.extend(changes)
        return
    _write(changes, scope.identity)


def _change_key(target: TableStream, keys: dict[str, Any]) -> tuple[Any, ...]:
    """Which item a change is to: the table's stream and the key attributes' values."""
    return (id(target), *sorted((name, kind, raw) for name, value in keys.items()
                                for kind, raw in value.items()))


def record_change(target: TableStream, old: Any, new: Any) -> None:
    """Note that an item changed (written at the end of the current scope)."""
    item = old if old is not None else new
    if item is None:
        return
    keys = target.keys_of(item)
    before = old.to_json()["Attributes"] if old is not None else None
    after = new.to_json()["Attributes"] if new is not None else None
    scope = getattr(_local, "scope", None)
    if scope is None:
        _write([_Change(target, keys, before, after)], None)
        return
    key = _change_key(target, keys)
    change = scope.changes.get(key)
    if change is None:
        scope.changes[key] = _Change(target, keys, before, after)
    else:
        change.new = after


def _write(changes: list[_Change], identity: dict[str, str] | None) -> None:
    touched: dict[str, None] = {}
    settings = registry.settings()
    with registry.LOCK:
        now = registry.now()  # one request's records reach the stream together
        for change in changes:
            if change.old == change.new:
                continue  # AWS writes no record for a write that changes nothing
            stream = change.target.stream
            if not stream.enabled:
                continue
            if stream.arn not in touched:
                stream.maintain(now, settings.shard_lifetime, settings.stream_retention)
                touched[stream.arn] = None
            stream.append(record_builder(region=change.target.region,
                                         view_type=stream.view_type, keys=change.keys,
                                         old=change.old, new=change.new,
                                         identity=identity), now)
    for arn in touched:
        registry.notify(arn)
