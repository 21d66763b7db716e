"""``DescribeAlarmHistory``, which moto lacks, built from what moto records."""

from __future__ import annotations

import contextlib
import itertools
import json
import logging
from typing import Any

from moto.cloudwatch.models import (
    Alarm,
)

from localaws.alarms.evaluation import _aware

log = logging.getLogger(__name__)

def history_items(alarm: Alarm) -> list[dict[str, Any]]:
    """The alarm's state updates as ``DescribeAlarmHistory`` returns them, newest first.

    Parameters
    ----------
    alarm : moto.cloudwatch.models.Alarm
        The alarm, e.g. ``cloudwatch_backends[account][region].alarms[name]``.

    Returns
    -------
    list of dict
        ``AlarmHistoryItem`` shapes: AlarmName, AlarmType, Timestamp (aware),
        HistoryItemType ``StateUpdate``, HistorySummary and HistoryData (JSON).
    """
    states = [(h[3], h[1], h[2], h[4]) for h in alarm.history if h and h[0] == "StateUpdate"]
    states.append((alarm.state_value, alarm.state_reason, alarm.state_reason_data,
                   alarm.state_updated_timestamp))
    items = []
    for old, new in itertools.pairwise(states):
        data = {
            "version": "1.0",
            "oldState": _history_state(*old[:3]),
            "newState": _history_state(*new[:3]),
        }
        items.append({
            "AlarmName": alarm.name,
            "AlarmType": "CompositeAlarm" if alarm.rule else "MetricAlarm",
            "Timestamp": _aware(new[3]),
            "HistoryItemType": "StateUpdate",
            "HistorySummary": f"Alarm updated from {old[0]} to {new[0]}",
            "HistoryData": json.dumps(data),
        })
    items.reverse()
    return items


def _history_state(value: str, reason: str, reason_data: str | None) -> dict[str, Any]:
    state: dict[str, Any] = {"stateValue": value, "stateReason": reason}
    if reason_data and reason_data != "{}":
        with contextlib.suppress(ValueError):
            state["stateReasonData"] = json.loads(reason_data)
    return state



def _describe_alarm_history(self: Any) -> Any:
    """``DescribeAlarmHistory`` (moto has none): the state updates the evaluator made."""
    from moto.core.responses import ActionResult

    name = self._get_param("AlarmName")
    kind = self._get_param("HistoryItemType")
    start, end = self._get_param("StartDate"), self._get_param("EndDate")
    limit = int(self._get_param("MaxRecords") or 100)
    items: list[dict[str, Any]] = []
    for alarm in self.cloudwatch_backend.alarms.values():
        if name is None or alarm.name == name:
            items.extend(history_items(alarm))
    if kind:
        items = [i for i in items if i["HistoryItemType"] == kind]
    if start is not None:
        items = [i for i in items if i["Timestamp"] >= _aware(start)]
    if end is not None:
        items = [i for i in items if i["Timestamp"] <= _aware(end)]
    items.sort(key=lambda i: i["Timestamp"],
               reverse=self._get_param("ScanBy") != "TimestampAscending")
    return ActionResult({"AlarmHistoryItems": items[:limit]})


def serve_alarm_history() -> None:
    """Give moto's CloudWatch API a ``DescribeAlarmHistory`` operation (idempotent)."""
    from moto.cloudwatch.responses import CloudWatchResponse

    CloudWatchResponse.describe_alarm_history = _describe_alarm_history  # type: ignore

