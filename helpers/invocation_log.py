"""Invocations of a function, read from its CloudWatch Logs group.

Lambda writes one ``START``/``END``/``REPORT`` group per invocation
(``/aws/lambda/<function>``). :func:`invocations` turns them into one row per
invocation (duration, memory, cold start, error, records handled), far more
precise than per-minute metrics on a small workshop; :func:`wait_until_drained`
waits until a function has worked through what its trigger delivered.
"""

from __future__ import annotations

import time
import urllib.parse
from collections.abc import Callable, Sequence
from datetime import datetime
from typing import Any

import pandas as pd

from helpers import loglines
from helpers.clients import Backend
from helpers.logs import log_events
from helpers.waits import (
    WaitTimeoutError,
    wait_for,
    wait_until,
)

_REPORT, _START, _END, _TAGGED = loglines.REPORT, loglines.START, loglines.END, loglines.TAGGED


_ERROR, _TIMEOUT = loglines.ERROR, loglines.TIMEOUT


#: Lines saying how many records a batch held: the stream processor's and the replicator's.
SUMMARY = loglines.SUMMARY


#: The stream processor's per-record line.
RECORD_LINE = loglines.RECORD.pattern


INVOCATION_COLUMNS = [
    "request_id", "start", "end", "duration_ms", "billed_ms", "memory_mb", "max_memory_mb",
    "init_ms", "cold_start", "error", "delivered", "records", "items", "lines",
]


def parse_invocations(events: pd.DataFrame) -> pd.DataFrame:
    """Group log events into invocations (pure: works on any log table).

    Parameters
    ----------
    events : pandas.DataFrame
        Columns ``time``, ``stream`` and ``message``, as
        :func:`helpers.logs.log_events` returns.

    Returns
    -------
    pandas.DataFrame
        One row per invocation, oldest first: ``request_id``, ``start``, ``end``,
        ``duration_ms``, ``billed_ms``, ``memory_mb``, ``max_memory_mb``,
        ``init_ms``, ``cold_start``, ``error`` (error type or ``None``),
        ``delivered`` (the batch Lambda sent, from the ``Received N records`` line of
        the production variants; else, for an invocation that succeeded, ``records``;
        else ``None``: a teaching function that failed does not say),
        ``records`` (what the function processed: from the batch summary line, else
        the per-record lines it wrote before it failed),
        ``items`` (keys named by per-record lines) and ``lines``.
    """
    rows: dict[str, dict[str, Any]] = {}
    order: list[str] = []

    def row(request_id: str) -> dict[str, Any]:
        if request_id not in rows:
            rows[request_id] = {
                "request_id": request_id,
                "start": pd.NaT,
                "end": pd.NaT,
                "duration_ms": None,
                "billed_ms": None,
                "memory_mb": None,
                "max_memory_mb": None,
                "init_ms": None,
                "error": None,
                "summary": None,
                "delivered": None,
                "items": [],
                "lines": [],
            }
            order.append(request_id)
        return rows[request_id]

    for _, stream_events in events.groupby("stream", sort=False):
        current: str | None = None
        for when, message in zip(stream_events["time"], stream_events["message"], strict=True):
            if match := _START.match(message):
                current = match["request_id"]
                row(current)["start"] = when
                continue
            if match := _REPORT.search(message):
                r = row(match["request_id"])
                for key in ("duration_ms", "init_ms"):
                    r[key] = float(match[key]) if match[key] else None
                for key in ("billed_ms", "memory_mb", "max_memory_mb"):
                    r[key] = int(match[key])
                r["end"] = when
                if match["status"] and not r["error"]:
                    r["error"] = "Sandbox.Timedout" if match["status"] == "timeout" else "error"
                current = None
                continue
            if _END.match(message):
                continue
            tagged = _TAGGED.match(message)
            owner = tagged["request_id"] if tagged else current
            if owner is None:
                continue
            r = row(owner)
            text = tagged["text"] if tagged else message
            r["lines"].append(text)
            if error := _ERROR.match(message):
                r["error"] = r["error"] or error["error"]
            elif _TIMEOUT.search(message):
                r["error"] = "Sandbox.Timedout"
            if received := loglines.RECEIVED.search(text):
                r["delivered"] = int(received["count"])
            if summary := SUMMARY.search(text):
                r["summary"] = int(summary["count"])
            if record := RECORD_LINE.search(text):
                r["items"].append(record["item"].strip())
    frame = pd.DataFrame([rows[k] for k in order])
    if frame.empty:
        return pd.DataFrame(columns=INVOCATION_COLUMNS)
    frame["cold_start"] = frame["init_ms"].notna()
    frame["records"] = [
        len(items) if pd.isna(s) else int(s)
        for s, items in zip(frame["summary"], frame["items"], strict=True)
    ]
    frame["delivered"] = [
        int(d) if pd.notna(d) else (n if pd.isna(e) else None)
        for d, n, e in zip(frame["delivered"], frame["records"], frame["error"], strict=True)
    ]
    frame = frame.drop(columns="summary")
    frame = frame.sort_values("start", kind="stable", na_position="last").reset_index(drop=True)
    return frame[INVOCATION_COLUMNS]


