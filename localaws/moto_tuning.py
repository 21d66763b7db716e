"""Per-request costs of moto's server mode that change nothing it answers.

Found by profiling PutItem/UpdateItem/BatchWriteItem through the endpoint's WSGI app
(``python -m benchmarks.write_profile``; summary in ``benchmarks/PROFILE.md``):

* every request lists the response class's methods with ``inspect.getmembers``
  to check that the action exists (about a tenth of a PutItem's server time).
  The classes do not change while the endpoint serves, so the list is made once
  per class;
* moto's Flask apps run with ``debug = True``. In debug mode Flask builds a new
  class on every request (to improve a ``request.files`` error message for
  browsers) and re-checks every Jinja template's file on disk before each
  render (the XML services: IAM, SQS, SNS, CloudWatch, STS). Debug is turned
  off with ``PROPAGATE_EXCEPTIONS`` kept on, so an error inside moto surfaces as
  before. One answer changes, for the better: a moto view that reads a form key
  the request lacks (``BadRequestKeyError``) now gets Flask's 400, where debug
  mode raised it and the caller saw a 500;
* every response body is searched with a look-behind regular expression for an
  XML ``<RequestId>`` to fill in, JSON bodies included: about 10 µs for a 1 KB
  item, 56 ms for a 1 MB Scan or Query page. The search now runs only on a body
  that contains ``<RequestId>`` (the result is the same: no match, no change);
* every PartiQL statement (``ExecuteStatement``, and each one of
  ``BatchExecuteStatement`` and ``ExecuteTransaction``) converted every item of every
  table in the region to JSON for the parser, though a DynamoDB statement names one
  table: 0.07 s on an endpoint with a few small tables, 13-18 s on one that held a
  few thousand items elsewhere. The parser now gets the tables the statement names
  (with their indexes) and nothing else; a statement that does not parse goes to
  moto unchanged, which answers it as before;
* every item of a ``Scan``, ``Query``, ``GetItem`` or ``BatchGetItem`` answer went
  through moto's model-driven serializer one ``AttributeValue`` member at a time:
  ten members per value, each looked up under up to six aliases, so 90 % of a
  Scan's server time (4.8 s of CPU for 6,000 logfile items, benchmarks/scan_profile.py).
  The values are already in their wire form (``{"S": ...}``, binary as bytes), so
  they are now written directly, exactly as the serializer writes them (members
  in the model's order, binary base64-encoded, ``None`` map values left out); a
  value of any other form goes through the serializer as before. One answer
  changes, for the better: a nested map's value under the empty key ``""`` is
  returned as stored, where the serializer wrote that value's members into the
  map itself (``{"M": {"": {"S": "x"}}}`` came back as ``{"M": {"S": "x"}}``);
* a Scan or Query measures every item twice (``Item.size``, for the 1 MB page
  limit) and deep-copies each one it returns, through generic code: ``size``
  re-wrapped every map value in a new ``DynamoType`` (recursively) and the copy
  went through :func:`copy.deepcopy`'s dispatch for every value. Both now walk the
  value tree directly, with the same results (sizes byte for byte, copies sharing
  nothing with the table but what moto's copy shared: immutable scalars);
* every item written was checked against the 400 KB limit attribute by attribute,
  each check measuring every attribute set before it (55 sizes for a 10-attribute
  logfile item; a fifth of a ``BatchWriteItem``'s server time). One running total
  now says the same: the item is refused (``ItemSizeTooLarge``) exactly when moto
  refused it;
* Python's cyclic garbage collector ran every 700 new objects and, every tenth
  time, walked the older generation, which in the endpoint holds moto's and
  botocore's models and every stored item: copying a 6,000-item Scan page spent
  half its time in collections (0.17 s, 0.08 s without). The first generation now
  holds 10,000 objects (moto makes little cyclic garbage; reference counting frees
  the rest at once, as before);
* every SQS ``SendMessage`` read all of a queue's attributes (to find
  ``ContentBasedDeduplication``), and three of them count the queue's messages,
  each message reading the clock through two ``datetime`` conversions: a send
  cost about 10 µs per message already waiting, 4-5 ms on a queue of 400 (a
  function that sends one message per invocation slowed down as its queue grew).
  The counts and the list of receivable messages now read the clock once and
  compare each message's times with it, with the same results;
* a ``Scan`` with ``Select=COUNT`` copied and measured every item it counted, as
  above, only to drop the copies: :mod:`localaws.moto_counts` counts the stored
  items where they are (0.46 s of CPU for the 6,000-item ``logfile`` table before).
* every ``UpdateItem`` tokenized and parsed its ``UpdateExpression`` twice (the
  handler's check of the placeholders it uses, then the model), though a client
  sends the same few expressions again and again: a sixth of its server time. The
  parse of each text is now kept (512 texts at most); moto only reads that tree and
  validates a deep copy of it, as before. A text that does not parse raises again
  every time.

:func:`install` must run before moto's apps are created (:func:`localaws.moto_setup.prepare`
runs it).
"""

