"""CloudWatch metric-alarm evaluation for the local endpoint.

moto stores alarms (``PutMetricAlarm``) but never evaluates them. :class:`AlarmEvaluator`
walks every account and region of moto's CloudWatch backend, evaluates each metric
alarm against the stored metric data the way CloudWatch does, records state changes
through the backend's ``set_alarm_state`` (so ``DescribeAlarms`` shows them) and
publishes CloudWatch's alarm notification to the SNS topics among the alarm's actions
(moto's SNS then delivers it to the topic's subscribers, for example an SQS queue).

Evaluation rules, as documented by CloudWatch ("Using Amazon CloudWatch alarms",
sections *Evaluating an alarm* and *How alarm state is evaluated when data is missing*):

* Each period is one datapoint: the alarm's statistic over the raw values whose
  timestamp falls in ``[start, start + Period)``; periods are aligned on multiples of
  ``Period`` since the epoch (one-minute periods start on the minute).
* Only the metric with exactly the alarm's namespace, name and dimension set counts
  (a metric with an extra dimension is another metric), and, when the alarm has a
  ``Unit``, only values published with that unit.
* ``EvaluationPeriods`` is N, ``DatapointsToAlarm`` is M (N when not set).
* The *evaluation range* holds more periods than N: :data:`EXTRA_PERIODS` more (the
  documentation's examples retrieve 5 datapoints for N = 3; the exact number is not
  documented). Within it:

  - when at least N datapoints exist, the N most recent existing datapoints are
    evaluated (missing periods in between do not matter, the treatment of missing
    data is not used);
  - when fewer exist, every existing datapoint is evaluated and the most recent missing
    periods are filled in until there are N, as few as possible, with the alarm's
    ``TreatMissingData``: ``breaching`` and ``notBreaching`` count them as breaching or
    not; ``missing`` and ``ignore`` leave them out, and the alarm goes to ALARM when M
    existing datapoints breach, to OK when an existing datapoint does not breach, and
    otherwise ``ignore`` keeps the current state while ``missing`` goes to
    INSUFFICIENT_DATA (or to ALARM when the oldest evaluated datapoint breaches, as in
    the last row of the documentation's first table);
  - when the whole range is empty: ``missing`` gives INSUFFICIENT_DATA, ``ignore``
    keeps the state, ``breaching`` gives ALARM, ``notBreaching`` gives OK;
  - alarms on ``AWS/DynamoDB`` metrics always treat missing data as ``ignore``.

  So, as on AWS, an alarm keeps re-evaluating its last datapoints for a few periods
  after a metric stops flowing (an ``Errors`` alarm stays in ALARM until its last
  error leaves the evaluation range, unless newer non-breaching datapoints arrive).
* ALARM when at least M evaluated datapoints breach, otherwise OK.
* A new alarm starts in INSUFFICIENT_DATA ("Unchecked: Initial alarm creation"); updating
  an alarm with ``PutMetricAlarm`` keeps its state and history.
* ``SetAlarmState`` sets a state until the next evaluation; when it changes the state,
  the actions of the new state run, as on AWS.
* On every state change the actions of the new state run (``AlarmActions`` for ALARM,
  ``OKActions`` for OK, ``InsufficientDataActions`` for INSUFFICIENT_DATA), unless
  ``ActionsEnabled`` is false; no action runs while the state stays the same.
* Percentiles (``ExtendedStatistic`` ``pNN``/``pNN.N``) use the nearest-rank method over
  the raw values. ``EvaluateLowSampleCountPercentile=ignore`` keeps the state while an
  evaluated datapoint has fewer than 10/(1-p) samples (10/p below p50).

Deliberate differences from CloudWatch (the local endpoint is built for a workshop that
must be quick):

* CloudWatch evaluates once a minute, on complete periods only. The local evaluator
  runs every ``interval_s`` seconds (2 s by default) and the evaluation range ends with
  the *current, still incomplete* period, so an alarm reacts a few seconds after a
  failure instead of minutes. A statistic of the current period can still change as
  values arrive (a Sum or a Maximum grows during the period).
* The evaluation range is N + :data:`EXTRA_PERIODS` periods for every period length and
  resolution.
* Percentiles are exact nearest-rank values (CloudWatch approximates them). A period
  with a statistic set (``StatisticValues``) has a percentile only when all its values
  are equal (``Minimum == Maximum``); otherwise the period counts as missing.
* Not evaluated, with a StateReason saying so and the state INSUFFICIENT_DATA: alarms on
  metric math or several metrics (``Metrics=[...]``), composite alarms, anomaly-detection
  operators (``LessThanLowerOrGreaterThanUpperThreshold``, ``LessThanLowerThreshold``,
  ``GreaterThanUpperThreshold``) and statistics other than SampleCount, Average, Sum,
  Minimum, Maximum and pNN.
* Only SNS actions run. Other actions (Lambda, EC2, Auto Scaling, Systems Manager) are
  logged and skipped; an SNS topic that does not exist is logged and skipped (AWS does
  not validate actions either). No "Action" history items are recorded.
* The notification's ``Subject`` is cut to the 100 characters SNS accepts.
* Before a new alarm's first evaluation, ``DescribeAlarms`` may show moto's initial
  state (OK) unless :func:`install` has patched moto (``AlarmEvaluator.start`` does).
* moto does not implement ``DescribeAlarmHistory``; :func:`history_items` builds its
  ``AlarmHistoryItems`` (state updates only) from what moto records.
"""

