"""A ``Scan`` with ``Select=COUNT`` without copying the items it only counts.

moto answers every ``Scan`` by deep-copying each item that passes the scan filter
and measuring each item twice against the 1 MB page limit, then drops the copies
when the caller asked only for the count. A count of the 6,000-item ``logfile``
table cost 0.46 s of the endpoint's CPU (``python -m benchmarks.scan_profile``),
and notebook 04 counts its replica every second while the replicator writes to it,
under the same lock.

:func:`install` routes a ``Select=COUNT`` scan of a table (not of an index) through
:func:`counted_scan`: moto's own loop over the same items in the same order, with
the same page limits, the same ``ScanFilter`` and ``FilterExpression``, so the same
``Count``, ``ScannedCount`` and ``LastEvaluatedKey``, but each item measured once
and never copied. Every other scan is moto's, unchanged.
"""

from __future__ import annotations

import contextvars
import functools
from typing import Any

#: True while moto's ``DynamoHandler.scan`` answers a ``Select=COUNT`` request.
_COUNTING: contextvars.ContextVar[bool] = contextvars.ContextVar("counting", default=False)


def counted_scan(table: Any, filters: dict[str, Any], limit: int | None,
                 exclusive_start_key: dict[str, Any] | None,
                 filter_expression: Any = None) -> tuple[list[Any], int, dict[str, Any] | None]:
    """moto's ``Table.scan`` of the table itself, returning the stored items, uncopied.

    Parameters
    ----------
    table : moto.dynamodb.models.table.Table
        The scanned table.
    filters : dict
        The legacy ``ScanFilter`` as moto's backend prepares it: attribute name to
        ``(comparison operator, [DynamoType, ...])``.
    limit : int, optional
        ``Limit``: items evaluated per page.
    exclusive_start_key : dict, optional
        The previous page's ``LastEvaluatedKey``.
    filter_expression : optional
        moto's parsed ``FilterExpression`` (applied after the page is read, as moto does).

    Returns
    -------
    tuple
        The items that passed (the table's own objects: read them, never change them),
        the scanned count and the ``LastEvaluatedKey`` (or ``None``), as ``Table.scan``.
    """
    from moto.dynamodb.models.table import RESULT_SIZE_LIMIT

    hash_attrs, range_attrs = [table.hash_key_attr], [table.range_key_attr]
    results: list[Any] = []
    result_size = scanned_count = 0
    last_evaluated_key = None
    processing_previous_page = exclusive_start_key is not None
    for item in table.all_items():
        if processing_previous_page:
            if table._item_comes_before_dct(item, exclusive_start_key, hash_attrs,
                                            range_attrs, True):
                continue
            processing_previous_page = False
        size = item.size()  # moto measures it twice: for this check and for the total
        if len(results) == limit or result_size + size > RESULT_SIZE_LIMIT:
            last_evaluated_key = table._get_last_evaluated_key(results[-1], None)
            break
        if _passes(item, filters):
            results.append(item)
            result_size += size
        scanned_count += 1
    if filter_expression is not None:
        results = [item for item in results if filter_expression.expr(item)]
    return results, scanned_count, last_evaluated_key


def _passes(item: Any, filters: dict[str, Any]) -> bool:
    """moto's test of one item against the legacy ``ScanFilter`` conditions."""
    for attribute_name, (operator, values) in filters.items():
        attribute = item.attrs.get(attribute_name)
        if attribute:
            if not attribute.compare(operator, values):
                return False
        elif operator != "NULL":
            return False
    return True


def install() -> None:
    """Answer ``Select=COUNT`` scans of tables with :func:`counted_scan` (call once)."""
    from moto.dynamodb.models.table import Table
    from moto.dynamodb.responses import DynamoHandler

    handler_scan, table_scan = DynamoHandler.scan, Table.scan

    @functools.wraps(handler_scan)
    def scan(self: Any) -> Any:
        token = _COUNTING.set(self.body.get("Select") == "COUNT")
        try:
            return handler_scan(self)
        finally:
            _COUNTING.reset(token)

    @functools.wraps(table_scan)
    def scan_table(self: Any, filters: dict[str, Any], limit: int, exclusive_start_key: Any,
                   filter_expression: Any = None, index_name: str | None = None,
                   consistent_read: bool = False, projection_expression: Any = None,
                   segments: Any = (None, None)) -> Any:
        if _COUNTING.get() and not index_name and segments == (None, None):
            return counted_scan(self, filters, limit, exclusive_start_key, filter_expression)
        return table_scan(self, filters, limit, exclusive_start_key, filter_expression,
                          index_name, consistent_read, projection_expression, segments)

    DynamoHandler.scan, Table.scan = scan, scan_table
