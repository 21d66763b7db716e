"""Stream records in the shape AWS's ``GetRecords`` returns them.

A record is built once, when the change happens, and kept as its wire JSON
(compact, keys in AWS's order): ``GetRecords`` then only joins bytes. Records
carry ``eventVersion`` "1.1", the table's region, ``ApproximateCreationDateTime``
in epoch seconds rounded down (as AWS), ``SizeBytes`` from the attribute sizes
and, for deletions by TTL, the service ``userIdentity``.
"""

from __future__ import annotations

import base64
import json
import math
from collections.abc import Callable
from typing import Any

from moto.moto_api._internal import mock_random

# TTL deletions [DG-2023 time-to-live-ttl-streams.md]: GetRecords spells the
# fields as the API model's Identity shape [DDBS-API]; Lambda's event spells them
# "type" / "principalId" (localaws.esm.records turns one into the other).
SERVICE_IDENTITY = {"PrincipalId": "dynamodb.amazonaws.com", "Type": "Service"}
_NEW = ("NEW_IMAGE", "NEW_AND_OLD_IMAGES")
_OLD = ("OLD_IMAGE", "NEW_AND_OLD_IMAGES")


def attribute_size(value: dict[str, Any]) -> int:
    """DynamoDB's size of one attribute value in DynamoDB JSON.

    Parameters
    ----------
    value : dict
        A typed value such as ``{"S": "x"}``.

    Returns
    -------
    int
        Bytes as DynamoDB counts them (strings as UTF-8, binaries raw, numbers by
        significant digits, one byte per boolean or null, lists and maps with 3
        bytes of overhead plus one per element).
    """
    (kind, raw), = value.items()
    if kind == "S":
        return len(raw.encode())
    if kind == "N":
        return _number_size(raw)
    if kind == "B":
        return len(_as_bytes(raw))
    if kind in ("BOOL", "NULL"):
        return 1
    if kind == "SS":
        return sum(len(s.encode()) for s in raw)
    if kind == "NS":
        return sum(_number_size(n) for n in raw)
    if kind == "BS":
        return sum(len(_as_bytes(b)) for b in raw)
    if kind == "L":
        return 3 + sum(1 + attribute_size(v) for v in raw)
    if kind == "M":
        return 3 + sum(1 + len(k.encode()) + attribute_size(v) for k, v in raw.items())
    return len(str(raw))


def _as_bytes(raw: Any) -> bytes:
    if isinstance(raw, bytes):
        return raw
    return base64.b64decode(raw)


def _number_size(raw: str) -> int:
    # DynamoDB: about one byte per two significant digits, plus one byte
    # (AWS-recorded: "42" -> 2, "101" -> 3).
    # Significant digits: no sign, exponent, point, leading or trailing zeros
    # (Decimal.normalize would round to 28 digits; DynamoDB keeps 38).
    significant = raw.lower().partition("e")[0].lstrip("+-").replace(".", "").strip("0")
    return math.ceil(max(1, len(significant)) / 2) + 1


def image_size(image: dict[str, dict[str, Any]] | None) -> int:
    """Sum of name length plus value size over an image's attributes."""
    if not image:
        return 0
    return sum(len(name.encode()) + attribute_size(v) for name, v in image.items())


def event_name(old: Any, new: Any) -> str:
    """INSERT, MODIFY or REMOVE for a change from ``old`` to ``new`` (``None``: absent)."""
    if old is None:
        return "INSERT"
    return "REMOVE" if new is None else "MODIFY"


def record_builder(*, region: str, view_type: str, keys: dict[str, Any],
                   old: dict[str, Any] | None, new: dict[str, Any] | None,
                   identity: dict[str, str] | None = None
                   ) -> Callable[[int, float], bytes]:
    """A function ``(sequence_number, arrival) -> wire JSON`` for one item change.

    Parameters
    ----------
    region : str
        The table's region (``awsRegion``).
    view_type : str
        The stream's ``StreamViewType``: which images the record carries.
    keys, old, new : dict
        The item's key attributes and its images before and after (DynamoDB JSON;
        ``None`` when the item did not exist before / does not exist after).
    identity : dict, optional
        ``userIdentity`` (only TTL deletions have one).
    """
    name = event_name(old, new)
    ddb: dict[str, Any] = {"ApproximateCreationDateTime": 0.0, "Keys": keys}
    if new is not None and view_type in _NEW:
        ddb["NewImage"] = new
    if old is not None and view_type in _OLD:
        ddb["OldImage"] = old
    ddb["SequenceNumber"] = ""
    ddb["SizeBytes"] = image_size(keys) + image_size(ddb.get("NewImage")) + image_size(
        ddb.get("OldImage"))
    ddb["StreamViewType"] = view_type
    record: dict[str, Any] = {"eventID": mock_random.uuid4().hex, "eventName": name,
                              "eventVersion": "1.1", "eventSource": "aws:dynamodb",
                              "awsRegion": region, "dynamodb": ddb}
    if identity is not None:
        record["userIdentity"] = dict(identity)

    def build(seq: int, arrival: float) -> bytes:
        ddb["ApproximateCreationDateTime"] = float(math.floor(arrival))
        ddb["SequenceNumber"] = str(seq)
        return json.dumps(record, separators=(",", ":"), default=json_default).encode()

    return build


def json_default(value: Any) -> Any:
    """JSON for what moto's images may hold besides JSON types (bytes, sets)."""
    if isinstance(value, bytes | bytearray):
        return base64.b64encode(value).decode()
    if isinstance(value, set | frozenset):
        return list(value)
    raise TypeError(f"{type(value).__name__} is not JSON serializable")