from __future__ import annotations

import copy
import functools
import gc
import threading
from collections.abc import Callable
from enum import Enum
from typing import Any

from localaws import moto_counts

_installed = False
_lock = threading.Lock()
#: New objects between two collections of the youngest generation (Python's default: 700).
GC_FIRST_GENERATION = 10_000


def install() -> None:
    """Patch moto's server mode (idempotent)."""
    global _installed
    with _lock:
        if _installed:
            return
        _cache_method_names()
        _quiet_flask_debug()
        _skip_request_id_search()
        _partiql_reads_only_its_tables()
        _attribute_values_written_directly()
        _items_measured_and_copied_directly()
        _queue_counts_read_the_clock_once()
        _update_expressions_parsed_once()
        moto_counts.install()
        gc.set_threshold(GC_FIRST_GENERATION, *gc.get_threshold()[1:])
        _installed = True


def _update_expressions_parsed_once() -> None:
    from moto.dynamodb.parsing.expressions import UpdateExpressionParser

    parse = functools.lru_cache(maxsize=512)(UpdateExpressionParser.make)
    UpdateExpressionParser.make = classmethod(lambda cls, text: parse(text))  # type: ignore


def _cache_method_names() -> None:
    from moto.core import responses, utils

    original = utils.method_names_from_class
    names: dict[type, list[str]] = {}

    def method_names_from_class(clazz: Any) -> list[str]:
        found = names.get(clazz)
        if found is None:
            found = names[clazz] = original(clazz)
        return found

    responses.method_names_from_class = method_names_from_class


def _quiet_flask_debug() -> None:
    from moto.moto_server import werkzeug_app

    original = werkzeug_app.create_backend_app

    def create_backend_app(service: Any) -> Any:
        app = original(service)
        app.config["PROPAGATE_EXCEPTIONS"] = True
        app.debug = False
        app.jinja_env.auto_reload = False
        return app

    werkzeug_app.create_backend_app = create_backend_app


def _skip_request_id_search() -> None:
    from moto.core import responses

    original = responses.BaseResponse._enrich_response

    def enrich_response(headers: dict[str, Any], body: Any) -> tuple[dict[str, Any], Any]:
        if isinstance(body, str) and "<RequestId>" in body:
            return original(headers, body)
        # What the original does when its regular expression finds nothing.
        if "status" in headers:
            headers["status"] = str(headers["status"])
        responses.gen_amzn_requestid_long(headers)
        return headers, body

    responses.BaseResponse._enrich_response = staticmethod(enrich_response)


class _NamedTables:
    """A DynamoDB backend seen with only some of its tables (the rest delegates)."""

    def __init__(self, backend: Any, tables: dict[str, Any]) -> None:
        self._backend = backend
        self.tables = tables

    def __getattr__(self, name: str) -> Any:
        return getattr(self._backend, name)


def named_tables(tables: dict[str, Any], names: list[str]) -> dict[str, Any]:
    """The tables a statement's table names refer to: ``t`` and ``t.index`` both name ``t``.

    Parameters
    ----------
    tables : dict
        The backend's tables by name.
    names : list of str
        The names the PartiQL parser found in the statement, quoted or not
        (``"t"."index"``: table names cannot hold a double quote).

    Returns
    -------
    dict
        The referenced tables by name (a name may itself contain dots).
    """
    wanted = {name.replace('"', "") for name in names}
    return {name: table for name, table in tables.items()
            if name in wanted or any(n.startswith(f"{name}.") for n in wanted)}


def _partiql_reads_only_its_tables() -> None:
    from moto.dynamodb.models import DynamoDBBackend
    from moto.dynamodb.parsing import partiql

    original = DynamoDBBackend.execute_statement

    def execute_statement(self: Any, statement: str, parameters: list[dict[str, Any]]) -> Any:
        try:
            names = partiql.get_query_metadata(statement).get_table_names()
        except Exception:  # moto's own parse answers it, as it did
            return original(self, statement, parameters)
        return original(_NamedTables(self, named_tables(self.tables, names)), statement,
                        parameters)

    execute_statement.__name__ = original.__name__
    execute_statement.__doc__ = original.__doc__
    DynamoDBBackend.execute_statement = execute_statement  # type: ignore[method-assign]


