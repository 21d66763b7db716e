"""moto's DynamoDB handler called directly, without its Flask shell around it.

moto serves every service as a Flask application behind a dispatcher that picks the
application from the request (signing name, ``X-Amz-Target``, host). For a DynamoDB
request Flask only routes ``/`` to ``DynamoHandler.dispatch``: the dispatcher's look-up
(under a lock shared by every service), Flask's request and application contexts, its
URL adapter, ``flask_cors``' headers (the pipeline drops them: ``Gate.finish``) and the
teardown cost about a quarter of a ``PutItem``'s server time
(``python -m benchmarks.write_profile``; ``benchmarks/PROFILE.md``).

:class:`DirectDynamoDB` wraps moto's dispatcher. A request the dispatcher would hand to
moto's DynamoDB application at ``/`` (SigV4-signed for ``dynamodb``, an
``X-Amz-Target`` of the 2012-08-10 API, which the pipeline has already checked) is
answered by the same handler, with the same request object, the same Flask response
(default content type, header values, ``HEAD``) and the same treatment of a werkzeug
``HTTPException`` and of botocore's ``ClientError`` as moto's Flask path gives it.
Every other request (DynamoDB Streams, another path, any other service) goes to the
dispatcher unchanged. One header changes, for the better: an allowed browser origin's
answer carried ``Vary: Origin`` twice (``flask_cors``' and the gate's), now once.
"""

from __future__ import annotations

from typing import Any

#: The DynamoDB API version moto's ``dynamodb`` application serves (older ones have their own).
TARGET_PREFIX = "DynamoDB_20120810."


def is_direct(environ: dict[str, Any]) -> bool:
    """True for a request moto's dispatcher would route to its DynamoDB app's ``/``.

    Parameters
    ----------
    environ : dict
        The WSGI environ.

    Returns
    -------
    bool
        SigV4-signed with the signing name ``dynamodb``, an ``X-Amz-Target`` of the
        2012-08-10 API and the path ``/`` (the one route moto's DynamoDB app has).
    """
    if environ.get("PATH_INFO") != "/":
        return False
    target = environ.get("HTTP_X_AMZ_TARGET") or ""
    if not target.startswith(TARGET_PREFIX):
        return False
    auth = environ.get("HTTP_AUTHORIZATION") or ""
    # The dispatcher's reading of the credential scope (infer_service_region_host).
    try:
        scope = auth.split(",")[0].split()[1].split("/")
    except IndexError:
        return False
    return len(scope) == 5 and scope[3].lower() == "dynamodb"


class DirectDynamoDB:
    """WSGI app: DynamoDB requests to moto's handler directly, the rest to ``dispatcher``.

    Parameters
    ----------
    dispatcher : callable
        moto's ``DomainDispatcherApplication`` (every other request).
    """

    def __init__(self, dispatcher: Any) -> None:
        from flask import Response
        from moto.core.request import Request
        from moto.dynamodb.responses import DynamoHandler
        from moto.moto_api import recorder

        class ServerRequest(Request):
            """moto's request, as its Flask app's ``BackendRequest`` marks it."""

            from_wsgi_server = True

        self.dispatcher = dispatcher
        self._request_class = ServerRequest
        self._handler = DynamoHandler.dispatch
        self._response_class = Response
        self._recorder = recorder

    def __call__(self, environ: dict[str, Any], start_response: Any) -> Any:
        if not is_direct(environ):
            return self.dispatcher(environ, start_response)
        return self.serve(environ)(environ, start_response)

    def serve(self, environ: dict[str, Any]) -> Any:
        """The response moto's Flask app would give (a WSGI application itself)."""
        from botocore.exceptions import ClientError
        from werkzeug.exceptions import HTTPException

        request = self._request_class(environ)
        try:
            # moto's convert_to_flask_response, without Flask's request context
            try:
                self._recorder._record_request(request)
                result = self._handler(request, request.raw_url, dict(request.headers))
            except ClientError as exc:
                result = 400, {}, exc.response["Error"]["Message"]
        except HTTPException as exc:  # Flask answers these itself (PROPAGATE_EXCEPTIONS)
            return exc.get_response(environ)
        if len(result) == 3:
            status, headers, content = result
        else:
            status, headers, content = 200, {}, result
        response = self._response_class(response=content, status=status, headers=headers)
        if request.method == "HEAD" and "content-length" in headers:
            response.headers["Content-Length"] = headers["content-length"]
        return response
