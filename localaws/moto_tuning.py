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
  moto unchanged, which answers it as before.

:func:`install` must run before moto's apps are created (:func:`localaws.moto_setup.prepare`
runs it).
"""

from __future__ import annotations

import threading
from typing import Any

_installed = False
_lock = threading.Lock()


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
        _installed = True


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
