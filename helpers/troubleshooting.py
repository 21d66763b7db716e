"""Why changes to a table do not reach a function, or fail there: :func:`diagnose`."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

import pandas as pd
from botocore.exceptions import ClientError

from helpers import iam, loglines
from helpers.clients import Backend
from helpers.clock import as_utc, now
from helpers.functions import get_configuration, reserved_concurrency
from helpers.invocation_log import invocations
from helpers.mappings import find_mappings


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
    since = as_utc(since, now() - timedelta(minutes=10))
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
            "so create the trigger again on that ARN (mappings.ensure_mapping).",
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
            "Enable it (mappings.set_enabled) and it resumes where it stopped.",
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
