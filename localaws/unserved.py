"""The answer to a request for a service the endpoint does not serve, in that service's shape.

The endpoint serves nine services; a request signed for another one (S3, EC2,
CloudFormation, …) is refused with ``400 UnrecognizedServiceException``. Its SDK
parses the answer with that service's protocol: an S3 client given a JSON body
shows only "An error occurred (400) … Bad Request", a CloudFormation client
"Unable to parse response … invalid XML received". Rendered in the protocol of
the service the signature names, the SDK shows our message: which services are
served.
"""

from __future__ import annotations

import json
from functools import lru_cache
from xml.sax.saxutils import escape

CODE = "UnrecognizedServiceException"
_SUPPORTED = ("json", "rest-json", "query", "rest-xml", "ec2")


@lru_cache(maxsize=64)  # signing names come from the request: bounded
def protocol_of(signing_name: str | None) -> str:
    """The protocol an SDK speaks for ``signing_name`` (``"json"`` when unknown)."""
    from localaws import sdk_data

    metadata = sdk_data.service_metadata(signing_name) if signing_name else None
    if metadata is None:
        return "json"
    for protocol in metadata.get("protocols") or [metadata.get("protocol")]:
        if protocol in _SUPPORTED:
            return protocol
    return "json"


def render(signing_name: str | None, message: str,
           request_id: str) -> tuple[int, dict[str, str], bytes]:
    """``400 UnrecognizedServiceException`` as the named service's SDK parses it.

    Parameters
    ----------
    signing_name : str or None
        The signing name of the request's SigV4 credential scope, if any.
    message : str
        Why the request is refused (which services are served).
    request_id : str
        The request's id.

    Returns
    -------
    tuple
        ``(status, headers, body)``.
    """
    protocol = protocol_of(signing_name)
    text = escape(message)
    if protocol == "rest-xml":
        body = (f'<?xml version="1.0" encoding="UTF-8"?>\n<Error><Code>{CODE}</Code>'
                f"<Message>{text}</Message><RequestId>{request_id}</RequestId></Error>")
    elif protocol == "query":
        body = (f"<ErrorResponse><Error><Type>Sender</Type><Code>{CODE}</Code>"
                f"<Message>{text}</Message></Error><RequestId>{request_id}</RequestId>"
                "</ErrorResponse>")
    elif protocol == "ec2":
        body = (f"<Response><Errors><Error><Code>{CODE}</Code><Message>{text}</Message>"
                f"</Error></Errors><RequestID>{request_id}</RequestID></Response>")
    else:
        return 400, {"Content-Type": "application/json", "x-amzn-ErrorType": CODE,
                     "x-amzn-RequestId": request_id}, \
            json.dumps({"__type": CODE, "message": message}).encode()
    return 400, {"Content-Type": "text/xml", "x-amzn-RequestId": request_id}, body.encode()
