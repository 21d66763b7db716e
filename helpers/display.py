"""Showing things in a notebook: tables, JSON, source code, logs and expected errors.

Everything here renders as Markdown or an HTML table, never as a raw ``dict``
dump, and works the same in JupyterLab, in papermill runs and in the HTML copies.
Outside IPython the functions print plain text.

:func:`show_error` is how a notebook demonstrates a failure: papermill stops a
run at any error output (even in a cell tagged ``raises-exception``), so the call
that is expected to fail runs inside it and its error is displayed, not raised.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from decimal import Decimal
from pathlib import Path
from typing import Any

import pandas as pd
from boto3.dynamodb.types import TypeDeserializer
from botocore.exceptions import BotoCoreError, ClientError

from helpers.waits import first_answer

#: What :func:`show_error` catches unless told otherwise.
EXPECTED_ERRORS: tuple[type[BaseException], ...] = (
    ClientError,
    BotoCoreError,
    ValueError,
    LookupError,
    RuntimeError,
    TimeoutError,
)


def _in_ipython() -> bool:
    try:
        from IPython import get_ipython
    except ImportError:  # pragma: no cover - IPython ships with ipykernel
        return False
    return get_ipython() is not None


def _display(obj: Any, text: str) -> None:
    if _in_ipython():
        from IPython.display import display

        display(obj)
    else:
        print(text)


def markdown(text: str) -> None:
    """Show Markdown text."""
    if _in_ipython():
        from IPython.display import Markdown

        _display(Markdown(text), text)
    else:
        print(text)


def _json_default(value: Any) -> Any:
    if isinstance(value, Decimal):
        return int(value) if value == value.to_integral_value() else float(value)
    if isinstance(value, bytes | bytearray):
        return value.decode("utf-8", errors="replace")
    if isinstance(value, set | frozenset):
        return sorted(value, key=str)
    return str(value)


def to_json(value: Any) -> str:
    """Indented JSON text of ``value`` (Decimals as numbers, datetimes as text)."""
    return json.dumps(value, indent=2, default=_json_default, ensure_ascii=False)


def show_json(value: Any, title: str | None = None) -> None:
    """Show a value as indented, highlighted JSON."""
    heading = f"**{title}**\n\n" if title else ""
    markdown(f"{heading}```json\n{to_json(value)}\n```")


def show_table(
    rows: pd.DataFrame | Iterable[Mapping[str, Any]],
    title: str | None = None,
    *,
    max_rows: int = 30,
) -> None:
    """Show a table (a DataFrame or a list of dicts) with an optional bold title."""
    frame = rows if isinstance(rows, pd.DataFrame) else pd.DataFrame(list(rows))
    if title:
        markdown(f"**{title}**")
    if len(frame) > max_rows:
        shown = frame.head(max_rows)
        _display(shown, shown.to_string())
        markdown(f"*... and {len(frame) - max_rows} more rows*")
    else:
        _display(frame, frame.to_string())


def show_source(
    source: str | Path,
    title: str | None = None,
    *,
    language: str = "python",
    first_line: int = 1,
    last_line: int | None = None,
) -> None:
    """Show source code (a file or text) with syntax highlighting."""
    text = Path(source).read_text(encoding="utf-8") if isinstance(source, Path) else source
    lines = text.splitlines()[first_line - 1 : last_line]
    heading = f"**{title}**\n\n" if title else ""
    markdown(f"{heading}```{language}\n" + "\n".join(lines) + "\n```")


def show_log(
    lines: Sequence[str] | pd.Series | pd.DataFrame, title: str | None = None, *, limit: int = 60
) -> None:
    """Show log lines as a block of text (a DataFrame's ``message`` column, or lines)."""
    if isinstance(lines, pd.DataFrame):
        stamped = [
            f"{t:%H:%M:%S.%f}"[:-3] + "  " + m.replace("\t", "  ")
            for t, m in zip(lines["time"], lines["message"], strict=True)
        ]
    else:
        stamped = [str(line).replace("\t", "  ").rstrip() for line in lines]
    hidden = max(0, len(stamped) - limit)
    shown = stamped[-limit:] if hidden else stamped
    heading = f"**{title}**\n\n" if title else ""
    note = f"\n\n*({hidden} earlier lines not shown)*" if hidden else ""
    markdown(f"{heading}```text\n" + ("\n".join(shown) or "(no lines)") + f"\n```{note}")


_DESERIALIZER = TypeDeserializer()


def _plain(image: Mapping[str, Any] | None) -> dict[str, Any] | None:
    if not image:
        return None
    try:
        return {k: _DESERIALIZER.deserialize(v) for k, v in image.items()}
    except (TypeError, AttributeError):
        return dict(image)


def records_frame(records: Iterable[Mapping[str, Any]]) -> pd.DataFrame:
    """Stream records (from an event or ``GetRecords``) as a table, one row per record."""
    rows = []
    for record in records:
        ddb = record.get("dynamodb", {})
        created = ddb.get("ApproximateCreationDateTime")
        if isinstance(created, int | float):
            created = pd.Timestamp(created, unit="s", tz="UTC")
        keys = _plain(ddb.get("Keys")) or {}
        new, old = _plain(ddb.get("NewImage")), _plain(ddb.get("OldImage"))
        rows.append(
            {
                "event": record.get("eventName"),
                "keys": ", ".join(f"{k}={v}" for k, v in sorted(keys.items())),
                "sequence number": ddb.get("SequenceNumber"),
                "created": created,
                "new image": to_json(new).replace("\n", " ") if new else "",
                "old image": to_json(old).replace("\n", " ") if old else "",
            }
        )
    return pd.DataFrame(
        rows, columns=["event", "keys", "sequence number", "created", "new image", "old image"]
    )


def show_records(records: Iterable[Mapping[str, Any]], title: str | None = None) -> None:
    """Show stream records as a table."""
    show_table(records_frame(records), title)


@dataclass(frozen=True)
class CaughtError:
    """An error :func:`show_error` caught.

    Attributes
    ----------
    code : str
        The service's error code (``InvalidParameterValueException``) or the
        exception's class name.
    message : str
        The error message.
    exception : BaseException
        The exception itself.
    """

    code: str
    message: str
    exception: BaseException


def describe_error(error: BaseException) -> CaughtError:
    """Code and message of an exception (a botocore ``ClientError`` or any other)."""
    if isinstance(error, ClientError):
        details = error.response.get("Error", {})
        return CaughtError(details.get("Code", "ClientError"), details.get("Message", ""), error)
    return CaughtError(type(error).__name__, str(error), error)


def show_error(
    call: Callable[..., Any],
    *args: Any,
    expected: tuple[type[BaseException], ...] = EXPECTED_ERRORS,
    **kwargs: Any,
) -> CaughtError | None:
    """Run ``call(*args, **kwargs)``, which should fail, and show its error without raising.

    Parameters
    ----------
    call : callable
        What to run.
    *args, **kwargs
        Its arguments.
    expected : tuple of exception types
        Errors to catch and show; anything else propagates.

    Returns
    -------
    CaughtError or None
        The error, or ``None`` when the call succeeded (which is shown too).

    Notes
    -----
    The call is sent once: errors AWS gives while a change propagates are shown,
    not retried (:func:`helpers.waits.first_answer`).
    """
    try:
        with first_answer():
            call(*args, **kwargs)
    except expected as error:
        caught = describe_error(error)
        markdown(
            f"**The call failed, as expected.**\n\n- error code: `{caught.code}`\n"
            f"- message: {caught.message}"
        )
        return caught
    markdown("**The call succeeded**: no error this time.")
    return None


def settings_table(settings: Mapping[str, Any]) -> pd.DataFrame:
    """Settings as the console lists them: a ``setting``/``value`` table, values as text.

    Parameters
    ----------
    settings : mapping
        Label to value, in the order to show.

    Returns
    -------
    pandas.DataFrame
    """
    return pd.DataFrame({"setting": list(settings), "value": [str(v) for v in settings.values()]},
                        columns=["setting", "value"])


def table_overview(description: Mapping[str, Any]) -> pd.DataFrame:
    """The essentials of a ``DescribeTable`` answer as a two-column table."""

    def keys(schema: Iterable[Mapping[str, str]]) -> str:
        return ", ".join(f"{k['AttributeName']} ({k['KeyType']})" for k in schema)

    billing = (description.get("BillingModeSummary") or {}).get("BillingMode", "PROVISIONED")
    throughput = description.get("ProvisionedThroughput") or {}
    stream = description.get("StreamSpecification") or {}
    rows = {
        "table": description["TableName"],
        "status": description.get("TableStatus"),
        "keys": keys(description["KeySchema"]),
        "billing": billing
        if billing == "PAY_PER_REQUEST"
        else f"{billing} ({throughput.get('ReadCapacityUnits')} RCU / "
        f"{throughput.get('WriteCapacityUnits')} WCU)",
        "stream": stream.get("StreamViewType", "off") if stream.get("StreamEnabled") else "off",
        "stream ARN": description.get("LatestStreamArn", "") if stream.get("StreamEnabled") else "",
    }
    for index in description.get("GlobalSecondaryIndexes", []):
        projection = index["Projection"]["ProjectionType"]
        extra = index["Projection"].get("NonKeyAttributes")
        rows[f"index {index['IndexName']}"] = (
            f"{keys(index['KeySchema'])}; projects {projection}"
            + (f" {', '.join(extra)}" if extra else "")
        )
    return settings_table(rows)
