"""CloudWatch Logs and metrics written by the local Lambda service.

The executor and the event-source-mapping engine write what AWS Lambda writes:
log events in ``/aws/lambda/<name>`` and ``AWS/Lambda`` metrics with the
``FunctionName`` dimension. Writes go straight to moto's in-process backends (the
same data the CloudWatch and CloudWatch Logs APIs then serve), through
:mod:`localaws.backends` (which takes the request gate and the write lock).
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from localaws import backends

_lock = backends.LOCK  # the name other modules knew it by

NAMESPACE = "AWS/Lambda"
UNITS = {
    "Invocations": "Count",
    "Errors": "Count",
    "Throttles": "Count",
    "Duration": "Milliseconds",
    "ConcurrentExecutions": "Count",
    "IteratorAge": "Milliseconds",
}
EVENT_COUNT_METRICS = (
    "PolledEventCount", "FilteredOutEventCount", "InvokedEventCount", "FailedInvokeEventCount",
    "DroppedEventCount", "OnFailureDestinationDeliveredEventCount",
)  # fmt: skip
"""The ``EventCount`` group of event source mapping metrics that apply to DynamoDB streams."""


def write_logs(account_id: str, region: str, group: str, stream: str,
               events: list[tuple[int, str]], *, role: str | None = None) -> bool:
    """Append ``(timestamp_ms, message)`` events to a log stream, creating it if needed.

    Parameters
    ----------
    role : str, optional
        The function's execution role. When given, the events are delivered only if
        the role may create the group and stream (when missing) and put events, as
        Lambda delivers logs with the role's session; otherwise they are dropped
        silently (the function still runs; the caller sees no error).

    Returns
    -------
    bool
        True when the events were written.
    """
    if not events:
        return False
    if role is not None:
        from localaws import authz

        group_exists, stream_exists = backends.log_stream_exists(account_id, region, group,
                                                                 stream)
        if not authz.may_write_logs(account_id, region, role, group, stream,
                                    group_exists=group_exists, stream_exists=stream_exists):
            return False
    backends.put_log_events(account_id, region, group, stream, events)
    return True


def put_metrics(account_id: str, region: str, function_name: str,
                values: dict[str, float], *, when: datetime | None = None) -> None:
    """Record ``AWS/Lambda`` datapoints for one function.

    Parameters
    ----------
    values : dict
        Metric name to value, e.g. ``{"Invocations": 1, "Duration": 3.2}``.
    when : datetime, optional
        Timestamp of the datapoints (when the function was invoked); now by default.
    """
    # moto keeps naive UTC datetimes; an aware one would break its comparisons.
    timestamp = (when or datetime.now(UTC)).astimezone(UTC).replace(tzinfo=None)
    data: list[dict[str, Any]] = [
        {
            "MetricName": name,
            "Value": float(value),
            "Unit": UNITS.get(name, "None"),
            "Timestamp": timestamp,
            "Dimensions": [{"Name": "FunctionName", "Value": function_name}],
        }
        for name, value in values.items()
    ]
    backends.put_metric_data(account_id, region, NAMESPACE, data)


def put_mapping_metrics(account_id: str, region: str, mapping_uuid: str,
                        values: dict[str, float], *, when: datetime | None = None) -> None:
    """Record event source mapping metrics (``MetricsConfig`` ``EventCount``).

    Parameters
    ----------
    mapping_uuid : str
        The mapping; the datapoints carry the ``EventSourceMappingUUID`` dimension.
    values : dict
        Metric name (one of :data:`EVENT_COUNT_METRICS`) to a count of records.
    when : datetime, optional
        Timestamp of the datapoints; now by default.
    """
    timestamp = (when or datetime.now(UTC)).astimezone(UTC).replace(tzinfo=None)
    data = [
        {"MetricName": name, "Value": float(value), "Unit": "Count", "Timestamp": timestamp,
         "Dimensions": [{"Name": "EventSourceMappingUUID", "Value": mapping_uuid}]}
        for name, value in values.items()
    ]
    backends.put_metric_data(account_id, region, NAMESPACE, data)
