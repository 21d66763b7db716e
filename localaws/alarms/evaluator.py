"""The evaluator: every metric alarm of every account and region, on a cadence."""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from moto.cloudwatch.models import (
    Alarm,
    CloudWatchBackend,
)

from localaws import backends
from localaws.alarms.evaluation import (
    INITIAL_REASON,
    INSUFFICIENT_DATA,
    StateChange,
    _aware,
    _evaluate,
    _MetricIndex,
    _naive,
)
from localaws.alarms.notifications import _Notification, _notifications, _publish

log = logging.getLogger(__name__)

@dataclass
class _Seen:
    alarm: Alarm
    state: str
    updated: datetime



class AlarmEvaluator:
    """Evaluates moto's CloudWatch metric alarms and runs their SNS actions.

    Parameters
    ----------
    interval_s : float
        Seconds between two evaluations of the background thread.
    clock : callable, optional
        Returns the current time (timezone-aware); ``datetime.now(UTC)`` by default.
    complete_periods : bool
        Evaluate complete periods only, as CloudWatch does (the AWS timing profile);
        by default the range ends with the current, incomplete period.
    """

    def __init__(self, interval_s: float = 1.0,
                 clock: Callable[[], datetime] | None = None, *,
                 complete_periods: bool = False) -> None:
        if interval_s <= 0:
            raise ValueError("interval_s must be positive")
        self.interval_s = interval_s
        self.complete_periods = complete_periods
        self._clock = clock or (lambda: datetime.now(UTC))
        self._seen: dict[tuple[str, str, str], _Seen] = {}
        self._indexes: dict[tuple[str, str], _MetricIndex] = {}
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._run_lock = threading.Lock()

    def start(self) -> None:
        """Patch moto's alarm creation (:func:`install`) and start the evaluation thread."""
        if self._thread is not None and self._thread.is_alive():
            return
        install()
        self._stop.clear()
        self._thread = threading.Thread(target=self._loop, name="alarm-evaluator", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        """Stop the evaluation thread; returns as soon as a running evaluation ends."""
        self._stop.set()
        thread, self._thread = self._thread, None
        if thread is not None and thread is not threading.current_thread():
            thread.join(timeout=10)

    def _loop(self) -> None:
        while not self._stop.is_set():
            try:
                self.evaluate_once()
            except Exception:
                log.exception("alarm evaluation failed")
            self._stop.wait(self.interval_s)

    def evaluate_once(self, now: datetime | None = None) -> list[StateChange]:
        """Evaluate every metric alarm of every account and region once.

        Parameters
        ----------
        now : datetime, optional
            Evaluation time (naive values are taken as UTC); the clock by default.

        Returns
        -------
        list of StateChange
            The state changes, in the order they happened (including changes made
            with ``SetAlarmState`` since the previous evaluation).
        """
        when = _aware(now or self._clock())
        changes: list[StateChange] = []
        notifications: list[tuple[str, str, _Notification]] = []
        with self._run_lock:
            present: set[tuple[str, str, str]] = set()
            regions = set()
            for account, region, backend in backends.cloudwatch_regions():
                regions.add((account, region))
                with backends.changing(("cloudwatch", account, region)):  # alarm states, history
                    self._evaluate_region(account, region, backend, when, present,
                                          changes, notifications)
            for key in set(self._seen) - present:
                del self._seen[key]
            for gone in set(self._indexes) - regions:
                del self._indexes[gone]
            # Outside the backend lock: a subscriber may write metrics while it runs.
            for account, region, note in notifications:
                _publish(account, region, note)
        return changes

    def _evaluate_region(self, account: str, region: str, backend: CloudWatchBackend,
                         when: datetime, present: set[tuple[str, str, str]],
                         changes: list[StateChange],
                         notifications: list[tuple[str, str, _Notification]]) -> None:
        alarms = list(backend.alarms.values())
        if not alarms:
            return
        metrics = self._indexes_for(account, region, backend)
        for alarm in alarms:
            key = (account, region, alarm.name)
            present.add(key)
            try:
                self._evaluate_alarm(key, alarm, backend, metrics, when, changes,
                                     notifications)
            except Exception:
                log.exception("alarm %s: evaluation failed", alarm.name)

    def _evaluate_alarm(self, key: tuple[str, str, str], alarm: Alarm,
                        backend: CloudWatchBackend, metrics: list[_MetricIndex],
                        when: datetime, changes: list[StateChange],
                        notifications: list[tuple[str, str, _Notification]]) -> None:
        account, region = key[0], key[1]
        seen = self._seen.get(key)
        if seen is None or seen.alarm is not alarm:
            _adopt(alarm, seen.alarm if seen else None)
        elif (alarm.state_value, alarm.state_updated_timestamp) != (seen.state, seen.updated):
            # Changed by SetAlarmState: its actions run now, the next pass evaluates.
            if alarm.state_value != seen.state:
                change = StateChange(alarm.name, seen.state, alarm.state_value,
                                     alarm.state_reason, account, region, when)
                changes.append(change)
                notifications.extend(_notifications(alarm, change, account, region))
            self._remember(key, alarm)
            return
        now = _naive(when)
        outcome = _evaluate(alarm, metrics, now, self.complete_periods)
        old = alarm.state_value
        if outcome.state is not None and outcome.state != old:
            backend.set_alarm_state(alarm.name, outcome.reason, outcome.data, outcome.state)
            alarm.state_updated_timestamp = now
            change = StateChange(alarm.name, old, outcome.state, outcome.reason,
                                 account, region, when)
            changes.append(change)
            notifications.extend(_notifications(alarm, change, account, region))
        elif outcome.unsupported and alarm.state_reason != outcome.reason:
            alarm.state_reason, alarm.state_reason_data = outcome.reason, outcome.data
        if outcome.unsupported and seen is None:
            log.warning("alarm %s: %s", alarm.name, outcome.reason)
        self._remember(key, alarm)

    def _indexes_for(self, account: str, region: str,
                     backend: CloudWatchBackend) -> list[_MetricIndex]:
        index = self._indexes.get((account, region))
        if index is None or not index.current_for(backend.metric_data):
            index = self._indexes[(account, region)] = _MetricIndex(backend.metric_data)
        indexes = [index.refresh()]
        provided = backend.aws_metric_data  # computed on the fly by moto (S3 sizes)
        if provided:
            indexes.append(_MetricIndex(provided).refresh())
        return indexes

    def _remember(self, key: tuple[str, str, str], alarm: Alarm) -> None:
        self._seen[key] = _Seen(alarm, alarm.state_value, alarm.state_updated_timestamp)


# --------------------------------------------------------------------------- moto glue

_original_put_metric_alarm: Callable[..., Alarm] | None = None


def install() -> None:
    """Make moto's ``PutMetricAlarm`` behave like CloudWatch's (idempotent).

    A new alarm starts in INSUFFICIENT_DATA; updating an existing alarm keeps its
    state, reason and history instead of resetting them.
    """
    global _original_put_metric_alarm
    if _original_put_metric_alarm is not None:
        return
    original = CloudWatchBackend.put_metric_alarm
    _original_put_metric_alarm = original

    def put_metric_alarm(self: CloudWatchBackend, *args: Any, **kwargs: Any) -> Alarm:
        name = kwargs.get("name", args[0] if args else None)
        previous = self.alarms.get(name) if name is not None else None
        alarm = original(self, *args, **kwargs)
        _adopt(alarm, previous)
        return alarm

    CloudWatchBackend.put_metric_alarm = put_metric_alarm  # type: ignore[method-assign]


def uninstall() -> None:
    """Undo :func:`install`."""
    global _original_put_metric_alarm
    original, _original_put_metric_alarm = _original_put_metric_alarm, None
    if original is not None:
        CloudWatchBackend.put_metric_alarm = original  # type: ignore[method-assign]


def _adopt(alarm: Alarm, previous: Alarm | None) -> None:
    """Give an alarm fresh from moto CloudWatch's initial state, or its predecessor's."""
    if alarm.history or alarm.state_reason != INITIAL_REASON or previous is alarm:
        return
    if previous is not None:
        alarm.state_value = previous.state_value
        alarm.state_reason = previous.state_reason
        alarm.state_reason_data = previous.state_reason_data
        alarm.state_updated_timestamp = previous.state_updated_timestamp
        alarm.history = list(previous.history)
    else:
        alarm.state_value = INSUFFICIENT_DATA


