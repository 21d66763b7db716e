"""IAM for the workshop: execution roles and least-privilege policies.

A Lambda function acts with the permissions of its *execution role*. The role
trusts ``lambda.amazonaws.com`` and holds policies; the workshop's policies are
all scoped to the workshop's own resources:

======================  =========================================================
policy                  grants
======================  =========================================================
:func:`logs_policy`     writing the function's own log group
:func:`stream_read_policy`  reading one table's streams (what the trigger needs)
:func:`queue_send_policy`   sending to the on-failure queue
:func:`topic_publish_policy` publishing to the alerts topic
:func:`replica_write_policy` writing the replica table (Exercise 8)
======================  =========================================================

The source pages attach the AWS-managed policy ``AWSLambdaDynamoDBExecutionRole``
instead; its ``"Resource": "*"`` lets the role read *every* stream and write
*every* log group of the account. :func:`managed_policy_document` shows it; the
notebooks use the scoped policies.

On real AWS a new role or policy takes a few seconds to be usable everywhere.
:func:`retry_while_propagating` retries the calls that fail meanwhile
(``CreateFunction``, ``CreateEventSourceMapping``) with a progress bar; the local
endpoint applies changes at once, so it never retries there.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping
from typing import Any, TypeVar
from urllib.parse import unquote

import pandas as pd

from helpers.clients import Backend, existed
from helpers.naming import Names
from localaws.policy import evaluate

T = TypeVar("T")

LAMBDA_TRUST_POLICY: dict[str, Any] = {
    "Version": "2012-10-17",
    "Statement": [
        {
            "Effect": "Allow",
            "Principal": {"Service": "lambda.amazonaws.com"},
            "Action": "sts:AssumeRole",
        }
    ],
}
"""Lets the Lambda service take on (assume) the role when it runs the function."""

MANAGED_STREAM_POLICY_ARN = "arn:aws:iam::aws:policy/service-role/AWSLambdaDynamoDBExecutionRole"
"""The AWS-managed policy the source page attaches (``Resource: "*"``)."""

NO_SUCH_ENTITY = "NoSuchEntity"
"""What IAM answers when a role or policy to remove is not there."""

STREAM_READ_ACTIONS = (
    "dynamodb:DescribeStream",
    "dynamodb:GetRecords",
    "dynamodb:GetShardIterator",
    "dynamodb:ListStreams",
)
"""What an event source mapping needs on a DynamoDB stream."""

LOG_ACTIONS = ("logs:CreateLogGroup", "logs:CreateLogStream", "logs:PutLogEvents")
#: What the production replicator calls: it writes (puts and deletes) in batches only.
REPLICA_WRITE_ACTIONS = ("dynamodb:BatchWriteItem",)
#: What Exercise 8's policy allows on tables: what the teaching replicator calls.
LAB_REPLICA_WRITE_ACTIONS = ("dynamodb:PutItem", "dynamodb:DeleteItem")

POLICY_LOGS = "write-own-logs"
POLICY_STREAM_READ = "read-stream"
POLICY_QUEUE_SEND = "send-failures-to-queue"
POLICY_TOPIC_PUBLISH = "publish-failures-to-topic"
POLICY_REPLICA_WRITE = "write-replica-table"

_ACCOUNTS: dict[tuple[str, str, str | None], tuple[str, str]] = {}


# --------------------------------------------------------------------------- ARNs


def account(backend: Backend) -> tuple[str, str]:
    """Return ``(partition, account_id)`` of the backend's credentials (cached).

    Parameters
    ----------
    backend : Backend
        Where the calls go.

    Returns
    -------
    tuple of str
        E.g. ``("aws", "123456789012")``.
    """
    key = (backend.name, backend.region, backend.endpoint_url)
    if key not in _ACCOUNTS:
        identity = backend.client("sts").get_caller_identity()
        _ACCOUNTS[key] = (identity["Arn"].split(":")[1], identity["Account"])
    return _ACCOUNTS[key]


def table_arn(backend: Backend, table: str) -> str:
    """ARN of a DynamoDB table of the backend's region."""
    partition, account_id = account(backend)
    return f"arn:{partition}:dynamodb:{backend.region}:{account_id}:table/{table}"


def table_streams_arn(backend: Backend, table: str) -> str:
    """ARN pattern matching every stream of a table, present and future.

    Turning a stream off and on again gives it a new ARN (a new timestamp
    label); the pattern ``.../table/<name>/stream/*`` still matches it, and
    nothing else.
    """
    return f"{table_arn(backend, table)}/stream/*"


def role_arn(backend: Backend, role: str) -> str:
    """ARN of a role, read from IAM."""
    return backend.client("iam").get_role(RoleName=role)["Role"]["Arn"]


# --------------------------------------------------------------------------- documents


def _document(*statements: Mapping[str, Any]) -> dict[str, Any]:
    return {"Version": "2012-10-17", "Statement": [dict(s) for s in statements]}


