"""The permission checks AWS Lambda makes when an event source mapping is saved.

AWS refuses ``CreateEventSourceMapping`` (and updates) when the function's
execution role cannot read the stream, or cannot send to the on-failure
destination. The local endpoint makes the same checks against the role's
identity-based policies (inline and attached managed policies) with the one
policy evaluator, :mod:`localaws.policy` (what it does not evaluate is listed
there and in FIDELITY.md).
"""

from __future__ import annotations

from typing import Any

from localaws import authz, backends

STREAM_ACTIONS = ("dynamodb:GetRecords", "dynamodb:GetShardIterator",
                  "dynamodb:DescribeStream", "dynamodb:ListStreams")


def _allowed(account_id: str, role_arn: str, action: str, resource: str) -> bool:
    return authz.check(account_id, role_arn, action, resource).allowed


def missing_permissions(account_id: str, region: str, cfg: Any) -> str | None:
    """AWS's refusal message when the mapping's role lacks a permission, else ``None``.

    Parameters
    ----------
    cfg : MappingConfig
        The mapping as it would be saved.
    """
    name = cfg.function_name
    function = backends.lambda_function(account_id, region, name)
    if function is None:  # the function check happens elsewhere
        return None
    role = function.role
    stream = cfg.event_source_arn
    for action in STREAM_ACTIONS:
        # ListStreams is authorized on "*" by the Service Authorization Reference; a
        # grant on the table's streams is accepted too.
        resources = ("*", stream) if action == "dynamodb:ListStreams" else (stream,)
        if not any(_allowed(account_id, role, action, r) for r in resources):
            return (f"Cannot access stream {stream}. Please ensure the role can perform the "
                    "GetRecords, GetShardIterator, DescribeStream, and ListStreams Actions on "
                    "your stream in IAM.")
    destination = cfg.on_failure_destination
    if destination and ":sqs:" in destination and not _allowed(
            account_id, role, "sqs:SendMessage", destination):
        return ("The provided execution role does not have permissions to call "
                "SendMessage on SQS")
    if destination and ":sns:" in destination and not _allowed(
            account_id, role, "sns:Publish", destination):
        return "The provided execution role does not have permissions to call Publish on SNS"
    return None
