"""The log lines of the workshop's functions and of the Lambda runtime, in one place.

The notebooks' tables, plots and diagnoses read CloudWatch Logs; this module is the
only place that says what those lines look like. The functions under ``lambda_src/``
cannot import it (they run from their own zip), so they write the same text by hand,
and ``tests/unit/test_loglines.py`` runs every function on the sample events and fails
when a line no longer matches its definition here.

Each :class:`LogLine` has a ``str.format`` template (what the function writes) and a
regular expression derived from it (what the helpers parse)::

    >>> RECORD.format(event="INSERT", item="USER#u1#PROFILE")
    'Processing INSERT for item: USER#u1#PROFILE'
    >>> RECORD.search("Processing INSERT for item: USER#u1#PROFILE")["item"]
    'USER#u1#PROFILE'
"""

from __future__ import annotations

import re
import string
from dataclasses import dataclass, field

#: What a field matches unless a line says otherwise.
_DEFAULT_FIELD = r".+?"


@dataclass(frozen=True)
class LogLine:
    """One kind of log line: its template and the regex that reads it back.

    Attributes
    ----------
    name : str
        Short name, for messages.
    template : str
        ``str.format`` template, e.g. ``"Successfully processed {count} records"``.
    fields : dict of str
        Regex per field (default: any text, as little as possible).
    pattern : re.Pattern
        Built from the template: the literal text escaped, each field a named group,
        the last one running to the end of the line.
    """

    name: str
    template: str
    fields: dict[str, str] = field(default_factory=dict)
    pattern: re.Pattern[str] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        parts = []
        for literal, name, _, _ in string.Formatter().parse(self.template):
            parts.append(re.escape(literal))
            if name:
                parts.append(f"(?P<{name}>{self.fields.get(name, _DEFAULT_FIELD)})")
        object.__setattr__(self, "pattern", re.compile("".join(parts) + r"\s*$"))

    def format(self, **values: object) -> str:
        """The line a function writes for these values."""
        return self.template.format(**values)

    def search(self, text: str) -> re.Match[str] | None:
        """The line's fields when ``text`` (a log message) ends with this line, else None."""
        return self.pattern.search(text)


_EVENT = r"INSERT|MODIFY|REMOVE"
_COUNT = r"\d+"

# --------------------------------------------------------------------------- the functions

#: Every function: the batch as Lambda delivered it (production variants only).
RECEIVED = LogLine("received", "Received {count} records", {"count": _COUNT})
#: Stream processor, per record, first line.
RECORD = LogLine("record", "Processing {event} for item: {item}", {"event": _EVENT, "item": ".+"})
#: Stream processor, per record, second line.
EVENT = LogLine("event", "Processing {event} event", {"event": _EVENT})
#: Stream processor, MODIFY.
STATUS_CHANGED = LogLine("status changed", "Status changed from {old} to {new}")
PRICE_CHANGED = LogLine("price changed", "Price changed from {old} to {new}")
#: Stream processor, end of a batch: records handled without error.
PROCESSED = LogLine("processed", "Successfully processed {count} records", {"count": _COUNT})
#: Replicator, end of a batch: records whose change reached the replica.
REPLICATED = LogLine(
    "replicated",
    "Replicated {count} records into {table}: {puts} puts, {deletes} deletes",
    {"count": _COUNT, "table": r"\S+", "puts": _COUNT, "deletes": _COUNT},
)
#: Production variants: one record's failure (logged at ERROR level).
RECORD_FAILED = LogLine(
    "record failed",
    "Record {sequence_number} failed: {error}: {message}",
    {"sequence_number": r"\S+", "error": r"[A-Za-z_][\w.]*"},
)
#: Production variants: the partial batch response, when it is not empty.
REPORTED = LogLine(
    "reported",
    "Reported {failed} of {count} records as batchItemFailures: {sequence_numbers}",
    {"failed": _COUNT, "count": _COUNT},
)

#: Lines that carry a batch's record count: the stream processor's and the replicator's.
SUMMARY = re.compile(r"(?:Successfully processed|Replicated) (?P<count>\d+) records")

#: CloudWatch Logs filter pattern that selects the per-record lines (:data:`RECORD`).
RECORD_FILTER = '"for item"'

#: Lines the functions write that no helper parses (checked by the test all the same).
INFORMATIONAL = (
    LogLine("new entity", "New {entity}: a real shop would {action}"),
    LogLine("deleted entity", "{entity} deleted: a real shop would {action}"),
    LogLine("no images", "No old and new image to compare: the stream needs NEW_AND_OLD_IMAGES"),
    LogLine("timeout", "Item {item} has fail_mode=timeout: sleeping {seconds} s"),
    LogLine(
        "unprocessed",
        "{pending} of {total} writes unprocessed on {table} "
        "(call {attempt} of {attempts}): retrying in {delay} s",
    ),
    LogLine("still unprocessed", "{pending} writes still unprocessed on {table} after {n} calls"),
)

#: Every line the workshop's functions may write.
FUNCTION_LINES = (
    RECEIVED,
    RECORD,
    EVENT,
    STATUS_CHANGED,
    PRICE_CHANGED,
    PROCESSED,
    REPLICATED,
    RECORD_FAILED,
    REPORTED,
    *INFORMATIONAL,
)

# --------------------------------------------------------------------------- the runtime
# Written by the Lambda Python runtime (and the local executor) around the function's lines.

REPORT = re.compile(
    r"REPORT RequestId: (?P<request_id>\S+)\s+Duration: (?P<duration_ms>[\d.]+) ms\s+"
    r"Billed Duration: (?P<billed_ms>\d+) ms\s+Memory Size: (?P<memory_mb>\d+) MB\s+"
    r"Max Memory Used: (?P<max_memory_mb>\d+) MB"
    r"(?:\s+Init Duration: (?P<init_ms>[\d.]+) ms)?(?:\s+Status: (?P<status>\w+))?"
)
START = re.compile(r"^START RequestId: (?P<request_id>\S+)")
END = re.compile(r"^END RequestId: (?P<request_id>\S+)")
#: A ``logging`` record: ``[LEVEL]<tab>time<tab>request id<tab>message``.
TAGGED = re.compile(
    r"^\[(?P<level>[A-Z]+)\]\t\S+\t(?P<request_id>[0-9a-f-]{36})\t(?P<text>.*)", re.S
)
#: An unhandled exception: ``[ERROR] Type: message`` (a space, not a tab, after the level).
ERROR = re.compile(r"^\[ERROR\] (?P<error>[A-Za-z_.]+(?:Error|Exception|Timedout)?)[:\s]")
TIMEOUT = re.compile(r"Task timed out after")


def parse_function_line(text: str) -> tuple[LogLine, re.Match[str]] | None:
    """Which of :data:`FUNCTION_LINES` a message is, with its fields.

    Parameters
    ----------
    text : str
        A log message, or the text after the runtime's ``[LEVEL]`` tag.

    Returns
    -------
    tuple of (LogLine, re.Match) or None
        The first definition whose pattern matches the whole message.
    """
    for line in FUNCTION_LINES:
        match = line.pattern.fullmatch(text.strip())
        if match:
            return line, match
    return None
