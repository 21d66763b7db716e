"""What the two replicators of notebook 08 did: their records, the loop, the lag.

Each replicator (``lambda_src/region_replicator``) logs one line per record, read back
by :data:`RECORD_LINE`, and Lambda logs ``START`` per invocation. From those lines::

    seen = replication.activity([cloud_a, cloud_b], function, since=start)
    seen.count("skipped", "USER#ana#PROFILE")

:func:`watch_loop` watches the naive replicators loop, and disables the triggers if the
loop goes on past its budget; :func:`wait_for` waits for the records a step expects.
"""

from __future__ import annotations

import re
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import matplotlib.pyplot as plt
import pandas as pd

from helpers.clients import Backend, Pacing
from helpers.invocation_log import mappings_caught_up
from helpers.logs import log_events
from helpers.plots import _show

#: What a replicator logs for each record (see lambda_src/region_replicator/app.py).
# Seconds between two reads of the logs where the engine says when it is idle
# (Backend.answers_at_once): the wait is then over within this of the last invocation.
CAUGHT_UP_POLL_S = 0.2
RECORD_LINE = re.compile(
    r"(?P<outcome>applied|skipped|older|stopped) (?P<event>INSERT|MODIFY|REMOVE) (?P<item>\S+) "
    r"from (?P<origin>\S+) to (?P<target>\S+): (?P<lag_ms>-?\d+) ms after the write")
_START = re.compile(r"^START RequestId: (?P<request_id>\S+)")
RECORD_COLUMNS = ["region", "time", "outcome", "event", "item", "origin", "target", "lag_ms"]


@dataclass
class Activity:
    """What the replicators of both regions logged: invocations and records."""

    invocations: pd.DataFrame  # region, time, request_id
    records: pd.DataFrame  # RECORD_COLUMNS

    def count(self, outcome: str | Sequence[str] | None = None,
              item: str | Sequence[str] | None = None) -> int:
        """Records with this outcome (or these) about this item (or these); None: any."""
        rows = self.records
        if outcome is not None:
            rows = rows[rows["outcome"].isin([outcome] if isinstance(outcome, str) else outcome)]
        if item is not None:
            rows = rows[rows["item"].isin([item] if isinstance(item, str) else item)]
        return len(rows)


def parse_activity(events: pd.DataFrame, region: str) -> Activity:
    """Read one region's log events (:func:`helpers.functions.log_events`), pure."""
    starts, records = [], []
    for when, message in zip(events["time"], events["message"], strict=True):
        if match := _START.match(message):
            starts.append({"region": region, "time": when, "request_id": match["request_id"]})
        elif match := RECORD_LINE.search(message):
            records.append({"region": region, "time": when, **match.groupdict()})
    frame = pd.DataFrame(records, columns=RECORD_COLUMNS)
    frame["lag_ms"] = pd.to_numeric(frame["lag_ms"])
    return Activity(pd.DataFrame(starts, columns=["region", "time", "request_id"]), frame)


def activity(backends: Sequence[Backend], function: str, *, since: datetime | float,
             ) -> Activity:
    """Both replicators' invocations and records since ``since``, oldest first."""
    parts = [parse_activity(log_events(b, function, since=since), b.region) for b in backends]
    return Activity(
        pd.concat([p.invocations for p in parts]).sort_values("time").reset_index(drop=True),
        pd.concat([p.records for p in parts]).sort_values("time").reset_index(drop=True))


@dataclass
class LoopWatch:
    """How a watched loop ended (``stopped_by``: ``"hop limit"``, ``"budget"``, ``"deadline"``)."""

    activity: Activity
    stopped_by: str
    seconds: float


def watch_loop(backends: Sequence[Backend], function: str, *, since: datetime | float,
               disable: Callable[[], None], budget: int, deadline_s: float,
               quiet_s: float = 2.0, interval: float = 0.5) -> LoopWatch:
    """Watch the replicators loop until the hop limit stops them, or stop them.

    The loop has to stop by itself (a replicator logs ``stopped`` and then nothing more
    happens for ``quiet_s``, or, on the local endpoint's default profile, the engine
    says both regions' mappings are idle: :func:`helpers.invocation_log.mappings_caught_up`).
    If it goes past ``budget`` invocations or ``deadline_s``
    seconds, or the wait is interrupted, ``disable`` is called (it disables both
    triggers, with the calls in sight).

    Returns
    -------
    LoopWatch
    """
    start, ended, seen = time.monotonic(), None, None
    last_count, last_change = -1, start
    caught_up = mappings_caught_up(backends, function)
    try:
        while True:
            # asked before the logs are read: once idle, the logs read next hold it all
            idle = caught_up is not None and caught_up()
            seen = activity(backends, function, since=since)
            count, elapsed = len(seen.invocations), time.monotonic() - start
            if count != last_count:
                last_count, last_change = count, time.monotonic()
            if seen.count("stopped") and (idle or time.monotonic() - last_change >= quiet_s):
                ended = "hop limit"
            elif count >= budget:
                ended = "budget"
            elif elapsed > deadline_s:
                ended = "deadline"
            if ended:
                return LoopWatch(seen, ended, elapsed)
            time.sleep(min(interval, CAUGHT_UP_POLL_S) if caught_up else interval)
    finally:
        if ended != "hop limit":
            disable()


