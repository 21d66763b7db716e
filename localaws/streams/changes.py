"""Item changes, collected per write request: one stream record per item change.

moto reports a change to the table's ``stream_shard`` every time it touches an
item, which is not always once per change: ``UpdateItem`` on a new item first
puts the bare key and then updates it (two INSERTs), and a failed transaction
writes some items before it rolls the table back. Every write API therefore runs
inside a :func:`change_scope`: the changes reported meanwhile are merged per item
(the image before the first, the image after the last) and written to the stream
when the request ends, as one record per item that really changed; an atomic
request that fails writes none.
"""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

from localaws.streams import registry
from localaws.streams.records import json_default, record_builder
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
    changes: dict[tuple[int, str], _Change] = field(default_factory=dict)


@contextmanager
def change_scope(*, atomic: bool = False,
                 identity: dict[str, str] | None = None) -> Iterator[None]:
    """Collect the item changes of one write request; write them at the end.

    Scopes nest: only the outermost one writes.

    Parameters
    ----------
    atomic : bool
        When the request fails, write nothing (moto rolled the tables back).
    identity : dict, optional
        ``userIdentity`` for the records (TTL deletions).
    """
    if getattr(_local, "scope", None) is not None:
        yield
        return
    scope = _local.scope = _Scope(identity)
    try:
        yield
    except BaseException:
        _local.scope = None
        if not atomic:
            _write(scope)
        raise
    _local.scope = None
    _write(scope)


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
        _write(_Scope(None, {(0, ""): _Change(target, keys, before, after)}))
        return
    key = (id(target), json.dumps(keys, sort_keys=True, default=json_default))
    change = scope.changes.get(key)
    if change is None:
        scope.changes[key] = _Change(target, keys, before, after)
    else:
        change.new = after


def _write(scope: _Scope) -> None:
    touched: dict[str, None] = {}
    settings = registry.settings()
    with registry.LOCK:
        for change in scope.changes.values():
            if change.old == change.new:
                continue  # AWS writes no record for a write that changes nothing
            stream = change.target.stream
            if not stream.enabled:
                continue
            now = registry.now()
            stream.maintain(now, settings.shard_lifetime, settings.stream_retention)
            stream.append(record_builder(region=change.target.region,
                                         view_type=stream.view_type, keys=change.keys,
                                         old=change.old, new=change.new,
                                         identity=scope.identity), now)
            touched[stream.arn] = None
    for arn in touched:
        registry.notify(arn)
