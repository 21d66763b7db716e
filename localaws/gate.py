"""The checks a request passes before any service code runs.

* **Host**: only ``127.0.0.1``, ``localhost`` and ``[::1]`` with the endpoint's
  port, plus the hosts given with ``--allow-host``. A page that rebinds its own
  DNS name to 127.0.0.1 still sends its own name, and is refused (403).
* **Origin**: no browser origin is allowed unless given with ``--allow-origin``
  (the notebooks call the endpoint from the kernel, never from the page). A
  request or preflight from any other origin gets 403 and no CORS header, so a
  web page can neither read an answer nor cause a change.
* **Admin token**: ``/_workshop/*`` answers only requests carrying the token the
  endpoint writes to its state directory at start (:func:`read_admin_token`).
* **Authentication**: a request must be SigV4-signed, as by any SDK; the
  signature itself is not verified (any credentials are accepted), as on other
  local emulators. Unsigned requests get AWS's ``MissingAuthenticationToken``,
  malformed signatures ``IncompleteSignature``, and a credential scoped to a
  region AWS does not serve the service in ``InvalidSignatureException`` /
  ``SignatureDoesNotMatch`` (IAM and STS, global in moto, excepted).
"""

from __future__ import annotations

import functools
import hmac
import os
import secrets
from collections.abc import Iterable
from pathlib import Path

from localaws.authz import DENIALS
from localaws.errors import RequestError, ServiceError
from localaws.paths import token_file
from localaws.protocols import (
    SIGNING_NAMES,
    UNSIGNED_OPERATIONS,
    Call,
    Response,
    render_error,
    unknown_service_message,
)

ADMIN_PATH = "/_workshop/"
ADMIN_HEADER = "X-Workshop-Token"
MOTO_API_PATH = "/moto-api"
LOOPBACK_NAMES = ("127.0.0.1", "localhost", "[::1]")
_CORS_METHODS = "GET, POST, PUT, DELETE, HEAD, PATCH"
_CORS_EXPOSE = ("x-amzn-RequestId, x-amzn-ErrorType, x-amzn-query-error, x-amz-request-id, "
                "X-Amz-Function-Error, X-Amz-Log-Result, X-Amz-Executed-Version, ETag")


class GateConfigError(ValueError):
    """An ``--allow-host`` or ``--allow-origin`` value that makes no sense (the caller's)."""


def new_admin_token() -> str:
    """A fresh, unguessable admin token."""
    return secrets.token_urlsafe(32)


def write_admin_token(port: int, token: str) -> None:
    """Write ``token`` to the state directory, readable by the learner only."""
    path = token_file(port)
    path.unlink(missing_ok=True)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "w") as out:
        out.write(token)


def read_admin_token(port: int) -> str | None:
    """The admin token of the endpoint on ``port``, or ``None`` when there is none."""
    try:
        return Path(token_file(port)).read_text().strip() or None
    except OSError:
        return None


def normalise_origin(origin: str) -> str:
    """``scheme://host[:port]`` in lower case, as browsers send ``Origin``.

    Raises
    ------
    GateConfigError
        For ``*`` or a value that is not an origin.
    """
    value = origin.strip().rstrip("/").lower()
    if value == "*" or "://" not in value or value.count("/") != 2:
        raise GateConfigError(
            f"--allow-origin {origin!r} is not an origin: give one exactly as the browser "
            "sends it, e.g. http://localhost:8080 (no '*', no path)")
    return value


def _split_host(host: str) -> tuple[str, int | None]:
    host = host.strip().lower()
    if host.startswith("["):
        name, _, rest = host.partition("]")
        name += "]"
        port = rest[1:] if rest.startswith(":") else ""
    elif host.count(":") == 1:
        name, port = host.split(":")
    else:
        name, port = host, ""
    if not port:
        return name, None
    return name, int(port) if port.isdigit() else -1