class ReplicationTimeoutError(TimeoutError):
    """The replicators did not log what a step waits for in time."""


def wait_for(backends: Sequence[Backend], function: str, *, since: datetime | float,
             done: Callable[[Activity], bool], quiet_s: float = 0.0,
             timeout: float | None = None, interval: float = 0.5) -> Activity:
    """Poll both replicators' logs until ``done(activity)`` holds.

    With ``quiet_s``, go on until no new invocation came for that long (to show that
    nothing more happens), or until the engine says the mappings are idle where it can.
    ``timeout`` defaults to 120 s, 600 s on AWS (whose logs can
    take a minute to show).

    Raises
    ------
    ReplicationTimeoutError
        Not done in time (the message says what was seen).
    """
    if timeout is None:
        timeout = max((b.pacing.patience_s for b in backends), default=Pacing().patience_s)
    deadline = time.monotonic() + timeout
    done_at: tuple[float, int] | None = None
    caught_up = mappings_caught_up(backends, function) if quiet_s else None
    while True:
        idle = caught_up is not None and caught_up()  # before the read: see watch_loop
        seen = activity(backends, function, since=since)
        count = len(seen.invocations)
        if done_at is None or done_at[1] != count:
            done_at = (time.monotonic(), count) if done(seen) else None
        if done_at and (idle or time.monotonic() - done_at[0] >= quiet_s):
            return seen
        if time.monotonic() > deadline:
            counts = seen.records["outcome"].value_counts().to_dict()
            raise ReplicationTimeoutError(f"replicators not done after {timeout:.0f} s: {counts}")
        at_once = bool(backends) and all(b.answers_at_once for b in backends)
        time.sleep(min(interval, CAUGHT_UP_POLL_S) if at_once else interval)


def _applied(records: pd.DataFrame) -> tuple[pd.DataFrame, pd.Series]:
    """The applied puts, and the direction (``origin → target``) of each."""
    applied = records[(records["outcome"] == "applied") & (records["event"] != "REMOVE")]
    return applied, applied["origin"] + " → " + applied["target"]


def lag_by_direction(records: pd.DataFrame) -> pd.DataFrame:
    """p50, p95 and count of the lag of applied puts, per direction (origin → target)."""
    applied, direction = _applied(records)
    stats = applied.groupby(direction)["lag_ms"].agg(
        p50=lambda s: s.quantile(0.5), p95=lambda s: s.quantile(0.95), records="count")
    return stats.rename_axis("direction").round(1)


def plot_loop(invocations: pd.DataFrame, title: str) -> Any:
    """Invocations climbing: the running count of each region's replicator over time."""
    fig, ax = plt.subplots(figsize=(8, 3.2))
    if invocations.empty:
        ax.text(0.5, 0.5, "no invocations", ha="center", transform=ax.transAxes)
    else:
        times = pd.to_datetime(invocations["time"], utc=True)
        first = times.min()
        for region, rows in invocations.assign(time=times).groupby("region"):
            seconds = (rows["time"] - first).dt.total_seconds()
            ax.step(seconds, range(1, len(rows) + 1), where="post", label=region)
        ax.set_xlabel(f"seconds after {first:%H:%M:%S} UTC")
        ax.legend(loc="upper left")
    ax.set_ylabel("invocations so far")
    ax.set_title(title)
    return _show(fig)


def plot_lag(records: pd.DataFrame, title: str) -> Any:
    """The lag of each applied put, one strip per direction."""
    applied, direction = _applied(records)
    fig, ax = plt.subplots(figsize=(8, 3.2))
    groups = list(applied.groupby(direction))
    for n, (direction, rows) in enumerate(groups):
        ax.scatter(rows["lag_ms"], [n] * len(rows), alpha=0.6, label=direction)
    ax.set_yticks(range(len(groups)), [d for d, _ in groups])
    ax.set_xlabel("ms from the write in one region to the write in the other")
    ax.set_title(title)
    return _show(fig)
