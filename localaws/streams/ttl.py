"""Time to live: expired items are deleted in the background, as DynamoDB does.

:func:`sweep` is one synchronous pass: for every table with TTL enabled, every item
whose TTL attribute is a number (epoch seconds) in the past is deleted, and the
stream gets a REMOVE record with the service ``userIdentity``. AWS ignores items
whose attribute is not a number, and items that expired more than five years ago
[DG-2023 howitworks-ttl.md]. An expired item stays readable until a sweep deletes
it (on AWS, typically within two days). :class:`TtlSweeper` is the loop that runs
a sweep every ``ttl_sweep`` seconds; it also keeps idle streams trimmed.
"""

from __future__ import annotations

import contextlib
import logging
import threading
from collections.abc import Callable
from contextlib import AbstractContextManager
from decimal import Decimal, InvalidOperation
from typing import Any

from moto.dynamodb.exceptions import MockValidationException
from moto.dynamodb.models import DynamoDBBackend
from moto.dynamodb.models.table import Table

from localaws.streams import registry
from localaws.streams.changes import TableStream, change_scope
from localaws.streams.records import SERVICE_IDENTITY

log = logging.getLogger("localaws.streams")

FIVE_YEARS_S = 5 * 365 * 24 * 3600


class TtlValidationError(MockValidationException):
    """An UpdateTimeToLive request AWS refuses (the caller's fault)."""


def _update_time_to_live(self: DynamoDBBackend, table_name: str,
                         ttl_spec: dict[str, Any]) -> None:
    table = self.get_table(table_name)  # a name or, as on AWS, the table's ARN
    if not isinstance(ttl_spec, dict) or "Enabled" not in ttl_spec \
            or "AttributeName" not in ttl_spec:
        raise TtlValidationError(
            "TimeToLiveSpecification does not contain Enabled and AttributeName")
    name = ttl_spec["AttributeName"]
    if not isinstance(name, str) or not 1 <= len(name) <= 255:
        raise TtlValidationError(
            f"1 validation error detected: Value '{name}' at "
            "'timeToLiveSpecification.attributeName' failed to satisfy constraint: Member "
            "must have length less than or equal to 255" if isinstance(name, str) and name
            else "1 validation error detected: Value '' at "
            "'timeToLiveSpecification.attributeName' failed to satisfy constraint: Member "
            "must have length greater than or equal to 1")
    enabled = table.ttl.get("TimeToLiveStatus") == "ENABLED"
    if ttl_spec["Enabled"] and enabled:
        raise TtlValidationError("TimeToLive is already enabled")
    if not ttl_spec["Enabled"] and not enabled:
        raise TtlValidationError("TimeToLive is already disabled")
    if not ttl_spec["Enabled"] and table.ttl.get("AttributeName") != name:
        raise TtlValidationError(
            f"TimeToLive is enabled on attribute {table.ttl.get('AttributeName')}, "
            f"not {name}")
    table.ttl = ({"TimeToLiveStatus": "ENABLED", "AttributeName": name}
                 if ttl_spec["Enabled"] else {"TimeToLiveStatus": "DISABLED"})


def expiry_of(item: Any, attribute: str) -> float | None:
    """The item's expiry time (epoch seconds), or ``None`` when TTL ignores it."""
    value = item.attrs.get(attribute)
    if value is None or value.type != "N":
        return None
    try:
        return float(Decimal(value.value))
    except (InvalidOperation, ValueError, TypeError):
        return None


def is_expired(expiry: float | None, now: float) -> bool:
    """True when TTL deletes an item with this expiry at ``now``."""
    return expiry is not None and now - FIVE_YEARS_S <= expiry < now


def _items(table: Table) -> list[Any]:
    return list(table.all_items())


def sweep(now: float, write_lock: Any) -> int:
    """One TTL pass over every table of every account and region.

    Parameters
    ----------
    now : float
        Epoch seconds.
    write_lock : lock
        The endpoint's DynamoDB write lock (item changes happen one at a time).

    Returns
    -------
    int
        Items deleted.
    """
    deleted = 0
    for table in _tables():
        attribute = table.ttl.get("AttributeName")
        if table.ttl.get("TimeToLiveStatus") != "ENABLED" or not attribute:
            continue
        with write_lock:
            expired = [item for item in _items(table)
                       if is_expired(expiry_of(item, attribute), now)]
            for item in expired:
                with change_scope(identity=SERVICE_IDENTITY):
                    if table.delete_item(item.hash_key, item.range_key) is not None:
                        deleted += 1
    return deleted


def maintain_streams(now: float) -> None:
    """Roll over and trim every stream, so that idle streams shrink too."""
    settings = registry.settings()
    for table in _tables():
        target = getattr(table, "stream_shard", None)
        if isinstance(target, TableStream):
            with registry.LOCK:
                target.stream.maintain(now, settings.shard_lifetime, settings.stream_retention)


def _tables() -> list[Table]:
    from localaws import backends

    return backends.dynamodb_tables()


class TtlSweeper:
    """Runs :func:`sweep` and :func:`maintain_streams` every ``ttl_sweep`` seconds.

    Parameters
    ----------
    write_lock : lock
        The endpoint's DynamoDB write lock.

    Attributes
    ----------
    guard : callable
        Returns the context each pass runs in (by default none; the durable state sets
        its request gate's ``shared``, so that a snapshot never sees half a pass).
    on_change : callable
        Called after a pass that deleted items (the durable state notes a change).
    """

    def __init__(self, write_lock: Any) -> None:
        self.write_lock = write_lock
        self.guard: Callable[[], AbstractContextManager[Any]] = contextlib.nullcontext
        self.on_change: Callable[[], None] = lambda: None
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def start(self) -> None:
        """Start the background thread."""
        self._stop.clear()
        self._thread = threading.Thread(target=self._run, name="ttl-sweeper", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        """Stop the thread (waits for the pass in progress)."""
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=10)

    def _run(self) -> None:
        while not self._stop.wait(registry.settings().ttl_sweep):
            try:
                now = registry.now()
                with self.guard():
                    count = sweep(now, self.write_lock)
                    maintain_streams(now)
                if count:
                    log.info("TTL: %d expired item(s) deleted", count)
                    self.on_change()
            except RuntimeError:  # a table was created or deleted mid-pass
                log.debug("TTL pass interrupted, retried next time", exc_info=True)
            except Exception:
                log.exception("TTL pass failed")


def install() -> None:
    """Patch moto's UpdateTimeToLive with AWS's validation."""
    DynamoDBBackend.update_time_to_live = _update_time_to_live  # type: ignore[method-assign]
