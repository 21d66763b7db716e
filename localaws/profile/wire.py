"""Reading a call's parameters and rewriting a response's JSON body, for the profile's rules."""

from __future__ import annotations

import json
import re
import zlib
from collections.abc import Callable
from typing import Any
from urllib.parse import urlencode

from localaws.protocols import Call, Response

_FUNCTION_PATH = re.compile(r"/functions/(?P<name>[^/]+)")


def params_of(call: Call) -> dict[str, Any]:
    """The call's parameters: its JSON body, its query parameters, or (Lambda) both the
    body and the function named in the path (``FunctionName``)."""
    if call.protocol == "query":
        return dict(call.query_params())
    params = dict(call.json_body()) if call.body.strip() else {}
    if call.protocol == "rest-json":
        match = _FUNCTION_PATH.search(call.path)
        if match:
            params.setdefault("FunctionName", match["name"])
    return params


def replace_params(call: Call, params: dict[str, Any]) -> None:
    """Hand the service ``params`` instead of what the caller sent (JSON or query)."""
    body = json.dumps(params) if call.protocol == "json" else urlencode(params)
    call.replace_body(body.encode())


def ok(response: Response) -> bool:
    """True for a 2xx response."""
    return 200 <= response[0] < 300


def rewrite_json(response: Response, change: Callable[[dict[str, Any]], None]) -> Response:
    """``response`` with its JSON body changed in place by ``change``.

    DynamoDB's ``x-amz-crc32`` checksum is recomputed (boto3 verifies it).
    """
    status, headers, body = response
    try:
        document = json.loads(body or b"{}")
    except ValueError:
        return response
    if not isinstance(document, dict):
        return response
    change(document)
    new_body = json.dumps(document).encode()
    items = list(headers.items() if isinstance(headers, dict) else headers)
    out = [(k, str(zlib.crc32(new_body)) if k.lower() == "x-amz-crc32" else v)
           for k, v in items if k.lower() != "content-length"]
    return status, out, new_body  # type: ignore[return-value]
