"""Stream records as Lambda delivers them.

GetRecords returns records without ``eventSourceARN``; botocore also turns
``ApproximateCreationDateTime`` into a ``datetime`` and binaries into ``bytes``.
Lambda sends the record as JSON with the stream ARN added, the time as epoch
seconds and binaries base64-encoded: :func:`to_lambda_record` makes that shape.
"""

from __future__ import annotations

import base64
import hashlib
import json
from datetime import datetime
from typing import Any

_ORDER = ("eventID", "eventName", "eventVersion", "eventSource", "awsRegion", "dynamodb",
          "userIdentity", "eventSourceARN")
_DDB_ORDER = ("ApproximateCreationDateTime", "Keys", "NewImage", "OldImage", "SequenceNumber",
              "SizeBytes", "StreamViewType")


def _jsonable(value: Any) -> Any:
    if isinstance(value, bytes | bytearray):
        return base64.b64encode(value).decode()
    if isinstance(value, dict):
        return {k: _jsonable(v) for k, v in value.items()}
    if isinstance(value, list | set | tuple):
        return [_jsonable(v) for v in value]
    return value


def to_lambda_record(record: dict[str, Any], stream_arn: str) -> dict[str, Any]:
    """Turn one (botocore-parsed) GetRecords record into Lambda's event record.

    Parameters
    ----------
    record : dict
        A record from ``GetRecords``.
    stream_arn : str
        The stream's ARN, added as ``eventSourceARN``.

    Returns
    -------
    dict
        JSON-serialisable, keys in AWS's order.
    """
    ddb = dict(record["dynamodb"])
    created = ddb.get("ApproximateCreationDateTime")
    if isinstance(created, datetime):
        ddb["ApproximateCreationDateTime"] = float(int(created.timestamp()))
    for key in ("Keys", "NewImage", "OldImage"):
        if key in ddb:
            ddb[key] = _jsonable(ddb[key])
    out = dict(record)
    out["dynamodb"] = {k: ddb[k] for k in _DDB_ORDER if k in ddb}
    out.setdefault("eventVersion", "1.1")
    out["eventSourceARN"] = stream_arn
    identity = out.get("userIdentity")
    if identity:  # GetRecords: PrincipalId / Type; Lambda's event: type / principalId
        out["userIdentity"] = {"type": identity.get("Type", identity.get("type")),
                               "principalId": identity.get("PrincipalId",
                                                           identity.get("principalId"))}
    out.pop("ResponseMetadata", None)
    return {k: out[k] for k in _ORDER if k in out}


def sequence_number(record: dict[str, Any]) -> str:
    """The record's ``dynamodb.SequenceNumber``."""
    return record["dynamodb"]["SequenceNumber"]


def created_at(record: dict[str, Any]) -> float:
    """The record's ``ApproximateCreationDateTime`` in epoch seconds."""
    return float(record["dynamodb"].get("ApproximateCreationDateTime", 0.0))


def partition_lane(record: dict[str, Any], key_names: list[str], lanes: int) -> int:
    """Lane of a record when a shard is processed ``lanes`` ways in parallel.

    The lane is a stable hash of the partition key's value, so every change to an
    item goes through the same lane, in order (AWS does not document its hash).
    """
    if lanes <= 1:
        return 0
    keys = record["dynamodb"].get("Keys", {})
    part = {k: keys[k] for k in key_names if k in keys} or keys
    digest = hashlib.md5(json.dumps(part, sort_keys=True).encode(), usedforsecurity=False)
    return int.from_bytes(digest.digest()[:8], "big") % lanes
