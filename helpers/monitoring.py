"""Monitoring: metrics, invocation logs, latency, alarms, dashboards, diagnostics.

What Lambda records for every invocation, and how to read it back:

* **Metrics** (namespace ``AWS/Lambda``, dimension ``FunctionName``):
  ``Invocations``, ``Errors``, ``Throttles``, ``Duration``, ``ConcurrentExecutions``
  and, for stream triggers, ``IteratorAge`` (how old the last record of a batch
  was when the batch was sent). :func:`metric_series` reads them as a table.
  CloudWatch keeps Lambda metrics per minute; the local endpoint can answer
  finer periods (1 s by default there).
* **Logs** (``/aws/lambda/<function>``): one ``START``/``END``/``REPORT`` group
  per invocation. :func:`invocations` turns them into one row per invocation
  (duration, memory, cold start, error, records handled), which is far more
  precise than per-minute metrics on a small workshop.
* **End-to-end latency**: :class:`WriteRecorder` notes when each item was
  written; :func:`latency` pairs it with when the function logged it.
* **Alarms** (:func:`ensure_alarms`), **dashboards** (:func:`put_dashboard`)
  and a **diagnosis** of a trigger that does not fire (:func:`diagnose`).
"""

from __future__ import annotations

import json
import time
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

import pandas as pd
from boto3.dynamodb.types import TypeDeserializer, TypeSerializer
from botocore.exceptions import ClientError

from helpers import iam, loglines
from helpers.clients import Backend
from helpers.functions import get_configuration, log_events, reserved_concurrency
from helpers.iam import tqdm
from helpers.naming import ECOMMERCE_TABLE, Names, workshop_tags
from helpers.triggers import find_mappings, patience, receive_messages, wait_until_drained

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

# The log lines parsed below are defined in helpers.loglines.
_REPORT, _START, _END, _TAGGED = loglines.REPORT, loglines.START, loglines.END, loglines.TAGGED
_ERROR, _TIMEOUT = loglines.ERROR, loglines.TIMEOUT
#: Lines saying how many records a batch held: the stream processor's and the replicator's.
SUMMARY = loglines.SUMMARY
#: The stream processor's per-record line.
RECORD_LINE = loglines.RECORD.pattern


def default_period(backend: Backend) -> int:
    """Metric period in seconds: 60 on AWS (Lambda metrics are per minute), 1 locally.

    The local endpoint keeps every datapoint with its exact time, so it can answer
    1-second periods; a workshop step lasts seconds, where one-minute bars would
    show a single bar.
    """
    return 60 if backend.name == "aws" else 1


def _utc(when: datetime | float | None, default: datetime) -> datetime:
    if when is None:
        return default
    if isinstance(when, datetime):
        return when if when.tzinfo else when.replace(tzinfo=UTC)
    return datetime.fromtimestamp(float(when), UTC)


def now() -> datetime:
    """The current time, UTC (the clock every helper uses)."""
    return datetime.now(UTC)


