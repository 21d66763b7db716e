"""Re-runs: when a taught create call meets what an earlier run created, bring it in line.

A notebook runs twice: the second time, ``create_function`` answers
``ResourceConflictException``. :class:`helpers.calls.TaughtClient` then calls the
step registered here for that (service, method, error code). Each step reads the
resource, compares it with the create call's parameters, and makes only the
update calls that differ, through the taught client so that the learner sees
them as CLI lines too. A parameter the create call leaves out is brought back to
AWS's default (the cell says the whole desired state). What cannot be changed
after creation (a mapping's ``StartingPosition``, a table's keys) is said, not
hidden.

Reads and waits are plain boto3 calls: they are not the lesson.
"""

from __future__ import annotations

import base64
import hashlib
import json
from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING, Any

from botocore.exceptions import ClientError

from helpers import functions, mappings

if TYPE_CHECKING:  # pragma: no cover
    from helpers.calls import TaughtClient

Rerun = Callable[["TaughtClient", Mapping[str, Any]], Any]

FUNCTION_SETTINGS = ("Runtime", "Handler", "Role", "MemorySize", "Timeout", "Description",
                     "Environment")
# What UpdateEventSourceMapping accepts for a stream, and AWS's default for each.
MAPPING_DEFAULTS: dict[str, Any] = {
    "Enabled": True,
    "BatchSize": 100,
    "MaximumBatchingWindowInSeconds": 0,
    "ParallelizationFactor": 1,
    "MaximumRetryAttempts": -1,
    "MaximumRecordAgeInSeconds": -1,
    "BisectBatchOnFunctionError": False,
    "DestinationConfig": {"OnFailure": {}},
    "FunctionResponseTypes": [],
    "FilterCriteria": {},
    "TumblingWindowInSeconds": 0,
}
FIXED_MAPPING_SETTINGS = ("StartingPosition", "StartingPositionTimestamp", "Tags")


def handler(service: str, method: str, code: str, exc: ClientError) -> Rerun | None:
    """The re-run step for a failed create call, or ``None`` when the error is a real one.

    Parameters
    ----------
    service, method : str
        The taught call.
    code : str
        The error code AWS answered.
    exc : ClientError
        The error (its message tells an enabled stream from other validation errors).

    Returns
    -------
    callable or None
        ``step(client, params)`` returning the response to use in place of the
        create call's.
    """
    if (service, method) == ("dynamodb", "update_table"):
        message = exc.response.get("Error", {}).get("Message", "")
        # AWS answers ValidationException, moto ResourceInUseException; the text is the same.
        already = "already has an enabled stream" in message
        return _stream if already and code in ("ValidationException",
                                                "ResourceInUseException") else None
    entry = STEPS.get((service, method))
    if entry is None or code not in entry[0]:
        return None
    return entry[1]


def _unchanged(client: TaughtClient, what: str) -> None:
    client.show(f"*{what} already matches the call: nothing to change.*")


# --------------------------------------------------------------------------- Lambda


def _zip_sha256(code: Mapping[str, Any]) -> str | None:
    data = code.get("ZipFile")
    if data is None:
        return None
    return base64.b64encode(hashlib.sha256(bytes(data)).digest()).decode()


def _function_setting(config: Mapping[str, Any], key: str) -> Any:
    if key == "Environment":
        return {"Variables": dict((config.get("Environment") or {}).get("Variables") or {})}
    if key == "Description":
        return config.get("Description") or ""
    return config.get(key)


def _function(client: TaughtClient, params: Mapping[str, Any]) -> dict[str, Any]:
    name = params["FunctionName"]
    current = functions.wait_until_ready(client.backend, name)
    changed = False
    sha = _zip_sha256(params.get("Code") or {})
    if sha is not None and sha != current.get("CodeSha256"):
        client.update_function_code(FunctionName=name, ZipFile=params["Code"]["ZipFile"])
        functions.wait_until_ready(client.backend, name)
        changed = True
    wanted = {k: params.get(k, "" if k == "Description" else None) for k in FUNCTION_SETTINGS}
    wanted["Environment"] = {"Variables": dict((params.get("Environment") or {})
                                               .get("Variables") or {})}
    differs = {k: v for k, v in wanted.items()
               if v is not None and _function_setting(current, k) != v}
    if differs:
        client.update_function_configuration(FunctionName=name, **differs)
        changed = True
    config = functions.wait_until_ready(client.backend, name)
    if not changed:
        _unchanged(client, f"Function `{name}`")
    return config


