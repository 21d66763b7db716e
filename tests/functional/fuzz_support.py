"""Raw HTTP requests for the fuzz tests: strategies, a keep-alive sender, answer checks.

Requests are built from botocore's model of each service the endpoint serves,
so that the fuzzer reaches past the protocol checks into the services, and are
sent as bytes over keep-alive connections from several threads (no SDK in the
way: the fuzzer may send what no SDK would).
"""

from __future__ import annotations

import base64
import functools
import http.client
import json
import threading
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import quote, urlencode

import botocore.parsers
from botocore.awsrequest import HeadersDict
from hypothesis import strategies as st

from localaws.protocols import service_model

SIGNING = {"dynamodb": "dynamodb", "dynamodbstreams": "dynamodb", "lambda": "lambda",
           "iam": "iam", "sts": "sts", "sqs": "sqs", "sns": "sns", "cloudwatch": "monitoring",
           "logs": "logs"}
PROTOCOL = {"dynamodb": "json", "dynamodbstreams": "json", "logs": "json", "sqs": "json",
            "cloudwatch": "json", "iam": "query", "sts": "query", "sns": "query",
            "lambda": "rest-json"}
# Operations that would wait or start long work even on bad input (long polls).
SKIP = {("sqs", "ReceiveMessage"), ("logs", "StartLiveTail")}
AUTH = ("AWS4-HMAC-SHA256 Credential=fuzz/20260101/{region}/{service}/aws4_request, "
        "SignedHeaders=host;x-amz-date, Signature=abc123")
NAMES = st.sampled_from(["fuzz-a", "fuzz-b", "fuzz", "", "x" * 300, "ünï", "a/b", "..",
                         "arn:aws:dynamodb:us-east-1:123456789012:table/fuzz-a",
                         "arn:aws:lambda:zz:1:function:fuzz", "123456789012:function:fuzz",
                         "arn:aws:dynamodb:us-east-1:123456789012:table/fuzz-a/stream/x"])
TEXT = st.one_of(NAMES, st.text(max_size=30))


@dataclass
class Wire:
    """One raw HTTP request."""

    service: str | None
    method: str
    path: str
    headers: dict[str, str]
    body: bytes
    operation: str | None = None
    expect_forbidden: bool = False


def operations(service: str) -> list[str]:
    """The operations of ``service`` the fuzzer calls."""
    return [op for op in service_model(service).operation_names if (service, op) not in SKIP]


@functools.cache
def params_strategy(service: str, operation: str, valid: bool) -> st.SearchStrategy:
    """Input parameters of ``operation`` (built once per operation: building is slow)."""
    shape = service_model(service).operation_model(operation).input_shape
    return shape_values(shape, valid) if shape is not None else st.just({})


def shape_values(shape: Any, valid: bool, depth: int = 0) -> st.SearchStrategy:
    """Wire values for ``shape`` (JSON protocol form); mostly wrong-typed unless ``valid``."""
    kind = shape.type_name
    wrong = st.one_of(st.none(), st.booleans(), st.integers(-5, 5), TEXT,
                      st.lists(st.integers(), max_size=2), st.just({"S": "x"}))
    if depth > 3:
        return st.just({} if kind in ("structure", "map") else [] if kind == "list" else "x")
    if kind == "structure":
        members = list(shape.members.items())
        required = set(shape.required_members)
        strategy = st.fixed_dictionaries(
            {n: shape_values(m, valid, depth + 1) for n, m in members if n in required},
            optional={n: shape_values(m, valid, depth + 1) for n, m in members[:6]
                      if n not in required})
    elif kind == "list":
        strategy = st.lists(shape_values(shape.member, valid, depth + 1), max_size=2)
    elif kind == "map":
        strategy = st.dictionaries(st.text(min_size=1, max_size=8),
                                   shape_values(shape.value, valid, depth + 1), max_size=2)
    elif kind == "string":
        strategy = st.sampled_from(shape.enum) if shape.enum else TEXT
    elif kind in ("integer", "long"):
        strategy = st.integers(-2, 2**31)
    elif kind in ("double", "float"):
        strategy = st.floats(allow_nan=False, allow_infinity=False, width=32)
    elif kind == "boolean":
        strategy = st.booleans()
    elif kind == "blob":
        strategy = st.binary(max_size=20).map(lambda b: base64.b64encode(b).decode())
    elif kind == "timestamp":
        strategy = st.integers(0, 2_000_000_000)
    else:
        strategy = st.none()
    return strategy if valid else st.one_of(strategy, strategy, strategy, wrong)