class _NotPlainError(Exception):
    """A value the direct path does not know: the serializer handles it (internal)."""


#: ``AttributeValue``'s members as the DynamoDB and DynamoDB Streams models define them.
_ATTRIBUTE_VALUE_MEMBERS = {"S": "string", "N": "string", "B": "blob", "SS": "list",
                            "NS": "list", "BS": "list", "M": "map", "L": "list",
                            "NULL": "boolean", "BOOL": "boolean"}


def _wire_string(value: Any) -> Any:
    """What moto's JSON serializer writes for a string member."""
    if isinstance(value, Enum):
        value = value.value
    return str(value) if value not in [None, {}, []] else value


def wire_attribute_value(value: Any, base64: Callable[[Any], str]) -> dict[str, Any]:
    """An ``AttributeValue`` as moto's JSON serializer writes it, without the model walk.

    Parameters
    ----------
    value : dict
        The value as moto's DynamoDB responses hold it (``{"S": "x"}``, ``{"B": b"..."}``,
        ``{"M": {...}}``).
    base64 : callable
        The serializer's blob encoder.

    Returns
    -------
    dict
        The same JSON object the serializer builds: members in the model's order,
        ``None`` members and ``None`` map values left out.

    Raises
    ------
    _NotPlainError
        ``value`` (or a value nested in it) is not a plain dict of known members.
    """
    if type(value) is not dict or not value.keys() <= _ATTRIBUTE_VALUE_MEMBERS.keys():
        raise _NotPlainError
    out: dict[str, Any] = {}
    for key in _ATTRIBUTE_VALUE_MEMBERS:
        member = value.get(key)
        if member is None:
            continue
        if key in ("S", "N"):
            out[key] = _wire_string(member)
        elif key == "B":
            out[key] = base64(member)
        elif key in ("SS", "NS"):
            out[key] = [_wire_string(v) for v in member]
        elif key == "BS":
            out[key] = [base64(v) for v in member]
        elif key == "M":
            out[key] = {k: wire_attribute_value(v, base64) for k, v in member.items()
                        if v is not None}
        elif key == "L":
            out[key] = [None if v is None else wire_attribute_value(v, base64) for v in member]
        else:
            out[key] = member
    return out


def _attribute_value_shape_matches(shape: Any) -> bool:
    members = {name: member.type_name for name, member in shape.members.items()}
    return (list(members) == list(_ATTRIBUTE_VALUE_MEMBERS)
            and members == _ATTRIBUTE_VALUE_MEMBERS
            and not any(m.serialization for m in shape.members.values()))


def _attribute_values_written_directly() -> None:
    from moto.core.serialize import BaseJSONSerializer

    original = BaseJSONSerializer._serialize_type_structure

    def serialize_type_structure(self: Any, serialized: Any, value: Any, shape: Any,
                                 key: str) -> None:
        if key and shape.name == "AttributeValue" and value is not None:
            fits = getattr(shape, "_plain_attribute_value", None)
            if fits is None:  # once per shape (botocore's shapes live as long as their model)
                fits = shape._plain_attribute_value = _attribute_value_shape_matches(shape)
            if fits and not getattr(self._value_picker, "response_transformers", None):
                try:
                    wire = wire_attribute_value(value, self._base64)
                except _NotPlainError:
                    pass
                else:
                    self._default_serialize(serialized, wire, shape, key)
                    return
        original(self, serialized, value, shape, key)

    serialize_type_structure.__wrapped__ = original  # type: ignore[attr-defined]
    BaseJSONSerializer._serialize_type_structure = serialize_type_structure  # type: ignore[method-assign]


_SETS = ("SS", "NS", "BS")
# moto's classes, bound by install() (moto is imported only when the endpoint starts)
DynamoType: Any = None
bytesize: Any = None
#: moto's limit on an item's size in bytes (``LimitedSizeDict``: "between 409 and 410KB")
ITEM_SIZE_LIMIT = 405_000


def value_size(value: Any) -> int:
    """moto's ``DynamoType.size()``, without re-wrapping map values (same figure).

    Parameters
    ----------
    value : moto.dynamodb.models.dynamo_type.DynamoType
        A stored attribute value.

    Returns
    -------
    int
        Its size as moto counts it toward the 400 KB item and 1 MB page limits.
    """
    kind, inner = value.type, value.value
    if kind == "N":
        return len(str(inner))
    if kind in _SETS:
        if kind == "NS":
            return sum(len(str(v)) for v in inner)
        return sum(1 if isinstance(v, bool) else bytesize(v) for v in inner)
    if kind == "L":
        return sum(value_size(v) for v in inner)
    if kind == "M":
        return sum(bytesize(k) + value_size(v if type(v) is DynamoType else DynamoType(v))
                   for k, v in inner.items())
    if isinstance(inner, bool):
        return 1
    return bytesize(inner)