def _allow(actions: Iterable[str], resources: Iterable[str], sid: str) -> dict[str, Any]:
    return {"Sid": sid, "Effect": "Allow", "Action": list(actions), "Resource": list(resources)}


def logs_policy(backend: Backend, function: str) -> dict[str, Any]:
    """Let a function write its own log group, and only that one.

    This is what the Lambda console's "basic Lambda permissions" role holds.

    Parameters
    ----------
    backend : Backend
        Gives the region and account of the ARN.
    function : str
        Function name.

    Returns
    -------
    dict
        A policy document.
    """
    partition, account_id = account(backend)
    group = f"arn:{partition}:logs:{backend.region}:{account_id}:log-group:/aws/lambda/{function}"
    return _document(
        _allow(["logs:CreateLogGroup"], [group, f"{group}:*"], "CreateOwnLogGroup"),
        _allow(["logs:CreateLogStream", "logs:PutLogEvents"], [f"{group}:*"], "WriteOwnLogs"),
    )


def stream_read_policy(backend: Backend, *tables: str) -> dict[str, Any]:
    """Let an event source mapping read the streams of ``tables``, and no other stream.

    Parameters
    ----------
    backend : Backend
        Gives the region and account of the ARNs.
    *tables : str
        Table names.

    Returns
    -------
    dict
        A policy document with the four stream actions on ``table/<name>/stream/*``.
    """
    if not tables:
        raise ValueError("stream_read_policy needs at least one table name")
    return _document(
        _allow(STREAM_READ_ACTIONS, [table_streams_arn(backend, t) for t in tables], "ReadStreams")
    )


def queue_send_policy(queue_arn: str) -> dict[str, Any]:
    """Let an event source mapping send failure records to one SQS queue."""
    return _document(_allow(["sqs:SendMessage"], [queue_arn], "SendFailureRecords"))


def topic_publish_policy(topic_arn: str) -> dict[str, Any]:
    """Let an event source mapping publish failure records to one SNS topic."""
    return _document(_allow(["sns:Publish"], [topic_arn], "PublishFailureRecords"))


def replica_write_policy(backend: Backend, table: str,
                         actions: Iterable[str] = REPLICA_WRITE_ACTIONS) -> dict[str, Any]:
    """Write access to the replica table, and to nothing else.

    Exercise 8's original policy allows ``PutItem`` and ``DeleteItem`` on ``*``
    (:data:`LAB_REPLICA_WRITE_ACTIONS`, what the teaching replicator calls). The
    production replicator writes (puts and deletes) with ``BatchWriteItem`` only,
    which IAM authorizes as an action of its own (:data:`REPLICA_WRITE_ACTIONS`):
    ``PutItem``/``DeleteItem`` are checked only for the single-item calls.

    Parameters
    ----------
    backend : Backend
        Where the table lives (account and region of its ARN).
    table : str
        The replica table.
    actions : iterable of str
        The DynamoDB actions to allow.

    Returns
    -------
    dict
        The policy document.
    """
    return _document(_allow(tuple(actions), [table_arn(backend, table)], "WriteReplica"))


def managed_policy_document(backend: Backend, arn: str = MANAGED_STREAM_POLICY_ARN) -> dict:
    """Read the default version of a managed policy (e.g. ``AWSLambdaDynamoDBExecutionRole``)."""
    iam = backend.client("iam")
    policy = iam.get_policy(PolicyArn=arn)["Policy"]
    version = iam.get_policy_version(PolicyArn=arn, VersionId=policy["DefaultVersionId"])
    return _parse(version["PolicyVersion"]["Document"])


def _parse(document: Any) -> dict[str, Any]:
    if isinstance(document, str):
        return json.loads(unquote(document) if document.startswith("%") else document)
    return dict(document)


# --------------------------------------------------------------------------- roles


def put_policy(backend: Backend, role: str, policy_name: str, document: Mapping) -> None:
    """Add or replace an inline policy of a role (idempotent)."""
    backend.client("iam").put_role_policy(
        RoleName=role, PolicyName=policy_name, PolicyDocument=json.dumps(document)
    )


def remove_policy(backend: Backend, role: str, policy_name: str) -> bool:
    """Delete an inline policy; returns False when the role did not have it."""
    iam = backend.client("iam")
    return existed(lambda: iam.delete_role_policy(RoleName=role, PolicyName=policy_name),
                   missing=NO_SUCH_ENTITY)


def detach_managed_policy(
    backend: Backend, role: str, arn: str = MANAGED_STREAM_POLICY_ARN
) -> bool:
    """Detach a managed policy; returns False when it was not attached."""
    iam = backend.client("iam")
    return existed(lambda: iam.detach_role_policy(RoleName=role, PolicyArn=arn),
                   missing=NO_SUCH_ENTITY)


def revoke_stream_read(backend: Backend, role: str) -> bool:
    """Remove the stream permissions (inline policy, and the managed policy if attached)."""
    removed = remove_policy(backend, role, POLICY_STREAM_READ)
    return detach_managed_policy(backend, role) or removed


