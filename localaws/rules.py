"""Input rules beyond botocore's model, checked before the service runs.

AWS checks some inputs the model cannot describe (a PartiQL statement's
syntax, a pagination token it issued); moto assumes them and crashes without
them. Each rule here answers such input as AWS does, in the protocol's shape,
instead of letting it reach moto, or hands moto the input in the form it needs
(a literal queue-name prefix). The fuzz tests found every one of them.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from typing import Any
from urllib.parse import unquote, urlencode

from localaws.errors import ServiceError
from localaws.protocols import Call, service_model

Rule = Callable[[Call, dict[str, Any]], None]
PARTIQL_OPERATIONS = ("ExecuteStatement", "BatchExecuteStatement", "ExecuteTransaction")


def _partiql_statements(call: Call, params: dict[str, Any]) -> None:
    """Each PartiQL statement must parse (AWS: "Statement wasn't well formed")."""
    from moto.dynamodb.parsing.partiql import get_query_metadata

    statements = [params.get("Statement")]
    for key in ("Statements", "TransactStatements"):
        statements += [s.get("Statement") for s in params.get(key) or [] if isinstance(s, dict)]
    for statement in statements:
        if not isinstance(statement, str):
            continue
        try:
            get_query_metadata(statement)
        except Exception:  # the parser raises bare Exception/IndexError on bad syntax
            raise ServiceError("ValidationException",
                               "Statement wasn't well formed, can't be processed: "
                               f"{statement[:100]}") from None


def _decimal(text: str) -> bool:
    """ASCII digits only (``"¹".isdigit()`` is true, and ``int("¹")`` fails)."""
    return text.isascii() and text.isdigit()


def _sns_next_token(call: Call, params: dict[str, Any]) -> None:
    """SNS pagination tokens are the ones SNS handed out (moto's are integers)."""
    token = params.get("NextToken")
    if token is not None and not _decimal(token):
        raise ServiceError("InvalidParameter", "Invalid parameter: NextToken")


def _iam_marker(call: Call, params: dict[str, Any]) -> None:
    """IAM pagination markers are the ones IAM handed out (moto's are integers)."""
    marker = params.get("Marker")
    if marker is not None and not _decimal(marker):
        raise ServiceError("ValidationError", "Invalid Marker")


def _sns_publish(call: Call, params: dict[str, Any]) -> None:
    """A message goes to a topic, a target or a phone number (SMS up to 1,600 bytes)."""
    _sns_message_attributes(call, params)
    if not any(params.get(k) for k in ("TopicArn", "TargetArn", "PhoneNumber")):
        raise ServiceError("InvalidParameter", "Invalid parameter: TopicArn or TargetArn "
                                               "Reason: no value for required parameter")
    if params.get("PhoneNumber") and len(params.get("Message", "").encode()) > 1600:
        raise ServiceError("InvalidParameter", "Invalid parameter: Message Reason: SMS "
                                               "message must be less than 1600 bytes")


def _transact_items(call: Call, params: dict[str, Any]) -> None:
    """Each transaction item is exactly one action (the wording moto has from AWS)."""
    if call.operation == "TransactGetItems":
        actions, names = ("Get",), "Get"
    else:
        actions, names = ("ConditionCheck", "Put", "Delete", "Update"), \
            "Check, Put, Update or Delete"
    for item in params.get("TransactItems") or []:
        if sum(1 for a in actions if item.get(a) is not None) != 1:
            raise ServiceError("ValidationException",
                               f"TransactItems can only contain one of {names}")


def _sqs_prefix(call: Call, params: dict[str, Any]) -> None:
    """A queue-name prefix is literal text (moto reads it as a regular expression)."""
    prefix = params.get("QueueNamePrefix")
    if isinstance(prefix, str) and re.escape(prefix) != prefix:
        params["QueueNamePrefix"] = re.escape(prefix)
        body = json.dumps(params) if call.protocol == "json" else urlencode(params)
        call.replace_body(body.encode())


_ATTRIBUTE_NAME = re.compile(r"^(?P<prefix>(?:.*\.)?MessageAttributes\.entry\.\d+)\.Name$")


def _sns_message_attributes(call: Call, params: dict[str, Any]) -> None:
    """Every message attribute has a value with a data type (moto crashes without one)."""
    for key, name in params.items():
        match = _ATTRIBUTE_NAME.match(key)
        if match and not params.get(match.group("prefix") + ".Value.DataType"):
            raise ServiceError("InvalidParameterValue",
                               f"The message attribute '{name[:100]}' must contain non-empty "
                               "message attribute value.")


_SERVICE_PRINCIPAL = re.compile(r"^[a-z0-9][a-z0-9-]*(\.[a-z0-9-]+)*\.amazonaws\.com(\.cn)?$")


def _service_linked_role(call: Call, params: dict[str, Any]) -> None:
    """``AWSServiceName`` is a service principal such as ``elasticbeanstalk.amazonaws.com``."""
    name = params.get("AWSServiceName")
    if isinstance(name, str) and not _SERVICE_PRINCIPAL.match(name):
        raise ServiceError("InvalidInput", f"Invalid service name: {name[:100]}")


def _logs_next_token(call: Call, params: dict[str, Any]) -> None:
    """Logs pagination tokens are the ones Logs handed out (moto's are integers here)."""
    token = params.get("nextToken")
    if token is not None and not _decimal(str(token)):
        raise ServiceError("InvalidParameterException", "The specified nextToken is invalid.")


def _logs_start_query(call: Call, params: dict[str, Any]) -> None:
    """A query names its log groups in exactly one way (moto knows two of the three)."""
    given = [k for k in ("logGroupName", "logGroupNames", "logGroupIdentifiers") if params.get(k)]
    if given == ["logGroupIdentifiers"]:
        raise ServiceError("InvalidParameterException", "logGroupIdentifiers is not supported "
                           "by the local endpoint: use logGroupName or logGroupNames")
    if len(given) != 1:
        raise ServiceError("InvalidParameterException", "Exactly one of logGroupName, "
                           "logGroupNames or logGroupIdentifiers must be specified.")


def _logs_query_id(call: Call, params: dict[str, Any]) -> None:
    """Results exist only for a query Logs started (moto crashes on any other id)."""
    from localaws import backends

    query_id = params.get("queryId")
    if isinstance(query_id, str) and not backends.log_query_exists(
            backends.account_of(call.access_key_id), call.region, query_id):
        raise ServiceError("ResourceNotFoundException", "Query does not exist.")


def _logs_delivery_destination(call: Call, params: dict[str, Any]) -> None:
    """A delivery destination names its resource, except an X-Ray one (AWS's model notes)."""
    if params.get("deliveryDestinationConfiguration") is not None:
        return
    if params.get("deliveryDestinationType") == "XRAY":
        _moto_needs("deliveryDestinationConfiguration", "X-Ray destinations are not emulated"
                    )(call, params)
    raise ServiceError("ValidationException", "deliveryDestinationConfiguration is required "
                       "for CloudWatch Logs, Amazon S3 and Firehose delivery destinations.")


_LAMBDA_TAGS_PATH = re.compile(r"^/2017-03-31/tags/(?P<resource>.*)$", re.DOTALL)


def _lambda_taggable_resource(call: Call, params: dict[str, Any]) -> None:
    """Lambda tags belong to a Lambda ARN of its model's pattern (moto splits anything)."""
    match = _LAMBDA_TAGS_PATH.match(call.path)
    if match is None:
        return
    resource = match["resource"]
    pattern = service_model("lambda").shape_for("TaggableResource").metadata["pattern"]
    if not re.fullmatch(pattern, resource):
        raise ServiceError("ValidationException",
                           f"1 validation error detected: Value '{resource[:256]}' at "
                           "'resource' failed to satisfy constraint: Member must satisfy "
                           f"regular expression pattern: {pattern}")


def _uri_match(call: Call, http: dict[str, Any]) -> re.Match[str] | None:
    """The path of a rest-json request matched against its operation's URI template (one
    group per path member)."""
    template = http["requestUri"].split("?", 1)[0]
    pattern = "".join(
        f"(?P<{part[1:-1].rstrip('+')}>{'.+' if part.endswith('+}') else '[^/]+'})"
        if part.startswith("{") else re.escape(part)
        for part in re.split(r"(\{[A-Za-z0-9]+\+?\})", template))
    return re.match(f"^{pattern}/?$", call.path)


_PARTIAL_ARN = re.compile(r"^\d{12}:function:")


def _lambda_function_name(call: Call, params: dict[str, Any]) -> None:
    """A function is named as its model's pattern says: a name, a partial ARN
    (``ACCOUNT:function:NAME``) or an ARN of a real region (moto splits anything on
    ``:`` and looks the ARN's region up). A partial ARN in the path reaches moto as the
    whole ARN (moto reads only names and ARNs)."""
    operation = service_model("lambda").operation_model(call.operation)
    member = operation.input_shape.members["FunctionName"]
    location = member.serialization.get("location")
    key = member.serialization.get("name", "FunctionName")
    match = None
    if location == "uri":
        match = _uri_match(call, operation.http)
        value = unquote(match[key]) if match and key in match.groupdict() else None
    elif location == "querystring":
        value = call.url_query().get(key)
    else:
        try:
            value = call.json_body().get(key)
        except ServiceError:  # not JSON: the operation refuses the body itself
            return
    if not isinstance(value, str):
        return
    pattern = member.metadata.get("pattern")
    if pattern and not re.fullmatch(pattern, value):
        raise ServiceError("ValidationException",
                           f"1 validation error detected: Value '{value[:256]}' at "
                           "'functionName' failed to satisfy constraint: Member must satisfy "
                           f"regular expression pattern: {pattern}")
    if match is not None and _PARTIAL_ARN.match(value):
        start, end = match.span(key)
        partition = {"cn": "aws-cn", "us-gov": "aws-us-gov"}.get(
            call.region.rsplit("-", 2)[0], "aws")
        arn = f"arn:{partition}:lambda:{call.region}:{value}"
        call.environ["PATH_INFO"] = call.path[:start] + arn + call.path[end:]


def _function_name_operations() -> list[str]:
    model = service_model("lambda")
    return [name for name in model.operation_names
            if "FunctionName" in getattr(model.operation_model(name).input_shape, "members", {})]


def _layer_content(call: Call, params: dict[str, Any]) -> None:
    """A layer's content is a zip, or an S3 object named by bucket and key together."""
    content = call.json_body().get("Content")
    if not isinstance(content, dict) or content.get("ZipFile") is not None:
        return
    if content.get("S3Bucket") is None or content.get("S3Key") is None:
        raise ServiceError("InvalidParameterValueException",
                           "Content must give ZipFile, or S3Bucket and S3Key together.")


def _create_table(call: Call, params: dict[str, Any]) -> None:
    """A table names its key unless it copies a global table's (the model's only reason
    to leave KeySchema and AttributeDefinitions optional)."""
    if params.get("GlobalTableSourceArn") is not None:
        raise ServiceError("ValidationException", "GlobalTableSourceArn is not supported by "
                           "the local endpoint: multi-account global tables are not emulated")
    missing = [m for m in ("AttributeDefinitions", "KeySchema") if params.get(m) is None]
    if missing:
        problems = "; ".join(f"Value null at '{m[0].lower() + m[1:]}' failed to satisfy "
                             "constraint: Member must not be null" for m in missing)
        raise ServiceError("ValidationException", f"{len(missing)} validation "
                           f"error{'s' if len(missing) > 1 else ''} detected: {problems}")


def _replica_updates(call: Call, params: dict[str, Any]) -> None:
    """Global tables are not emulated: moto answers ``ReplicaUpdates`` and replicates nothing."""
    if params.get("ReplicaUpdates"):
        raise ServiceError("ValidationException", "ReplicaUpdates (global tables) is not "
                           "supported by the local endpoint: it serves every region, but "
                           "replicates nothing between them (see FIDELITY.md)")


def _moto_needs(member: str, why: str) -> Rule:
    def rule(call: Call, params: dict[str, Any]) -> None:
        if params.get(member) is None:
            raise ServiceError("ValidationException",
                               f"The local endpoint needs {member} for {call.operation}: {why} "
                               "(see FIDELITY.md)")
    return rule


RULES: dict[tuple[str, str], Rule] = {
    **{("dynamodb", op): _partiql_statements for op in PARTIQL_OPERATIONS},
    **{("sns", op): _sns_next_token for op in (
        "ListTopics", "ListSubscriptions", "ListSubscriptionsByTopic", "ListPlatformApplications",
        "ListEndpointsByPlatformApplication", "ListPhoneNumbersOptedOut",
        "ListSMSSandboxPhoneNumbers", "ListOriginationNumbers")},
    **{("iam", op): _iam_marker for op in (
        "ListRoles", "ListRoleTags", "ListPolicyTags", "ListVirtualMFADevices",
        "ListOpenIDConnectProviderTags", "ListPolicies", "ListAttachedRolePolicies",
        "ListAttachedUserPolicies", "ListAttachedGroupPolicies")},
    ("sns", "Publish"): _sns_publish,
    ("sns", "PublishBatch"): _sns_message_attributes,
    ("logs", "DescribeDestinations"): _logs_next_token,
    ("logs", "StartQuery"): _logs_start_query,
    ("logs", "GetQueryResults"): _logs_query_id,
    ("logs", "PutDeliveryDestination"): _logs_delivery_destination,
    ("iam", "CreateServiceLinkedRole"): _service_linked_role,
    **{("lambda", op): _lambda_function_name for op in _function_name_operations()},
    ("lambda", "PublishLayerVersion"): _layer_content,
    **{("lambda", op): _lambda_taggable_resource for op in (
        "TagResource", "UntagResource", "ListTags")},
    ("dynamodb", "TransactWriteItems"): _transact_items,
    ("dynamodb", "CreateTable"): _create_table,
    ("sqs", "ListQueues"): _sqs_prefix,
    ("dynamodb", "TransactGetItems"): _transact_items,
    ("dynamodb", "UpdateTable"): _replica_updates,
    ("dynamodb", "ListExports"): _moto_needs("TableArn", "exports are listed by table"),
    ("dynamodb", "ExportTableToPointInTime"): _moto_needs(
        "S3Prefix", "an export is written under a prefix of the bucket"),
}


def check_rules(call: Call, params: dict[str, Any]) -> None:
    """Apply the rule of ``call``'s operation, if it has one.

    Raises
    ------
    ServiceError
        In AWS's words, for input AWS refuses.
    """
    rule = RULES.get((call.service or "", call.operation))
    if rule is not None:
        rule(call, params)
