"""Two regions, one table: the names, the second region, the application's stamps, checks.

Notebook 08 makes the taught calls itself (tables, roles, functions, triggers, writes);
this module connects the second region, stamps the items the application writes and
compares the two regions item by item::

    cloud_b = regions.connect_second(cloud, "eu-west-1")
    ddb.put_item(TableName=table, Item=regions.stamped({"PK": "USER#ana", ...}, cloud.region))
    show_table(regions.compare([cloud, cloud_b], table, ["city"]))

What the replicators did (their log lines, the loop, the lag) is :mod:`helpers.replication`.
"""

from __future__ import annotations

import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import pandas as pd
from boto3.dynamodb.types import TypeDeserializer, TypeSerializer

from helpers.clients import Backend, get_backend
from helpers.logs import log_group
from helpers.naming import LOGFILE_TABLE, Names
from helpers.table_items import scan_all
from helpers.workshop import SetupError

TABLE = "demo-global-users"
FUNCTION = "demo-region-replicator"
ROLES = ("demo-region-replicator-role-a", "demo-region-replicator-role-b")


@dataclass(frozen=True)
class RegionNames:
    """The names of notebook 08's resources (the same in both regions, but the roles)."""

    table: str = TABLE
    function: str = FUNCTION
    roles: tuple[str, str] = ROLES

    @classmethod
    def of(cls, names: Names) -> RegionNames:
        """The names for the prefix ``names`` were made with."""
        prefix = names.logfile_table.removesuffix(LOGFILE_TABLE)
        return cls(prefix + TABLE, prefix + FUNCTION, tuple(prefix + r for r in ROLES))


def known_names(names: Names) -> dict[str, set[str]]:
    """Notebook 08's resource names by kind, for :mod:`helpers.cleanup`."""
    ours = RegionNames.of(names)
    return {"function": {ours.function}, "log group": {log_group(ours.function)},
            "role": set(ours.roles), "table": {ours.table}}


def second_region_of(first: str) -> str:
    """Notebook 08's default second region: ``eu-west-1``, or ``us-east-1`` beside it.

    Parameters
    ----------
    first : str
        The first region.

    Returns
    -------
    str
    """
    return "us-east-1" if first == "eu-west-1" else "eu-west-1"


def connect_second(cloud: Backend, region: str | None = None) -> Backend:
    """The same backend in another region (the local endpoint serves every region).

    Parameters
    ----------
    cloud : Backend
        The first region's.
    region : str, optional
        The second region; None: ``eu-west-1``, or ``us-east-1`` when the first is
        ``eu-west-1``.

    Raises
    ------
    SetupError
        ``region`` is the first region's, or not a region.
    """
    if region is None:
        region = second_region_of(cloud.region)
    if region == cloud.region:
        raise SetupError(f"second_region={region!r} is the first region too: choose another "
                         "(e.g. 'eu-west-1')")
    try:
        if cloud.name == "endpoint":
            return get_backend("endpoint", region, cloud.endpoint_url)
        return get_backend(cloud.name, region)
    except ValueError as exc:
        raise SetupError(str(exc)) from None


def now_ms() -> int:
    """The time in milliseconds since the epoch: what the application stamps."""
    return time.time_ns() // 1_000_000


def stamped(item: Mapping[str, Any], region: str, updated_at: int | None = None,
            ) -> dict[str, Any]:
    """``item`` in DynamoDB JSON with the application's stamps ``origin`` and ``updated_at``.

    Parameters
    ----------
    item : Mapping
        Plain values (``{"PK": "USER#ana", "SK": "PROFILE", "city": "Hanoi"}``).
    region : str
        The region the application writes it in.
    updated_at : int, optional
        Milliseconds since the epoch; now when omitted.

    Returns
    -------
    dict
        The ``Item`` of a ``PutItem`` call.
    """
    plain = {**item, "origin": region, "updated_at": now_ms() if updated_at is None else updated_at}
    serializer = TypeSerializer()
    return {name: serializer.serialize(value) for name, value in plain.items()}


def _items(backend: Backend, table: str) -> dict[str, dict[str, Any]]:
    return {f"{i['PK']}#{i['SK']}": i for i in scan_all(backend, table)}


def compare(backends: Sequence[Backend], table: str, shown: Sequence[str]) -> pd.DataFrame:
    """Every item of ``table`` in both regions, side by side.

    Returns
    -------
    pandas.DataFrame
        ``item``, then per region the attributes ``shown`` (joined by ``/``), and
        ``same``: True when the two regions hold exactly the same item.
    """
    a, b = (_items(x, table) for x in backends)
    rows = []
    for key in sorted(set(a) | set(b)):
        row: dict[str, Any] = {"item": key}
        for backend, items in zip(backends, (a, b), strict=True):
            item = items.get(key)
            row[backend.region] = ("absent" if item is None
                                   else " / ".join(str(item.get(s, "-")) for s in shown))
        row["same"] = a.get(key) == b.get(key)
        rows.append(row)
    return pd.DataFrame(rows, columns=["item", *(x.region for x in backends), "same"])


def winners(written: Sequence[Mapping[str, Any]]) -> dict[str, dict[str, Any]]:
    """The write that must win for each item: the largest ``(updated_at, origin)``.

    Parameters
    ----------
    written : sequence of Mapping
        The ``Item`` of each ``PutItem`` call, as :func:`stamped` made it.

    Returns
    -------
    dict
        ``PK#SK`` -> that write, in plain values.
    """
    reader, best = TypeDeserializer(), {}
    for item in written:
        plain = {k: reader.deserialize(v) for k, v in item.items()}
        key = f"{plain['PK']}#{plain['SK']}"
        if key not in best or (plain["updated_at"], plain["origin"]) > (
                best[key]["updated_at"], best[key]["origin"]):
            best[key] = plain
    return best


def check_winners(backends: Sequence[Backend], table: str,
                  written: Sequence[Mapping[str, Any]]) -> pd.DataFrame:
    """Per item: the write that must win, and whether each region holds exactly it."""
    items = [_items(b, table) for b in backends]
    rows = []
    for key, winner in winners(written).items():
        row = {"item": key, "newest write": f"{winner['origin']} at {winner['updated_at']}",
               "city": winner.get("city")}
        for backend, held in zip(backends, items, strict=True):
            row[f"{backend.region} holds it"] = held.get(key) == winner
        rows.append(row)
    return pd.DataFrame(rows)


