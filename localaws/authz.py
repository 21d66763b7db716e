"""Authorization of the calls functions make, by their execution role, as on AWS.

Every request reaches :func:`authorize` before any service code runs. A request
signed with a function's role session (:mod:`localaws.executor.sessions`) is
mapped to its IAM actions and resources (:mod:`localaws.actions`) and evaluated
against the role's identity-based policies, inline and managed (AWS managed
included), read from moto's IAM (:mod:`localaws.policy`). A denial answers in the
service's own error shape and code, with AWS's message::

    User: arn:aws:sts::123456789012:assumed-role/ROLE/FUNCTION is not authorized to
    perform: dynamodb:PutItem on resource: arn:aws:dynamodb:…:table/NAME because no
    identity-based policy allows the dynamodb:PutItem action

Requests signed with any other credentials (the learner's, the endpoint's own)
are not restricted, like an account administrator's.

Every decision made for a role is counted in :func:`usage`, which lets a test show
that a workshop policy grants no action that no step uses.
"""

from __future__ import annotations

import io
import json
import logging
import re
import threading
import uuid
from collections import defaultdict
from typing import Any

from localaws import actions, policy
from localaws.executor import sessions

log = logging.getLogger("localaws.authz")

_CREDENTIAL = re.compile(
    r"Credential=(?P<key>[^/,\s]+)/\d{8}/(?P<region>[^/]+)/(?P<service>[^/]+)/")
_QUERY_CREDENTIAL = re.compile(
    r"X-Amz-Credential=(?P<key>[^%/&]+)(?:%2F|/)\d{8}(?:%2F|/)(?P<region>[^%/&]+)(?:%2F|/)"
    r"(?P<service>[^%/&]+)")

#: IAM prefix -> (error code, HTTP status, wire style) of an authorization failure,
#: from each service's API reference "Common errors" / error list.
DENIALS: dict[str, tuple[str, int, str]] = {
    "dynamodb": ("AccessDeniedException", 400, "json-dynamodb"),
    "logs": ("AccessDeniedException", 400, "json"),
    "lambda": ("AccessDeniedException", 403, "rest-json"),
    "sqs": ("AccessDenied", 403, "json-query-compatible"),
    "cloudwatch": ("AccessDenied", 403, "json-query-compatible"),
    "sns": ("AuthorizationError", 403, "query"),
    "iam": ("AccessDenied", 403, "query"),
    "sts": ("AccessDenied", 403, "query"),
}
_XMLNS = {"sns": "http://sns.amazonaws.com/doc/2010-03-31/",
          "iam": "https://iam.amazonaws.com/doc/2010-05-08/",
          "sts": "https://sts.amazonaws.com/doc/2011-06-15/",
          "sqs": "http://queue.amazonaws.com/doc/2012-11-05/",
          "cloudwatch": "http://monitoring.amazonaws.com/doc/2010-08-01/"}

Response = tuple[int, dict[str, str], bytes]


# --------------------------------------------------------------------------- the check


def authorize(environ: dict[str, Any]) -> Response | None:
    """Check one request; the denial to send back, or None to let it through.

    Reads (and puts back) the body only for requests signed with a function's role
    session; every other request costs one regular-expression search.
    """
    match = _CREDENTIAL.search(environ.get("HTTP_AUTHORIZATION") or "")
    if match is None and "X-Amz-Credential" in environ.get("QUERY_STRING", ""):
        match = _QUERY_CREDENTIAL.search(environ["QUERY_STRING"])
    if match is None:
        return None
    session = sessions.lookup(match.group("key"))
    if session is None:
        return None
    body = _take_body(environ)
    where = actions.Where(session.account_id, match.group("region"),
                          _partition(session.role_arn))
    wanted = actions.requested(match.group("service"), environ, body, where)
    policies = role_policies(session.account_id, session.role_arn)
    for action, resource in wanted.checks:
        decision = policy.evaluate(policies, action, resource)
        _record(session.role_name, action, decision.allowed)
        if not decision.allowed:
            log.info("denied %s on %s to %s", action, resource, session.arn)
            return denial(wanted.service, environ, session.arn, action, resource, decision)
    return None


def _partition(arn: str) -> str:
    parts = arn.split(":")
    return parts[1] if len(parts) > 1 and parts[1] else "aws"


def _take_body(environ: dict[str, Any]) -> bytes:
    length = int(environ.get("CONTENT_LENGTH") or 0)
    body = environ["wsgi.input"].read(length) if length else b""
    environ["wsgi.input"] = io.BytesIO(body)
    environ["CONTENT_LENGTH"] = str(len(body))
    return body


# --------------------------------------------------------------------------- role policies


def role_policies(account_id: str, role_arn: str) -> list[policy.Policy]:
    """The compiled identity-based policies of a role (empty when the role does not exist).

    Inline policies and the default version of every attached managed policy. Each
    document is compiled once per distinct text (:func:`localaws.policy.compile_policy`),
    so a changed policy takes effect on the next request and an unchanged one is free.
    """
    compiled = [_compiled(d) for d in role_documents(account_id, role_arn)]
    return [p for p in compiled if p is not None]


def role_documents(account_id: str, role_arn: str) -> list[Any]:
    """Every identity-based policy document of a role in effect now (the AWS timing
    profile shows a change only once it has propagated, :mod:`localaws.profile`)."""
    from localaws import profile

    documents = stored_role_documents(account_id, role_arn)
    active = profile.current()
    return documents if active is None else active.role_view(account_id, role_arn, documents)