from __future__ import annotations

import bisect
import contextlib
import itertools
import json
import logging
import math
import operator
import re
import threading
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from functools import cache
from typing import Any

from moto.cloudwatch.models import (
    Alarm,
    CloudWatchBackend,
    MetricAggregatedDatum,
    MetricDatum,
    MetricDatumBase,
    Statistics,
    cloudwatch_backends,
)

from localaws.telemetry import _lock as _backend_lock

log = logging.getLogger(__name__)

__all__ = [
    "EXTRA_PERIODS",
    "AlarmEvaluator",
    "StateChange",
    "history_items",
    "install",
    "uninstall",
]

OK = "OK"
ALARM = "ALARM"
INSUFFICIENT_DATA = "INSUFFICIENT_DATA"
INITIAL_REASON = "Unchecked: Initial alarm creation"

EXTRA_PERIODS = 2
"""Periods the evaluation range holds beyond ``EvaluationPeriods``."""

_COMPARISONS: dict[str, tuple[Callable[[float, float], bool], str]] = {
    "GreaterThanThreshold": (operator.gt, "greater than"),
    "GreaterThanOrEqualToThreshold": (operator.ge, "greater than or equal to"),
    "LessThanThreshold": (operator.lt, "less than"),
    "LessThanOrEqualToThreshold": (operator.le, "less than or equal to"),
}
_ANOMALY_OPERATORS = frozenset({
    "LessThanLowerOrGreaterThanUpperThreshold",
    "LessThanLowerThreshold",
    "GreaterThanUpperThreshold",
})
_STATISTICS = {
    "SampleCount": "SAMPLE_COUNT",
    "Average": "AVERAGE",
    "Sum": "SUM",
    "Minimum": "MINIMUM",
    "Maximum": "MAXIMUM",
}
_TREATMENTS = frozenset({"missing", "notBreaching", "breaching", "ignore"})
_PERCENTILE = re.compile(r"^p(\d{1,2}(?:\.\d+)?|100)$")
_EPOCH = datetime(1970, 1, 1)
_SUBJECT_LIMIT = 100
_ACTIONS = {
    ALARM: "alarm_actions",
    OK: "ok_actions",
    INSUFFICIENT_DATA: "insufficient_data_actions",
}


@dataclass(frozen=True)
class StateChange:
    """One alarm state change made or observed by the evaluator.

    Attributes
    ----------
    alarm_name : str
        Name of the alarm.
    old, new : str
        States before and after (``OK``, ``ALARM`` or ``INSUFFICIENT_DATA``).
    reason : str
        The new ``StateReason``.
    account, region : str
        Where the alarm lives.
    when : datetime
        Time of the change (timezone-aware, UTC).
    """

    alarm_name: str
    old: str
    new: str
    reason: str
    account: str
    region: str
    when: datetime


