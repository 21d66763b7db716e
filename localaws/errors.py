"""Errors the local endpoint answers with, classified by whose fault they are.

* :class:`ServiceError` - the caller sent something AWS would refuse: a 4xx
  with AWS's error code and message (or a 429 throttle). An operation's own
  errors carry their code (``ResourceNotFoundException``); the protocol-level
  failures every service shares (:class:`RequestError`: a body that does not
  parse, an unknown operation, a missing signature, a missing member) carry a
  *kind*, and :mod:`localaws.protocols` gives them the code and status the
  request's protocol uses (``SerializationException`` in JSON,
  ``MalformedQueryString`` in the query protocol, ...).
* The learner's function failing is not an error of the endpoint at all: it is
  a function error in a 200 answer (``X-Amz-Function-Error``).
* :class:`EndpointError` - something went wrong inside the local endpoint itself
  (a bug, or a dependency that failed). The request pipeline logs it with its
  traceback and answers ``500 InternalFailure`` in the service's shape; so does
  any other unexpected exception.
"""

from __future__ import annotations

import json
from typing import Any


class ServiceError(Exception):
    """An AWS error response: the caller's fault (4xx) or a throttle (429).

    Parameters
    ----------
    code : str
        AWS error code, e.g. ``"InvalidParameterValueException"``.
    message : str
        The message AWS returns, verbatim where known.
    status : int, optional
        HTTP status code, 400 by default.
    extra : dict, optional
        Additional fields of the error body (e.g. ``{"Reason": ...}``).
    """

    def __init__(
        self,
        code: str,
        message: str,
        status: int = 400,
        extra: dict[str, Any] | None = None,
    ) -> None:
        super().__init__(f"{code}: {message}")
        self.code = code
        self.message = message
        self.status = status
        self.extra = dict(extra or {})

    @property
    def sender_fault(self) -> bool:
        """True when the caller is to blame (every 4xx)."""
        return self.status < 500

    def to_rest_json(self) -> tuple[int, dict[str, str], bytes]:
        """Render as the Lambda (rest-json) protocol renders errors.

        Returns
        -------
        tuple
            ``(status, headers, body)``.
        """
        body = {"Type": "User" if self.sender_fault else "Service", "message": self.message,
                **self.extra}
        headers = {
            "Content-Type": "application/json",
            "x-amzn-ErrorType": self.code,
        }
        return self.status, headers, json.dumps(body).encode()


class RequestError(ServiceError):
    """A protocol-level fault of the caller, shaped by the request's protocol.

    Parameters
    ----------
    kind : str
        One of :data:`KINDS`.
    message : str
        What is wrong, AWS's wording where known.
    """

    KINDS = frozenset({
        "missing-authentication",  # no Authorization header
        "incomplete-signature",    # an Authorization header that is not SigV4
        "invalid-signature",       # a SigV4 scope AWS would refuse (a region it lacks)
        "unknown-service",         # nothing in the request names a service we serve
        "unknown-operation",       # the service has no such operation
        "malformed",               # the body (or query string) does not parse
        "missing-member",          # a required member is absent
        "wrong-type",              # a member of the wrong type
        "invalid-value",           # a member out of its range, length or enum
        "too-large",               # the body exceeds the operation's limit
        "not-emulated",            # a real operation the local endpoint does not serve
    })

    def __init__(self, kind: str, message: str) -> None:
        if kind not in self.KINDS:
            raise ValueError(f"unknown request error kind {kind!r}")
        super().__init__(kind, message)
        self.kind = kind


class EndpointError(Exception):
    """A failure inside the local endpoint (our fault, never the caller's)."""


def invalid_parameter(message: str) -> ServiceError:
    """Return an ``InvalidParameterValueException`` with ``message``."""
    return ServiceError("InvalidParameterValueException", message)


def validation_error(message: str) -> ServiceError:
    """Return a ``ValidationException`` with ``message``."""
    return ServiceError("ValidationException", message)


def not_found(message: str = "The resource you requested does not exist.") -> ServiceError:
    """Return a 404 ``ResourceNotFoundException``."""
    return ServiceError("ResourceNotFoundException", message, status=404)
