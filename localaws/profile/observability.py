"""CloudWatch metrics and Logs in the AWS profile: data is there after a delay.

* Lambda sends its metrics "in 1-minute intervals" (lambda monitoring-metrics.html)
  and they are standard resolution: a period shorter than 60 s, or not a multiple of
  60, is served as the next multiple of 60 (botocore cloudwatch: "must be a multiple
  of 60" for regular-resolution metrics). A minute becomes queryable only
  ``metric_lag`` seconds after it ends (aws-timing.md §6): the request's ``EndTime``
  is moved back to the last such minute.
* A log event becomes readable ``logs_visible`` seconds after its timestamp
  (aws-timing.md §7): ``GetLogEvents`` and ``FilterLogEvents`` see up to then.
"""

from __future__ import annotations

import json
import math
import re
from datetime import UTC, datetime
from typing import Any

from localaws.profile.settings import MIN_DELAY_S
from localaws.profile.timeline import Timeline
from localaws.profile.wire import params_of, replace_params
from localaws.protocols import Call, Response

LAMBDA_NAMESPACE = "AWS/Lambda"
_QUERY_NAMESPACE = re.compile(r"^MetricDataQueries\.member\.\d+\.MetricStat\.Metric\.Namespace$")


def _epoch(value: Any) -> float | None:
    if isinstance(value, int | float):
        return float(value)
    if isinstance(value, str):
        try:
            return float(value)
        except ValueError:
            try:
                return datetime.fromisoformat(value.replace("Z", "+00:00")).timestamp()
            except ValueError:
                return None
    return None


def _as_sent(like: Any, seconds: float) -> Any:
    if isinstance(like, str) and not like.replace(".", "", 1).isdigit():
        return datetime.fromtimestamp(seconds, UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
    return seconds


def _standard(period: Any) -> Any:
    try:
        value = int(period)
    except (TypeError, ValueError):
        return period
    return max(60, math.ceil(value / 60) * 60) if value % 60 else value


def _nothing_yet(call: Call, params: dict[str, Any]) -> Response:
    """The answer to a query none of whose range is queryable yet: no datapoints."""
    if call.operation == "GetMetricStatistics":
        body: dict[str, Any] = {"Label": params.get("MetricName", ""), "Datapoints": []}
    else:
        body = {"MetricDataResults": [
            {"Id": q.get("Id", ""), "Label": q.get("Label") or q.get("Id", ""),
             "Timestamps": [], "Values": [], "StatusCode": "Complete"}
            for q in params.get("MetricDataQueries") or [] if isinstance(q, dict)],
            "Messages": []}
    return 200, {"Content-Type": "application/x-amz-json-1.0",
                 "x-amzn-RequestId": call.request_id}, json.dumps(body).encode()


class ObservabilityRules:
    """The CloudWatch and Logs rules of the profile.

    Parameters
    ----------
    timeline : Timeline
        The clock and the ``metric_lag`` / ``logs_visible`` delays.
    """

    def __init__(self, timeline: Timeline) -> None:
        self.timeline = timeline

    def _lag(self, kind: str) -> float:
        return max(MIN_DELAY_S, self.timeline.settings.seconds(kind))

    def check(self, call: Call) -> Response | None:
        """Rewrite the request so that it asks only for what AWS would serve by now."""
        if call.service == "cloudwatch":
            return self._metrics(call)
        if call.service == "logs" and call.operation in ("GetLogEvents", "FilterLogEvents"):
            params = params_of(call)
            visible = int((self.timeline.clock() - self._lag("logs_visible")) * 1000)
            end = params.get("endTime")
            if not isinstance(end, int) or end > visible:
                params["endTime"] = visible
                start = params.get("startTime")
                if isinstance(start, int) and start > visible:
                    params["startTime"] = visible
                replace_params(call, params)
        return None

    def _metrics(self, call: Call) -> Response | None:
        if call.operation not in ("GetMetricStatistics", "GetMetricData"):
            return None
        params = params_of(call)
        if not self._lambda(call, params):
            return None
        if call.operation == "GetMetricStatistics":
            params["Period"] = _standard(params.get("Period"))
        elif call.protocol == "query":
            for key in list(params):
                if key.endswith(".MetricStat.Period"):
                    params[key] = str(_standard(params[key]))
        else:
            for query in params.get("MetricDataQueries") or []:
                stat = (query or {}).get("MetricStat")
                if isinstance(stat, dict) and "Period" in stat:
                    stat["Period"] = _standard(stat["Period"])
        now = self.timeline.clock()
        visible = math.floor((now - self._lag("metric_lag")) / 60) * 60  # whole minutes
        end, start = _epoch(params.get("EndTime")), _epoch(params.get("StartTime"))
        if start is not None and start % 60:  # "rounded down to the minute" (botocore)
            start = math.floor(start / 60) * 60
            params["StartTime"] = _as_sent(params.get("StartTime"), start)
        if end is not None and end > visible:
            if start is not None and start >= visible:  # nothing of the range is queryable yet
                if call.protocol == "json":
                    return _nothing_yet(call, params)
                visible = start + 1  # (the query protocol: one second of the range)
            params["EndTime"] = _as_sent(params.get("EndTime"), visible)
        replace_params(call, params)
        return None

    @staticmethod
    def _lambda(call: Call, params: dict[str, Any]) -> bool:
        if call.operation == "GetMetricStatistics":
            return params.get("Namespace") == LAMBDA_NAMESPACE
        if call.protocol == "query":
            return any(_QUERY_NAMESPACE.match(k) and v == LAMBDA_NAMESPACE
                       for k, v in params.items())
        return any(((q or {}).get("MetricStat") or {}).get("Metric", {}).get("Namespace")
                   == LAMBDA_NAMESPACE for q in params.get("MetricDataQueries") or [])
