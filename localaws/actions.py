"""What a request asks IAM for: its actions and the resource ARN each is authorized on.

For every service a workshop function can call, this follows the Service
Authorization Reference and the services' own IAM pages:

* **DynamoDB**: the table ARN (``table/NAME``), or the index ARN
  (``table/NAME/index/INDEX``) for a ``Query``/``Scan`` of an index; one check per
  table for ``BatchGetItem``/``BatchWriteItem``; for transactions, the underlying
  item action per item (``PutItem``, ``UpdateItem``, ``DeleteItem``,
  ``ConditionCheckItem``, ``GetItem``, as the developer guide's "Using IAM with
  DynamoDB transactions" says); PartiQL statements as ``PartiQLSelect`` /
  ``Insert`` / ``Update`` / ``Delete``; DynamoDB Streams on the stream ARN
  (``GetRecords`` on the stream its shard iterator belongs to).
* **SQS**: the queue ARN; the ``…Batch`` operations are authorized as their single
  action (``SendMessageBatch`` needs ``sqs:SendMessage``).
* **SNS**: the topic ARN (a phone number for an SMS ``Publish``).
* **CloudWatch**: ``PutMetricData`` and the other metric calls on ``*``; alarm and
  dashboard calls on the alarm / dashboard ARN.
* **CloudWatch Logs**: ``log-group:G:log-stream:S`` for stream operations,
  ``log-group:G:log-stream:`` for group operations (``CreateLogGroup`` included).
* **Lambda**: the function ARN (``Invoke`` is ``lambda:InvokeFunction``), the
  mapping ARN for one event source mapping, ``*`` for lists and creations.
* **IAM / STS**: role, policy and user ARNs; ``sts:GetCallerIdentity`` needs no
  permission.

Any other operation is authorized as ``<service>:<Operation>`` on ``*``.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from functools import lru_cache
from typing import Any
from urllib.parse import parse_qs, urlsplit

#: SigV4 signing name -> IAM action prefix.
PREFIXES = {"monitoring": "cloudwatch", "execute-api": "execute-api"}
_SQS_UNBATCHED = {"SendMessageBatch": "SendMessage", "DeleteMessageBatch": "DeleteMessage",
                  "ChangeMessageVisibilityBatch": "ChangeMessageVisibility"}
_TRANSACT_ACTIONS = {"Put": "PutItem", "Update": "UpdateItem", "Delete": "DeleteItem",
                     "ConditionCheck": "ConditionCheckItem", "Get": "GetItem"}
_LOG_STREAM_OPERATIONS = frozenset({"CreateLogStream", "PutLogEvents", "GetLogEvents",
                                    "DeleteLogStream"})
_PARTIQL = [
    (re.compile(r"\s*SELECT\b.*?\bFROM\s+\"?([^\"\s.]+)\"?(?:\.\"?([^\"\s]+)\"?)?", re.I | re.S),
     "PartiQLSelect"),
    (re.compile(r"\s*INSERT\s+INTO\s+\"?([^\"\s]+)\"?", re.I), "PartiQLInsert"),
    (re.compile(r"\s*UPDATE\s+\"?([^\"\s]+)\"?", re.I), "PartiQLUpdate"),
    (re.compile(r"\s*DELETE\s+FROM\s+\"?([^\"\s]+)\"?", re.I), "PartiQLDelete"),
]


@dataclass(frozen=True)
class Requested:
    """What one request needs: ``(action, resource)`` pairs, all of which must be allowed."""

    service: str  # the IAM prefix: dynamodb, sqs, sns, cloudwatch, logs, lambda, iam, sts…
    operation: str
    checks: tuple[tuple[str, str], ...]


@dataclass(frozen=True)
class Where:
    """Account and region a request is made in (to build ARNs)."""

    account_id: str
    region: str
    partition: str = "aws"

    def arn(self, service: str, resource: str, *, region: bool = True,
            account: bool = True) -> str:
        """``arn:<partition>:<service>:<region>:<account>:<resource>``."""
        return (f"arn:{self.partition}:{service}:{self.region if region else ''}:"
                f"{self.account_id if account else ''}:{resource}")


def requested(signing_name: str, environ: dict[str, Any], body: bytes,
              where: Where) -> Requested:
    """Map one HTTP request to what IAM must allow for it.

    Parameters
    ----------
    signing_name : str
        The service of the SigV4 credential scope (``dynamodb``, ``sqs``, ``monitoring``…).
    environ : dict
        The WSGI environment (method, path, query string, ``X-Amz-Target``).
    body : bytes
        The request body.
    where : Where
        The caller's account and the signing region.
    """
    prefix = PREFIXES.get(signing_name, signing_name)
    if prefix == "lambda":
        return _lambda(environ, body, where)
    target = environ.get("HTTP_X_AMZ_TARGET", "")
    if target:
        operation = target.rsplit(".", 1)[-1]
        params = _json(body)
    else:
        params = _form(body, environ.get("QUERY_STRING", ""))
        operation = params.get("Action", "")
    if prefix == "dynamodb":
        if target.startswith("DynamoDBStreams"):
            checks = _streams(operation, params, where)
        else:
            checks = _dynamodb(operation, params, where)
    else:
        mapper = _MAPPERS.get(prefix)
        checks = mapper(operation, params, where) if mapper else [(f"{prefix}:{operation}", "*")]
    return Requested(prefix, operation, tuple(checks))


# --------------------------------------------------------------------------- parsing


def _json(body: bytes) -> dict[str, Any]:
    try:
        value = json.loads(body or b"{}")
    except ValueError:
        return {}
    return value if isinstance(value, dict) else {}


def _form(body: bytes, query: str) -> dict[str, Any]:
    params: dict[str, Any] = {}
    for source in (query, body.decode("utf-8", "replace") if body else ""):
        for key, values in parse_qs(source, keep_blank_values=True).items():
            params[key] = values[0]
    return params


def _members(params: dict[str, Any], name: str) -> list[str]:
    """A list parameter in either protocol: JSON list, or query ``Name.member.N``."""
    value = params.get(name)
    if isinstance(value, list):
        return [str(v) for v in value]
    keys = sorted((k for k in params if k.startswith(f"{name}.member.")),
                  key=lambda k: int(k.rsplit(".", 1)[-1]) if k.rsplit(".", 1)[-1].isdigit() else 0)
    return [str(params[k]) for k in keys]


# --------------------------------------------------------------------------- DynamoDB


def _table(where: Where, name: str) -> str:
    return name if name.startswith("arn:") else where.arn("dynamodb", f"table/{name}")


def _dynamodb(op: str, params: dict[str, Any], where: Where) -> list[tuple[str, str]]:
    action = f"dynamodb:{op}"
    if op in ("BatchGetItem", "BatchWriteItem"):
        return [(action, _table(where, t)) for t in (params.get("RequestItems") or {})] \
            or [(action, "*")]
    if op in ("TransactWriteItems", "TransactGetItems"):
        checks = []
        for item in params.get("TransactItems") or []:
            for kind, detail in (item or {}).items():
                sub = _TRANSACT_ACTIONS.get(kind)
                if sub and isinstance(detail, dict):
                    checks.append((f"dynamodb:{sub}", _table(where, str(detail.get("TableName")))))
        return _unique(checks) or [(action, "*")]
    if op == "ExecuteStatement":
        return [_partiql(str(params.get("Statement", "")), where)]
    if op == "BatchExecuteStatement":
        return _unique([_partiql(str(s.get("Statement", "")), where)
                        for s in params.get("Statements") or [] if isinstance(s, dict)])
    if op == "ExecuteTransaction":
        return _unique([_partiql(str(s.get("Statement", "")), where)
                        for s in params.get("TransactStatements") or [] if isinstance(s, dict)])
    table = params.get("TableName")
    if isinstance(table, str) and table:
        arn = _table(where, table)
        index = params.get("IndexName")
        if op in ("Query", "Scan") and isinstance(index, str) and index:
            arn = f"{arn}/index/{index}"
        return [(action, arn)]
    for key in ("ResourceArn", "TableArn"):
        if isinstance(params.get(key), str):
            return [(action, params[key])]
    return [(action, "*")]


def _partiql(statement: str, where: Where) -> tuple[str, str]:
    for pattern, action in _PARTIQL:
        match = pattern.match(statement)
        if match:
            arn = _table(where, match.group(1))
            if action == "PartiQLSelect" and match.group(2):
                arn = f"{arn}/index/{match.group(2)}"
            return f"dynamodb:{action}", arn
    return "dynamodb:PartiQLSelect", "*"


def _streams(op: str, params: dict[str, Any], where: Where) -> list[tuple[str, str]]:
    action = f"dynamodb:{op}"
    if op == "GetRecords":
        iterator = str(params.get("ShardIterator", ""))
        stream = iterator.split("|", 1)[0]
        return [(action, stream if stream.startswith("arn:") else "*")]
    arn = params.get("StreamArn")
    return [(action, arn if isinstance(arn, str) and arn else "*")]


def _unique(checks: list[tuple[str, str]]) -> list[tuple[str, str]]:
    return list(dict.fromkeys(checks))


# --------------------------------------------------------------------------- SQS / SNS


def _queue_arn(where: Where, url: str) -> str:
    parts = [p for p in urlsplit(url).path.split("/") if p]
    if len(parts) >= 2:
        return f"arn:{where.partition}:sqs:{where.region}:{parts[-2]}:{parts[-1]}"
    return "*"


def _sqs(op: str, params: dict[str, Any], where: Where) -> list[tuple[str, str]]:
    action = f"sqs:{_SQS_UNBATCHED.get(op, op)}"
    if isinstance(params.get("QueueUrl"), str):
        return [(action, _queue_arn(where, params["QueueUrl"]))]
    if isinstance(params.get("QueueName"), str):
        owner = params.get("QueueOwnerAWSAccountId") or where.account_id
        return [(action, f"arn:{where.partition}:sqs:{where.region}:{owner}:{params['QueueName']}")]
    return [(action, "*")]


def _sns(op: str, params: dict[str, Any], where: Where) -> list[tuple[str, str]]:
    action = f"sns:{op}"
    for key in ("TopicArn", "TargetArn", "ResourceArn"):
        if params.get(key):
            return [(action, str(params[key]))]
    if params.get("SubscriptionArn"):
        return [(action, str(params["SubscriptionArn"]).rsplit(":", 1)[0])]
    if op == "CreateTopic" and params.get("Name"):
        return [(action, where.arn("sns", str(params["Name"])))]
    if params.get("PhoneNumber"):
        return [(action, str(params["PhoneNumber"]))]
    return [(action, "*")]


# --------------------------------------------------------------------------- CloudWatch, Logs


def _cloudwatch(op: str, params: dict[str, Any], where: Where) -> list[tuple[str, str]]:
    action = f"cloudwatch:{op}"
    names = _members(params, "AlarmNames")
    if not names and params.get("AlarmName"):
        names = [str(params["AlarmName"])]
    if names:
        return [(action, where.arn("cloudwatch", f"alarm:{n}")) for n in names]
    dashboards = _members(params, "DashboardNames")
    if not dashboards and params.get("DashboardName"):
        dashboards = [str(params["DashboardName"])]
    if dashboards:
        return [(action, where.arn("cloudwatch", f"dashboard/{d}", region=False))
                for d in dashboards]
    return [(action, "*")]


def log_resource(where: Where, group: str, stream: str | None = None) -> str:
    """The ARN CloudWatch Logs authorizes: ``log-group:G:log-stream:S`` (``S`` may be empty)."""
    return where.arn("logs", f"log-group:{group}:log-stream:{stream or ''}")


def _logs(op: str, params: dict[str, Any], where: Where) -> list[tuple[str, str]]:
    action = f"logs:{op}"
    group = params.get("logGroupName") or params.get("logGroupIdentifier")
    if isinstance(group, str) and group.startswith("arn:"):
        group = group.split(":log-group:", 1)[-1].split(":", 1)[0]
    if op == "DescribeLogGroups":
        return [(action, log_resource(where, ""))]
    if not isinstance(group, str) or not group:
        return [(action, "*")]
    stream = params.get("logStreamName") if op in _LOG_STREAM_OPERATIONS else None
    return [(action, log_resource(where, group, stream if isinstance(stream, str) else None))]


# --------------------------------------------------------------------------- IAM, STS


def _iam(op: str, params: dict[str, Any], where: Where) -> list[tuple[str, str]]:
    action = f"iam:{op}"
    if params.get("PolicyArn"):
        return [(action, str(params["PolicyArn"]))]
    if params.get("RoleName"):
        return [(action, where.arn("iam", f"role/{params['RoleName']}", region=False))]
    if params.get("UserName"):
        return [(action, where.arn("iam", f"user/{params['UserName']}", region=False))]
    if op == "CreatePolicy" and params.get("PolicyName"):
        return [(action, where.arn("iam", f"policy/{params['PolicyName']}", region=False))]
    return [(action, "*")]


def _sts(op: str, params: dict[str, Any], where: Where) -> list[tuple[str, str]]:
    if op == "GetCallerIdentity":  # "No permissions are required to perform this operation."
        return []
    if params.get("RoleArn"):
        return [(f"sts:{op}", str(params["RoleArn"]))]
    return [(f"sts:{op}", "*")]


_MAPPERS = {"sqs": _sqs, "sns": _sns, "cloudwatch": _cloudwatch, "logs": _logs, "iam": _iam,
            "sts": _sts}


# --------------------------------------------------------------------------- Lambda


@lru_cache(maxsize=1)
def _lambda_routes() -> list[tuple[str, re.Pattern[str], str]]:
    from localaws import sdk_data

    model = sdk_data.service_model("lambda")
    routes = []
    for name in model.operation_names:
        http = model.operation_model(name).http
        path = http["requestUri"].split("?", 1)[0].rstrip("/") or "/"
        literal = len(re.sub(r"\{[^}]+\}", "", path))
        pieces = re.split(r"\{([A-Za-z0-9_]+)\+?\}", path)
        regex = "".join(re.escape(p) if i % 2 == 0 else f"(?P<{p}>[^/]+)"
                        for i, p in enumerate(pieces))
        routes.append((literal, http["method"], re.compile(regex + "/?$"), name))
    routes.sort(key=lambda r: -r[0])
    return [(method, pattern, name) for _, method, pattern, name in routes]


_LAMBDA_ACTIONS = {"Invoke": "InvokeFunction", "InvokeWithResponseStream": "InvokeFunction"}


def _lambda(environ: dict[str, Any], body: bytes, where: Where) -> Requested:
    method, path = environ.get("REQUEST_METHOD", "GET"), environ.get("PATH_INFO", "")
    for route_method, pattern, name in _lambda_routes():
        match = pattern.match(path) if route_method == method else None
        if match is None:
            continue
        action = f"lambda:{_LAMBDA_ACTIONS.get(name, name)}"
        groups = match.groupdict()
        function = groups.get("FunctionName")
        if name == "CreateFunction":
            function = str(_json(body).get("FunctionName") or "") or None
        if function:
            return Requested("lambda", name, ((action, _function_arn(where, function)),))
        if groups.get("UUID"):
            arn = where.arn("lambda", f"event-source-mapping:{groups['UUID']}")
            return Requested("lambda", name, ((action, arn),))
        return Requested("lambda", name, ((action, "*"),))
    return Requested("lambda", "Unknown", (("lambda:Unknown", "*"),))


def _function_arn(where: Where, function: str) -> str:
    from urllib.parse import unquote

    function = unquote(function)
    if function.startswith("arn:"):
        return function
    parts = function.split(":")
    if len(parts) >= 3 and parts[1] == "function":  # ACCOUNT:function:NAME[:QUALIFIER]
        return f"arn:{where.partition}:lambda:{where.region}:" + function
    return where.arn("lambda", f"function:{function}")
