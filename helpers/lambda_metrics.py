"""Lambda metrics in CloudWatch (``AWS/Lambda``), read as tables.

Lambda records ``Invocations``, ``Errors``, ``Throttles``, ``Duration``,
``ConcurrentExecutions`` and, for stream triggers, ``IteratorAge`` (how old the
last record of a batch was when the batch was sent). :func:`metric_series` reads
them with the finest period the backend serves (60 s on AWS: Lambda metrics are
per minute; the local endpoint says its own in its health document).
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import UTC, datetime

import pandas as pd

from helpers.clients import Backend
from helpers.clock import as_utc, now

#: Lambda metrics and the statistic that suits each.
LAMBDA_METRICS: dict[str, str] = {
    "Invocations": "Sum",
    "Errors": "Sum",
    "Throttles": "Sum",
    "Duration": "Maximum",
    "ConcurrentExecutions": "Maximum",
    "IteratorAge": "Maximum",
}


METRIC_UNITS = {
    "Invocations": "count",
    "Errors": "count",
    "Throttles": "count",
    "Duration": "ms",
    "ConcurrentExecutions": "count",
    "IteratorAge": "ms",
}


def default_period(backend: Backend) -> int:
    """Metric period in seconds: the finest the backend serves for ``AWS/Lambda``.

    60 on AWS (Lambda metrics are per minute); the local endpoint says its own
    (1 s in its default profile, where a workshop step lasting seconds would
    otherwise show a single bar).
    """
    return backend.pacing.metric_period_s


def metric_series(
    backend: Backend,
    function: str,
    metrics: Iterable[str] = tuple(LAMBDA_METRICS),
    *,
    since: datetime | float,
    until: datetime | float | None = None,
    period: int | None = None,
) -> pd.DataFrame:
    """Lambda metrics of one function as a table, one column per metric.

    Parameters
    ----------
    backend : Backend
        Where the function lives.
    function : str
        Function name.
    metrics : iterable of str
        Names from :data:`LAMBDA_METRICS` (each read with its statistic).
    since, until : datetime or epoch seconds
        Time window (until defaults to now).
    period : int, optional
        Seconds per datapoint; :func:`default_period` when omitted.

    Returns
    -------
    pandas.DataFrame
        Index ``time`` (UTC, start of each period); counts are 0 where nothing
        happened, ``Duration`` and ``IteratorAge`` (ms) are NaN there.
    """
    metrics = list(metrics)
    period = period or default_period(backend)
    # Periods start on multiples of ``period`` since the epoch, as on CloudWatch.
    first = int(as_utc(since, now()).timestamp()) // period * period
    last = (int(as_utc(until, now()).timestamp()) // period + 1) * period
    start, end = datetime.fromtimestamp(first, UTC), datetime.fromtimestamp(last, UTC)
    queries = [
        {
            "Id": f"m{i}",
            "Label": name,
            "MetricStat": {
                "Metric": {
                    "Namespace": "AWS/Lambda",
                    "MetricName": name,
                    "Dimensions": [{"Name": "FunctionName", "Value": function}],
                },
                "Period": period,
                "Stat": LAMBDA_METRICS.get(name, "Sum"),
            },
        }
        for i, name in enumerate(metrics)
    ]
    client = backend.client("cloudwatch")
    series: dict[str, pd.Series] = {}
    pages = client.get_paginator("get_metric_data").paginate(
        MetricDataQueries=queries, StartTime=start, EndTime=end, ScanBy="TimestampAscending")
    for page in pages:
        for result in page["MetricDataResults"]:
            name = metrics[int(result["Id"][1:])]
            stamps = pd.to_datetime(result["Timestamps"], utc=True).floor(f"{period}s")
            values = pd.Series(result["Values"], index=stamps, dtype=float)
            series[name] = pd.concat([series.get(name, pd.Series(dtype=float)), values])
    index = pd.date_range(start, end, freq=f"{period}s", inclusive="left")
    frame = pd.DataFrame(index=index)
    for name in metrics:
        values = series.get(name, pd.Series(dtype=float))
        values = values.groupby(level=0).max() if len(values) else values
        column = values.reindex(index)
        frame[name] = column.fillna(0.0) if METRIC_UNITS[name] == "count" else column
    frame.index.name = "time"
    return frame


