"""Which service and operation a request is for, and how that service shapes errors.

A :class:`Call` wraps one WSGI request. It reads nothing it is not asked for:
the host, origin and size checks look at headers only; the body is read (once,
at most ``Content-Length`` bytes) when a later step needs it, and handed on to
moto afterwards.

The service comes from the SigV4 credential scope (as AWS's own front door
routes by host name and signing name), else from what the request itself says:
an ``X-Amz-Target`` prefix, a Lambda REST path, or a query ``Action`` and
``Version``. The operation is checked against botocore's model of the pinned
SDK, so an unknown one is refused before any service code runs.

:func:`render_error` turns a :class:`~localaws.errors.ServiceError` into the
response the call's protocol uses: ``{"__type", "message"}`` for the JSON
protocols, ``<ErrorResponse>`` for the query protocol, ``x-amzn-ErrorType`` and
``{"Type", "message"}`` for Lambda's rest-json.
"""

from __future__ import annotations

import io
import json
import re
import uuid
from dataclasses import dataclass, field
from functools import cache, cached_property
from typing import Any
from urllib.parse import parse_qsl
from xml.sax.saxutils import escape

from localaws import unserved
from localaws.errors import RequestError, ServiceError

Response = tuple[int, dict[str, str], bytes]

# SigV4 signing name -> botocore service name, for every service the endpoint serves.
SIGNING_NAMES = {
    "dynamodb": "dynamodb", "iam": "iam", "sts": "sts", "sqs": "sqs", "sns": "sns",
    "monitoring": "cloudwatch", "logs": "logs", "lambda": "lambda",
}
SERVICES = ("dynamodb", "dynamodbstreams", "lambda", "iam", "sts", "sqs", "sns",
            "cloudwatch", "logs")
# The query protocol's API versions (an unsigned request names only Action and Version).
QUERY_VERSIONS = {"2010-05-08": "iam", "2011-06-15": "sts", "2010-03-31": "sns",
                  "2012-11-05": "sqs", "2010-08-01": "cloudwatch"}
# AWS's unsigned operations (an STS call made with a token instead of credentials).
UNSIGNED_OPERATIONS = frozenset({("sts", "AssumeRoleWithWebIdentity"),
                                 ("sts", "AssumeRoleWithSAML")})
_AUTH = re.compile(
    r"^AWS4-HMAC-SHA256 +Credential=(?P<key>[^/,\s]+)/(?P<date>\d{8})/(?P<region>[a-z0-9-]+)/"
    r"(?P<service>[a-z0-9-]+)/aws4_request *, *SignedHeaders=[a-z0-9;.-]+ *, *"
    r"Signature=[0-9a-f]+$")