@dataclass(frozen=True)
class _Point:
    start: datetime
    value: float
    samples: float


@dataclass(frozen=True)
class _Outcome:
    state: str | None  # None keeps the current state
    reason: str = ""
    data: str = "{}"
    unsupported: bool = False  # the reason must show even when the state stays


@dataclass
class _Seen:
    alarm: Alarm
    state: str
    updated: datetime


@dataclass(frozen=True)
class _Notification:
    topic_arn: str
    subject: str
    message: str


class AlarmEvaluator:
    """Evaluates moto's CloudWatch metric alarms and runs their SNS actions.

    Parameters
    ----------
    interval_s : float
        Seconds between two evaluations of the background thread.
    clock : callable, optional
        Returns the current time (timezone-aware); ``datetime.now(UTC)`` by default.
    """

    def __init__(self, interval_s: float = 2.0,
                 clock: Callable[[], datetime] | None = None) -> None:
        if interval_s <= 0:
            raise ValueError("interval_s must be positive")
        self.interval_s = interval_s
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
            for account, regional in list(cloudwatch_backends.items()):
                for region, backend in list(regional.items()):
                    regions.add((account, region))
                    with _backend_lock:
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
        outcome = _evaluate(alarm, metrics, now)
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


# --------------------------------------------------------------------------- evaluation

def _evaluate(alarm: Alarm, metrics: list[_MetricIndex], now: datetime) -> _Outcome:
    unsupported = _unsupported(alarm)
    if unsupported:
        return _Outcome(INSUFFICIENT_DATA, unsupported, unsupported=True)
    compare, phrase = _COMPARISONS[alarm.comparison_operator]
    period = int(alarm.period)
    n = int(alarm.evaluation_periods)
    m = max(1, int(alarm.datapoints_to_alarm or n))
    threshold = float(alarm.threshold)
    treatment = alarm.treat_missing_data or "missing"
    if alarm.namespace == "AWS/DynamoDB":
        treatment = "ignore"  # CloudWatch ignores missing data for this namespace, always

    current = _period_start(now, period)
    slots = [current - timedelta(seconds=period * i) for i in range(n + EXTRA_PERIODS)]
    points = _datapoints(alarm, metrics, slots, now, period)
    real = [points[s] for s in slots if s in points]  # newest first
    if len(real) >= n:
        evaluated: list[_Point | datetime] = list(real[:n])
    else:
        missing = [s for s in slots if s not in points][: n - len(real)]
        evaluated = sorted([*real, *missing], key=_slot_of, reverse=True)
    existing = [p for p in evaluated if isinstance(p, _Point)]
    if _low_samples(alarm, existing):
        return _Outcome(None)
    fill = len(evaluated) - len(existing)
    breaching = [p for p in existing if compare(p.value, threshold)]
    within = [p for p in existing if not compare(p.value, threshold)]
    data = _reason_data(alarm, evaluated, threshold, now)
    old = alarm.state_value

    def crossed(new: str, support: list[_Point], filled: int, minimum: int | None) -> _Outcome:
        label = "Breaching" if new == ALARM else "NonBreaching"
        text = phrase if new == ALARM else f"not {phrase}"
        parts = []
        if support:
            parts.append(f"{len(support)} out of the last {len(existing)} datapoints "
                         f"[{', '.join(_show(p) for p in support)}] {_was(len(support))} "
                         f"{text} the threshold ({_number(threshold)})")
        if not existing:
            parts.append(f"no datapoints were received for {_plural(n, 'period')}")
        if filled:
            parts.append(f"{_plural(filled, 'missing datapoint')} {_was(filled)} "
                         f"treated as [{label}]")
        reason = "Threshold Crossed: " + " and ".join(parts)
        if minimum is not None and existing:
            reason += f" (minimum {_plural(minimum, 'datapoint')} for {old} -> {new} transition)"
        return _Outcome(new, reason + ".", data)

    def insufficient() -> _Outcome:
        return _Outcome(INSUFFICIENT_DATA,
                        f"Insufficient Data: {_plural(fill, 'datapoint')} {_was(fill)} unknown.",
                        data)

    if fill == 0 or treatment in ("breaching", "notBreaching"):
        filled_breaching = fill if treatment == "breaching" else 0
        if len(breaching) + filled_breaching >= m:
            return crossed(ALARM, breaching, filled_breaching, m)
        return crossed(OK, within, fill - filled_breaching, n - m + 1)
    # missing / ignore with missing datapoints in the evaluated set
    if len(breaching) >= m:
        return crossed(ALARM, breaching, 0, m)
    if within:
        return crossed(OK, within, 0, 1)
    if treatment == "ignore":
        return _Outcome(None)
    if existing and isinstance(evaluated[-1], _Point):
        return crossed(ALARM, breaching, 0, m)
    return insufficient()


