"""The permission checks AWS Lambda makes when an event source mapping is saved.

AWS refuses ``CreateEventSourceMapping`` (and updates) when the function's
execution role cannot read the stream, or cannot send to the on-failure
destination. The local endpoint makes the same checks against the role's
policies in moto's IAM: identity-based policies only (inline and attached
managed policies), ``Allow`` statements matched by action and resource with
``*`` / ``?`` wildcards, any matching ``Deny`` winning. Conditions, permission
boundaries and resource-based policies are not evaluated (see FIDELITY.md).
"""

from __future__ import annotations

import fnmatch
import json
from typing import Any
from urllib.parse import unquote

from moto.awslambda.models import lambda_backends
from moto.iam.models import iam_backends

STREAM_ACTIONS = ("dynamodb:GetRecords", "dynamodb:GetShardIterator",
                  "dynamodb:DescribeStream", "dynamodb:ListStreams")


def _statements(document: Any) -> list[dict[str, Any]]:
    if isinstance(document, str):
        try:
            document = json.loads(unquote(document) if document.startswith("%") else document)
        except ValueError:
            return []
    statements = document.get("Statement", []) if isinstance(document, dict) else []
    return [statements] if isinstance(statements, dict) else list(statements)


def _as_list(value: Any) -> list[str]:
    if value is None:
        return []
    return [value] if isinstance(value, str) else list(value)


def _matches(patterns: list[str], value: str, *, case: bool) -> bool:
    for pattern in patterns:
        if case and fnmatch.fnmatchcase(value, pattern):
            return True
        if not case and fnmatch.fnmatchcase(value.lower(), pattern.lower()):
            return True
    return False


def role_documents(account_id: str, role_arn: str) -> list[Any]:
    """Every identity-based policy document of a role (empty if the role is unknown)."""
    name = role_arn.rsplit("/", 1)[-1]
    try:
        role = iam_backends[account_id]["global"].get_role(name)
    except Exception:  # moto raises its own not-found type
        return []
    documents: list[Any] = list(role.policies.values())
    for policy in role.managed_policies.values():
        for version in policy.versions:
            if version.version_id == policy.default_version_id:
                documents.append(version.document)
    return documents


def allowed(documents: list[Any], action: str, resource: str) -> bool:
    """Whether the policies allow ``action`` on ``resource`` (explicit deny wins)."""
    verdict = False
    for document in documents:
        for statement in _statements(document):
            actions = _as_list(statement.get("Action"))
            not_actions = _as_list(statement.get("NotAction"))
            resources = _as_list(statement.get("Resource"))
            if actions and not _matches(actions, action, case=False):
                continue
            if not_actions and _matches(not_actions, action, case=False):
                continue
            if not actions and not not_actions:
                continue
            if resources and not _matches(resources, resource, case=True):
                continue
            if statement.get("Effect") == "Deny":
                return False
            if statement.get("Effect") == "Allow":
                verdict = True
    return verdict


def missing_permissions(account_id: str, region: str, cfg: Any) -> str | None:
    """AWS's refusal message when the mapping's role lacks a permission, else ``None``.

    Parameters
    ----------
    cfg : MappingConfig
        The mapping as it would be saved.
    """
    name = cfg.function_name
    try:
        function = lambda_backends[account_id][region].get_function(name)
    except Exception:  # the function check happens elsewhere
        return None
    documents = role_documents(account_id, function.role)
    stream = cfg.event_source_arn
    for action in STREAM_ACTIONS:
        resource = "*" if action == "dynamodb:ListStreams" else stream
        if not (allowed(documents, action, resource) or allowed(documents, action, stream)):
            return (f"Cannot access stream {stream}. Please ensure the role can perform the "
                    "GetRecords, GetShardIterator, DescribeStream, and ListStreams Actions on "
                    "your stream in IAM.")
    destination = cfg.on_failure_destination
    if destination and ":sqs:" in destination and not allowed(
            documents, "sqs:SendMessage", destination):
        return ("The provided execution role does not have permissions to call "
                "SendMessage on SQS")
    if destination and ":sns:" in destination and not allowed(
            documents, "sns:Publish", destination):
        return "The provided execution role does not have permissions to call Publish on SNS"
    return None