def _mapping(client: TaughtClient, params: Mapping[str, Any]) -> dict[str, Any]:
    found = mappings.find_mappings(client.backend, function=params["FunctionName"],
                                   stream_arn=params["EventSourceArn"])
    if not found:
        raise LookupError(f"no mapping of {params['FunctionName']} on {params['EventSourceArn']}")
    uuid = found[0]["UUID"]
    current = mappings.wait_for_state(client.backend, uuid, progress=False)
    wanted = {k: params.get(k, default) for k, default in MAPPING_DEFAULTS.items()}
    if "TumblingWindowInSeconds" not in current and "TumblingWindowInSeconds" not in params:
        wanted.pop("TumblingWindowInSeconds")
    differs = {k: v for k, v in wanted.items() if _mapping_setting(current, k) != _norm(k, v)}
    fixed = [k for k in FIXED_MAPPING_SETTINGS
             if k in params and k in current and current[k] != params[k]]
    if fixed:
        client.show(f"*Cannot be changed on an existing trigger: {', '.join(fixed)} "
                    "(delete the trigger to start over).*")
    if differs:
        client.update_event_source_mapping(UUID=uuid, **differs)
        return mappings.wait_for_state(client.backend, uuid, progress=False)
    _unchanged(client, f"Trigger `{uuid}`")
    return current


def _norm(key: str, value: Any) -> Any:
    if key == "FilterCriteria":
        filters = (value or {}).get("Filters") or []
        patterns = [json.dumps(json.loads(f["Pattern"]), separators=(",", ":")) for f in filters]
        return {"Filters": [{"Pattern": p} for p in patterns]} if patterns else {}
    if key == "DestinationConfig":
        destination = ((value or {}).get("OnFailure") or {}).get("Destination")
        return {"OnFailure": {"Destination": destination}} if destination else {"OnFailure": {}}
    if key == "FunctionResponseTypes":
        return list(value or [])
    return value


def _mapping_setting(mapping: Mapping[str, Any], key: str) -> Any:
    if key == "Enabled":
        return mapping.get("State") in ("Enabled", "Enabling", "Creating")
    if key in ("FilterCriteria", "DestinationConfig", "FunctionResponseTypes"):
        return _norm(key, mapping.get(key))
    return mapping.get(key, MAPPING_DEFAULTS.get(key))


# --------------------------------------------------------------------------- IAM, DynamoDB


def _role(client: TaughtClient, params: Mapping[str, Any]) -> dict[str, Any]:
    name = params["RoleName"]
    role = client.raw.get_role(RoleName=name)["Role"]
    current = role["AssumeRolePolicyDocument"]
    current = json.loads(current) if isinstance(current, str) else current
    wanted = json.loads(params["AssumeRolePolicyDocument"])
    if current != wanted:
        client.update_assume_role_policy(RoleName=name,
                                         PolicyDocument=params["AssumeRolePolicyDocument"])
        role = client.raw.get_role(RoleName=name)["Role"]
    else:
        _unchanged(client, f"Role `{name}`'s trust policy")
    return {"Role": role}


def _table(client: TaughtClient, params: Mapping[str, Any]) -> dict[str, Any]:
    name = params["TableName"]
    table = client.raw.describe_table(TableName=name)["Table"]
    keys = {k["AttributeName"]: k["KeyType"] for k in table["KeySchema"]}
    asked = {k["AttributeName"]: k["KeyType"] for k in params.get("KeySchema", [])}
    if asked and keys != asked:
        client.show(f"*Table `{name}` exists with other keys ({keys}); a table's keys cannot "
                    "change: delete it (99_cleanup) to start over.*")
    else:
        _unchanged(client, f"Table `{name}`")
    return {"TableDescription": table}


def _stream(client: TaughtClient, params: Mapping[str, Any]) -> dict[str, Any]:
    name = params["TableName"]
    table = client.raw.describe_table(TableName=name)["Table"]
    wanted = params.get("StreamSpecification") or {}
    current = table.get("StreamSpecification") or {}
    if wanted.get("StreamEnabled") and current.get("StreamViewType") != wanted.get(
            "StreamViewType"):
        client.show("*A stream's view type cannot change: turn it off, then on again "
                    "(it gets a new ARN).*")
        client.update_table(TableName=name, StreamSpecification={"StreamEnabled": False})
        client.backend.client("dynamodb").get_waiter("table_exists").wait(TableName=name)
        return client.update_table(TableName=name, StreamSpecification=wanted)
    _unchanged(client, f"The stream of `{name}`")
    return {"TableDescription": table}


STEPS: dict[tuple[str, str], tuple[tuple[str, ...], Rerun]] = {
    ("lambda", "create_function"): (("ResourceConflictException",), _function),
    ("lambda", "create_event_source_mapping"): (("ResourceConflictException",), _mapping),
    ("iam", "create_role"): (("EntityAlreadyExists",), _role),
    ("dynamodb", "create_table"): (("ResourceInUseException",), _table),
}
