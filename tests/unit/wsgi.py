"""Build WSGI requests for the request pipeline's unit tests (no endpoint needed)."""

from __future__ import annotations

import io
from typing import Any
from urllib.parse import urlsplit

from localaws.protocols import Call

PORT = 4611
SIGNED = ("AWS4-HMAC-SHA256 Credential=testing/20260101/{region}/{service}/aws4_request, "
          "SignedHeaders=host;x-amz-date, Signature=0123abcd")


def environ(method: str = "POST", path: str = "/", headers: dict[str, str] | None = None,
            body: bytes = b"", query: str = "") -> dict[str, Any]:
    """A WSGI environ as waitress builds it (``Host`` defaults to ours)."""
    env: dict[str, Any] = {
        "REQUEST_METHOD": method, "PATH_INFO": path, "QUERY_STRING": query,
        "wsgi.input": io.BytesIO(body), "CONTENT_LENGTH": str(len(body)),
        "HTTP_HOST": f"127.0.0.1:{PORT}",
    }
    for name, value in (headers or {}).items():
        key = name.upper().replace("-", "_")
        if key in ("CONTENT_TYPE", "CONTENT_LENGTH"):
            env[key] = value
        else:
            env["HTTP_" + key] = value
    return env


def call(method: str = "POST", path: str = "/", headers: dict[str, str] | None = None,
         body: bytes = b"", query: str = "") -> Call:
    """A :class:`~localaws.protocols.Call` over :func:`environ`."""
    return Call(environ(method, path, headers, body, query))


def signed(service: str, region: str = "us-east-1", **headers: str) -> dict[str, str]:
    """Headers of a request signed for ``service`` (the signature is not checked)."""
    return {"Authorization": SIGNED.format(service=service, region=region), **headers}


def from_prepared(request: Any) -> Call:
    """A :class:`Call` for a request botocore prepared (``before-send``)."""
    parts = urlsplit(request.url)
    headers = {k: v.decode() if isinstance(v, bytes) else v for k, v in request.headers.items()}
    headers["Host"] = parts.netloc
    body = request.body or b""
    if isinstance(body, str):
        body = body.encode()
    elif not isinstance(body, bytes):
        body = body.read()
    return call(request.method, parts.path or "/", headers, body, parts.query)