def delete_role(backend: Backend, name: str) -> bool:
    """Delete a role with its inline and attached policies; False when it did not exist."""
    iam = backend.client("iam")

    def strip_and_delete() -> None:
        for page in iam.get_paginator("list_role_policies").paginate(RoleName=name):
            for policy in page["PolicyNames"]:
                iam.delete_role_policy(RoleName=name, PolicyName=policy)
        for page in iam.get_paginator("list_attached_role_policies").paginate(RoleName=name):
            for policy in page["AttachedPolicies"]:
                iam.detach_role_policy(RoleName=name, PolicyArn=policy["PolicyArn"])
        iam.delete_role(RoleName=name)

    return existed(strip_and_delete, missing=NO_SUCH_ENTITY)


# --------------------------------------------------------------------------- reading


def role_policy_documents(backend: Backend, role: str) -> dict[str, dict[str, Any]]:
    """Every identity-based policy document of a role.

    Returns
    -------
    dict
        ``{"inline:<name>": document, "managed:<arn>": document}``.
    """
    iam = backend.client("iam")
    documents: dict[str, dict[str, Any]] = {}
    for page in iam.get_paginator("list_role_policies").paginate(RoleName=role):
        for name in page["PolicyNames"]:
            doc = iam.get_role_policy(RoleName=role, PolicyName=name)["PolicyDocument"]
            documents[f"inline:{name}"] = _parse(doc)
    for page in iam.get_paginator("list_attached_role_policies").paginate(RoleName=role):
        for attached in page["AttachedPolicies"]:
            arn = attached["PolicyArn"]
            documents[f"managed:{arn}"] = managed_policy_document(backend, arn)
    return documents


def _as_list(value: Any) -> list[str]:
    if value is None:
        return []
    return [value] if isinstance(value, str) else list(value)


def role_policies_table(backend: Backend, role: str) -> pd.DataFrame:
    """One row per statement of the role's policies: policy, effect, actions, resources."""
    rows = []
    for policy, document in role_policy_documents(backend, role).items():
        statements = document.get("Statement", [])
        for statement in [statements] if isinstance(statements, dict) else statements:
            rows.append(
                {
                    "policy": policy,
                    "effect": statement.get("Effect"),
                    "actions": ", ".join(_as_list(statement.get("Action"))),
                    "resources": ", ".join(_as_list(statement.get("Resource"))),
                }
            )
    return pd.DataFrame(rows, columns=["policy", "effect", "actions", "resources"])


def allows(documents: Iterable[Mapping[str, Any]], action: str, resource: str) -> bool:
    """Whether identity-based policy documents allow ``action`` on ``resource``.

    The endpoint's own evaluator (:func:`localaws.policy.evaluate`): ``Action`` /
    ``NotAction``, ``Resource`` / ``NotResource``, ``*``/``?`` wildcards, an explicit
    ``Deny`` wins. Conditions and permission boundaries are not evaluated.
    """
    return evaluate(list(documents), action, resource).allowed


def missing_actions(
    backend: Backend, role: str, actions: Iterable[str], resource: str
) -> list[str]:
    """The ``actions`` the role's policies do not allow on ``resource``."""
    documents = list(role_policy_documents(backend, role).values())
    return [a for a in actions if not allows(documents, a, resource)]


def workshop_policy_documents(
    backend: Backend,
    names: Names | None = None,
    *,
    queue_arn: str | None = None,
    topic_arn: str | None = None,
) -> dict[str, dict[str, Any]]:
    """Every policy document the workshop's helpers put on its roles.

    Parameters
    ----------
    backend : Backend
        Gives region and account of the ARNs.
    names : Names, optional
        The workshop's names (default names when omitted).
    queue_arn, topic_arn : str, optional
        The on-failure queue and alerts topic; built from ``names`` when omitted.

    Returns
    -------
    dict
        ``"<role>/<policy name>"`` to document. Used by a test that checks no
        document grants anything on ``"*"``.
    """
    names = names or Names()
    partition, account_id = account(backend)
    queue_arn = (
        queue_arn or f"arn:{partition}:sqs:{backend.region}:{account_id}:{names.failure_queue}"
    )
    topic_arn = (
        topic_arn or f"arn:{partition}:sns:{backend.region}:{account_id}:{names.alerts_topic}"
    )
    processor, replicator = names.stream_processor_role, names.replica_role
    return {
        f"{processor}/{POLICY_LOGS}": logs_policy(backend, names.stream_processor_function),
        f"{processor}/{POLICY_STREAM_READ}": stream_read_policy(backend, names.ecommerce_table),
        f"{processor}/{POLICY_QUEUE_SEND}": queue_send_policy(queue_arn),
        f"{processor}/{POLICY_TOPIC_PUBLISH}": topic_publish_policy(topic_arn),
        f"{replicator}/{POLICY_LOGS}": logs_policy(backend, names.replica_function),
        f"{replicator}/{POLICY_STREAM_READ}": stream_read_policy(backend, names.logfile_table),
        f"{replicator}/{POLICY_REPLICA_WRITE}": replica_write_policy(backend, names.replica_table),
    }