def flatten(value: Any, prefix: str = "") -> dict[str, str]:
    """A JSON value as the query protocol's flattened parameters."""
    out: dict[str, str] = {}
    if isinstance(value, dict):
        for key, item in value.items():
            out.update(flatten(item, f"{prefix}.{key}" if prefix else str(key)))
    elif isinstance(value, list):
        for index, item in enumerate(value, 1):
            out.update(flatten(item, f"{prefix}.member.{index}"))
    elif value is not None:
        out[prefix] = str(value).lower() if isinstance(value, bool) else str(value)
    return out


def build(service: str, operation: str, params: dict[str, Any],
          headers: dict[str, str]) -> Wire:
    """The request the SDK would send for ``params`` (before any mutation)."""
    model = service_model(service)
    if PROTOCOL[service] == "json":
        version = model.metadata.get("jsonVersion", "1.0")
        headers = {"Content-Type": f"application/x-amz-json-{version}",
                   "X-Amz-Target": f"{model.metadata['targetPrefix']}.{operation}", **headers}
        return Wire(service, "POST", "/", headers, json.dumps(params).encode(), operation)
    if PROTOCOL[service] == "query":
        body = urlencode({"Action": operation, "Version": model.api_version, **flatten(params)})
        headers = {"Content-Type": "application/x-www-form-urlencoded", **headers}
        return Wire(service, "POST", "/", headers, body.encode(), operation)
    http = model.operation_model(operation).http
    path = http["requestUri"].split("?", 1)[0]
    shape = model.operation_model(operation).input_shape
    body_params = dict(params)
    if shape is not None:
        for name, member in shape.members.items():
            if member.serialization.get("location") == "uri":
                value = str(body_params.pop(name, "fuzz"))
                key = member.serialization.get("name", name)
                path = path.replace("{" + key + "+}", quote(value, safe="/")).replace(
                    "{" + key + "}", quote(value or "x", safe=""))
            elif "location" in member.serialization:
                body_params.pop(name, None)
    body = json.dumps(body_params).encode() if http["method"] in ("POST", "PUT") else b""
    return Wire(service, http["method"], path, dict(headers), body, operation)


def signed_headers(service: str, region: str = "us-east-1") -> dict[str, str]:
    """An ``Authorization`` header of a SigV4 request for ``service`` (any signature)."""
    return {"Authorization": AUTH.format(region=region, service=SIGNING[service])}


