"""CloudWatch alarms on a function's metrics, their states and their notifications."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import pandas as pd

from helpers.clients import Backend
from helpers.messaging import receive_messages
from helpers.naming import Names
from helpers.waits import wait_for


@dataclass(frozen=True)
class AlarmSpec:
    """One alarm on a Lambda metric: ``<metric> <statistic> > threshold``."""

    suffix: str
    metric: str
    statistic: str
    threshold: float
    description: str


ALARMS = (
    AlarmSpec("errors", "Errors", "Sum", 0, "The function failed at least once"),
    AlarmSpec("duration", "Duration", "Maximum", 20_000, "An invocation took over 20 s"),
    AlarmSpec(
        "iterator-age",
        "IteratorAge",
        "Maximum",
        30_000,
        "The trigger is over 30 s behind the stream",
    ),
)
"""The source page's alarms: errors > 0, duration > 20 s, iterator age > 30 s."""


def alarm_names(function: str) -> list[str]:
    """Names of the :data:`ALARMS` of a function: ``<function>-errors`` and so on."""
    return [f"{function}-{spec.suffix}" for spec in ALARMS]


def alarms_table(backend: Backend, names: Sequence[str]) -> pd.DataFrame:
    """The alarms' conditions and current states."""
    alarms = backend.client("cloudwatch").describe_alarms(AlarmNames=list(names))["MetricAlarms"]
    rows = [
        {
            "alarm": a["AlarmName"],
            "condition": f"{a['MetricName']} {a['Statistic']} > {a['Threshold']:g} in "
            f"{a.get('DatapointsToAlarm', a['EvaluationPeriods'])} of {a['EvaluationPeriods']} "
            f"periods of {a['Period']} s",
            "state": a["StateValue"],
            "reason": a.get("StateReason", ""),
        }
        for a in sorted(alarms, key=lambda a: list(names).index(a["AlarmName"]))
    ]
    return pd.DataFrame(rows, columns=["alarm", "condition", "state", "reason"])


def alarm_state(backend: Backend, name: str) -> str | None:
    """An alarm's ``StateValue`` (``OK``, ``ALARM``, ``INSUFFICIENT_DATA``); None if absent."""
    found = backend.client("cloudwatch").describe_alarms(AlarmNames=[name])["MetricAlarms"]
    return found[0]["StateValue"] if found else None


def wait_for_alarm(
    backend: Backend, name: str, state: str = "ALARM", *, timeout: float | None = None
) -> dict[str, Any]:
    """Wait until an alarm is in ``state`` (``ALARM``, ``OK``, ``INSUFFICIENT_DATA``).

    CloudWatch evaluates alarms once a minute; the local endpoint in its default
    profile every second.

    Raises
    ------
    helpers.waits.WaitTimeoutError
        Still in another state at the timeout (``pacing.patience_s`` by default).
    """
    client = backend.client("cloudwatch")
    return wait_for(
        lambda: client.describe_alarms(AlarmNames=[name])["MetricAlarms"][0],
        what=f"alarm {name} {state}",
        timeout=backend.pacing.patience_s if timeout is None else timeout,
        interval=max(0.25, backend.pacing.poll_s),
        until=lambda alarm: alarm["StateValue"] == state,
        seen=lambda alarm: alarm["StateValue"],
    )


def wait_for_evaluation(
    backend: Backend, names: Sequence[str], *, timeout: float | None = None
) -> pd.DataFrame:
    """Wait until every alarm has been evaluated once (no longer "Initial alarm creation").

    Returns
    -------
    pandas.DataFrame
        :func:`alarms_table` once all are evaluated.

    Raises
    ------
    helpers.waits.WaitTimeoutError
        Some alarm is still unchecked at the timeout.
    """
    def unchecked(table: pd.DataFrame) -> list[str]:
        return list(table.loc[table["reason"].str.startswith("Unchecked"), "alarm"])

    return wait_for(
        lambda: alarms_table(backend, names),
        what="every alarm evaluated once",
        timeout=backend.pacing.patience_s if timeout is None else timeout,
        interval=max(0.25, backend.pacing.poll_s),
        until=lambda table: not unchecked(table),
        seen=lambda table: "unchecked: " + ", ".join(unchecked(table)),
    )


def _notification(message: Any) -> dict[str, Any] | None:
    if not (isinstance(message, dict) and "AlarmName" in message):
        return None
    return {
        "alarm": message["AlarmName"],
        "from": message.get("OldStateValue"),
        "to": message.get("NewStateValue"),
        "reason": message.get("NewStateReason", ""),
        "time": message.get("StateChangeTime", ""),
    }


def alarm_notifications(
    backend: Backend,
    queue_url: str,
    *,
    until: tuple[str, str] | None = None,
    timeout: float | None = None,
) -> pd.DataFrame:
    """Alarm notifications that reached a queue subscribed to the alarm topic.

    Parameters
    ----------
    backend : Backend
        Where the queue lives.
    queue_url : str
        The subscribed queue (messages read are deleted).
    until : tuple of str, optional
        ``(alarm name, state)``: keep reading until that notification arrived;
        without it, read until the queue is empty.
    timeout : float, optional
        Seconds (``pacing.patience_s`` by default).

    Returns
    -------
    pandas.DataFrame
        ``alarm``, ``from``, ``to``, ``reason``, ``time``, oldest first.

    Raises
    ------
    helpers.waits.WaitTimeoutError
        ``until`` was given and that notification did not arrive in time.
    """
    rows: list[dict[str, Any]] = []

    def read() -> list[dict[str, Any]]:
        found = (_notification(m) for m in receive_messages(backend, queue_url, timeout=0))
        rows.extend(r for r in found if r is not None)
        return rows

    if until is None:
        read()
    else:
        wait_for(
            read,
            what=f"notification that {until[0]} went to {until[1]}",
            timeout=backend.pacing.patience_s if timeout is None else timeout,
            interval=max(0.25, backend.pacing.poll_s),
            until=lambda got: any((r["alarm"], r["to"]) == tuple(until) for r in got),
            seen=lambda got: f"{len(got)} other notification(s)",
        )
    frame = pd.DataFrame(rows, columns=["alarm", "from", "to", "reason", "time"])
    return frame.sort_values("time", kind="stable").reset_index(drop=True)


def delete_alarms(backend: Backend, names: Sequence[str]) -> None:
    """Delete alarms (names that do not exist are ignored)."""
    if names:
        backend.client("cloudwatch").delete_alarms(AlarmNames=list(names))


def inbox_queue_name(names: Names) -> str:
    """The SQS queue subscribed to the alerts topic, where notifications can be read."""
    return f"{names.alerts_topic}-inbox"