# --------------------------------------------------------------------------- metrics


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
    first = int(_utc(since, now()).timestamp()) // period * period
    last = (int(_utc(until, now()).timestamp()) // period + 1) * period
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
    kwargs: dict[str, Any] = {"MetricDataQueries": queries, "StartTime": start, "EndTime": end}
    while True:
        page = client.get_metric_data(**kwargs, ScanBy="TimestampAscending")
        for result in page["MetricDataResults"]:
            name = metrics[int(result["Id"][1:])]
            stamps = pd.to_datetime(result["Timestamps"], utc=True).floor(f"{period}s")
            values = pd.Series(result["Values"], index=stamps, dtype=float)
            series[name] = pd.concat([series.get(name, pd.Series(dtype=float)), values])
        if not page.get("NextToken"):
            break
        kwargs["NextToken"] = page["NextToken"]
    index = pd.date_range(start, end, freq=f"{period}s", inclusive="left")
    frame = pd.DataFrame(index=index)
    for name in metrics:
        values = series.get(name, pd.Series(dtype=float))
        values = values.groupby(level=0).max() if len(values) else values
        column = values.reindex(index)
        frame[name] = column.fillna(0.0) if METRIC_UNITS[name] == "count" else column
    frame.index.name = "time"
    return frame


# --------------------------------------------------------------------------- logs


INVOCATION_COLUMNS = [
    "request_id", "start", "end", "duration_ms", "billed_ms", "memory_mb", "max_memory_mb",
    "init_ms", "cold_start", "error", "delivered", "records", "items", "lines",
]


def parse_invocations(events: pd.DataFrame) -> pd.DataFrame:
    """Group log events into invocations (pure: works on any log table).

    Parameters
    ----------
    events : pandas.DataFrame
        Columns ``time``, ``stream`` and ``message``, as
        :func:`helpers.functions.log_events` returns.

    Returns
    -------
    pandas.DataFrame
        One row per invocation, oldest first: ``request_id``, ``start``, ``end``,
        ``duration_ms``, ``billed_ms``, ``memory_mb``, ``max_memory_mb``,
        ``init_ms``, ``cold_start``, ``error`` (error type or ``None``),
        ``delivered`` (the batch Lambda sent, from the ``Received N records`` line of
        the production variants; else, for an invocation that succeeded, ``records``;
        else ``None``: a teaching function that failed does not say),
        ``records`` (what the function processed: from the batch summary line, else
        the per-record lines it wrote before it failed),
        ``items`` (keys named by per-record lines) and ``lines``.
    """
    rows: dict[str, dict[str, Any]] = {}
    order: list[str] = []

    def row(request_id: str) -> dict[str, Any]:
        if request_id not in rows:
            rows[request_id] = {
                "request_id": request_id,
                "start": pd.NaT,
                "end": pd.NaT,
                "duration_ms": None,
                "billed_ms": None,
                "memory_mb": None,
                "max_memory_mb": None,
                "init_ms": None,
                "error": None,
                "summary": None,
                "delivered": None,
                "items": [],
                "lines": [],
            }
            order.append(request_id)
        return rows[request_id]

    for _, stream_events in events.groupby("stream", sort=False):
        current: str | None = None
        for when, message in zip(stream_events["time"], stream_events["message"], strict=True):
            if match := _START.match(message):
                current = match["request_id"]
                row(current)["start"] = when
                continue
            if match := _REPORT.search(message):
                r = row(match["request_id"])
                for key in ("duration_ms", "init_ms"):
                    r[key] = float(match[key]) if match[key] else None
                for key in ("billed_ms", "memory_mb", "max_memory_mb"):
                    r[key] = int(match[key])
                r["end"] = when
                if match["status"] and not r["error"]:
                    r["error"] = "Sandbox.Timedout" if match["status"] == "timeout" else "error"
                current = None
                continue
            if _END.match(message):
                continue
            tagged = _TAGGED.match(message)
            owner = tagged["request_id"] if tagged else current
            if owner is None:
                continue
            r = row(owner)
            text = tagged["text"] if tagged else message
            r["lines"].append(text)
            if error := _ERROR.match(message):
                r["error"] = r["error"] or error["error"]
            elif _TIMEOUT.search(message):
                r["error"] = "Sandbox.Timedout"
            if received := loglines.RECEIVED.search(text):
                r["delivered"] = int(received["count"])
            if summary := SUMMARY.search(text):
                r["summary"] = int(summary["count"])
            if record := RECORD_LINE.search(text):
                r["items"].append(record["item"].strip())
    frame = pd.DataFrame([rows[k] for k in order])
    if frame.empty:
        return pd.DataFrame(columns=INVOCATION_COLUMNS)
    frame["cold_start"] = frame["init_ms"].notna()
    frame["records"] = [
        len(items) if pd.isna(s) else int(s)
        for s, items in zip(frame["summary"], frame["items"], strict=True)
    ]
    frame["delivered"] = [
        int(d) if pd.notna(d) else (n if pd.isna(e) else None)
        for d, n, e in zip(frame["delivered"], frame["records"], frame["error"], strict=True)
    ]
    frame = frame.drop(columns="summary")
    frame = frame.sort_values("start", kind="stable", na_position="last").reset_index(drop=True)
    return frame[INVOCATION_COLUMNS]


def invocations(
    backend: Backend,
    function: str,
    *,
    since: datetime | float | None = None,
    until: datetime | float | None = None,
) -> pd.DataFrame:
    """One row per invocation of a function, parsed from its log group.

    See :func:`parse_invocations` for the columns. Only invocations whose
    ``REPORT`` line has been written are complete; the others have no duration.
    """
    return parse_invocations(log_events(backend, function, since=since, until=until))


def invocation_summary(frame: pd.DataFrame) -> pd.DataFrame:
    """The columns of :func:`invocations` a learner reads first, times as ``HH:MM:SS.mmm``.

    ``records delivered`` is the batch Lambda sent; ``records processed`` what the
    function got through before it returned or failed.
    """
    columns = ["start", "records delivered", "records processed", "duration (ms)",
               "cold start", "error", "items"]
    if frame.empty:
        return pd.DataFrame(columns=columns)
    return pd.DataFrame(
        {
            "start": frame["start"].dt.strftime("%H:%M:%S.%f").str[:-3],
            "records delivered": [("?" if d is None or pd.isna(d) else int(d))
                                  for d in frame["delivered"]],
            "records processed": frame["records"],
            "duration (ms)": frame["duration_ms"].round(1),
            "cold start": frame["cold_start"],
            "error": frame["error"].fillna(""),
            "items": [", ".join(items) for items in frame["items"]],
        }
    )


# --------------------------------------------------------------------------- latency


class WriteRecorder:
    """Writes items to a table and notes when each write was sent.

    The time is taken on this machine just before each request leaves, so the
    latency computed from it includes the write itself. (The stream record
    exists before the answer reaches the client: a function can log it before
    the writer hears back.)

    Parameters
    ----------
    backend : Backend
        Where the table lives.
    table : str
        Table name.
    key_names : sequence of str
        The table's key attributes, used to name items as the functions log
        them (``PK#SK``, or ``PK`` alone).
    """

    def __init__(self, backend: Backend, table: str, key_names: Sequence[str] = ("PK", "SK")):
        self.backend = backend
        self.table = table
        self.key_names = tuple(key_names)
        self._rows: list[dict[str, Any]] = []
        self._serializer = TypeSerializer()
        self._deserializer = TypeDeserializer()
        self._client = backend.client("dynamodb")

    def _label(self, item: Mapping[str, Any]) -> str:
        return "#".join(str(item[k]) for k in self.key_names if k in item)

    def _dump(self, item: Mapping[str, Any]) -> dict[str, Any]:
        return {k: self._serializer.serialize(v) for k, v in item.items()}

    def _note(self, item: Mapping[str, Any], event: str, sent: datetime) -> None:
        self._rows.append({"item": self._label(item), "event": event, "written_at": sent})

    def put(self, item: Mapping[str, Any]) -> str:
        """``PutItem``; returns ``INSERT`` or ``MODIFY`` (what the stream records)."""
        request = self._dump(item)
        sent = now()
        old = self._client.put_item(TableName=self.table, Item=request, ReturnValues="ALL_OLD").get(
            "Attributes"
        )
        event = "MODIFY" if old else "INSERT"
        self._note(item, event, sent)
        return event

    def update(self, key: Mapping[str, Any], **changes: Any) -> None:
        """``UpdateItem`` setting ``changes`` on an existing item (a MODIFY record)."""
        names = {f"#a{i}": k for i, k in enumerate(changes)}
        values = {f":v{i}": self._serializer.serialize(v) for i, v in enumerate(changes.values())}
        sent = now()
        self._client.update_item(
            TableName=self.table,
            Key=self._dump(key),
            UpdateExpression="SET " + ", ".join(f"#a{i} = :v{i}" for i in range(len(changes))),
            ExpressionAttributeNames=names,
            ExpressionAttributeValues=values,
        )
        self._note(key, "MODIFY", sent)

    def delete(self, key: Mapping[str, Any]) -> bool:
        """``DeleteItem``; True when the item existed (only then is there a REMOVE record)."""
        sent = now()
        old = self._client.delete_item(
            TableName=self.table, Key=self._dump(key), ReturnValues="ALL_OLD"
        ).get("Attributes")
        if old:
            self._note(key, "REMOVE", sent)
        return bool(old)

    def put_many(self, items: Sequence[Mapping[str, Any]], *, progress: bool = True) -> None:
        """Write new items with ``BatchWriteItem``, 25 per call, noting when each call was sent."""
        client = self._client
        with tqdm(total=len(items), desc=self.table, unit="item", disable=not progress) as bar:
            for start in range(0, len(items), 25):
                chunk = items[start : start + 25]
                request = {self.table: [{"PutRequest": {"Item": self._dump(i)}} for i in chunk]}
                sent = now()
                for _ in range(8):
                    unprocessed = client.batch_write_item(RequestItems=request).get(
                        "UnprocessedItems"
                    )
                    if not unprocessed:
                        break
                    request = unprocessed
                    time.sleep(0.1)
                for item in chunk:
                    self._note(item, "INSERT", sent)
                bar.update(len(chunk))

    def delete_many(self, keys: Sequence[Mapping[str, Any]], *, progress: bool = True) -> None:
        """Delete items with ``BatchWriteItem``, 25 per call (missing items are fine)."""
        client = self._client
        with tqdm(
            total=len(keys), desc=f"{self.table} (delete)", unit="item", disable=not progress
        ) as bar:
            for start in range(0, len(keys), 25):
                chunk = keys[start : start + 25]
                request = {self.table: [{"DeleteRequest": {"Key": self._dump(k)}} for k in chunk]}
                for _ in range(8):
                    unprocessed = client.batch_write_item(RequestItems=request).get(
                        "UnprocessedItems"
                    )
                    if not unprocessed:
                        break
                    request = unprocessed
                    time.sleep(0.1)
                bar.update(len(chunk))

    def delete_many_existing(self, keys: Sequence[Mapping[str, Any]]) -> int:
        """Delete the items of ``keys`` (DynamoDB JSON) that exist; return how many did.

        Only an item that existed gives a REMOVE record, so the count is what the
        function will see (a notebook's "start over").
        """
        plain = [{k: self._deserializer.deserialize(v) for k, v in key.items()
                  if k in self.key_names} for key in keys]
        return sum(self.delete(key) for key in plain)

    def observe(self, method: str, params: Mapping[str, Any], response: Any,
                sent: datetime) -> None:
        """Note a write made elsewhere (a taught client's listener, see :mod:`helpers.calls`).

        Parameters
        ----------
        method : str
            ``put_item``, ``update_item``, ``delete_item`` or ``batch_write_item``
            (other calls are ignored).
        params : Mapping
            The call's parameters (DynamoDB JSON).
        response : Any
            Its response (``Attributes`` tells a MODIFY put, an existing deleted item).
        sent : datetime
            When the request left.
        """
        def plain(image: Mapping[str, Any]) -> dict[str, Any]:
            return {k: self._deserializer.deserialize(v) for k, v in image.items()}

        if method == "put_item" and params.get("TableName") == self.table:
            self._note(plain(params["Item"]),
                       "MODIFY" if (response or {}).get("Attributes") else "INSERT", sent)
        elif method == "update_item" and params.get("TableName") == self.table:
            self._note(plain(params["Key"]), "MODIFY", sent)
        elif method == "delete_item" and params.get("TableName") == self.table:
            if params.get("ReturnValues") != "ALL_OLD" or (response or {}).get("Attributes"):
                self._note(plain(params["Key"]), "REMOVE", sent)
        elif method == "batch_write_item":
            for request in params["RequestItems"].get(self.table, []):
                if "PutRequest" in request:
                    self._note(plain(request["PutRequest"]["Item"]), "INSERT", sent)
                else:
                    self._note(plain(request["DeleteRequest"]["Key"]), "REMOVE", sent)

    def frame(self) -> pd.DataFrame:
        """Every write so far: ``item``, ``event``, ``written_at`` (UTC)."""
        frame = pd.DataFrame(self._rows, columns=["item", "event", "written_at"])
        frame["written_at"] = pd.to_datetime(frame["written_at"], utc=True)
        return frame

    @property
    def started(self) -> datetime | None:
        """Time of the first write (None before any)."""
        return self._rows[0]["written_at"] if self._rows else None


def read_item(backend: Backend, table: str, key: Mapping[str, Any]) -> dict[str, Any] | None:
    """One item by key (strongly consistent), numbers as ``Decimal``; None when absent."""
    response = (
        backend.resource("dynamodb").Table(table).get_item(Key=dict(key), ConsistentRead=True)
    )
    return response.get("Item")


def run_id() -> str:
    """A short id for this run (UTC time), to give a run's test items keys of their own."""
    return now().strftime("%H%M%S%f")[:9]


def wait_for_log(backend: Backend, function: str, *, since: datetime | float, pattern: str,
                 timeout: float = 15.0) -> pd.DataFrame:
    """Wait until the function's log has lines matching ``pattern`` since ``since``.

    Parameters
    ----------
    backend : Backend
        Where the function lives.
    function : str
        Function name.
    since : datetime or float
        Oldest event considered.
    pattern : str
        A CloudWatch Logs filter pattern (a word, or ``"quoted text"``).
    timeout : float
        Seconds; afterwards the (possibly empty) result is returned, not an error:
        a line that never comes is an answer too.

    Returns
    -------
    pandas.DataFrame
        The matching log events (:func:`helpers.functions.log_events` columns).
    """
    deadline = time.monotonic() + timeout
    while True:
        found = log_events(backend, function, since=since, pattern=pattern)
        if not found.empty or time.monotonic() > deadline:
            return found
        time.sleep(0.2 if backend.name != "aws" else 2.0)


def processed_times(backend: Backend, function: str, *, since: datetime | float) -> pd.DataFrame:
    """When the stream processor logged each record: ``item``, ``event``, ``processed_at``."""
    lines = log_events(backend, function, since=since, pattern='"for item"')
    rows = []
    for when, message in zip(lines["time"], lines["message"], strict=True):
        if match := RECORD_LINE.search(message):
            rows.append(
                {"item": match["item"].strip(), "event": match["event"], "processed_at": when}
            )
    return pd.DataFrame(rows, columns=["item", "event", "processed_at"])


def latency(writes: pd.DataFrame, processed: pd.DataFrame) -> pd.DataFrame:
    """Pair each write with the first time the function handled it.

    The n-th write of an item and event is paired with the n-th time it was
    processed, so a retried record counts once (its first delivery).

    Returns
    -------
    pandas.DataFrame
        ``item``, ``event``, ``written_at``, ``processed_at`` and ``latency_s``
        (seconds from the write to the function's log line).
    """
    w = writes.assign(n=writes.groupby(["item", "event"]).cumcount())
    p = processed.sort_values("processed_at", kind="stable")
    p = p.assign(n=p.groupby(["item", "event"]).cumcount())
    merged = w.merge(p, on=["item", "event", "n"], how="inner").drop(columns="n")
    merged["latency_s"] = (merged["processed_at"] - merged["written_at"]).dt.total_seconds()
    return merged


def replication_lag(writes: pd.DataFrame, batches: pd.DataFrame) -> pd.DataFrame:
    """Replication lag per item, from the write times and the replicator's invocations.

    The replicator logs one line per batch (``Replicated N records ...``), not
    one per item. Records reach it in stream order, which for one shard is the
    order of the writes; so the k-th record written was replicated by the
    invocation that brought the running total of replicated records past k,
    at that invocation's end.

    Parameters
    ----------
    writes : pandas.DataFrame
        :meth:`WriteRecorder.frame`, in write order.
    batches : pandas.DataFrame
        :func:`invocations` of the replicator since the first write.

    Returns
    -------
    pandas.DataFrame
        ``item``, ``written_at``, ``replicated_at``, ``lag_s``; items beyond the
        replicated total are left out.
    """
    done = batches[batches["error"].isna() & batches["end"].notna()].sort_values("end")
    ends = []
    for when, count in zip(done["end"], done["records"], strict=True):
        ends.extend([when] * int(count))
    n = min(len(ends), len(writes))
    frame = writes.iloc[:n][["item", "written_at"]].copy()
    frame["replicated_at"] = pd.to_datetime(ends[:n], utc=True)
    frame["lag_s"] = (frame["replicated_at"] - frame["written_at"]).dt.total_seconds()
    return frame.reset_index(drop=True)


def reset_replication(
    backend: Backend,
    source: str,
    replica: str,
    keys: list[dict[str, Any]],
    function: str,
    *,
    timeout: float | None = None,
) -> int:
    """Start a replication exercise over: delete ``keys`` from the source, then empty the replica.

    The deletes go through the stream (the replicator deletes them from the
    replica too); once the function is idle, whatever is left in the replica is
    deleted directly. Used when a notebook runs a second time.

    Returns
    -------
    int
        Items that were in the replica before.
    """
    table = backend.resource("dynamodb").Table(replica)
    key_names = [k["AttributeName"] for k in table.key_schema]
    existing = []
    kwargs: dict[str, Any] = {"ProjectionExpression": ", ".join(key_names)}
    while True:
        page = table.scan(**kwargs)
        existing.extend(page["Items"])
        if "LastEvaluatedKey" not in page:
            break
        kwargs["ExclusiveStartKey"] = page["LastEvaluatedKey"]
    since = time.time()
    WriteRecorder(backend, source, key_names).delete_many(keys, progress=False)
    wait_until_drained(backend, function, since=since, timeout=timeout)
    WriteRecorder(backend, replica, key_names).delete_many(existing, progress=False)
    return len(existing)


# --------------------------------------------------------------------------- alarms


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


def ensure_alarms(
    backend: Backend,
    function: str,
    topic_arn: str,
    *,
    period: int = 60,
    evaluation_periods: int = 2,
    datapoints_to_alarm: int = 1,
) -> list[str]:
    """Create or update the three alarms of a function, notifying ``topic_arn``.

    Each alarm notifies the topic when it goes to ALARM and when it is OK again;
    periods without data count as not breaching (an idle function is healthy).
    By default an alarm fires when 1 of the last 2 periods breaches, so a
    failure near the end of a minute is not hidden by healthy invocations at
    the start of the next one.

    Parameters
    ----------
    backend : Backend
        Where the function lives.
    function : str
        Function name.
    topic_arn : str
        SNS topic of the notifications.
    period : int
        Seconds per evaluated datapoint (Lambda metrics: a multiple of 60).
    evaluation_periods : int
        Periods looked at.
    datapoints_to_alarm : int
        How many of them must breach.

    Returns
    -------
    list of str
        The alarm names.
    """
    client = backend.client("cloudwatch")
    for spec, name in zip(ALARMS, alarm_names(function), strict=True):
        client.put_metric_alarm(
            AlarmName=name,
            AlarmDescription=f"{spec.description} ({function})",
            Namespace="AWS/Lambda",
            MetricName=spec.metric,
            Dimensions=[{"Name": "FunctionName", "Value": function}],
            Statistic=spec.statistic,
            Period=period,
            EvaluationPeriods=evaluation_periods,
            DatapointsToAlarm=datapoints_to_alarm,
            Threshold=spec.threshold,
            ComparisonOperator="GreaterThanThreshold",
            TreatMissingData="notBreaching",
            ActionsEnabled=True,
            AlarmActions=[topic_arn],
            OKActions=[topic_arn],
            Tags=workshop_tags(),
        )
    return alarm_names(function)


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

    CloudWatch evaluates alarms once a minute; the local endpoint every 2 s.

    Raises
    ------
    TimeoutError
        Still in another state at the timeout.
    """
    client = backend.client("cloudwatch")
    timeout = patience(backend, timeout)
    deadline = time.monotonic() + timeout
    while True:
        alarm = client.describe_alarms(AlarmNames=[name])["MetricAlarms"][0]
        if alarm["StateValue"] == state:
            return alarm
        if time.monotonic() > deadline:
            raise TimeoutError(
                f"alarm {name} is {alarm['StateValue']}, not {state}, after {timeout:.0f} s"
            )
        time.sleep(0.5 if backend.name != "aws" else 10)


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
    TimeoutError
        Some alarm is still unchecked at the timeout.
    """
    timeout = patience(backend, timeout)
    deadline = time.monotonic() + timeout
    while True:
        table = alarms_table(backend, names)
        if not table["reason"].str.startswith("Unchecked").any():
            return table
        if time.monotonic() > deadline:
            raise TimeoutError(f"alarms not evaluated after {timeout:.0f} s")
        time.sleep(0.5 if backend.name != "aws" else 10)


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
        ``(alarm name, state)``: keep reading until that notification arrived
        (or ``timeout``); without it, read until the queue is empty.
    timeout : float, optional
        Seconds (120 locally, 600 on AWS).

    Returns
    -------
    pandas.DataFrame
        ``alarm``, ``from``, ``to``, ``reason``, ``time``, oldest first.
    """
    rows: list[dict[str, Any]] = []
    timeout = patience(backend, timeout)
    deadline = time.monotonic() + timeout
    while True:
        for message in receive_messages(backend, queue_url, timeout=timeout):
            if isinstance(message, dict) and "AlarmName" in message:
                rows.append(
                    {
                        "alarm": message["AlarmName"],
                        "from": message.get("OldStateValue"),
                        "to": message.get("NewStateValue"),
                        "reason": message.get("NewStateReason", ""),
                        "time": message.get("StateChangeTime", ""),
                    }
                )
        arrived = until is None or any((r["alarm"], r["to"]) == tuple(until) for r in rows)
        if arrived or time.monotonic() > deadline:
            break
        time.sleep(0.5 if backend.name != "aws" else 5.0)
    frame = pd.DataFrame(rows, columns=["alarm", "from", "to", "reason", "time"])
    return frame.sort_values("time", kind="stable").reset_index(drop=True)


def delete_alarms(backend: Backend, names: Sequence[str]) -> None:
    """Delete alarms (names that do not exist are ignored)."""
    if names:
        backend.client("cloudwatch").delete_alarms(AlarmNames=list(names))


def inbox_queue_name(names: Names) -> str:
    """The SQS queue subscribed to the alerts topic, where notifications can be read."""
    return f"{names.alerts_topic}-inbox"


# --------------------------------------------------------------------------- dashboards

DASHBOARD = "demo-dynamodb-streams-monitoring"


def dashboard_name(names: Names) -> str:
    """The workshop's dashboard name, with the names' prefix."""
    return names.ecommerce_table.removesuffix(ECOMMERCE_TABLE) + DASHBOARD


def dashboard_body(backend: Backend, functions: Sequence[str]) -> dict[str, Any]:
    """A CloudWatch dashboard with the console's Lambda graphs for ``functions``.

    Six metric widgets (invocations, errors, duration, throttles, iterator age,
    concurrent executions), two per row, one line per function.
    """
    widgets = []
    for i, (metric, stat) in enumerate(LAMBDA_METRICS.items()):
        widgets.append(
            {
                "type": "metric",
                "x": 12 * (i % 2),
                "y": 6 * (i // 2),
                "width": 12,
                "height": 6,
                "properties": {
                    "title": f"{metric} ({METRIC_UNITS[metric]})",
                    "region": backend.region,
                    "view": "timeSeries",
                    "stat": stat,
                    "period": 60,
                    "metrics": [
                        ["AWS/Lambda", metric, "FunctionName", function] for function in functions
                    ],
                },
            }
        )
    return {"widgets": widgets}


def put_dashboard(backend: Backend, name: str, body: Mapping[str, Any]) -> list[str]:
    """Create or replace a dashboard; returns CloudWatch's validation messages (none is good)."""
    response = backend.client("cloudwatch").put_dashboard(
        DashboardName=name, DashboardBody=json.dumps(body)
    )
    return [m.get("Message", "") for m in response.get("DashboardValidationMessages", [])]


def get_dashboard(backend: Backend, name: str) -> dict[str, Any]:
    """A dashboard's body, parsed."""
    response = backend.client("cloudwatch").get_dashboard(DashboardName=name)
    return json.loads(response["DashboardBody"])


def dashboard_series(
    backend: Backend,
    body: Mapping[str, Any],
    *,
    since: datetime | float,
    period: int | None = None,
) -> list[tuple[str, pd.DataFrame]]:
    """The data of each metric widget of a dashboard: ``(title, table)`` pairs.

    Each table has one column per function (``FunctionName`` dimension).
    """
    panels = []
    for widget in body.get("widgets", []):
        props = widget.get("properties", {})
        if widget.get("type") != "metric":
            continue
        columns = {}
        for line in props.get("metrics", []):
            _, metric, _, function = line[:4]
            frame = metric_series(backend, function, [metric], since=since, period=period)
            columns[function] = frame[metric]
        panels.append((props.get("title", ""), pd.DataFrame(columns)))
    return panels


def console_view(
    backend: Backend, function: str, *, since: datetime | float, period: int | None = None
) -> pd.DataFrame:
    """The metrics of the console's Monitor tab for one function (see :func:`metric_series`)."""
    return metric_series(
        backend,
        function,
        ["Invocations", "Duration", "Errors", "IteratorAge", "ConcurrentExecutions"],
        since=since,
        period=period,
    )


# --------------------------------------------------------------------------- diagnosis


@dataclass
class Diagnosis:
    """The checks made by :func:`diagnose` and the first problem found.

    Attributes
    ----------
    checks : pandas.DataFrame
        ``check``, ``ok`` and ``detail``, in the order they were made.
    verdict : str
        The first problem and what to do about it, or that all is well.
    problem : str or None
        A short code of the first problem: ``no-table``, ``stream-off``,
        ``no-function``, ``no-trigger``, ``old-stream``, ``trigger-disabled``,
        ``missing-permission``, ``throttled``, ``function-failing``,
        ``partial-responses-ignored``; ``None`` when healthy.
    """

    checks: pd.DataFrame
    verdict: str
    problem: str | None = None
    details: dict[str, Any] = field(default_factory=dict)

    def row(self, symptom: str) -> dict[str, str]:
        """``{"symptom", "found", "verdict"}``, for a table of diagnoses."""
        return {"symptom": symptom, "found": self.problem or "healthy", "verdict": self.verdict}


def disable_stream(backend: Backend, table: str) -> bool:
    """Turn a table's stream off (to reproduce the symptom); False when it was off."""
    client = backend.client("dynamodb")
    spec = client.describe_table(TableName=table)["Table"].get("StreamSpecification") or {}
    if not spec.get("StreamEnabled"):
        return False
    client.update_table(TableName=table, StreamSpecification={"StreamEnabled": False})
    client.get_waiter("table_exists").wait(
        TableName=table, WaiterConfig={"Delay": 1 if backend.name != "aws" else 5}
    )
    return True


def diagnose(
    backend: Backend, table: str, function: str, *, since: datetime | float | None = None
) -> Diagnosis:
    """Find why changes to ``table`` do not reach ``function``, or why they fail.

    Checks, in order: the table exists and its stream is on; the function
    exists; a trigger joins them, on the table's *current* stream, and is
    enabled; the role may read the stream; the function is not throttled to
    zero; and no invocation failed since ``since`` (read from the function's
    log, which has exact times; metrics are per period).

    Parameters
    ----------
    backend : Backend
        Where everything lives.
    table, function : str
        The pipeline to check.
    since : datetime or epoch seconds, optional
        Look for errors after this time (default: the last 10 minutes).

    Returns
    -------
    Diagnosis
    """
    since = _utc(since, now() - timedelta(minutes=10))
    checks: list[dict[str, Any]] = []

    def check(name: str, ok: bool, detail: str) -> bool:
        checks.append({"check": name, "ok": ok, "detail": detail})
        return ok

    def done(problem: str | None, verdict: str, **details: Any) -> Diagnosis:
        return Diagnosis(
            pd.DataFrame(checks, columns=["check", "ok", "detail"]), verdict, problem, details
        )

    try:
        description = backend.client("dynamodb").describe_table(TableName=table)["Table"]
    except ClientError:
        check("table exists", False, f"no table {table}")
        return done("no-table", f"There is no table {table!r}: create it (00_setup).")
    check("table exists", True, description["TableStatus"])
    spec = description.get("StreamSpecification") or {}
    stream = description.get("LatestStreamArn") if spec.get("StreamEnabled") else None
    if not check("stream is on", bool(stream), spec.get("StreamViewType", "stream off")):
        return done(
            "stream-off",
            f"The stream of {table!r} is off, so no change is recorded and nothing can "
            "trigger the function. Turn it on (tables.enable_stream); it gets a new ARN, "
            "so create the trigger again on that ARN (triggers.ensure_mapping).",
        )
    config = get_configuration(backend, function)
    if not check("function exists", config is not None, config["State"] if config else "none"):
        return done("no-function", f"There is no function {function!r}: deploy it (01).")
    mappings = find_mappings(backend, function=function)
    on_table = [
        m for m in mappings if m["EventSourceArn"].split("/stream/")[0].endswith(f":table/{table}")
    ]
    if not check("a trigger joins them", bool(on_table), f"{len(on_table)} mapping(s)"):
        return done("no-trigger", f"No trigger reads {table!r} for {function!r}: create one (02).")
    current = [m for m in on_table if m["EventSourceArn"] == stream]
    if not check(
        "trigger reads the current stream",
        bool(current),
        on_table[0]["EventSourceArn"].rsplit("/", 1)[-1],
    ):
        return done(
            "old-stream",
            "The trigger reads an older stream of the table (the stream was turned off and "
            "on, which gives it a new ARN). Create the trigger on the current stream ARN.",
        )
    mapping = current[0]
    if not check("trigger is enabled", mapping["State"] == "Enabled", mapping["State"]):
        return done(
            "trigger-disabled",
            f"The trigger is {mapping['State']}: records wait in the stream (for 24 hours). "
            "Enable it (triggers.set_enabled) and it resumes where it stopped.",
        )
    role = config["Role"].rsplit("/", 1)[-1]
    missing = iam.missing_actions(backend, role, iam.STREAM_READ_ACTIONS, stream)
    if not check("role may read the stream", not missing, ", ".join(missing) or "all allowed"):
        return done(
            "missing-permission",
            f"The role {role!r} lacks {', '.join(missing)} on the stream: the trigger cannot "
            "read it (AWS refuses to create it, and an existing one stops). Grant "
            "iam.stream_read_policy.",
            missing=missing,
        )
    limit = reserved_concurrency(backend, function)
    if not check("function may run", limit != 0, f"reserved concurrency {limit}"):
        return done(
            "throttled",
            "The function's reserved concurrency is 0, so every invocation is throttled. "
            "Set it above 0 (functions.set_reserved_concurrency).",
        )
    calls = invocations(backend, function, since=since)
    failed = calls[calls["error"].notna()] if not calls.empty else calls
    errors = len(failed)
    last_error = ""
    for lines in failed.get("lines", []):
        found = [line for line in lines if line.startswith("[ERROR]")]
        last_error = found[-1].splitlines()[0] if found else last_error
    result = mapping.get("LastProcessingResult", "")
    failing = errors > 0
    detail = f"{errors} failed invocation(s), last processing result {result!r}"
    if not check("function succeeds", not failing, detail):
        return done(
            "function-failing",
            f"The trigger fires but the function fails ({errors} failed invocation(s) since "
            f"{since:%H:%M:%S}; last processing result {result!r}). Last error: "
            f"{last_error or 'see the log'}. Fix the code or the data; meanwhile the "
            "trigger retries the batch and blocks the shard.",
            errors=errors,
            last_error=last_error,
        )
    reported = [line for lines in calls.get("lines", []) for line in lines
                if loglines.REPORTED.search(line)]
    listens = "ReportBatchItemFailures" in (mapping.get("FunctionResponseTypes") or [])
    if not check("trigger reads partial batch responses", listens or not reported,
                 f"{len(reported)} partial response(s); FunctionResponseTypes "
                 f"{mapping.get('FunctionResponseTypes') or []}"):
        return done(
            "partial-responses-ignored",
            f"The function reported failed records ({len(reported)} batchItemFailures "
            "answer(s)) but the trigger lacks FunctionResponseTypes=['ReportBatchItemFailures'], "
            "so Lambda ignores the answers and counts those batches as successes: the "
            "reported records are skipped. Add ReportBatchItemFailures to the trigger.",
            reported=len(reported),
        )
    invoked = len(calls)
    return done(
        None,
        f"No problem found: {invoked} invocation(s) since {since:%H:%M:%S}, no errors.",
    )
