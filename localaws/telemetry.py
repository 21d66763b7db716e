"""CloudWatch Logs and metrics written by the local Lambda service.

The executor and the event-source-mapping engine write what AWS Lambda writes:
log events in ``/aws/lambda/<name>`` and ``AWS/Lambda`` metrics with the
``FunctionName`` dimension. Writes go straight to moto's in-process backends (the
same data the CloudWatch and CloudWatch Logs APIs then serve), under one lock
because moto's backends are not thread-safe.
"""

from __future__ import annotations

import threading
from datetime import UTC, datetime
from typing import Any

from moto.cloudwatch.models import cloudwatch_backends
from moto.logs.models import logs_backends

_lock = threading.Lock()

NAMESPACE = "AWS/Lambda"
UNITS = {
    "Invocations": "Count",
    "Errors": "Count",
    "Throttles": "Count",
    "Duration": "Milliseconds",
    "ConcurrentExecutions": "Count",
    "IteratorAge": "Milliseconds",
}


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
    backend = logs_backends[account_id][region]
    if role is not None:
        from localaws import authz

        group_exists = group in backend.groups
        stream_exists = group_exists and stream in backend.groups[group].streams
        if not authz.may_write_logs(account_id, region, role, group, stream,
                                    group_exists=group_exists, stream_exists=stream_exists):
            return False
    with _lock:
        if group not in backend.groups:
            backend.create_log_group(group, tags={})
        log_group = backend.groups[group]
        if stream not in log_group.streams:
            backend.create_log_stream(group, stream)
        ordered = sorted(events, key=lambda e: e[0])
        backend.put_log_events(group, stream,
                               [{"timestamp": ts, "message": msg} for ts, msg in ordered])
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
    with _lock:
        cloudwatch_backends[account_id][region].put_metric_data(NAMESPACE, data)