_BAD_PERCENT = re.compile(r"%(?![0-9A-Fa-f]{2})")
# Characters XML 1.0 cannot carry (an echoed value in a message must not break it).
_XML_INVALID = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\ud800-\udfff\ufffe\uffff]")
# Codes every JSON service shares, with the namespace AWS prefixes them with.
_CORAL = {
    "SerializationException": "com.amazon.coral.service#",
    "UnknownOperationException": "com.amazon.coral.service#",
    "MissingAuthenticationTokenException": "com.amazon.coral.service#",
    "IncompleteSignatureException": "com.amazon.coral.service#",
    "InvalidSignatureException": "com.amazon.coral.service#",
    "InternalFailure": "com.amazon.coral.service#",
    "ValidationException": "com.amazon.coral.validate#",
}
# (code, status) of each protocol-level fault, by protocol.
_KIND_CODES = {
    "json": {
        "missing-authentication": ("MissingAuthenticationTokenException", 400),
        "incomplete-signature": ("IncompleteSignatureException", 400),
        "invalid-signature": ("InvalidSignatureException", 400),
        "unknown-operation": ("UnknownOperationException", 400),
        "malformed": ("SerializationException", 400),
        "wrong-type": ("SerializationException", 400),
        "missing-member": ("ValidationException", 400),
        "invalid-value": ("ValidationException", 400),
        "too-large": ("RequestEntityTooLarge", 413),
        "not-emulated": ("UnknownOperationException", 400),
    },
    "query": {
        "missing-authentication": ("MissingAuthenticationToken", 403),
        "incomplete-signature": ("IncompleteSignature", 400),
        "invalid-signature": ("SignatureDoesNotMatch", 403),
        "unknown-operation": ("InvalidAction", 400),
        "malformed": ("MalformedQueryString", 404),
        "wrong-type": ("InvalidParameterValue", 400),
        "missing-member": ("MissingParameter", 400),
        "invalid-value": ("ValidationError", 400),
        "too-large": ("RequestEntityTooLarge", 413),
        "not-emulated": ("InvalidAction", 400),
    },
    "rest-json": {
        "missing-authentication": ("MissingAuthenticationTokenException", 403),
        "incomplete-signature": ("IncompleteSignatureException", 403),
        "invalid-signature": ("InvalidSignatureException", 403),
        "unknown-operation": ("UnknownOperationException", 404),
        "malformed": ("InvalidRequestContentException", 400),
        "wrong-type": ("SerializationException", 400),
        "missing-member": ("ValidationException", 400),
        "invalid-value": ("ValidationException", 400),
        "too-large": ("RequestEntityTooLargeException", 413),
        "not-emulated": ("UnknownOperationException", 400),
    },
}
# Query services whose invalid values AWS reports under their own code.
_QUERY_INVALID_VALUE = {"sns": "InvalidParameter", "sqs": "InvalidParameterValue"}


@cache
def service_model(service: str) -> Any:
    """botocore's model of ``service`` (the pinned SDK's view of the API)."""
    from localaws import sdk_data

    return sdk_data.service_model(service)


@cache
def _target_prefixes() -> dict[str, str]:
    return {service_model(s).metadata["targetPrefix"]: s for s in SERVICES
            if "targetPrefix" in service_model(s).metadata}


@cache
def _lambda_routes() -> tuple[tuple[str, re.Pattern[str], str], ...]:
    model = service_model("lambda")
    routes = []
    for name in model.operation_names:
        http = model.operation_model(name).http
        uri = http["requestUri"].split("?", 1)[0]
        pattern = re.sub(r"\\{[A-Za-z0-9]+\\\+\\}", ".+", re.escape(uri))
        pattern = re.sub(r"\\{[A-Za-z0-9]+\\}", "[^/]+", pattern)
        literal = len(re.sub(r"\{[^}]+\}", "", uri))
        routes.append((literal, http["method"], re.compile(f"^{pattern}/?$"), name))
    routes.sort(key=lambda route: -route[0])  # the most specific path first
    return tuple((method, pattern, name) for _, method, pattern, name in routes)


def lambda_operation(method: str, path: str) -> str | None:
    """The Lambda operation served at ``method path``, or ``None``."""
    for route_method, pattern, name in _lambda_routes():
        if route_method == method and pattern.match(path):
            return name
    return None


@dataclass
class Credential:
    """The SigV4 credential scope of a signed request."""

    access_key_id: str
    date: str
    region: str
    signing_name: str