def invocations(
    backend: Backend,
    function: str,
    *,
    since: datetime | float | None = None,
    until: datetime | float | None = None,
) -> pd.DataFrame:
    """One row per invocation of a function, parsed from its log group.

    See :func:`parse_invocations` for the columns. Only invocations whose
    ``REPORT`` line has been written are complete; the others have no duration.
    """
    return parse_invocations(log_events(backend, function, since=since, until=until))


def invocation_summary(frame: pd.DataFrame) -> pd.DataFrame:
    """The columns of :func:`invocations` a learner reads first, times as ``HH:MM:SS.mmm``.

    ``records delivered`` is the batch Lambda sent; ``records processed`` what the
    function got through before it returned or failed.
    """
    columns = ["start", "records delivered", "records processed", "duration (ms)",
               "cold start", "error", "items"]
    if frame.empty:
        return pd.DataFrame(columns=columns)
    return pd.DataFrame(
        {
            "start": frame["start"].dt.strftime("%H:%M:%S.%f").str[:-3],
            "records delivered": [("?" if d is None or pd.isna(d) else int(d))
                                  for d in frame["delivered"]],
            "records processed": frame["records"],
            "duration (ms)": frame["duration_ms"].round(1),
            "cold start": frame["cold_start"],
            "error": frame["error"].fillna(""),
            "items": [", ".join(items) for items in frame["items"]],
        }
    )


def wait_for_log(backend: Backend, function: str, *, since: datetime | float, pattern: str,
                 timeout: float | None = None) -> pd.DataFrame:
    """Wait until the function's log has lines matching ``pattern`` since ``since``.

    Parameters
    ----------
    backend : Backend
        Where the function lives.
    function : str
        Function name.
    since : datetime or float
        Oldest event considered.
    pattern : str
        A CloudWatch Logs filter pattern (a word, or ``"quoted text"``).
    timeout : float, optional
        Seconds (``pacing.patience_s`` by default); afterwards the (possibly
        empty) result is returned, not an error: a line that never comes is an
        answer too.

    Returns
    -------
    pandas.DataFrame
        The matching log events (:func:`helpers.logs.log_events` columns).
    """
    try:
        return wait_for(
            lambda: log_events(backend, function, since=since, pattern=pattern),
            what=f"a line {pattern} in the log of {function}",
            timeout=backend.pacing.patience_s if timeout is None else timeout,
            interval=max(0.2, backend.pacing.poll_s),
            until=lambda found: not found.empty,
            seen=lambda found: f"{len(found)} line(s)",
        )
    except WaitTimeoutError:
        return log_events(backend, function, since=since, pattern=pattern)


def processed_times(backend: Backend, function: str, *, since: datetime | float) -> pd.DataFrame:
    """When the stream processor logged each record: ``item``, ``event``, ``processed_at``."""
    lines = log_events(backend, function, since=since, pattern='"for item"')
    rows = []
    for when, message in zip(lines["time"], lines["message"], strict=True):
        if match := RECORD_LINE.search(message):
            rows.append(
                {"item": match["item"].strip(), "event": match["event"], "processed_at": when}
            )
    return pd.DataFrame(rows, columns=["item", "event", "processed_at"])


