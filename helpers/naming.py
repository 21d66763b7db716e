"""Names and tags shared by everything the workshop creates.

Every AWS resource the helpers create carries :data:`WORKSHOP_TAG`, so that the
cleanup notebook can find all of it by tag. Default names follow the two source
exercises; a prefix (``"alice-"``) lets several people share one AWS account.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass

WORKSHOP_TAG_KEY = "workshop"
WORKSHOP_TAG_VALUE = "ddb-streams-lambda"
WORKSHOP_TAG = {"Key": WORKSHOP_TAG_KEY, "Value": WORKSHOP_TAG_VALUE}

ECOMMERCE_TABLE = "demo-ecommerce-freetier"
LOGFILE_TABLE = "logfile"
REPLICA_TABLE = "logfile_replica"
STREAM_PROCESSOR_FUNCTION = "demo-dynamodb-stream-processor"
REPLICA_FUNCTION = "ddbreplica_lambda"
STREAM_PROCESSOR_ROLE = "demo-stream-processor-role"
REPLICA_ROLE = "ddbreplica-role"
TUMBLING_TABLE = "demo-tumbling-orders"
TUMBLING_FUNCTION = "demo-tumbling-totals"
TUMBLING_ROLE = "demo-tumbling-totals-role"
FAILURE_QUEUE = "demo-stream-processor-failures"
ALERTS_TOPIC = "demo-stream-processor-alerts"

# Letters, digits, '-' and '_' are valid in table, function, role, queue and topic names.
_PREFIX_RE = re.compile(r"[A-Za-z0-9_-]{0,32}")


class NamePrefixError(ValueError):
    """The name prefix holds characters some AWS resource names refuse."""


def prefixed(base: str, prefix: str = "") -> str:
    """Return ``base`` with ``prefix`` in front of it.

    Parameters
    ----------
    base : str
        A default name, e.g. :data:`LOGFILE_TABLE`.
    prefix : str
        Up to 32 letters, digits, ``-`` or ``_``; empty for the default names.

    Returns
    -------
    str

    Raises
    ------
    NamePrefixError
        The prefix is too long or holds other characters.

    Examples
    --------
    >>> prefixed(LOGFILE_TABLE, "alice-")
    'alice-logfile'
    """
    if not _PREFIX_RE.fullmatch(prefix):
        raise NamePrefixError(
            f"name prefix {prefix!r} is not valid: use up to 32 letters, digits, '-' or '_'"
        )
    return f"{prefix}{base}"


@dataclass(frozen=True)
class Names:
    """The names of every resource of the workshop, for one prefix.

    Examples
    --------
    >>> Names.with_prefix("alice-").replica_table
    'alice-logfile_replica'
    """

    ecommerce_table: str = ECOMMERCE_TABLE
    logfile_table: str = LOGFILE_TABLE
    replica_table: str = REPLICA_TABLE
    stream_processor_function: str = STREAM_PROCESSOR_FUNCTION
    replica_function: str = REPLICA_FUNCTION
    stream_processor_role: str = STREAM_PROCESSOR_ROLE
    replica_role: str = REPLICA_ROLE
    tumbling_table: str = TUMBLING_TABLE
    tumbling_function: str = TUMBLING_FUNCTION
    tumbling_role: str = TUMBLING_ROLE
    failure_queue: str = FAILURE_QUEUE
    alerts_topic: str = ALERTS_TOPIC

    @classmethod
    def with_prefix(cls, prefix: str = "") -> Names:
        """Return the default names, each with ``prefix`` in front."""
        defaults = cls()
        return cls(**{k: prefixed(v, prefix) for k, v in vars(defaults).items()})


def workshop_tags(extra: Mapping[str, str] | None = None) -> list[dict[str, str]]:
    """Return the workshop tag plus ``extra`` in the ``[{"Key": ..., "Value": ...}]`` form.

    Parameters
    ----------
    extra : mapping of str to str, optional
        More tags. They cannot replace the workshop tag.

    Returns
    -------
    list of dict
        The form DynamoDB, IAM, SNS and CloudWatch take.
    """
    tags = {**dict(extra or {}), WORKSHOP_TAG_KEY: WORKSHOP_TAG_VALUE}
    return [{"Key": k, "Value": v} for k, v in tags.items()]


def workshop_tag_map(extra: Mapping[str, str] | None = None) -> dict[str, str]:
    """Return the workshop tag plus ``extra`` as a ``{key: value}`` dict (Lambda, SQS)."""
    return {**dict(extra or {}), WORKSHOP_TAG_KEY: WORKSHOP_TAG_VALUE}
