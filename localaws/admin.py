"""The endpoint's admin routes, ``/_workshop/*`` (only with the admin token: ``gate.check_admin``).

| route | answer |
|---|---|
| ``GET /_workshop/health`` | the health and status document (``lifecycle.health``) |
| ``POST /_workshop/engine/restart`` | restarts the ESM engine, then the status document |
| ``GET /_workshop/authorization`` | which actions each role was evaluated for (``authz.usage``) |
| ``GET /_workshop/mappings/idle?function=F&region=R[,R2]`` | which mappings of F still have work |
| ``POST /_workshop/streams/clock?advance=S`` | moves the stream clock S seconds on: records age |
"""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

from localaws.lambda_api import parse_query
from localaws.protocols import Call, Response

HEALTH_PATH = "/_workshop/health"
ENGINE_RESTART_PATH = "/_workshop/engine/restart"
AUTHORIZATION_PATH = "/_workshop/authorization"
MAPPINGS_IDLE_PATH = "/_workshop/mappings/idle"
STREAMS_CLOCK_PATH = "/_workshop/streams/clock"


def json_response(status: int, document: Any) -> Response:
    """A JSON answer."""
    return status, {"Content-Type": "application/json"}, json.dumps(document).encode()


def serve(call: Call, *, status: Callable[[], dict[str, Any]],
          restart_engine: Callable[[], None] | None,
          mappings_idle: Callable[[list[str], str], dict[str, Any]]) -> Response:
    """Answer an admin route (404 for a path or method that is none).

    Parameters
    ----------
    call : Call
        The request (its admin token already checked).
    status : callable
        The health document.
    restart_engine : callable or None
        Restarts the ESM engine.
    mappings_idle : callable
        ``(regions, function name)`` to the engine's answer
        (:meth:`localaws.esm.service.MappingService.idle`).
    """
    route = (call.method, call.path)
    if route == ("GET", HEALTH_PATH):
        return json_response(200, status())
    if route == ("POST", ENGINE_RESTART_PATH) and restart_engine is not None:
        restart_engine()
        return json_response(200, status())
    if route == ("GET", AUTHORIZATION_PATH):
        from localaws import authz

        return json_response(200, authz.usage())
    if route == ("GET", MAPPINGS_IDLE_PATH):
        query = parse_query(call.query_string)
        if not query.get("function") or not query.get("region"):
            return json_response(400, {"message": "function and region are required"})
        regions = [r for r in query["region"].split(",") if r]
        return json_response(200, mappings_idle(regions, query["function"]))
    if route == ("POST", STREAMS_CLOCK_PATH):
        return _advance_streams_clock(parse_query(call.query_string).get("advance", ""))
    return json_response(404, {"message": f"no admin route {call.method} {call.path}"})


def _advance_streams_clock(raw: str) -> Response:
    from localaws.streams import registry

    try:
        offset = registry.advance(float(raw))
    except ValueError:
        return json_response(400, {"message": "advance must be a number of seconds >= 0, "
                                              f"got {raw!r}"})
    return json_response(200, {"offset_s": offset})
