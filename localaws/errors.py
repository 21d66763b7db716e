"""Errors the local endpoint answers with, in AWS's wire shape.

Two families, classified by whose fault they are:

* :class:`ServiceError` - the caller sent something AWS would refuse (a 4xx with
  AWS's error code and message), or the service is throttling (429).
* :class:`EndpointError` - something went wrong inside the local endpoint itself
  (a bug or an unavailable dependency); answered as a 500 ``ServiceException``.
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

    def to_rest_json(self) -> tuple[int, dict[str, str], bytes]:
        """Render as the Lambda (rest-json) protocol renders errors.

        Returns
        -------
        tuple
            ``(status, headers, body)``.
        """
        body = {"Type": "User", "message": self.message, **self.extra}
        headers = {
            "Content-Type": "application/json",
            "x-amzn-ErrorType": self.code,
        }
        return self.status, headers, json.dumps(body).encode()


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