@dataclass
class Sender:
    """Sends :class:`Wire` requests over keep-alive connections, one per thread."""

    port: int
    threads: int = 4
    statuses: Counter = field(default_factory=Counter)
    sent: int = 0
    _local: threading.local = field(default_factory=threading.local)
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def _connection(self) -> http.client.HTTPConnection:
        conn = getattr(self._local, "conn", None)
        if conn is None:
            conn = self._local.conn = http.client.HTTPConnection("127.0.0.1", self.port,
                                                                 timeout=30)
        return conn

    def _drop(self) -> None:
        conn = getattr(self._local, "conn", None)
        if conn is not None:
            conn.close()
        self._local.conn = None

    def _send_one(self, wire: Wire) -> tuple[Wire, int, HeadersDict, bytes] | None:
        headers = {"Host": f"127.0.0.1:{self.port}", **wire.headers,
                   "Content-Length": str(len(wire.body))}
        path = quote(wire.path, safe="/%:@?=&+,;~!$'()*")
        for attempt in (1, 2):
            conn = self._connection()
            try:
                conn.putrequest(wire.method, path, skip_host=True, skip_accept_encoding=True)
                for name, value in headers.items():
                    conn.putheader(name, value.encode("utf-8"))
                conn.endheaders(wire.body)
            except ValueError:  # http.client refuses to send it (a newline in a header)
                self._drop()
                return None
            except OSError:
                self._drop()
                if attempt == 2:
                    raise
                continue
            try:
                response = conn.getresponse()
                body = response.read()
            except (http.client.RemoteDisconnected, ConnectionResetError, BrokenPipeError):
                self._drop()
                if attempt == 2:
                    raise
                continue
            if response.getheader("Connection", "").lower() == "close":
                self._drop()
            break
        with self._lock:
            self.statuses[response.status] += 1
            self.sent += 1
        return wire, response.status, HeadersDict(response.getheaders()), body

    def send(self, wires: list[Wire]) -> list[tuple[Wire, int, HeadersDict, bytes]]:
        """Send ``wires`` from :attr:`threads` threads; answers in order (unsendable ones
        left out)."""
        with ThreadPoolExecutor(self.threads) as pool:
            return [answer for answer in pool.map(self._send_one, wires) if answer is not None]


def problem(wire: Wire, status: int, headers: HeadersDict, body: bytes) -> str | None:
    """What is wrong with an answer (``None`` when it is a 2xx or a well-shaped 4xx)."""
    if status >= 500 or status < 200:
        return f"status {status}: {body[:300]!r}"
    if wire.expect_forbidden:
        return None if status == 403 else f"expected 403, got {status}"
    if status < 400:
        return None
    if body.endswith(b"(generated by workshop)"):
        return None  # waitress refused a malformed HTTP message (400, 431) before any service
    error_type = headers.get("x-amzn-ErrorType")
    if error_type == "UnrecognizedServiceException":
        return None
    if wire.service is None:
        return None if status in (400, 403) else f"no service: got {status}"
    model = service_model(wire.service)
    names = model.operation_names
    operation = model.operation_model(wire.operation if wire.operation in names else names[0])
    protocol = PROTOCOL[wire.service]
    if wire.service in ("sqs", "cloudwatch") and not wire.headers.get("X-Amz-Target"):
        protocol = "query"  # the endpoint also speaks their older query protocol
    try:
        parsed = botocore.parsers.create_parser(protocol).parse(
            {"status_code": status, "headers": headers, "body": body}, operation.output_shape)
    except Exception as exc:  # any parse failure is the finding
        return f"unparseable {status} answer ({exc}): {body[:300]!r}"
    code = parsed.get("Error", {}).get("Code", "")
    if not code or code == str(status):
        return f"{status} answer with no error code the SDK can read: {body[:300]!r}"
    return None


def finding(wire: Wire, status: int, body: bytes, issue: str) -> dict[str, Any]:
    """A bad answer and the whole request that got it, as JSON (the body in base64), so
    that it can be replayed (:func:`wire_from`) as a regression test."""
    return {"issue": issue, "status": status, "answer": body[:2000].decode("utf-8", "replace"),
            "service": wire.service, "operation": wire.operation, "method": wire.method,
            "path": wire.path, "headers": wire.headers,
            "body": base64.b64encode(wire.body).decode()}


def wire_from(found: dict[str, Any]) -> Wire:
    """The request of a :func:`finding`, to send again."""
    return Wire(found["service"], found["method"], found["path"], dict(found["headers"]),
                base64.b64decode(found["body"]), found["operation"])


def describe(found: dict[str, Any]) -> str:
    """A :func:`finding` as a failure message: the request (method, path, headers, body)
    and what was wrong with its answer."""
    body = base64.b64decode(found["body"])
    shown = body[:1500]
    more = f" ... ({len(body)} bytes in all)" if len(body) > len(shown) else ""
    headers = "\n".join(f"  {name}: {value}" for name, value in found["headers"].items())
    return (f"{found['method']} {found['path']} ({found['service']} {found['operation']})\n"
            f"{headers}\n  body: {shown!r}{more}\n-> {found['issue']}")
