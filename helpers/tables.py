"""DynamoDB tables of the workshop: create, stream, load, count and compare.

Every function takes the :class:`~helpers.clients.Backend` to talk to as its first
argument and is safe to run twice: creating a table that exists checks its key
schema and returns it, enabling a stream that is on does nothing.

Tables
------
``demo-ecommerce-freetier``
    Single-table e-commerce design: ``PK``/``SK``, indexes ``GSI1`` and ``GSI2``,
    a stream with new and old images.
``logfile``
    Web-server log of the LADV lab: ``PK`` only, index ``GSI_1`` on ``GSI_1_PK``.
``logfile_replica``
    The copy that the Exercise 8 function writes; same keys, a wider index.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

from botocore.exceptions import ClientError

from helpers.clients import Backend, error_code, unless_missing
from helpers.naming import ECOMMERCE_TABLE, LOGFILE_TABLE, REPLICA_TABLE, workshop_tags
from helpers.waits import run_waiter

BILLING_MODES = ("PAY_PER_REQUEST", "PROVISIONED")
STREAM_VIEW_TYPES = ("KEYS_ONLY", "NEW_IMAGE", "OLD_IMAGE", "NEW_AND_OLD_IMAGES")


class TableSchemaError(ValueError):
    """A table of that name exists with other keys than the workshop needs."""


class StreamNotEnabledError(ValueError):
    """The table has no stream turned on."""


# --------------------------------------------------------------------------- create


def _key_schema(hash_key: str, range_key: str | None = None) -> list[dict[str, str]]:
    schema = [{"AttributeName": hash_key, "KeyType": "HASH"}]
    if range_key:
        schema.append({"AttributeName": range_key, "KeyType": "RANGE"})
    return schema


def _throughput(read: int, write: int) -> dict[str, int]:
    return {"ReadCapacityUnits": read, "WriteCapacityUnits": write}


def _table_request(
    name: str,
    *,
    keys: tuple[str, str | None],
    gsis: Mapping[str, tuple[tuple[str, str | None], dict[str, Any]]],
    billing: str,
    capacity: tuple[int, int],
    stream_view_type: str | None,
    tags: Mapping[str, str] | None,
) -> dict[str, Any]:
    """Build the CreateTable arguments; every key attribute is a string."""
    if billing not in BILLING_MODES:
        raise ValueError(f"billing={billing!r} is unknown: use one of {', '.join(BILLING_MODES)}")
    provisioned = billing == "PROVISIONED"
    names = [k for k in keys if k]
    names += [k for index_keys, _ in gsis.values() for k in index_keys if k and k not in names]
    request: dict[str, Any] = {
        "TableName": name,
        "AttributeDefinitions": [{"AttributeName": n, "AttributeType": "S"} for n in names],
        "KeySchema": _key_schema(*keys),
        "BillingMode": billing,
        "Tags": workshop_tags(tags),
    }
    if provisioned:
        request["ProvisionedThroughput"] = _throughput(*capacity)
    if gsis:
        request["GlobalSecondaryIndexes"] = [
            {
                "IndexName": index,
                "KeySchema": _key_schema(*index_keys),
                "Projection": projection,
                **({"ProvisionedThroughput": _throughput(*capacity)} if provisioned else {}),
            }
            for index, (index_keys, projection) in gsis.items()
        ]
    if stream_view_type:
        request["StreamSpecification"] = {"StreamEnabled": True, "StreamViewType": stream_view_type}
    return request


def create_ecommerce_table(
    backend: Backend,
    name: str = ECOMMERCE_TABLE,
    *,
    billing: str = "PAY_PER_REQUEST",
    tags: Mapping[str, str] | None = None,
    stream: bool = True,
) -> dict[str, Any]:
    """Create the single-table e-commerce table, or check the existing one.

    Keys ``PK`` (hash) and ``SK`` (range); ``GSI1`` on ``GSI1PK``/``GSI1SK`` and
    ``GSI2`` on ``GSI2PK``/``GSI2SK``; a stream with ``NEW_AND_OLD_IMAGES``. The
    indexes project all attributes, so an index query returns whole items
    (projecting keys only would return nothing but keys).

    Parameters
    ----------
    backend : Backend
        Where to create it.
    name : str
        Table name.
    billing : {"PAY_PER_REQUEST", "PROVISIONED"}
        On-demand (default, nothing to pay while idle) or 5 RCU / 5 WCU for the
        table and each index.
    tags : mapping of str to str, optional
        Tags added to the workshop tag.
    stream : bool
        Turn the stream on (``NEW_AND_OLD_IMAGES``); ``False`` leaves that step to
        the notebook, which makes the ``UpdateTable`` call itself.

    Returns
    -------
    dict
        The ``Table`` part of ``DescribeTable``.

    Raises
    ------
    TableSchemaError
        A table of that name exists with other keys or indexes.

    Examples
    --------
    >>> create_ecommerce_table(backend)["TableStatus"]  # doctest: +SKIP
    'ACTIVE'
    """
    everything = {"ProjectionType": "ALL"}
    request = _table_request(
        name,
        keys=("PK", "SK"),
        gsis={
            "GSI1": (("GSI1PK", "GSI1SK"), everything),
            "GSI2": (("GSI2PK", "GSI2SK"), everything),
        },
        billing=billing,
        capacity=(5, 5),
        stream_view_type="NEW_AND_OLD_IMAGES" if stream else None,
        tags=tags,
    )
    table = ensure_table(backend, request)
    if stream and not table.get("StreamSpecification", {}).get("StreamEnabled"):
        enable_stream(backend, name, "NEW_AND_OLD_IMAGES")
        table = describe_table(backend, name)
    return table


def create_logfile_table(
    backend: Backend,
    name: str = LOGFILE_TABLE,
    *,
    billing: str = "PAY_PER_REQUEST",
    tags: Mapping[str, str] | None = None,
) -> dict[str, Any]:
    """Create the ``logfile`` table of the LADV lab, or check the existing one.

    Key ``PK`` (hash only, ``request#<id>``); index ``GSI_1`` on ``GSI_1_PK``
    (``host#<ip>``) projecting ``bytessent``. No stream: Exercise 8 turns it on
    with :func:`enable_stream`.

    Parameters
    ----------
    backend : Backend
        Where to create it.
    name : str
        Table name.
    billing : {"PAY_PER_REQUEST", "PROVISIONED"}
        On-demand, or 5 RCU / 5 WCU for the table and the index as in the lab
        (the capacity exercise needs provisioned mode to show throttling).
    tags : mapping of str to str, optional
        Tags added to the workshop tag.

    Returns
    -------
    dict
        The ``Table`` part of ``DescribeTable``.

    Raises
    ------
    TableSchemaError
        A table of that name exists with other keys or indexes.
    """
    return ensure_table(backend, _logfile_request(name, ("bytessent",), (5, 5), billing, tags))


def create_replica_table(
    backend: Backend,
    name: str = REPLICA_TABLE,
    *,
    billing: str = "PAY_PER_REQUEST",
    tags: Mapping[str, str] | None = None,
) -> dict[str, Any]:
    """Create ``logfile_replica``, the target of the Exercise 8 function.

    The same keys, parameters, answer and errors as :func:`create_logfile_table`;
    its index ``GSI_1`` projects ``bytessent``, ``requestid`` and ``host``, and
    provisioned mode gives it 10 RCU / 5 WCU, as in the lab.
    """
    projected = ("bytessent", "requestid", "host")
    return ensure_table(backend, _logfile_request(name, projected, (10, 5), billing, tags))


def _logfile_request(name: str, projected: tuple[str, ...], capacity: tuple[int, int],
                     billing: str, tags: Mapping[str, str] | None) -> dict[str, Any]:
    return _table_request(name, keys=("PK", None),
                          gsis={"GSI_1": (("GSI_1_PK", None), _include(*projected))},
                          billing=billing, capacity=capacity, stream_view_type=None, tags=tags)


def _include(*attributes: str) -> dict[str, Any]:
    return {"ProjectionType": "INCLUDE", "NonKeyAttributes": list(attributes)}


def ensure_table(
    backend: Backend, request: Mapping[str, Any], *, timeout: float = 300.0
) -> dict[str, Any]:
    """Create a table if it is missing, then wait until it is ``ACTIVE``.

    If the table exists, its key schema and those of the requested indexes are
    compared with ``request``; billing mode, tags and streams are left as they are.

    Parameters
    ----------
    backend : Backend
        Where the table lives.
    request : mapping
        Arguments of ``CreateTable``.
    timeout : float
        Seconds to wait for the table to become ``ACTIVE``.

    Returns
    -------
    dict
        The ``Table`` part of ``DescribeTable``.

    Raises
    ------
    TableSchemaError
        The existing table has other keys or lacks a requested index.
    botocore.exceptions.WaiterError
        The table did not become ``ACTIVE`` in time.
    """
    client = backend.client("dynamodb")
    name = request["TableName"]
    try:
        client.create_table(**request)
        created = True
    except ClientError as exc:
        if error_code(exc) != "ResourceInUseException":
            raise
        created = False
        if _status(client, name) == "DELETING":
            _wait(backend, client, "table_not_exists", name, timeout)
            return ensure_table(backend, request, timeout=timeout)
    _wait(backend, client, "table_exists", name, timeout)
    table = client.describe_table(TableName=name)["Table"]
    if not created:
        _check_schema(table, request)
    return table


def _status(client: Any, name: str) -> str | None:
    return unless_missing(lambda: client.describe_table(TableName=name)["Table"]["TableStatus"])


def _wait(backend: Backend, client: Any, waiter: str, name: str, timeout: float) -> None:
    what = f"table {name} " + ("ACTIVE" if waiter == "table_exists" else "deleted")
    run_waiter(backend, client, waiter, what=what, timeout=timeout, TableName=name)


def _keys_text(schema: Iterable[Mapping[str, str]]) -> str:
    return ", ".join(f"{k['AttributeName']} ({k['KeyType']})" for k in schema) or "none"


def _check_schema(table: Mapping[str, Any], request: Mapping[str, Any]) -> None:
    name = table["TableName"]
    problems = []
    if list(table["KeySchema"]) != list(request["KeySchema"]):
        problems.append(
            f"keys {_keys_text(table['KeySchema'])} instead of {_keys_text(request['KeySchema'])}"
        )
    existing = {i["IndexName"]: i["KeySchema"] for i in table.get("GlobalSecondaryIndexes", [])}
    for index in request.get("GlobalSecondaryIndexes", []):
        have = existing.get(index["IndexName"])
        if have is None:
            problems.append(f"no index {index['IndexName']}")
        elif list(have) != list(index["KeySchema"]):
            problems.append(
                f"index {index['IndexName']} keyed on {_keys_text(have)} instead of "
                f"{_keys_text(index['KeySchema'])}"
            )
    if problems:
        raise TableSchemaError(
            f"table {name!r} already exists with {'; '.join(problems)}: delete it or "
            "pass another name="
        )


def describe_table(backend: Backend, table: str) -> dict[str, Any]:
    """Return the ``Table`` part of ``DescribeTable``.

    Parameters
    ----------
    backend : Backend
        Where the table lives.
    table : str
        Table name.

    Returns
    -------
    dict
        Keys, indexes, status, stream settings and so on.

    Raises
    ------
    botocore.exceptions.ClientError
        ``ResourceNotFoundException`` when there is no such table.
    """
    return backend.client("dynamodb").describe_table(TableName=table)["Table"]


# --------------------------------------------------------------------------- streams


def stream_arn(backend: Backend, table: str) -> str:
    """Return the ARN of the table's current stream.

    Parameters
    ----------
    backend : Backend
        Where the table lives.
    table : str
        Table name.

    Returns
    -------
    str
        ``arn:aws:dynamodb:<region>:<account>:table/<table>/stream/<label>``.

    Raises
    ------
    StreamNotEnabledError
        The table has no stream turned on.
    """
    description = describe_table(backend, table)
    if not description.get("StreamSpecification", {}).get("StreamEnabled"):
        raise StreamNotEnabledError(
            f"table {table!r} has no stream: call enable_stream(backend, {table!r}, 'NEW_IMAGE')"
        )
    return description["LatestStreamArn"]


def wait_for_table(backend: Backend, table: str, *, timeout: float = 300.0) -> None:
    """Wait until ``table`` is ``ACTIVE`` again (after an ``UpdateTable``)."""
    _wait(backend, backend.client("dynamodb"), "table_exists", table, timeout)


def wait_for_stream(backend: Backend, table: str, *, timeout: float = 300.0) -> str:
    """Wait until ``table`` is ``ACTIVE`` with its stream on, and return the stream's ARN.

    Parameters
    ----------
    backend : Backend
        Where the table lives.
    table : str
        Table name.
    timeout : float
        Seconds.

    Returns
    -------
    str
        The stream ARN (with its timestamp label).
    """
    client = backend.client("dynamodb")
    _wait(backend, client, "table_exists", table, timeout)
    return stream_arn(backend, table)


def enable_stream(
    backend: Backend, table: str, view_type: str = "NEW_IMAGE", *, timeout: float = 300.0
) -> str:
    """Turn on the table's stream and return its ARN.

    Nothing happens if the stream is already on with ``view_type``. If it is on
    with another view type, the stream is turned off and on again, because the
    view type of a stream cannot change. That makes a **new stream with a new
    ARN**: event source mappings on the old ARN stop receiving records (the
    old stream stays readable for 24 hours) and must be created again on the
    new one.

    Parameters
    ----------
    backend : Backend
        Where the table lives.
    table : str
        Table name.
    view_type : {"KEYS_ONLY", "NEW_IMAGE", "OLD_IMAGE", "NEW_AND_OLD_IMAGES"}
        What each stream record holds.
    timeout : float
        Seconds to wait for the table to become ``ACTIVE`` after each change.

    Returns
    -------
    str
        The stream ARN, ending with the stream's timestamp label.

    Raises
    ------
    ValueError
        Unknown view type.
    """
    if view_type not in STREAM_VIEW_TYPES:
        raise ValueError(
            f"view_type={view_type!r} is unknown: use one of {', '.join(STREAM_VIEW_TYPES)}"
        )
    client = backend.client("dynamodb")
    spec = describe_table(backend, table).get("StreamSpecification", {})
    if spec.get("StreamEnabled"):
        if spec.get("StreamViewType") == view_type:
            return stream_arn(backend, table)
        client.update_table(TableName=table, StreamSpecification={"StreamEnabled": False})
        _wait(backend, client, "table_exists", table, timeout)
    client.update_table(
        TableName=table,
        StreamSpecification={"StreamEnabled": True, "StreamViewType": view_type},
    )
    _wait(backend, client, "table_exists", table, timeout)
    return stream_arn(backend, table)


# --------------------------------------------------------------------------- load and read


# --------------------------------------------------------------------------- compare