def wait_until_drained(
    backend: Backend,
    function: str,
    *,
    since: datetime | float,
    expected_records: int | None = None,
    record_marker: str = "for item",
    quiet_s: float | None = None,
    timeout: float | None = None,
) -> int:
    """Wait until a function has worked through what its mapping delivered.

    With ``expected_records`` it waits for that many log lines holding
    ``record_marker`` (the stream processor logs one ``Processing ... for
    item: ...`` line per record); then, in every case, until no new invocation
    has started for ``quiet_s`` seconds. On the local endpoint's default profile
    it stops as soon as the engine says every mapping of the function has read
    its stream to the end with no batch in flight (nothing more can come), which
    is usually well before the quiet period is over.

    Parameters
    ----------
    backend : Backend
        Where the function lives.
    function : str
        Function name.
    since : datetime or epoch seconds
        Count only what happened after this.
    expected_records : int, optional
        Records (log lines) to wait for.
    record_marker : str
        Text found only in the per-record lines.
    quiet_s : float, optional
        Seconds without a new invocation (``pacing.quiet_s`` by default).
    timeout : float, optional
        Seconds (``pacing.patience_s`` by default).

    Returns
    -------
    int
        Invocations (``REPORT`` lines) since ``since``.

    Raises
    ------
    helpers.waits.WaitTimeoutError
        Fewer records than expected, or still busy, at the timeout.
    """
    timeout = backend.pacing.patience_s if timeout is None else timeout
    if expected_records:

        def processed() -> int:
            lines = log_events(backend, function, since=since, pattern=f'"{record_marker}"')
            return int(lines["message"].str.contains(record_marker, regex=False).sum())

        wait_until(
            backend,
            processed,
            total=expected_records,
            desc=f"records processed by {function}",
            unit="record",
            timeout=timeout,
        )
    quiet_s = backend.pacing.quiet_s if quiet_s is None else quiet_s
    last = {"count": -1, "changed": time.monotonic()}
    caught_up = mappings_caught_up([backend], function)

    def reports() -> int:
        count = len(log_events(backend, function, since=since, pattern='"REPORT RequestId"'))
        if count != last["count"]:
            last.update(count=count, changed=time.monotonic())
        return count

    wait_for(
        reports,
        what=f"{function} idle for {quiet_s:g} s" + (" or caught up" if caught_up else ""),
        timeout=timeout,
        interval=max(0.1 if caught_up else 0.25, backend.pacing.poll_s),
        until=lambda _: time.monotonic() - last["changed"] >= quiet_s
        or (caught_up is not None and caught_up()),
        seen=lambda count: (f"{count} invocation(s), the last "
                            f"{time.monotonic() - last['changed']:.1f} s ago"),
    )
    return reports()  # read again: the last invocation may have ended after the last read


def mappings_caught_up(backends: Sequence[Backend],
                       function: str) -> Callable[[], bool] | None:
    """On the local endpoint's default profile: a question, are the function's mappings idle?

    The engine answers ``GET /_workshop/mappings/idle``: every mapping of the
    function, in each backend's region, has read its stream to the end and has no
    batch in flight (nothing more can come unless something writes). Elsewhere
    (AWS, the AWS timing profile) there is no such question: ``None``, and the
    caller waits for a quiet period instead.

    Parameters
    ----------
    backends : sequence of Backend
        The function's regions on one endpoint (two for a two-region replicator).
    function : str
        The function's name (the same in each region).
    """
    if not backends or not all(b.answers_at_once and b.endpoint_url for b in backends):
        return None
    from localaws import lifecycle

    port = urllib.parse.urlsplit(backends[0].endpoint_url).port or 80
    path = "/_workshop/mappings/idle?" + urllib.parse.urlencode(
        {"function": function, "region": ",".join(sorted({b.region for b in backends}))})

    def caught_up() -> bool:
        try:
            answer = lifecycle.admin_request(port, path)
        except (OSError, ValueError):  # an endpoint without the route: the quiet period
            return False
        return bool(answer.get("mappings")) and not answer.get("busy")

    return caught_up
