"""How one metric alarm is evaluated: its datapoints, its outcome and its reason."""

from __future__ import annotations

import bisect
import json
import logging
import math
import operator
import re
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from moto.cloudwatch.models import (
    Alarm,
    MetricAggregatedDatum,
    MetricDatum,
    MetricDatumBase,
    Statistics,
)

log = logging.getLogger(__name__)

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



# --------------------------------------------------------------------------- evaluation

def _evaluate(alarm: Alarm, metrics: list[_MetricIndex], now: datetime,
              complete_periods: bool = False) -> _Outcome:
    """The outcome of one evaluation at ``now``; with ``complete_periods`` the range
    ends with the last period that is over (CloudWatch), else with the current one."""
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
    if complete_periods:
        current -= timedelta(seconds=period)
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