@dataclass
class Call:
    """One HTTP request on its way through the pipeline.

    Attributes are computed on first use, so that checks which need only the
    headers never read the body. ``service``, ``protocol``, ``operation``,
    ``region`` and ``access_key_id`` are what the authorization and validation
    steps work from.

    Parameters
    ----------
    environ : dict
        The WSGI environ (its ``wsgi.input`` is replaced by the body once read).
    """

    environ: dict[str, Any]
    request_id: str = field(default_factory=lambda: str(uuid.uuid4()))

    # -- the HTTP request --------------------------------------------------------------
    @property
    def method(self) -> str:
        """The HTTP method."""
        return self.environ.get("REQUEST_METHOD", "GET")

    @property
    def path(self) -> str:
        """The path, percent-decoded."""
        return self.environ.get("PATH_INFO", "") or "/"

    @property
    def query_string(self) -> str:
        """The raw query string."""
        return self.environ.get("QUERY_STRING", "")

    def url_query(self) -> dict[str, str]:
        """The URL's query parameters (last value wins)."""
        return dict(parse_qsl(self.query_string, keep_blank_values=True))

    def header(self, name: str) -> str | None:
        """A request header by (case-insensitive) name."""
        key = name.upper().replace("-", "_")
        if key in ("CONTENT_TYPE", "CONTENT_LENGTH"):
            return self.environ.get(key)
        return self.environ.get("HTTP_" + key)

    @property
    def content_length(self) -> int:
        """``Content-Length`` (0 when absent); a malformed one is the caller's fault."""
        raw = self.environ.get("CONTENT_LENGTH") or "0"
        try:
            length = int(raw)
        except ValueError:
            raise RequestError("malformed", f"Content-Length {raw!r} is not a number") from None
        if length < 0:
            raise RequestError("malformed", "Content-Length is negative")
        return length

    @cached_property
    def body(self) -> bytes:
        """The body, read once; moto is given a fresh copy to read."""
        length = self.content_length
        data = self.environ["wsgi.input"].read(length) if length else b""
        self.environ["wsgi.input"] = io.BytesIO(data)
        self.environ["CONTENT_LENGTH"] = str(len(data))
        return data

    def replace_body(self, data: bytes) -> None:
        """Hand ``data`` on instead of the body the caller sent (a normalised copy)."""
        self.__dict__["body"] = data
        self.__dict__.pop("_json_body", None)  # parsed from the body it replaces
        self.environ["wsgi.input"] = io.BytesIO(data)
        self.environ["CONTENT_LENGTH"] = str(len(data))

    # -- who signed it -----------------------------------------------------------------
    @property
    def signed(self) -> bool:
        """True when the request carries an ``Authorization`` header."""
        return bool(self.header("authorization"))

    @cached_property
    def credential(self) -> Credential | None:
        """The credential scope, or ``None`` when unsigned or not SigV4."""
        match = _AUTH.match((self.header("authorization") or "").strip())
        if match is None:
            return None
        return Credential(match["key"], match["date"], match["region"], match["service"])

    @property
    def region(self) -> str:
        """The signing region (``us-east-1`` for an unsigned request)."""
        return self.credential.region if self.credential else "us-east-1"

    @property
    def access_key_id(self) -> str | None:
        """The caller's access key id (``None`` when unsigned)."""
        return self.credential.access_key_id if self.credential else None

    # -- what it asks for --------------------------------------------------------------
    @cached_property
    def service(self) -> str | None:
        """The botocore name of the service this request is for, or ``None``."""
        target = self.header("x-amz-target") or ""
        if self.credential is not None:
            service = SIGNING_NAMES.get(self.credential.signing_name)
            if service == "dynamodb" and target.startswith("DynamoDBStreams_"):
                return "dynamodbstreams"
            return service
        if target:
            return _target_prefixes().get(target.split(".", 1)[0])
        if lambda_operation(self.method, self.path):
            return "lambda"
        if self.method in ("GET", "POST"):
            params = self._query_params_or_none()
            if params:
                version = QUERY_VERSIONS.get(params.get("Version", ""))
                if version:
                    return version
                action = params.get("Action")
                owners = [s for s in QUERY_VERSIONS.values()
                          if action in service_model(s).operation_names]
                if len(owners) == 1:
                    return owners[0]
        return None

    @property
    def protocol(self) -> str:
        """``"json"``, ``"query"`` or ``"rest-json"`` (``"json"`` when unknown)."""
        if self.service == "lambda":
            return "rest-json"
        if self.service in ("iam", "sts", "sns"):
            return "query"
        if self.service in ("sqs", "cloudwatch") and not self.header("x-amz-target"):
            return "query"
        return "json"

    @cached_property
    def operation(self) -> str:
        """The operation's name, e.g. ``"PutItem"``.

        Raises
        ------
        RequestError
            ``unknown-operation`` (or ``unknown-service``).
        """
        if self.service is None:
            raise RequestError("unknown-service", unknown_service_message(self))
        model = service_model(self.service)
        if self.protocol == "rest-json":
            name = lambda_operation(self.method, self.path)
            if name is None:
                raise RequestError("unknown-operation",
                                   f"Unknown operation {self.method} {self.path}")
            return name
        if self.protocol == "json":
            if self.method != "POST":
                raise RequestError("unknown-operation",
                                   f"The JSON protocol takes POST requests, not {self.method}")
            target = self.header("x-amz-target") or ""
            prefix, _, name = target.partition(".")
            if prefix != model.metadata["targetPrefix"] or name not in model.operation_names:
                raise RequestError("unknown-operation",
                                   f"Unknown operation {target!r}" if target else
                                   "The request has no X-Amz-Target header naming an "
                                   "operation")
            return name
        action = self.query_params().get("Action")
        if not action:
            raise RequestError("unknown-operation",
                               "The request is missing an Action parameter")
        if action not in model.operation_names:
            raise RequestError("unknown-operation",
                               f"Could not find operation {action} for version "
                               f"{model.api_version}")
        return action

    def json_body(self) -> dict[str, Any]:
        """The body as a JSON object (``{}`` when empty), parsed once per body.

        The pipeline's steps (validation, rules, the state's change tracking) share
        the one parsed object: read it, never change it (``replace_body`` hands on a
        new body, which is parsed afresh).

        Raises
        ------
        RequestError
            ``malformed`` when it is not a JSON object.
        """
        parsed = self.__dict__.get("_json_body")
        if parsed is not None:
            return parsed
        body = self.body
        if not body.strip():
            value: dict[str, Any] = {}
        else:
            try:
                value = json.loads(body.decode("utf-8"))
            except (ValueError, RecursionError) as exc:
                raise RequestError("malformed", f"The request body is not valid JSON: {exc}"
                                   ) from None
            if not isinstance(value, dict):
                raise RequestError("malformed", "The request body must be a JSON object")
        self.__dict__["_json_body"] = value
        return value

    def query_params(self) -> dict[str, str]:
        """The query protocol's parameters (form body, else the query string).

        Raises
        ------
        RequestError
            ``malformed`` for bytes that are not UTF-8 or broken percent-escapes.
        """
        form = (self.header("content-type") or "").startswith(
            "application/x-www-form-urlencoded")
        raw = self.body if self.method == "POST" and (form or self.body) else b""
        try:
            text = raw.decode("utf-8") or self.query_string
        except UnicodeDecodeError:
            raise RequestError("malformed", "The query string is not valid UTF-8") from None
        if _BAD_PERCENT.search(text):
            raise RequestError("malformed", "The query string contains a syntax error: a "
                               "'%' not followed by two hexadecimal digits")
        try:
            pairs = parse_qsl(text, keep_blank_values=True, errors="strict")
        except (ValueError, UnicodeDecodeError):
            raise RequestError("malformed", "The query string contains a syntax error"
                               ) from None
        return dict(pairs)

    def _query_params_or_none(self) -> dict[str, str] | None:
        try:
            return self.query_params()
        except RequestError:
            return None