def _unsupported(alarm: Alarm) -> str | None:
    prefix = "Unsupported by the local endpoint: "
    if alarm.rule is not None:
        return prefix + "composite alarms are not evaluated."
    if alarm.metric_data_queries:
        return prefix + "metric-math alarms (Metrics=[...]) are not evaluated."
    if alarm.comparison_operator in _ANOMALY_OPERATORS:
        return (prefix + f"anomaly-detection comparison operator "
                f"{alarm.comparison_operator} is not evaluated.")
    if alarm.comparison_operator not in _COMPARISONS:
        return prefix + f"unknown comparison operator {alarm.comparison_operator!r}."
    if alarm.extended_statistic:
        if not _PERCENTILE.match(alarm.extended_statistic):
            return prefix + f"extended statistic {alarm.extended_statistic} is not evaluated."
    elif alarm.statistic not in _STATISTICS:
        return prefix + f"statistic {alarm.statistic!r} is not evaluated."
    if not alarm.namespace or not alarm.metric_name:
        return prefix + "the alarm names no metric."
    if not alarm.period or int(alarm.period) <= 0 or not alarm.evaluation_periods:
        return prefix + "the alarm has no Period or EvaluationPeriods."
    if alarm.threshold is None:
        return prefix + "the alarm has no Threshold."
    treatment = alarm.treat_missing_data
    if treatment and treatment not in _TREATMENTS:
        return prefix + f"unknown TreatMissingData {treatment!r}."
    return None


class _MetricIndex:
    """Datums by metric (namespace, name, dimension set), sorted by time.

    Built incrementally from a backend's ``metric_data`` list, which moto only appends
    to, so a pass costs the new datums plus the lookups.
    """

    def __init__(self, source: list[MetricDatumBase]) -> None:
        self.source = source
        self.done = 0
        self.series: dict[tuple[Any, ...], tuple[list[datetime], list[MetricDatumBase]]] = {}

    def current_for(self, source: list[MetricDatumBase]) -> bool:
        return self.source is source and len(source) >= self.done

    def refresh(self) -> _MetricIndex:
        data = self.source
        for datum in data[self.done:]:
            self.add(datum)
        self.done = len(data)
        return self

    def add(self, datum: MetricDatumBase) -> None:
        key = (datum.namespace, datum.name, _dimension_key(datum.dimensions))
        times, items = self.series.setdefault(key, ([], []))
        timestamp = _naive(datum.timestamp)
        at = bisect.bisect_right(times, timestamp)
        times.insert(at, timestamp)
        items.insert(at, datum)

    def slice(self, key: tuple[Any, ...], start: datetime, end: datetime,
              inclusive: bool) -> list[MetricDatumBase]:
        """Datums of one metric with ``start <= timestamp < end`` (``<= end`` if inclusive)."""
        times, items = self.series.get(key, ([], []))
        stop = bisect.bisect_right if inclusive else bisect.bisect_left
        return items[bisect.bisect_left(times, start):stop(times, end)]


def _dimension_key(dimensions: Iterable[Any]) -> tuple[tuple[str, str], ...]:
    return tuple(sorted((d.name or "", d.value or "") for d in dimensions))


