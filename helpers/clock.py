"""The clock every helper reads: UTC now, and times given as datetimes or epoch seconds."""

from __future__ import annotations

from datetime import UTC, datetime


def as_utc(when: datetime | float | None, default: datetime) -> datetime:
    """``when`` as an aware UTC datetime (epoch seconds allowed); ``default`` when None."""
    if when is None:
        return default
    if isinstance(when, datetime):
        return when if when.tzinfo else when.replace(tzinfo=UTC)
    return datetime.fromtimestamp(float(when), UTC)


def now() -> datetime:
    """The current time, UTC (the clock every helper uses)."""
    return datetime.now(UTC)
