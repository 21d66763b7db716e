"""What an alarm state change sends: CloudWatch's notification, published to SNS."""

from __future__ import annotations

import json
import logging
from dataclasses import dataclass
from functools import cache
from typing import Any

from botocore.exceptions import ClientError
from moto.cloudwatch.models import (
    Alarm,
)

from localaws import backends
from localaws.alarms.evaluation import (
    _STATISTICS,
    ALARM,
    INSUFFICIENT_DATA,
    OK,
    StateChange,
    _timestamp,
)

log = logging.getLogger(__name__)

_SUBJECT_LIMIT = 100
_ACTIONS = {
    ALARM: "alarm_actions",
    OK: "ok_actions",
    INSUFFICIENT_DATA: "insufficient_data_actions",
}



@dataclass(frozen=True)
class _Notification:
    topic_arn: str
    subject: str
    message: str


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
    """Send an alarm's notification to its topic (a missing topic is logged, as AWS does)."""
    try:
        backends.sns_publish(note.topic_arn, note.message, note.subject)
    except ClientError as exc:
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