def stored_role_documents(account_id: str, role_arn: str) -> list[Any]:
    """Every identity-based policy document of a role, as moto stores them."""
    from localaws import backends

    name = role_arn.rsplit("/", 1)[-1]
    for _ in range(3):  # moto's dicts may change under us while IAM is being updated
        role = backends.iam_role(account_id, name)
        if role is None:
            return []
        try:
            documents: list[Any] = list(role.policies.values())
            for managed in list(role.managed_policies.values()):
                for version in list(managed.versions):
                    if version.version_id == managed.default_version_id:
                        documents.append(version.document)
            return documents
        except RuntimeError:
            continue
    return []


def _compiled(document: Any) -> policy.Policy | None:
    try:
        return policy.compile_policy(document)
    except policy.PolicyDocumentError as exc:
        log.warning("a role policy is not evaluated: %s", exc)
        return None


def check(account_id: str, role_arn: str, action: str, resource: str) -> policy.Decision:
    """Evaluate one action of a role outside a request (mapping checks, log delivery)."""
    decision = policy.evaluate(role_policies(account_id, role_arn), action, resource)
    _record(role_arn.rsplit("/", 1)[-1], action, decision.allowed)
    return decision


def may_write_logs(account_id: str, region: str, role_arn: str, group: str, stream: str, *,
                   group_exists: bool, stream_exists: bool) -> bool:
    """Whether Lambda may deliver a function's output to ``group``/``stream`` with its role.

    Lambda creates the group (``logs:CreateLogGroup``) and the stream
    (``logs:CreateLogStream``) when they are missing, then sends the events
    (``logs:PutLogEvents``), each with the role's session.
    """
    where = actions.Where(account_id, region, _partition(role_arn))
    needed = []
    if not group_exists:
        needed.append(("logs:CreateLogGroup", actions.log_resource(where, group)))
    if not stream_exists:
        needed.append(("logs:CreateLogStream", actions.log_resource(where, group, stream)))
    needed.append(("logs:PutLogEvents", actions.log_resource(where, group, stream)))
    return all(check(account_id, role_arn, a, r).allowed for a, r in needed)


# --------------------------------------------------------------------------- denials


def message(service: str, principal: str, action: str, resource: str,
            decision: policy.Decision) -> str:
    """AWS's AccessDenied text (SQS lower-cases the action, SNS upper-cases its prefix)."""
    shown = action
    if service == "sqs":
        shown = action.lower()
    elif service == "sns":
        shown = "SNS:" + action.split(":", 1)[1]
    on = f" on resource: {resource}" if resource != "*" else ""
    reason = decision.reason.format(action=shown)
    return f"User: {principal} is not authorized to perform: {shown}{on} {reason}"


def denial(service: str, environ: dict[str, Any], principal: str, action: str,
           resource: str, decision: policy.Decision) -> Response:
    """The error response of a denied request, in the service's protocol."""
    code, status, style = DENIALS.get(service, ("AccessDenied", 403, "query"))
    text = message(service, principal, action, resource, decision)
    request_id = str(uuid.uuid4())
    if style in ("json-query-compatible",) and not environ.get("HTTP_X_AMZ_TARGET"):
        style = "query"  # the same service reached through its query protocol
    if style == "json-dynamodb":
        body = {"__type": f"com.amazon.coral.service#{code}", "Message": text}
        return status, {"Content-Type": "application/x-amz-json-1.0",
                        "x-amzn-RequestId": request_id}, json.dumps(body).encode()
    if style == "json":
        body = {"__type": code, "message": text}
        return status, {"Content-Type": "application/x-amz-json-1.1",
                        "x-amzn-RequestId": request_id}, json.dumps(body).encode()
    if style == "json-query-compatible":
        body = {"__type": "com.amazon.coral.service#AccessDeniedException", "message": text}
        return status, {"Content-Type": "application/x-amz-json-1.0",
                        "x-amzn-query-error": f"{code};Sender",
                        "x-amzn-RequestId": request_id}, json.dumps(body).encode()
    if style == "rest-json":
        body = {"Type": "User", "Message": text}
        return status, {"Content-Type": "application/json", "x-amzn-ErrorType": code,
                        "x-amzn-RequestId": request_id}, json.dumps(body).encode()
    from xml.sax.saxutils import escape

    xmlns = _XMLNS.get(service, "")
    xml = (f'<ErrorResponse xmlns="{xmlns}"><Error><Type>Sender</Type><Code>{code}</Code>'
           f"<Message>{escape(text)}</Message></Error><RequestId>{request_id}</RequestId>"
           "</ErrorResponse>")
    return status, {"Content-Type": "text/xml", "x-amzn-RequestId": request_id}, xml.encode()


# --------------------------------------------------------------------------- usage

_usage: dict[str, dict[str, set[str]]] = defaultdict(lambda: {"allowed": set(),
                                                              "denied": set()})
_usage_lock = threading.Lock()


def _record(role_name: str, action: str, allowed: bool) -> None:
    with _usage_lock:
        _usage[role_name]["allowed" if allowed else "denied"].add(action)


def usage() -> dict[str, dict[str, list[str]]]:
    """Per role name: the actions evaluated for it so far, ``allowed`` and ``denied``."""
    with _usage_lock:
        return {role: {kind: sorted(names) for kind, names in entry.items()}
                for role, entry in list(_usage.items())}
