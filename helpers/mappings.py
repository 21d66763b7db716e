"""Event source mappings: the trigger from a DynamoDB stream to a function.

An *event source mapping* is the Lambda resource behind the console's "Add
trigger": a poller that reads the stream, cuts it into batches and invokes the
function. :func:`ensure_mapping` creates one or updates the existing one for the
same function and stream, so a notebook can run it again safely.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable, Mapping
from typing import Any

import pandas as pd
from botocore.exceptions import ClientError

from helpers.clients import Backend, error_code, unless_missing
from helpers.display import settings_table
from helpers.naming import workshop_tag_map
from helpers.waits import WaitTimeoutError, retry_while_propagating, wait_for

TRANSITIONAL_STATES = ("Creating", "Enabling", "Disabling", "Updating", "Deleting")


REPORT_BATCH_ITEM_FAILURES = "ReportBatchItemFailures"


class MappingSettingError(ValueError):
    """A setting asked of an existing mapping cannot be applied to it (the caller's fault)."""


class MappingTimeoutError(WaitTimeoutError):
    """A mapping did not reach the expected state in time, or disappeared."""


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
    pages = backend.client("lambda").get_paginator("list_event_source_mappings")
    return unless_missing(
        lambda: [m for page in pages.paginate(**kwargs) for m in page["EventSourceMappings"]]
    ) or []


def get_mapping(backend: Backend, uuid: str) -> dict[str, Any] | None:
    """``GetEventSourceMapping``, or ``None`` when it does not exist."""
    client = backend.client("lambda")
    return unless_missing(lambda: client.get_event_source_mapping(UUID=uuid))


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
        Where a new mapping starts reading. It cannot be changed later: an
        existing mapping with another one is refused (:class:`MappingSettingError`).
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
        Retry while IAM changes propagate (on every backend). Pass False to see
        the first error.
    force : bool
        Send every setting to an existing mapping even when nothing changed
        (Lambda then checks the role's permissions again).

    Returns
    -------
    dict
        The mapping as ``GetEventSourceMapping`` returns it, plus ``"Action"``
        (``created``, ``updated`` or ``unchanged``) and ``"CreateResponseState"``.

    Raises
    ------
    MappingSettingError
        The existing mapping has another starting position.
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
        if current.get("StartingPosition", starting_position) != starting_position:
            raise MappingSettingError(
                f"mapping {uuid} starts at {current['StartingPosition']}, not "
                f"{starting_position}: a starting position cannot be changed; delete the "
                f"mapping first (remove_mappings(backend, {function!r}))"
            )
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
    timeout: float | None = None,
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
    timeout : float, optional
        Seconds (``pacing.patience_s`` by default).
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

    def poll() -> dict[str, Any]:
        mapping = get_mapping(backend, uuid)
        if mapping is None:
            raise MappingTimeoutError(f"mapping {uuid} does not exist")
        if not seen or seen[-1] != mapping["State"]:
            seen.append(mapping["State"])
        return mapping

    try:
        mapping = wait_for(
            poll,
            what=f"mapping {uuid[:8]} {' or '.join(sorted(wanted))}",
            timeout=backend.pacing.patience_s if timeout is None else timeout,
            interval=backend.pacing.poll_s,
            until=lambda m: m["State"] in wanted,
            seen=lambda _: " -> ".join(seen),
            progress=progress,
        )
    except WaitTimeoutError as exc:
        raise MappingTimeoutError(str(exc)) from None
    return {**mapping, "StatesSeen": seen}


def set_enabled(backend: Backend, uuid: str, enabled: bool) -> dict[str, Any]:
    """Pause (``False``) or resume (``True``) a mapping and wait for the new state."""
    current = wait_for_state(backend, uuid, progress=False)
    if (current["State"] == "Enabled") != enabled:
        backend.client("lambda").update_event_source_mapping(UUID=uuid, Enabled=enabled)
    return wait_for_state(backend, uuid, ["Enabled" if enabled else "Disabled"], progress=False)


def delete_mapping(backend: Backend, uuid: str, *, timeout: float | None = None) -> bool:
    """Delete a mapping and wait until it is gone; False when it did not exist.

    Raises
    ------
    MappingTimeoutError
        Still listed at the timeout (``pacing.patience_s`` by default).
    """
    client = backend.client("lambda")
    try:
        retry_while_propagating(backend, lambda: client.delete_event_source_mapping(UUID=uuid),
                                what=f"mapping {uuid[:8]} to settle")
    except ClientError as exc:
        if error_code(exc) == "ResourceNotFoundException":
            return False
        if error_code(exc) != "ResourceInUseException":
            raise
        wait_for_state(backend, uuid, progress=False)
        client.delete_event_source_mapping(UUID=uuid)
    try:
        wait_for(
            lambda: get_mapping(backend, uuid),
            what=f"mapping {uuid[:8]} deleted",
            timeout=backend.pacing.patience_s if timeout is None else timeout,
            interval=backend.pacing.poll_s,
            until=lambda mapping: mapping is None,
            seen=lambda mapping: (mapping or {}).get("State", "gone"),
            progress=False,
        )
    except WaitTimeoutError as exc:
        raise MappingTimeoutError(str(exc)) from None
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
    rows = {}
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
        rows[label] = value
    return settings_table(rows)


def remove_mappings(backend: Backend, function: str) -> int:
    """Delete every event source mapping of ``function`` (a notebook's "start over").

    Returns
    -------
    int
        How many were deleted.
    """
    mappings = find_mappings(backend, function=function)
    return sum(delete_mapping(backend, m["UUID"]) for m in mappings)


def wait_until_reading(backend: Backend, uuid: str, write: Callable[[int], Any], *,
                       timeout: float | None = None) -> int:
    """Write probes until the mapping has processed a batch: it is reading the stream.

    A ``LATEST`` mapping starts at the stream's tip when it first polls, which on AWS
    comes some time after its state reads ``Enabled``; what is written before that is
    never delivered. Its ``LastProcessingResult`` goes from ``No records processed``
    to ``OK`` with its first successful batch.

    Parameters
    ----------
    backend : Backend
        Gives the pace and the default timeout.
    uuid : str
        The mapping.
    write : callable
        Called with 1, 2, ...: writes one probe change to the table (each call must
        change the item: an identical write makes no stream record).
    timeout : float, optional
        Seconds (default: the backend's patience).

    Returns
    -------
    int
        How many probes were written.

    Raises
    ------
    WaitTimeoutError
        No batch processed in time (the message shows the last result).
    """
    lam = backend.client("lambda")
    written = 0

    def probe() -> str:
        nonlocal written
        written += 1
        write(written)
        return lam.get_event_source_mapping(UUID=uuid).get("LastProcessingResult", "")

    wait_for(probe, what=f"mapping {uuid} reading the stream",
             timeout=backend.pacing.patience_s if timeout is None else timeout,
             interval=5 * backend.pacing.poll_s, until=lambda result: result == "OK",
             progress=False)
    return written