def copy_value(value: Any, memo: dict[int, Any]) -> Any:
    """moto's ``DynamoType.__deepcopy__``, recursing without :func:`copy.deepcopy`'s dispatch."""
    found = memo.get(id(value))
    if found is not None:
        return found
    result = value.__class__.__new__(value.__class__)
    memo[id(value)] = result
    result.type = kind = value.type
    inner = value.value
    if kind == "L":
        result.value = [_copy_inner(v, memo) for v in inner]
    elif kind == "M":
        result.value = {k: _copy_inner(v, memo) for k, v in inner.items()}
    elif kind in _SETS:
        result.value = list(inner)
    else:
        result.value = inner
    return result


def _copy_inner(value: Any, memo: dict[int, Any]) -> Any:
    """A value held in a list, map or item: :func:`copy_value` for a ``DynamoType``."""
    if type(value) is DynamoType:
        return copy_value(value, memo)
    return copy.deepcopy(value, memo)


def _items_measured_and_copied_directly() -> None:
    global DynamoType, bytesize
    from moto.dynamodb.exceptions import ItemSizeTooLarge
    from moto.dynamodb.models.dynamo_type import DynamoType, Item, LimitedSizeDict
    from moto.dynamodb.models.utilities import bytesize

    def new_item(self: Any, hash_key: Any, range_key: Any, attrs: dict[str, Any]) -> None:
        # moto's Item.__init__: LimitedSizeDict measured every attribute already set at
        # each new one (n(n+1)/2 sizes for n attributes); its running total passes
        # ITEM_SIZE_LIMIT at some attribute exactly when the sum over all of them does
        self.hash_key = hash_key
        self.range_key = range_key
        self.attrs = LimitedSizeDict.__new__(LimitedSizeDict)
        dict.__init__(self.attrs)
        total = 0
        for key, value in attrs.items():
            stored = DynamoType(value)
            total += bytesize(key) + value_size(stored)
            if total > ITEM_SIZE_LIMIT:
                raise ItemSizeTooLarge
            dict.__setitem__(self.attrs, key, stored)

    def item_size(self: Any) -> int:
        return sum(bytesize(key) + value_size(value) for key, value in self.attrs.items())

    def copy_item(self: Any, memo: dict[int, Any]) -> Any:
        # moto's Item.__deepcopy__ (attrs filled past LimitedSizeDict's size check, which
        # the stored item passed), with each value copied by copy_value
        found = memo.get(id(self))
        if found is not None:
            return found
        result = self.__class__.__new__(self.__class__)
        memo[id(self)] = result
        result.hash_key = copy.deepcopy(self.hash_key, memo)
        result.range_key = copy.deepcopy(self.range_key, memo)
        attrs = LimitedSizeDict.__new__(LimitedSizeDict)
        dict.__init__(attrs)
        for key, value in self.attrs.items():
            dict.__setitem__(attrs, key, _copy_inner(value, memo))
        result.attrs = attrs
        return result

    def size(self: Any) -> int:
        return value_size(self)

    def copy_dynamo_type(self: Any, memo: dict[int, Any]) -> Any:
        return copy_value(self, memo)

    for cls, name, patch in ((DynamoType, "size", size),
                             (DynamoType, "__deepcopy__", copy_dynamo_type),
                             (Item, "size", item_size), (Item, "__deepcopy__", copy_item),
                             (Item, "__init__", new_item)):
        patch.__wrapped__ = getattr(cls, name)  # type: ignore[attr-defined]
        setattr(cls, name, patch)


def _queue_counts_read_the_clock_once() -> None:
    from moto.sqs import models

    # moto's Message.visible is "now > visible_at", Message.delayed "now < delayed_until",
    # each reading the clock (models.unix_time_millis) for itself
    def messages(self: Any) -> list[Any]:
        now = models.unix_time_millis()
        return [m for m in self._messages if now > m.visible_at and not now < m.delayed_until]

    def delayed(self: Any) -> int:
        now = models.unix_time_millis()
        return sum(1 for m in self._messages if now < m.delayed_until)

    def not_visible(self: Any) -> int:
        now = models.unix_time_millis()
        return sum(1 for m in self._messages if not now > m.visible_at)

    for name, count in (("messages", messages),
                        ("approximate_number_of_messages_delayed", delayed),
                        ("approximate_number_of_messages_not_visible", not_visible)):
        count.__wrapped__ = getattr(models.Queue, name)  # type: ignore[attr-defined]
        setattr(models.Queue, name, property(count))