class Gate:
    """Host, origin and admin-token checks, and the CORS headers of an answer.

    Parameters
    ----------
    port : int
        The port the endpoint listens on.
    token : str
        The admin token for ``/_workshop/*``.
    allow_hosts : iterable of str
        Extra ``Host`` values (``name`` for any port equal to ours, or ``name:port``).
    allow_origins : iterable of str
        Browser origins allowed to call the endpoint (none by default).
    """

    def __init__(self, port: int, token: str, allow_hosts: Iterable[str] = (),
                 allow_origins: Iterable[str] = ()) -> None:
        self.port = port
        self.token = token
        self.names = set(LOOPBACK_NAMES)
        self.exact_hosts: set[str] = set()
        for host in allow_hosts:
            name, host_port = _split_host(host)
            if not name or host_port == -1:
                raise GateConfigError(f"--allow-host {host!r} is not a host name")
            if host_port is None:
                self.names.add(name)
            else:
                self.exact_hosts.add(f"{name}:{host_port}")
        self.origins = {normalise_origin(o) for o in allow_origins}

    # -- checks: each returns a response to send, or None to go on ------------------------
    def check_host(self, call: Call) -> Response | None:
        """Refuse (403) a ``Host`` that is not the endpoint's."""
        host = (call.header("host") or "").strip().lower()
        name, port = _split_host(host) if host else ("", None)
        if port is None:
            port = 80
        if (name in self.names and port == self.port) or f"{name}:{port}" in self.exact_hosts:
            return None
        return _forbidden(call, f"Host {host!r} is not served: the local endpoint answers only "
                                f"127.0.0.1:{self.port}, localhost:{self.port} and "
                                f"[::1]:{self.port} (add others with --allow-host)")

    def check_origin(self, call: Call) -> Response | None:
        """Answer preflights; refuse (403, no CORS header) a foreign browser origin."""
        origin = call.header("origin")
        if origin is None:
            return None
        if not self.origin_allowed(call, origin):
            return _forbidden(call, f"Origin {origin!r} is not allowed to call the local "
                                    "endpoint (start it with --allow-origin to allow one)")
        if call.method == "OPTIONS" and call.header("access-control-request-method"):
            headers = self.cors_headers(origin)
            headers["Access-Control-Allow-Methods"] = _CORS_METHODS
            requested = call.header("access-control-request-headers")
            if requested:
                headers["Access-Control-Allow-Headers"] = requested
            headers["Access-Control-Max-Age"] = "600"
            return 200, headers, b""
        return None

    def check_admin(self, call: Call) -> Response | None:
        """``/_workshop/*`` only with the admin token."""
        if not call.path.startswith(ADMIN_PATH):
            return None
        given = call.header(ADMIN_HEADER) or ""
        if hmac.compare_digest(given.encode(), self.token.encode()):
            return None
        return _forbidden(call, f"{call.path} needs the admin token: send it in the "
                                f"{ADMIN_HEADER} header (localaws.gate.read_admin_token)")

    # -- CORS headers of an answer -------------------------------------------------------
    def origin_allowed(self, call: Call, origin: str) -> bool:
        """True for an ``--allow-origin`` origin, or the endpoint's own."""
        value = origin.strip().rstrip("/").lower()
        own = "http://" + (call.header("host") or "").strip().lower()
        return value in self.origins or value == own

    @staticmethod
    def cors_headers(origin: str) -> dict[str, str]:
        """The CORS headers granting ``origin`` (an allowed one) access."""
        return {"Access-Control-Allow-Origin": origin, "Vary": "Origin",
                "Access-Control-Expose-Headers": _CORS_EXPOSE}

    def finish(self, call: Call, headers: Iterable[tuple[str, str]]) -> list[tuple[str, str]]:
        """An answer's headers without moto's ``Access-Control-*``, plus ours if allowed."""
        out = [(k, v) for k, v in headers if not k.lower().startswith("access-control-")]
        origin = call.header("origin")
        if origin is not None and self.origin_allowed(call, origin):
            out += list(self.cors_headers(origin).items())
        return out


def check_signature(call: Call) -> Response | None:
    """Refuse unsigned requests as AWS does (admin and moto-api routes excepted).

    Raises
    ------
    RequestError
        ``missing-authentication``, ``incomplete-signature`` or ``unknown-service``.
    """
    if call.path.startswith((ADMIN_PATH, MOTO_API_PATH)):
        return None
    if not call.signed:
        if call.service is None:
            raise RequestError("unknown-service", unknown_service_message(call))
        if (call.service, _safe_operation(call)) in UNSIGNED_OPERATIONS:
            return None
        message = ("Missing Authentication Token" if call.protocol == "rest-json"
                   else "Request is missing Authentication Token")
        raise RequestError("missing-authentication", message)
    if call.credential is None:
        header = call.header("authorization") or ""
        missing = [f"Authorization header requires '{part}' parameter." for part in
                   ("Credential", "Signature", "SignedHeaders") if f"{part}=" not in header]
        if not header.startswith("AWS4-HMAC-SHA256 "):
            missing.insert(0, "Only the AWS4-HMAC-SHA256 (SigV4) algorithm is supported.")
        problem = " ".join(missing) or "The Authorization header is not a SigV4 header."
        raise RequestError("incomplete-signature", f"{problem} Authorization={header[:200]}")
    if SIGNING_NAMES.get(call.credential.signing_name) is None:
        raise RequestError("unknown-service", unknown_service_message(call))
    region = call.credential.region
    if call.service not in GLOBAL_SERVICES and region not in service_regions(call.service):
        raise RequestError("invalid-signature", "Credential should be scoped to a valid "
                                                f"region, not '{region}'. ")
    return None


#: Services moto keeps one backend per partition for, whatever the signing region.
GLOBAL_SERVICES = frozenset({"iam", "sts"})


@functools.cache
def service_regions(service: str) -> frozenset[str]:
    """The regions AWS serves ``service`` in, every partition's (botocore's endpoint data,
    the list moto makes its regional backends for: any other region is unknown to it)."""
    from localaws import sdk_data

    sdk_data.service_model(service)  # a served service: its model is kept anyway
    return frozenset(sdk_data.service_regions(service))


def _safe_operation(call: Call) -> str | None:
    try:
        return call.operation
    except RequestError:
        return None


def _forbidden(call: Call, message: str) -> Response:
    """403 in the shape of the service the request names, so its SDK shows ``message``.

    The code is the one the service uses for a denied request (``authz.DENIALS``:
    ``AccessDenied`` for IAM, STS, SQS and CloudWatch, ``AuthorizationError`` for SNS,
    ``AccessDeniedException`` for the others); a request that names no service gets
    the JSON shape.
    """
    try:
        service = call.service
    except RequestError:
        service = None
    code = DENIALS.get(service, ("AccessDeniedException",))[0]
    return render_error(call, ServiceError(code, message, status=403))
