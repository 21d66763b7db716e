"""Triggers: event source mappings from a DynamoDB stream to a function, and their destinations.

An *event source mapping* is the Lambda resource behind the console's "Add
trigger": a poller that reads the stream, cuts it into batches and invokes the
function. :func:`ensure_mapping` creates one or updates the existing one for the
same function and stream, so a notebook can run it again safely.

Failed batches can go to an *on-failure destination* (an SQS queue or SNS topic).
The message there does not hold the records, only where they are in the stream
(``DDBStreamBatchInfo``); :func:`fetch_failed_records` reads them back from the
stream while it still has them (24 hours).
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Iterable, Mapping
from datetime import datetime
from typing import Any

import pandas as pd
from botocore.exceptions import ClientError

from helpers.clients import Backend, error_code
from helpers.functions import log_events
from helpers.iam import retry_while_propagating, tqdm
from helpers.naming import workshop_tag_map, workshop_tags

TRANSITIONAL_STATES = ("Creating", "Enabling", "Disabling", "Updating", "Deleting")
REPORT_BATCH_ITEM_FAILURES = "ReportBatchItemFailures"


class MappingTimeoutError(TimeoutError):
    """A mapping or a queue did not reach the expected state in time."""


def patience(backend: Backend, timeout: float | None) -> float:
    """``timeout``, or how long to wait by default: 120 s locally, 600 s on AWS."""
    if timeout is not None:
        return timeout
    return 600.0 if backend.name == "aws" else 120.0


# --------------------------------------------------------------------------- mappings


def find_mappings(
    backend: Backend, *, function: str | None = None, stream_arn: str | None = None
) -> list[dict[str, Any]]:
    """Every event source mapping of a function and/or a stream.

    Returns
    -------
    list of dict
        ``EventSourceMappings`` entries of ``ListEventSourceMappings``, all pages.
    """
    kwargs: dict[str, Any] = {}
    if function:
        kwargs["FunctionName"] = function
    if stream_arn:
        kwargs["EventSourceArn"] = stream_arn
    client = backend.client("lambda")
    try:
        pages = client.get_paginator("list_event_source_mappings").paginate(**kwargs)
        return [m for page in pages for m in page["EventSourceMappings"]]
    except ClientError as exc:
        if error_code(exc) == "ResourceNotFoundException":
            return []
        raise


def get_mapping(backend: Backend, uuid: str) -> dict[str, Any] | None:
    """``GetEventSourceMapping``, or ``None`` when it does not exist."""
    try:
        return backend.client("lambda").get_event_source_mapping(UUID=uuid)
    except ClientError as exc:
        if error_code(exc) == "ResourceNotFoundException":
            return None
        raise


def _settings(
    *,
    batch_size: int,
    enabled: bool,
    batching_window_s: int,
    parallelization: int,
    retries: int,
    max_record_age_s: int,
    bisect: bool,
    on_failure: str | None,
    report_batch_item_failures: bool,
    filters: Iterable[Mapping[str, Any]] | None,
) -> dict[str, Any]:
    return {
        "Enabled": enabled,
        "BatchSize": batch_size,
        "MaximumBatchingWindowInSeconds": batching_window_s,
        "ParallelizationFactor": parallelization,
        "MaximumRetryAttempts": retries,
        "MaximumRecordAgeInSeconds": max_record_age_s,
        "BisectBatchOnFunctionError": bisect,
        "DestinationConfig": {"OnFailure": {"Destination": on_failure} if on_failure else {}},
        "FunctionResponseTypes": [REPORT_BATCH_ITEM_FAILURES] if report_batch_item_failures else [],
        "FilterCriteria": {
            "Filters": [{"Pattern": json.dumps(dict(f), separators=(",", ":"))} for f in filters]
        }
        if filters
        else {},
    }


def _current(mapping: Mapping[str, Any], key: str) -> Any:
    if key == "Enabled":
        return mapping.get("State") in ("Enabled", "Enabling", "Creating")
    if key == "DestinationConfig":
        destination = (mapping.get("DestinationConfig") or {}).get("OnFailure") or {}
        return (
            {"OnFailure": {"Destination": destination["Destination"]}}
            if destination.get("Destination")
            else {"OnFailure": {}}
        )
    if key == "FilterCriteria":
        filters = (mapping.get("FilterCriteria") or {}).get("Filters") or []
        patterns = [json.dumps(json.loads(f["Pattern"]), separators=(",", ":")) for f in filters]
        return {"Filters": [{"Pattern": p} for p in patterns]} if patterns else {}
    if key == "FunctionResponseTypes":
        return list(mapping.get("FunctionResponseTypes") or [])
    return mapping.get(key)


def ensure_mapping(
    backend: Backend,
    function: str,
    stream_arn: str,
    *,
    batch_size: int = 100,
    starting_position: str = "TRIM_HORIZON",
    enabled: bool = True,
    batching_window_s: int = 0,
    parallelization: int = 1,
    retries: int = -1,
    max_record_age_s: int = -1,
    bisect: bool = False,
    on_failure: str | None = None,
    report_batch_item_failures: bool = False,
    filters: Iterable[Mapping[str, Any]] | None = None,
    wait: bool = True,
    wait_for_iam: bool = True,
    force: bool = False,
) -> dict[str, Any]:
    """Create the mapping from ``stream_arn`` to ``function``, or update the existing one.

    Every setting is the full desired state: a setting left at its default here
    is reset to the default on an existing mapping. Mappings of the same function
    on an *older* stream of the same table (a stream turned off and on again
    gets a new ARN) are deleted.

    Parameters
    ----------
    backend : Backend
        Where the function lives.
    function : str
        Function name.
    stream_arn : str
        The table's current stream ARN (with its timestamp label).
    batch_size : int
        Most records per invocation (1-10,000; the API's default is 100).
    starting_position : {"TRIM_HORIZON", "LATEST"}
        Where a new mapping starts reading (cannot be changed later).
    enabled : bool
        Poll the stream or pause.
    batching_window_s : int
        Seconds to wait for a fuller batch (0-300).
    parallelization : int
        Concurrent batches per shard (1-10).
    retries : int
        Retries of a failed batch (-1: until the records expire).
    max_record_age_s : int
        Records older than this are not retried (-1: no limit, else 60-604,800).
    bisect : bool
        Split a failing batch in two and retry each half.
    on_failure : str, optional
        ARN of an SQS queue or SNS topic for records that could not be processed.
    report_batch_item_failures : bool
        Let the function return ``batchItemFailures``.
    filters : iterable of dict, optional
        Event filter patterns (as dicts); records that match none are dropped.
    wait : bool
        Wait until the mapping is ``Enabled`` (or ``Disabled``).
    wait_for_iam : bool
        On AWS, retry while IAM changes propagate. Pass False to see the error.
    force : bool
        Send every setting to an existing mapping even when nothing changed
        (Lambda then checks the role's permissions again).

    Returns
    -------
    dict
        The mapping as ``GetEventSourceMapping`` returns it, plus ``"Action"``
        (``created``, ``updated`` or ``unchanged``) and ``"CreateResponseState"``.
    """
    client = backend.client("lambda")
    desired = _settings(
        batch_size=batch_size,
        enabled=enabled,
        batching_window_s=batching_window_s,
        parallelization=parallelization,
        retries=retries,
        max_record_age_s=max_record_age_s,
        bisect=bisect,
        on_failure=on_failure,
        report_batch_item_failures=report_batch_item_failures,
        filters=filters,
    )
    _delete_stale(backend, function, stream_arn)

    def attempt(call: Callable[[], dict[str, Any]]) -> dict[str, Any]:
        if wait_for_iam:
            return retry_while_propagating(backend, call, what="the role's stream permissions")
        return call()

    existing = find_mappings(backend, function=function, stream_arn=stream_arn)
    if existing:
        uuid = existing[0]["UUID"]
        current = wait_for_state(backend, uuid, progress=False)
        changed = {k: v for k, v in desired.items() if force or _current(current, k) != v}
        if not changed:
            return {**current, "Action": "unchanged", "CreateResponseState": None}
        response = attempt(lambda: client.update_event_source_mapping(UUID=uuid, **changed))
        action = "updated"
    else:
        create_args = {k: v for k, v in desired.items() if v not in ({}, [])}
        if not on_failure:
            create_args.pop("DestinationConfig", None)
        response = attempt(
            lambda: client.create_event_source_mapping(
                FunctionName=function,
                EventSourceArn=stream_arn,
                StartingPosition=starting_position,
                Tags=workshop_tag_map(),
                **create_args,
            )
        )
        uuid, action = response["UUID"], "created"
    final = wait_for_state(backend, uuid, progress=False) if wait else get_mapping(backend, uuid)
    return {**(final or response), "Action": action, "CreateResponseState": response["State"]}


def _table_of(stream_arn: str) -> str:
    return stream_arn.split("/stream/")[0]


def _delete_stale(backend: Backend, function: str, stream_arn: str) -> list[str]:
    stale = [
        m["UUID"]
        for m in find_mappings(backend, function=function)
        if _table_of(m["EventSourceArn"]) == _table_of(stream_arn)
        and m["EventSourceArn"] != stream_arn
    ]
    for uuid in stale:
        delete_mapping(backend, uuid)
    return stale


def wait_for_state(
    backend: Backend,
    uuid: str,
    states: Iterable[str] = ("Enabled", "Disabled"),
    *,
    timeout: float = 300.0,
    progress: bool = True,
) -> dict[str, Any]:
    """Poll a mapping until its ``State`` is one of ``states``.

    Parameters
    ----------
    backend : Backend
        Where it lives.
    uuid : str
        The mapping's UUID.
    states : iterable of str
        Wanted states.
    timeout : float
        Seconds.
    progress : bool
        Show each state seen on a progress bar.

    Returns
    -------
    dict
        The mapping, with ``"StatesSeen"``: the states observed, in order.

    Raises
    ------
    MappingTimeoutError
        Not reached in time, or the mapping disappeared.
    """
    wanted = set(states)
    seen: list[str] = []
    deadline = time.monotonic() + timeout
    delay = 0.1 if backend.name != "aws" else 2.0
    bar = tqdm(desc=f"mapping {uuid[:8]}", bar_format="{desc}: {postfix}", disable=not progress)
    try:
        while True:
            mapping = get_mapping(backend, uuid)
            if mapping is None:
                raise MappingTimeoutError(f"mapping {uuid} does not exist")
            state = mapping["State"]
            if not seen or seen[-1] != state:
                seen.append(state)
                bar.set_postfix_str(" -> ".join(seen))
            if state in wanted:
                return {**mapping, "StatesSeen": seen}
            if time.monotonic() > deadline:
                raise MappingTimeoutError(
                    f"mapping {uuid} is still {state} after {timeout:.0f} s "
                    f"(wanted {' or '.join(sorted(wanted))})"
                )
            time.sleep(delay)
    finally:
        bar.close()


def set_enabled(backend: Backend, uuid: str, enabled: bool) -> dict[str, Any]:
    """Pause (``False``) or resume (``True``) a mapping and wait for the new state."""
    current = wait_for_state(backend, uuid, progress=False)
    if (current["State"] == "Enabled") != enabled:
        backend.client("lambda").update_event_source_mapping(UUID=uuid, Enabled=enabled)
    return wait_for_state(backend, uuid, ["Enabled" if enabled else "Disabled"], progress=False)


def delete_mapping(backend: Backend, uuid: str, *, timeout: float = 120.0) -> bool:
    """Delete a mapping and wait until it is gone; False when it did not exist."""
    client = backend.client("lambda")
    try:
        client.delete_event_source_mapping(UUID=uuid)
    except ClientError as exc:
        if error_code(exc) == "ResourceNotFoundException":
            return False
        if error_code(exc) != "ResourceInUseException":
            raise
        wait_for_state(backend, uuid, progress=False)
        client.delete_event_source_mapping(UUID=uuid)
    deadline = time.monotonic() + timeout
    while get_mapping(backend, uuid) is not None:
        if time.monotonic() > deadline:
            raise MappingTimeoutError(f"mapping {uuid} still exists after {timeout:.0f} s")
        time.sleep(0.1 if backend.name != "aws" else 2.0)
    return True


_MAPPING_ROWS = (
    ("UUID", "UUID"),
    ("State", "State"),
    ("StateTransitionReason", "State transition reason"),
    ("LastProcessingResult", "Last processing result"),
    ("FunctionArn", "Function"),
    ("EventSourceArn", "Event source (stream)"),
    ("StartingPosition", "Starting position"),
    ("BatchSize", "Batch size"),
    ("MaximumBatchingWindowInSeconds", "Batch window (s)"),
    ("ParallelizationFactor", "Concurrent batches per shard"),
    ("MaximumRetryAttempts", "Retry attempts"),
    ("MaximumRecordAgeInSeconds", "Maximum age of record (s)"),
    ("BisectBatchOnFunctionError", "Split batch on error"),
    ("DestinationConfig", "On-failure destination"),
    ("FunctionResponseTypes", "Report batch item failures"),
    ("FilterCriteria", "Filter criteria"),
)


def mapping_table(mapping: Mapping[str, Any]) -> pd.DataFrame:
    """A mapping's settings with the console's labels, as a two-column table."""
    rows = []
    for key, label in _MAPPING_ROWS:
        value = mapping.get(key)
        if key == "DestinationConfig":
            value = ((value or {}).get("OnFailure") or {}).get("Destination") or "(none)"
        elif key == "FunctionResponseTypes":
            value = REPORT_BATCH_ITEM_FAILURES in (value or [])
        elif key == "FilterCriteria":
            filters = (value or {}).get("Filters") or []
            value = "; ".join(f["Pattern"] for f in filters) or "(none)"
        elif key in ("MaximumRetryAttempts", "MaximumRecordAgeInSeconds") and value == -1:
            value = "-1 (no limit)"
        rows.append({"setting": label, "value": str(value)})
    return pd.DataFrame(rows, columns=["setting", "value"])


def stream_summary(backend: Backend, stream_arn: str) -> pd.DataFrame:
    """A stream's status, view type, shards and record count, as a two-column table."""
    description = backend.client("dynamodbstreams").describe_stream(StreamArn=stream_arn)[
        "StreamDescription"
    ]
    open_shards = [
        s for s in description["Shards"] if "EndingSequenceNumber" not in s["SequenceNumberRange"]
    ]
    rows = {
        "stream ARN": stream_arn,
        "label": description.get("StreamLabel"),
        "status": description.get("StreamStatus"),
        "view type": description.get("StreamViewType"),
        "shards (open)": f"{len(description['Shards'])} ({len(open_shards)})",
        "records now in the stream": count_stream_records(backend, stream_arn),
    }
    return pd.DataFrame({"setting": list(rows), "value": [str(v) for v in rows.values()]})


def stream_records(backend: Backend, stream_arn: str, *, max_calls: int = 200,
                   empty_pages: int = 5) -> list[dict]:
    """Every record the stream holds now, shard by shard, oldest first (``TRIM_HORIZON``).

    A closed shard is read until it ends. An open shard never ends, and on AWS an
    empty page can come before more records: it is read until ``empty_pages``
    empty pages in a row (or ``max_calls`` calls).
    """
    client = backend.client("dynamodbstreams")
    shards: list[dict[str, Any]] = []
    kwargs: dict[str, Any] = {"StreamArn": stream_arn}
    while True:
        description = client.describe_stream(**kwargs)["StreamDescription"]
        shards.extend(description["Shards"])
        if not description.get("LastEvaluatedShardId"):
            break
        kwargs["ExclusiveStartShardId"] = description["LastEvaluatedShardId"]
    records: list[dict[str, Any]] = []
    for shard in shards:
        iterator = client.get_shard_iterator(
            StreamArn=stream_arn, ShardId=shard["ShardId"], ShardIteratorType="TRIM_HORIZON"
        )["ShardIterator"]
        empty = 0
        for _ in range(max_calls):
            page = client.get_records(ShardIterator=iterator, Limit=1000)
            records.extend(page["Records"])
            iterator = page.get("NextShardIterator")
            empty = 0 if page["Records"] else empty + 1
            if not iterator or empty >= empty_pages:
                break
    return records


def count_stream_records(backend: Backend, stream_arn: str) -> int:
    """How many records the stream holds now (all shards)."""
    return len(stream_records(backend, stream_arn))


# --------------------------------------------------------------------------- waiting


def wait_until(
    check: Callable[[], int | float | bool],
    *,
    total: int | None = None,
    desc: str = "waiting",
    unit: str = "item",
    timeout: float = 120.0,
    interval: float = 0.25,
) -> int | float | bool:
    """Poll ``check`` until it returns ``total`` (a count) or ``True``, with a progress bar.

    Parameters
    ----------
    check : callable
        Returns a count (compared with ``total``) or a bool (when ``total`` is None).
    total : int, optional
        The count to reach.
    desc, unit : str
        Progress bar labels.
    timeout : float
        Seconds.
    interval : float
        Seconds between polls.

    Returns
    -------
    int, float or bool
        The last value of ``check``.

    Raises
    ------
    MappingTimeoutError
        Not reached in time (the message holds the last value).
    """
    deadline = time.monotonic() + timeout
    with tqdm(total=total, desc=desc, unit=unit) as bar:
        while True:
            value = check()
            if total is not None:
                bar.n = min(int(value), total)
                bar.refresh()
                if value >= total:
                    return value
            elif value:
                return value
            if time.monotonic() > deadline:
                raise MappingTimeoutError(
                    f"{desc}: got {value} of {total if total is not None else 'True'} "
                    f"after {timeout:.0f} s"
                )
            time.sleep(interval)


def wait_until_drained(
    backend: Backend,
    function: str,
    *,
    since: datetime | float,
    expected_records: int | None = None,
    record_marker: str = "for item",
    quiet_s: float | None = None,
    timeout: float | None = None,
) -> int:
    """Wait until a function has worked through what its mapping delivered.

    With ``expected_records`` it waits for that many log lines holding
    ``record_marker`` (the stream processor logs one ``Processing ... for
    item: ...`` line per record); then, in every case, until no new invocation
    has started for ``quiet_s`` seconds.

    Parameters
    ----------
    backend : Backend
        Where the function lives.
    function : str
        Function name.
    since : datetime or epoch seconds
        Count only what happened after this.
    expected_records : int, optional
        Records (log lines) to wait for.
    record_marker : str
        Text found only in the per-record lines.
    quiet_s : float, optional
        Seconds without a new invocation: 1 s on the local endpoint, 5 s on AWS.
    timeout : float, optional
        Seconds: 120 on the local endpoint, 600 on AWS.

    Returns
    -------
    int
        Invocations (``REPORT`` lines) since ``since``.
    """
    timeout = patience(backend, timeout)
    if expected_records:

        def processed() -> int:
            lines = log_events(backend, function, since=since, pattern=f'"{record_marker}"')
            return int(lines["message"].str.contains(record_marker, regex=False).sum())

        wait_until(
            processed,
            total=expected_records,
            desc=f"records processed by {function}",
            unit="record",
            timeout=timeout,
        )
    if quiet_s is None:
        quiet_s = 5.0 if backend.name == "aws" else 1.0
    deadline = time.monotonic() + timeout
    last_count, last_change = -1, time.monotonic()
    while True:
        count = len(log_events(backend, function, since=since, pattern='"REPORT RequestId"'))
        now = time.monotonic()
        if count != last_count:
            last_count, last_change = count, now
        elif now - last_change >= quiet_s:
            return count
        if now > deadline:
            raise MappingTimeoutError(f"{function} still busy after {timeout:.0f} s")
        time.sleep(0.25)


# --------------------------------------------------------------------------- destinations


def ensure_queue(backend: Backend, name: str) -> tuple[str, str]:
    """Create a standard SQS queue (or find it); returns ``(url, arn)``."""
    sqs = backend.client("sqs")
    try:
        url = sqs.create_queue(QueueName=name, tags=workshop_tag_map())["QueueUrl"]
    except ClientError as exc:
        if error_code(exc) not in ("QueueAlreadyExists", "QueueNameExists"):
            raise
        url = sqs.get_queue_url(QueueName=name)["QueueUrl"]
    arn = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["QueueArn"])["Attributes"][
        "QueueArn"
    ]
    return url, arn


def ensure_topic(backend: Backend, name: str) -> str:
    """Create a standard SNS topic (or find it); returns its ARN."""
    return backend.client("sns").create_topic(Name=name, Tags=workshop_tags())["TopicArn"]


def subscribe_queue(backend: Backend, topic_arn: str, queue_url: str, queue_arn: str) -> str:
    """Subscribe an SQS queue to an SNS topic (once) and let the topic send to the queue.

    The queue gets a policy allowing ``sqs:SendMessage`` from this topic only,
    which real SNS needs to deliver.

    Returns
    -------
    str
        The subscription ARN.
    """
    policy = {
        "Version": "2012-10-17",
        "Statement": [
            {
                "Sid": "AllowTopic",
                "Effect": "Allow",
                "Principal": {"Service": "sns.amazonaws.com"},
                "Action": "sqs:SendMessage",
                "Resource": queue_arn,
                "Condition": {"ArnEquals": {"aws:SourceArn": topic_arn}},
            }
        ],
    }
    backend.client("sqs").set_queue_attributes(
        QueueUrl=queue_url, Attributes={"Policy": json.dumps(policy)}
    )
    sns = backend.client("sns")
    for page in sns.get_paginator("list_subscriptions_by_topic").paginate(TopicArn=topic_arn):
        for sub in page["Subscriptions"]:
            if sub["Protocol"] == "sqs" and sub["Endpoint"] == queue_arn:
                return sub["SubscriptionArn"]
    return sns.subscribe(
        TopicArn=topic_arn, Protocol="sqs", Endpoint=queue_arn, ReturnSubscriptionArn=True
    )["SubscriptionArn"]


def _unwrap(body: str) -> Any:
    try:
        value = json.loads(body)
    except ValueError:
        return body
    if isinstance(value, dict) and value.get("Type") == "Notification" and "Message" in value:
        try:
            return json.loads(value["Message"])
        except ValueError:
            return value["Message"]
    return value


def receive_messages(
    backend: Backend,
    queue_url: str,
    *,
    expected: int | None = None,
    timeout: float | None = None,
    delete: bool = True,
) -> list[Any]:
    """Read messages from a queue, parsed from JSON (SNS envelopes unwrapped).

    Parameters
    ----------
    backend : Backend
        Where the queue lives.
    queue_url : str
        The queue.
    expected : int, optional
        Keep reading until this many arrived (or ``timeout``); without it, read
        until the queue answers empty once.
    timeout : float, optional
        Seconds: 120 on the local endpoint, 600 on AWS (where retries back off
        for longer before a failure record is sent).
    delete : bool
        Delete what was read (so a second run of a notebook starts empty).

    Returns
    -------
    list
        Message bodies, oldest first as far as SQS tells.
    """
    sqs = backend.client("sqs")
    found: list[Any] = []
    deadline = time.monotonic() + patience(backend, timeout)
    while True:
        wait_s = 1 if expected is not None and len(found) < expected else 0
        page = sqs.receive_message(
            QueueUrl=queue_url,
            MaxNumberOfMessages=10,
            WaitTimeSeconds=wait_s,
            AttributeNames=["SentTimestamp"],
        )
        messages = page.get("Messages", [])
        for message in messages:
            found.append(_unwrap(message["Body"]))
            if delete:
                sqs.delete_message(QueueUrl=queue_url, ReceiptHandle=message["ReceiptHandle"])
        if expected is None and not messages:
            return found
        if expected is not None and len(found) >= expected and not messages:
            return found
        if time.monotonic() > deadline:
            return found
        if not messages:
            time.sleep(0.2)


def drain_queue(backend: Backend, queue_url: str) -> int:
    """Delete every message of a queue (PurgeQueue is limited to once a minute on AWS)."""
    return len(receive_messages(backend, queue_url, delete=True))


def dead_letters_table(messages: Iterable[Mapping[str, Any]]) -> pd.DataFrame:
    """One row per on-failure record: why, how often invoked, which records."""
    rows = []
    for m in messages:
        request = m.get("requestContext", {})
        response = m.get("responseContext") or {}
        info = m.get("DDBStreamBatchInfo", {})
        rows.append(
            {
                "condition": request.get("condition"),
                "invocations": request.get("approximateInvokeCount"),
                "function error": response.get("functionError"),
                "batch size": info.get("batchSize"),
                "start sequence number": info.get("startSequenceNumber"),
                "end sequence number": info.get("endSequenceNumber"),
                "shard": info.get("shardId"),
                "first record arrived": info.get("approximateArrivalOfFirstRecord"),
            }
        )
    return pd.DataFrame(rows)


def fetch_failed_records(
    backend: Backend, dead_letter: Mapping[str, Any], *, max_calls: int = 50
) -> list[dict[str, Any]]:
    """Read from the stream the records an on-failure message points to.

    Starts with ``GetShardIterator`` at ``AT_SEQUENCE_NUMBER`` =
    ``startSequenceNumber`` and calls ``GetRecords`` until it has passed
    ``endSequenceNumber`` (sequence numbers compare as integers).

    Parameters
    ----------
    backend : Backend
        Where the stream lives.
    dead_letter : mapping
        One message as :func:`receive_messages` returns it.
    max_calls : int
        Most ``GetRecords`` calls.

    Returns
    -------
    list of dict
        The stream records (``eventName``, ``dynamodb`` with ``Keys``, images...).
    """
    info = dead_letter["DDBStreamBatchInfo"]
    start, end = info["startSequenceNumber"], int(info["endSequenceNumber"])
    streams = backend.client("dynamodbstreams")
    iterator = streams.get_shard_iterator(
        StreamArn=info["streamArn"],
        ShardId=info["shardId"],
        ShardIteratorType="AT_SEQUENCE_NUMBER",
        SequenceNumber=start,
    )["ShardIterator"]
    records: list[dict[str, Any]] = []
    for _ in range(max_calls):
        if not iterator:
            break
        page = streams.get_records(ShardIterator=iterator, Limit=100)
        for record in page.get("Records", []):
            if int(record["dynamodb"]["SequenceNumber"]) > end:
                return records
            records.append(record)
        if records and int(records[-1]["dynamodb"]["SequenceNumber"]) >= end:
            break
        if not page.get("Records") and records:
            break
        iterator = page.get("NextShardIterator")
    return records




def remove_mappings(backend: Backend, function: str) -> int:
    """Delete every event source mapping of ``function`` (a notebook's "start over").

    Returns
    -------
    int
        How many were deleted.
    """
    mappings = find_mappings(backend, function=function)
    return sum(delete_mapping(backend, m["UUID"]) for m in mappings)