def _datapoints(alarm: Alarm, indexes: list[_MetricIndex], slots: list[datetime],
                now: datetime, period: int) -> dict[datetime, _Point]:
    key = (alarm.namespace, alarm.metric_name, _dimension_key(alarm.dimensions))
    points = {}
    for slot in slots:
        end = slot + timedelta(seconds=period)
        bucket = [
            datum
            for index in indexes
            for datum in (index.slice(key, slot, now, inclusive=True) if end > now
                          else index.slice(key, slot, end, inclusive=False))
            if not alarm.unit or datum.unit == alarm.unit
        ]
        if bucket:
            value, samples = _statistic(alarm, bucket, slot)
            if value is not None:
                points[slot] = _Point(slot, value, samples)
    return points


def _statistic(alarm: Alarm, bucket: list[MetricDatumBase],
               slot: datetime) -> tuple[float | None, float]:
    stats = Statistics(["SampleCount", "Sum", "Minimum", "Maximum", "Average"], slot)
    stats.metric_data = bucket
    samples = float(stats.calc_sample_count())
    if alarm.extended_statistic:
        values = _percentile_values(bucket)
        if not values:
            return None, samples
        return _percentile(values, float(alarm.extended_statistic[1:])), samples
    value = stats.get_statistics_for_type(alarm.statistic)
    return (None if value is None else float(value)), samples


def _percentile_values(bucket: list[MetricDatumBase]) -> list[float] | None:
    values: list[float] = []
    for datum in bucket:
        if isinstance(datum, MetricDatum):
            values.append(float(datum.value))
        elif isinstance(datum, MetricAggregatedDatum):
            if datum.min != datum.max:
                return None
            values.extend([float(datum.min)] * int(datum.sample_count))
    return values


def _percentile(values: list[float], p: float) -> float:
    ordered = sorted(values)
    rank = max(1, math.ceil(p / 100 * len(ordered)))
    return ordered[min(rank, len(ordered)) - 1]


def _low_samples(alarm: Alarm, points: list[_Point]) -> bool:
    if not alarm.extended_statistic or alarm.evaluate_low_sample_count_percentile != "ignore":
        return False
    p = float(alarm.extended_statistic[1:]) / 100
    if not 0 < p < 1:
        return False
    needed = 10 / (1 - p) if p >= 0.5 else 10 / p
    return any(point.samples < needed for point in points)


def _reason_data(alarm: Alarm, evaluated: list[_Point | datetime], threshold: float,
                 now: datetime) -> str:
    existing = [p for p in evaluated if isinstance(p, _Point)]
    data: dict[str, Any] = {
        "version": "1.0",
        "queryDate": _timestamp(now),
        "startDate": _timestamp(_slot_of(evaluated[-1])),
    }
    if alarm.extended_statistic:
        data["extendedStatistic"] = alarm.extended_statistic
    else:
        data["statistic"] = alarm.statistic
    if alarm.unit:
        data["unit"] = alarm.unit
    data.update({
        "period": int(alarm.period),
        "recentDatapoints": [p.value for p in reversed(existing)],
        "threshold": threshold,
        "evaluatedDatapoints": [
            {"timestamp": _timestamp(p.start), "sampleCount": p.samples, "value": p.value}
            if isinstance(p, _Point) else {"timestamp": _timestamp(p)}
            for p in evaluated
        ],
    })
    return json.dumps(data, separators=(",", ":"))


# --------------------------------------------------------------------------- notification

def _notifications(alarm: Alarm, change: StateChange, account: str,
                   region: str) -> list[tuple[str, str, _Notification]]:
    if not alarm.actions_enabled:
        return []
    actions = getattr(alarm, _ACTIONS[change.new]) or []
    if not actions:
        return []
    subject = f'{change.new}: "{alarm.name}" in {_region_name(region)}'[:_SUBJECT_LIMIT]
    message = json.dumps(_message(alarm, change, account, region))
    result = []
    for arn in actions:
        if arn.startswith("arn:") and arn.split(":")[2:3] == ["sns"]:
            result.append((account, region, _Notification(arn, subject, message)))
        else:
            log.warning("alarm %s: action %s is not run by the local endpoint (SNS only)",
                        alarm.name, arn)
    return result


