"""Items of the workshop's tables: load, read, count, scan and compare."""

from __future__ import annotations

import time
from collections.abc import Iterable, Mapping, Sized
from dataclasses import dataclass, field
from typing import Any

from boto3.dynamodb.types import TypeDeserializer

from helpers.clients import Backend
from helpers.progress import tqdm
from helpers.tables import describe_table


@dataclass(frozen=True)
class LoadReport:
    """What :func:`load_items` did.

    Attributes
    ----------
    table : str
        The table written to.
    count : int
        Items written.
    seconds : float
        Wall-clock time of the load.
    """

    table: str
    count: int
    seconds: float

    @property
    def items_per_second(self) -> float:
        """Write rate of the load."""
        return self.count / self.seconds if self.seconds > 0 else float("inf")


def load_items(
    backend: Backend,
    table: str,
    items: Iterable[Mapping[str, Any] | Any],
    *,
    progress: bool = True,
    desc: str | None = None,
) -> LoadReport:
    """Write items with a batch writer, showing a progress bar.

    Items are sent 25 at a time; an item whose key repeats within a batch
    replaces the earlier one, and existing items with the same key are
    overwritten, as ``PutItem`` does.

    Parameters
    ----------
    backend : Backend
        Where the table lives.
    table : str
        Table name.
    items : iterable
        Items as dicts (numbers as ``int`` or ``Decimal``), or objects with a
        ``to_item()`` method such as :class:`helpers.log_rows.LogRow`.
    progress : bool
        Show a ``tqdm`` progress bar.
    desc : str, optional
        Label of the progress bar; the table name by default.

    Returns
    -------
    LoadReport

    Examples
    --------
    >>> from helpers.logfile_data import logfile_dataset
    >>> load_items(backend, "logfile", logfile_dataset("small1")).count  # doctest: +SKIP
    500
    """
    resource_table = backend.resource("dynamodb").Table(table)
    keys = [k["AttributeName"] for k in resource_table.key_schema]
    total = len(items) if isinstance(items, Sized) else None
    count = 0
    start = time.perf_counter()
    with (
        tqdm(total=total, desc=desc or table, unit="item", disable=not progress) as bar,
        resource_table.batch_writer(overwrite_by_pkeys=keys) as writer,
    ):
        for item in items:
            writer.put_item(Item=item.to_item() if hasattr(item, "to_item") else dict(item))
            count += 1
            bar.update()
    return LoadReport(table, count, time.perf_counter() - start)


def count_items(
    backend: Backend, table: str, *, filter_attr: str | None = None, consistent: bool = True
) -> int:
    """Count the items of a table with a paginated ``Scan``.

    A single ``Scan`` stops after 1 MB of data, so counting must follow
    ``LastEvaluatedKey`` to the end; this does.

    Parameters
    ----------
    backend : Backend
        Where the table lives.
    table : str
        Table name.
    filter_attr : str, optional
        Count only items that have this attribute (e.g. the sparse ``servererror``).
    consistent : bool
        Strongly consistent reads (twice the read cost), so that items written
        just before are counted.

    Returns
    -------
    int
    """
    kwargs: dict[str, Any] = {"TableName": table, "Select": "COUNT", "ConsistentRead": consistent}
    if filter_attr:
        kwargs["FilterExpression"] = "attribute_exists(#attr)"
        kwargs["ExpressionAttributeNames"] = {"#attr": filter_attr}
    paginator = backend.client("dynamodb").get_paginator("scan")
    return sum(page["Count"] for page in paginator.paginate(**kwargs))


def scan_all(backend: Backend, table: str, *, consistent: bool = True) -> list[dict[str, Any]]:
    """Return every item of a table (paginated ``Scan``), numbers as ``Decimal``.

    Parameters
    ----------
    backend : Backend
        Where the table lives.
    table : str
        Table name.
    consistent : bool
        Strongly consistent reads.

    Returns
    -------
    list of dict
    """
    deserializer = TypeDeserializer()
    paginator = backend.client("dynamodb").get_paginator("scan")
    return [
        {name: deserializer.deserialize(value) for name, value in raw.items()}
        for page in paginator.paginate(TableName=table, ConsistentRead=consistent)
        for raw in page["Items"]
    ]


@dataclass(frozen=True)
class TableDiff:
    """Differences between two tables' items, matched by the key of table ``a``.

    Attributes
    ----------
    a, b : str
        The table names.
    count_a, count_b : int
        Items in each table.
    missing_in_b : list of dict
        Keys of items of ``a`` that ``b`` lacks.
    extra_in_b : list of dict
        Keys of items of ``b`` that ``a`` lacks.
    different : list of tuple
        ``(item in a, item in b)`` for items with the same key but other attributes.
    """

    a: str
    b: str
    count_a: int
    count_b: int
    missing_in_b: list[dict[str, Any]] = field(default_factory=list)
    extra_in_b: list[dict[str, Any]] = field(default_factory=list)
    different: list[tuple[dict[str, Any], dict[str, Any]]] = field(default_factory=list)

    @property
    def identical(self) -> bool:
        """True when both tables hold exactly the same items."""
        return not (self.missing_in_b or self.extra_in_b or self.different)

    def summary(self) -> str:
        """One line: the counts and how many items are missing, extra or different."""
        return (
            f"{self.a}: {self.count_a} items, {self.b}: {self.count_b} items; "
            f"missing in {self.b}: {len(self.missing_in_b)}, extra in {self.b}: "
            f"{len(self.extra_in_b)}, different: {len(self.different)}"
        )


def compare_tables(backend: Backend, a: str, b: str) -> TableDiff:
    """Compare all items of two tables, attribute by attribute.

    Items are matched by the key attributes of table ``a``; two items are equal
    only if they have the same attributes with equal values (numbers compare as
    ``Decimal``, so ``799.99`` and ``799.98`` differ).

    Parameters
    ----------
    backend : Backend
        Where both tables live.
    a : str
        The source table, e.g. ``"logfile"``.
    b : str
        The table that should match it, e.g. ``"logfile_replica"``.

    Returns
    -------
    TableDiff
        Keys are listed in sorted order.
    """
    key_names = [k["AttributeName"] for k in describe_table(backend, a)["KeySchema"]]

    def by_key(items: list[dict[str, Any]]) -> dict[tuple[str, ...], dict[str, Any]]:
        return {tuple(str(item.get(k)) for k in key_names): item for item in items}

    items_a, items_b = by_key(scan_all(backend, a)), by_key(scan_all(backend, b))

    def key_of(item: Mapping[str, Any]) -> dict[str, Any]:
        return {k: item.get(k) for k in key_names}

    return TableDiff(
        a=a,
        b=b,
        count_a=len(items_a),
        count_b=len(items_b),
        missing_in_b=[key_of(items_a[k]) for k in sorted(items_a.keys() - items_b.keys())],
        extra_in_b=[key_of(items_b[k]) for k in sorted(items_b.keys() - items_a.keys())],
        different=[
            (items_a[k], items_b[k])
            for k in sorted(items_a.keys() & items_b.keys())
            if items_a[k] != items_b[k]
        ],
    )


def read_item(backend: Backend, table: str, key: Mapping[str, Any]) -> dict[str, Any] | None:
    """One item by key (strongly consistent), numbers as ``Decimal``; None when absent."""
    response = (
        backend.resource("dynamodb").Table(table).get_item(Key=dict(key), ConsistentRead=True)
    )
    return response.get("Item")