def canonical_content_type(call: Call) -> str | None:
    """The ``Content-Type`` of the call's protocol (moto picks its parser by it)."""
    if call.protocol == "query":
        return "application/x-www-form-urlencoded; charset=utf-8"
    if call.protocol == "json" and call.service is not None:
        return f"application/x-amz-json-{service_model(call.service).metadata['jsonVersion']}"
    return None


def not_emulated(call: Call) -> RequestError:
    """The error for a real operation the local endpoint does not serve."""
    return RequestError("not-emulated",
                        f"{call.service}:{call.operation} is not emulated by the local "
                        "endpoint (see FIDELITY.md)")


def unknown_service_message(call: Call) -> str:
    """Why ``call`` names no service we serve, and what would."""
    if call.credential is not None:
        return (f"The local endpoint does not serve the service {call.credential.signing_name!r}"
                f" named by the request's signature; it serves {', '.join(SERVICES)}.")
    return ("The request names no AWS service the local endpoint serves: send it with an "
            "AWS SDK or the AWS CLI (SigV4-signed, any credentials), which name the "
            f"service in the signature. Served: {', '.join(SERVICES)}.")


def render_error(call: Call, error: ServiceError) -> Response:
    """``error`` as the call's protocol renders it: ``(status, headers, body)``."""
    code, status = error.code, error.status
    protocol = call.protocol if _service_known(call) else "unknown"
    if isinstance(error, RequestError):
        if error.kind == "unknown-service" or protocol == "unknown":
            signing_name = call.credential.signing_name if call.credential else None
            return unserved.render(signing_name, error.message, call.request_id)
        code, status = _KIND_CODES[protocol][error.kind]
        if error.kind == "invalid-value" and protocol == "query":
            code = _QUERY_INVALID_VALUE.get(call.service or "", code)
    if protocol == "unknown":
        protocol = "json"
    headers = {"x-amzn-RequestId": call.request_id}
    if protocol == "rest-json":
        rendered = ServiceError(code, error.message, status, error.extra).to_rest_json()
        rendered[1].update(headers)
        return rendered
    if protocol == "query":
        fault = "Sender" if status < 500 else "Receiver"
        namespace = service_model(call.service).metadata.get("xmlNamespace") or \
            "http://queue.amazonaws.com/doc/2012-11-05/"
        xml = (f'<ErrorResponse xmlns="{namespace}"><Error><Type>{fault}</Type>'
               f"<Code>{escape(code)}</Code><Message>{escape(error.message)}</Message>"
               f"</Error><RequestId>{call.request_id}</RequestId></ErrorResponse>")
        headers["Content-Type"] = "text/xml"
        return status, headers, _XML_INVALID.sub("\ufffd", xml).encode()
    version = "1.0"
    if call.service and "jsonVersion" in service_model(call.service).metadata:
        version = service_model(call.service).metadata["jsonVersion"]
    namespace = _CORAL.get(code, "com.amazonaws.dynamodb.v20120810#"
                           if call.service in ("dynamodb", "dynamodbstreams") else "")
    headers["Content-Type"] = f"application/x-amz-json-{version}"
    headers["x-amzn-ErrorType"] = code
    if call.service in ("sqs", "cloudwatch"):  # awsQueryCompatible: the query code too
        headers["x-amzn-query-error"] = f"{code};{'Sender' if status < 500 else 'Receiver'}"
    body = {"__type": namespace + code, "message": error.message, **error.extra}
    return status, headers, json.dumps(body).encode()


def xml_safe(body: bytes) -> bytes:
    """``body`` with the characters XML 1.0 cannot carry replaced."""
    text = body.decode("utf-8", errors="replace")
    return _XML_INVALID.sub("\ufffd", text).encode()


def internal_failure(call: Call) -> Response:
    """``500 InternalFailure`` (Lambda: ``ServiceException``) in the call's shape."""
    message = ("An internal error occurred in the local endpoint (request id "
               f"{call.request_id}); its log file has the traceback.")
    code = "ServiceException" if _service_known(call) and call.protocol == "rest-json" \
        else "InternalFailure"
    return render_error(call, ServiceError(code, message, status=500))


def _service_known(call: Call) -> bool:
    try:
        return call.service is not None
    except RequestError:
        return False