def _message(alarm: Alarm, change: StateChange, account: str, region: str) -> dict[str, Any]:
    n = alarm.evaluation_periods
    trigger: dict[str, Any] = {
        "MetricName": alarm.metric_name,
        "Namespace": alarm.namespace,
    }
    if alarm.extended_statistic:
        trigger["StatisticType"] = "ExtendedStatistic"
        trigger["ExtendedStatistic"] = alarm.extended_statistic
    else:
        trigger["StatisticType"] = "Statistic"
        trigger["Statistic"] = _STATISTICS.get(alarm.statistic or "", alarm.statistic)
    trigger.update({
        "Unit": alarm.unit,
        "Dimensions": [{"value": d.value, "name": d.name} for d in alarm.dimensions],
        "Period": alarm.period,
        "EvaluationPeriods": n,
        "DatapointsToAlarm": alarm.datapoints_to_alarm or n,
        "ComparisonOperator": alarm.comparison_operator,
        "Threshold": alarm.threshold,
        "TreatMissingData": alarm.treat_missing_data or "missing",
        "EvaluateLowSampleCountPercentile": alarm.evaluate_low_sample_count_percentile or "",
    })
    return {
        "AlarmName": alarm.name,
        "AlarmDescription": alarm.description,
        "AWSAccountId": account,
        "AlarmConfigurationUpdatedTimestamp": _timestamp(
            alarm.configuration_updated_timestamp),
        "NewStateValue": change.new,
        "NewStateReason": change.reason,
        "StateChangeTime": _timestamp(change.when),
        "Region": _region_name(region),
        "AlarmArn": alarm.alarm_arn,
        "OldStateValue": change.old,
        "OKActions": list(alarm.ok_actions or []),
        "AlarmActions": list(alarm.alarm_actions or []),
        "InsufficientDataActions": list(alarm.insufficient_data_actions or []),
        "Trigger": trigger,
    }


def _publish(account: str, region: str, note: _Notification) -> None:
    from moto.sns.models import sns_backends

    parts = note.topic_arn.split(":")
    topic_region = parts[3] if len(parts) > 5 and parts[3] else region
    topic_account = parts[4] if len(parts) > 5 and parts[4] else account
    try:
        sns_backends[topic_account][topic_region].publish(
            message=note.message, arn=note.topic_arn, subject=note.subject)
    except Exception as exc:
        log.warning("alarm notification to %s failed: %s", note.topic_arn, exc)


@cache
def _region_name(region: str) -> str:
    """The region's long name ("US East (N. Virginia)"), as alarm notifications show it."""
    try:
        from botocore.loaders import Loader

        for partition in Loader().load_data("endpoints")["partitions"]:
            described = partition.get("regions", {}).get(region)
            if described and described.get("description"):
                return str(described["description"])
    except Exception:  # pragma: no cover - botocore data is always there
        pass
    return region


# --------------------------------------------------------------------------- small helpers

def _aware(moment: datetime) -> datetime:
    if moment.tzinfo is None:
        return moment.replace(tzinfo=UTC)
    return moment.astimezone(UTC)


def _naive(moment: datetime) -> datetime:
    if moment.tzinfo is None:
        return moment
    return moment.astimezone(UTC).replace(tzinfo=None)


def _period_start(moment: datetime, period: int) -> datetime:
    seconds = (moment - _EPOCH) // timedelta(seconds=1)
    return _EPOCH + timedelta(seconds=seconds - seconds % period)


def _slot_of(item: _Point | datetime) -> datetime:
    return item.start if isinstance(item, _Point) else item


def _timestamp(moment: datetime) -> str:
    moment = _naive(moment)
    return f"{moment:%Y-%m-%dT%H:%M:%S}.{moment.microsecond // 1000:03d}+0000"


def _number(value: float) -> str:
    return repr(float(value))


def _show(point: _Point) -> str:
    return f"{_number(point.value)} ({point.start:%d/%m/%y %H:%M:%S})"


def _plural(count: int, word: str) -> str:
    return f"{count} {word}" + ("" if count == 1 else "s")


def _was(count: int) -> str:
    return "was" if count == 1 else "were"


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
