"""CloudWatch Logs of a function (``/aws/lambda/<function>``), as a table of events."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pandas as pd

from helpers.clients import Backend, unless_missing


def log_group(function: str) -> str:
    """The log group Lambda writes a function's logs to."""
    return f"/aws/lambda/{function}"


def log_events(
    backend: Backend,
    function: str,
    *,
    since: datetime | float | None = None,
    until: datetime | float | None = None,
    pattern: str | None = None,
) -> pd.DataFrame:
    """A function's log events (``FilterLogEvents``, every page), oldest first.

    Parameters
    ----------
    backend : Backend
        Where the function lives.
    function : str
        Function name.
    since, until : datetime or epoch seconds, optional
        Time window.
    pattern : str, optional
        A CloudWatch Logs filter pattern, e.g. ``'"Processing"'``.

    Returns
    -------
    pandas.DataFrame
        Columns ``time`` (UTC), ``stream``, ``message`` (without trailing newline)
        and ``event_id``. Empty when the log group does not exist yet.
    """
    kwargs: dict[str, Any] = {"logGroupName": log_group(function)}
    if since is not None:
        kwargs["startTime"] = _epoch_ms(since)
    if until is not None:
        kwargs["endTime"] = _epoch_ms(until)
    if pattern:
        kwargs["filterPattern"] = pattern
    # The paginator follows nextToken through the empty pages AWS may return.
    pages = backend.client("logs").get_paginator("filter_log_events").paginate(**kwargs)
    events = unless_missing(lambda: [e for page in pages for e in page.get("events", [])]) or []
    columns = ["time", "stream", "message", "event_id"]
    if not events:
        return pd.DataFrame(columns=columns)
    frame = pd.DataFrame(
        {
            "time": pd.to_datetime([e["timestamp"] for e in events], unit="ms", utc=True),
            "stream": [e.get("logStreamName", "") for e in events],
            "message": [e["message"].rstrip("\n") for e in events],
            "event_id": [e.get("eventId", "") for e in events],
            "_order": range(len(events)),
        }
    )
    frame = frame.sort_values(["time", "_order"], kind="stable").drop(columns="_order")
    return frame.reset_index(drop=True)[columns]


def _epoch_ms(when: datetime | float) -> int:
    if isinstance(when, datetime):
        if when.tzinfo is None:
            when = when.replace(tzinfo=UTC)
        return int(when.timestamp() * 1000)
    return int(float(when) * 1000)
