"""Request input checked against botocore's model before the service sees it.

moto trusts its input: a member of the wrong type, a missing required member
or a body that is not JSON crashes it deep inside (a 500). AWS checks every
request against the operation's input shape first; so does this module, with
the pinned SDK's model:

* a member whose JSON type does not fit its shape is a ``wrong-type`` fault
  (``SerializationException`` in JSON, as AWS answers);
* missing required members and values outside their length, range or enum are
  collected into AWS's ``"N validation errors detected: Value … at '…' failed to
  satisfy constraint: …"`` message (``ValidationException``; query protocol:
  ``MissingParameter`` / ``ValidationError``).

Unknown members are ignored, as AWS ignores them; ``pattern`` constraints are
not checked (Java regular expressions).
"""

from __future__ import annotations

import base64
import binascii
import json
import re
from typing import Any

from localaws.errors import RequestError
from localaws.gate import ADMIN_PATH, MOTO_API_PATH
from localaws.protocols import Call, Response, service_model
from localaws.rules import check_rules

_TARGET_TYPES = {
    "structure": "a structure", "list": "a list", "map": "a map", "string": "String",
    "integer": "Integer", "long": "Long", "boolean": "Boolean", "double": "Double",
    "float": "Float", "blob": "Blob", "timestamp": "Timestamp",
}
MAX_DEPTH = 64
# An ARN has six parts (moto splits every ARN member into them).
_ARN = re.compile(r"^arn:[^:]*:[^:]*:[^:]*:[^:]*:.+", re.DOTALL)
ENUM_SERVICES = frozenset({"dynamodb", "dynamodbstreams"})
# The order AWS lists an enum in where it differs from the model's and is known:
# DynamoDB's Select, recorded against AWS in moto's test_dynamodb_select.py
# (test_select_values_are_case_sensitive, marked aws_verified).
AWS_ENUM_ORDER = {"Select": ("SPECIFIC_ATTRIBUTES", "COUNT", "ALL_ATTRIBUTES",
                             "ALL_PROJECTED_ATTRIBUTES")}
# Operations our own providers serve: they check their input with the messages
# AWS was recorded giving (which differ from the model's constraints).
OWN_OPERATIONS = frozenset(("lambda", op) for op in (
    "Invoke", "CreateEventSourceMapping", "GetEventSourceMapping", "ListEventSourceMappings",
    "UpdateEventSourceMapping", "DeleteEventSourceMapping"))


def _token(value: Any) -> str:
    if isinstance(value, dict):
        return "Start of structure or map"
    if isinstance(value, list):
        return "Start of list"
    if isinstance(value, bool):
        return "BOOLEAN_VALUE"
    if isinstance(value, int | float):
        return "NUMBER_VALUE"
    return "STRING_VALUE"


def _camel(name: str) -> str:
    return name[:1].lower() + name[1:]


def _wrong_type(value: Any, shape: Any, where: str) -> RequestError:
    target = _TARGET_TYPES.get(shape.type_name, shape.type_name)
    return RequestError("wrong-type",
                        f"{_token(value)} cannot be converted to {target} (at '{where}')")


class _Problems:
    """The constraint violations found so far, in AWS's wording."""

    def __init__(self, constraints: bool = True, enums: bool = True) -> None:
        self.items: list[str] = []
        self.missing = False
        self.constraints = constraints
        self.enums = enums

    def null(self, where: str) -> None:
        self.missing = True
        self.items.append(f"Value null at '{where}' failed to satisfy constraint: Member must "
                          "not be null")

    def add(self, value: Any, where: str, constraint: str) -> None:
        if not self.constraints:
            return
        shown = value if isinstance(value, str | int | float) else "…"
        if isinstance(shown, str) and len(shown) > 100:
            shown = shown[:100] + "…"
        self.items.append(f"Value '{shown}' at '{where}' failed to satisfy constraint: "
                          f"Member must {constraint}")

    def raise_any(self) -> None:
        if not self.items:
            return
        count = len(self.items)
        noun = "error" if count == 1 else "errors"
        message = f"{count} validation {noun} detected: " + "; ".join(self.items[:10])
        raise RequestError("missing-member" if self.missing else "invalid-value", message)


def _is_timestamp(value: Any) -> bool:
    """True for what botocore (and so moto) reads as a timestamp: epoch or ISO 8601."""
    from botocore.utils import parse_timestamp

    if isinstance(value, int | float) and not isinstance(value, bool):
        return -62135596800 <= value <= 253402300799  # years 1 to 9999
    try:
        parse_timestamp(value)
    except (ValueError, TypeError, OverflowError, RuntimeError):  # what its parsers raise
        return False
    return True


def _check_arn(name: str, shape: Any, value: Any, where: str, problems: _Problems) -> None:
    if shape.type_name == "string" and name.lower().endswith("arn") and \
            isinstance(value, str) and not _ARN.match(value):
        problems.add(value, where, "be an ARN (arn:partition:service:region:account:resource)")


def _check_size(value: Any, size: int, shape: Any, where: str, problems: _Problems) -> None:
    meta = shape.metadata
    kind = "length" if shape.type_name in ("string", "list", "map", "blob") else "value"
    if "min" in meta and size < meta["min"]:
        problems.add(value, where, f"have {kind} greater than or equal to {meta['min']}")
    if "max" in meta and size > meta["max"]:
        problems.add(value, where, f"have {kind} less than or equal to {meta['max']}")


def _plain_strings(shape: Any) -> frozenset[str]:
    """A structure's string members with no length bounds, enum or ARN form (``S``, ``N``)."""
    plain = shape.__dict__.get("_plain_strings")
    if plain is None:  # once per shape (botocore's shapes live as long as their model)
        plain = shape.__dict__["_plain_strings"] = frozenset(
            name for name, member in shape.members.items()
            if member.type_name == "string" and not member.enum
            and "min" not in member.metadata and "max" not in member.metadata
            and not name.lower().endswith("arn"))
    return plain


def check_json(shape: Any, value: Any, where: str, problems: _Problems, depth: int = 0) -> None:
    """Check one JSON value against ``shape`` (raises on a type fault, collects the rest).

    Parameters
    ----------
    shape : botocore.model.Shape
        The member's shape.
    value : object
        The decoded JSON value (``None`` counts as absent).
    where : str
        The member's path, for messages.
    problems : _Problems
        Collects constraint violations.
    depth : int
        Nesting depth (refused beyond :data:`MAX_DEPTH`).
    """
    if depth > MAX_DEPTH:
        raise RequestError("invalid-value", "Nesting Levels have exceeded supported limits")
    kind = shape.type_name
    if kind == "structure":
        if not isinstance(value, dict):
            raise _wrong_type(value, shape, where)
        for name in shape.required_members:
            if value.get(name) is None:
                problems.null(f"{where}.{_camel(name)}" if where else _camel(name))
        plain = _plain_strings(shape)
        for name, member in shape.members.items():
            item = value.get(name)
            if item is not None:
                if type(item) is str and name in plain and depth < MAX_DEPTH:
                    continue  # check_json and _check_arn would find nothing to say
                child = f"{where}.{_camel(name)}" if where else _camel(name)
                check_json(member, value[name], child, problems, depth + 1)
                _check_arn(name, member, value[name], child, problems)
    elif kind == "list":
        if not isinstance(value, list):
            raise _wrong_type(value, shape, where)
        _check_size(value, len(value), shape, where, problems)
        for index, item in enumerate(value, 1):
            if item is not None:
                check_json(shape.member, item, f"{where}.{index}.member", problems, depth + 1)
    elif kind == "map":
        if not isinstance(value, dict):
            raise _wrong_type(value, shape, where)
        _check_size(value, len(value), shape, where, problems)
        for key, item in value.items():
            check_json(shape.key, key, f"{where}.{key}.key", problems, depth + 1)
            if item is not None:
                check_json(shape.value, item, f"{where}.{key}.value", problems, depth + 1)
    elif kind == "string":
        if not isinstance(value, str):
            raise _wrong_type(value, shape, where)
        _check_size(value, len(value), shape, where, problems)
        if shape.enum and problems.enums and value not in shape.enum:
            order = AWS_ENUM_ORDER.get(shape.name, shape.enum)
            problems.add(value, where, "satisfy enum value set: [" + ", ".join(order) + "]")
    elif kind in ("integer", "long"):
        if isinstance(value, bool) or not (
                isinstance(value, int) or (isinstance(value, float) and value.is_integer())):
            raise _wrong_type(value, shape, where)
        _check_size(value, int(value), shape, where, problems)
    elif kind in ("double", "float"):
        if isinstance(value, bool) or not isinstance(value, int | float):
            raise _wrong_type(value, shape, where)
        _check_size(value, value, shape, where, problems)
    elif kind == "boolean":
        if not isinstance(value, bool):
            raise _wrong_type(value, shape, where)
    elif kind == "blob":
        if not isinstance(value, str):
            raise _wrong_type(value, shape, where)
        try:
            decoded = base64.b64decode(value, validate=True)
        except (binascii.Error, ValueError):
            raise RequestError("wrong-type", f"Base64 encoded binary data at '{where}' is "
                                             "not valid base64") from None
        _check_size(value, len(decoded), shape, where, problems)
    elif kind == "timestamp" and (isinstance(value, bool)
                                  or not isinstance(value, int | float | str)
                                  or not _is_timestamp(value)):
        raise _wrong_type(value, shape, where)


def check_query(shape: Any, params: dict[str, str], problems: _Problems) -> None:
    """Check the query protocol's top-level parameters against ``shape``."""
    for name, member in shape.members.items():
        key = member.serialization.get("name", name)
        present = key in params or any(k.startswith(key + ".") for k in params)
        if not present:
            if name in shape.required_members:
                problems.null(_camel(name))
            continue
        if key not in params:
            if member.type_name not in ("structure", "list", "map"):
                raise RequestError("wrong-type", f"Parameter {key} is a single value, not a "
                                                 "list or structure")
            continue  # a flattened list, map or structure
        raw = params[key]
        if member.type_name in ("integer", "long"):
            try:
                number = int(raw)
            except ValueError:
                raise RequestError("wrong-type", f"Value ({raw[:50]}) for parameter {key} is "
                                                 "invalid. It must be an integer.") from None
            _check_size(raw, number, member, _camel(name), problems)
        elif member.type_name in ("double", "float"):
            try:
                float(raw)
            except ValueError:
                raise RequestError("wrong-type", f"Value ({raw[:50]}) for parameter {key} is "
                                                 "invalid. It must be a number.") from None
        elif member.type_name == "timestamp" and not _is_timestamp(raw):
            raise RequestError("wrong-type", f"Value ({raw[:50]}) for parameter {key} is "
                                             "invalid. It must be a timestamp.")
        elif member.type_name == "boolean" and raw.lower() not in ("true", "false"):
            raise RequestError("wrong-type", f"Value ({raw[:50]}) for parameter {key} is "
                                             "invalid. It must be true or false.")
        elif member.type_name == "string":
            _check_size(raw, len(raw), member, _camel(name), problems)
            _check_arn(name, member, raw, _camel(name), problems)
            if member.enum and problems.enums and raw not in member.enum:
                problems.add(raw, _camel(name),
                             "satisfy enum value set: [" + ", ".join(member.enum) + "]")


def _check_rest_json(call: Call, shape: Any, problems: _Problems) -> None:
    body_members = {n: m for n, m in shape.members.items() if "location" not in m.serialization}
    for name, member in shape.members.items():
        if member.serialization.get("location") == "querystring" and \
                member.type_name in ("integer", "long"):
            key = member.serialization.get("name", name)
            raw = call.url_query().get(key)
            if raw is not None and not raw.lstrip("-").isdigit():
                raise RequestError("wrong-type", f"Value '{raw[:50]}' at '{_camel(name)}' "
                                                 "failed to convert to an integer")
    if shape.serialization.get("payload") or not body_members or call.method in ("GET",
                                                                                "DELETE"):
        return
    body = call.json_body()
    for name in shape.required_members:
        if name in body_members and body.get(name) is None:
            problems.null(_camel(name))
    for name, member in body_members.items():
        if body.get(name) is not None:
            check_json(member, body[name], _camel(name), problems, 1)


def _without_nulls(value: Any) -> Any:
    """``value`` without null members: AWS reads a null member as an absent one."""
    if isinstance(value, dict):
        return {k: _without_nulls(v) for k, v in value.items() if v is not None}
    if isinstance(value, list):
        return [_without_nulls(v) for v in value]
    return value


def check_input(call: Call) -> Response | None:
    """Refuse a request whose input does not fit its operation's shape.

    Raises
    ------
    RequestError
        ``unknown-operation``, ``malformed``, ``wrong-type``, ``missing-member`` or
        ``invalid-value``.
    """
    if call.path.startswith((ADMIN_PATH, MOTO_API_PATH)):
        return None
    operation = call.operation
    if (call.service, operation) in OWN_OPERATIONS:
        check_rules(call, {})  # lambda_api checks their input; the rules hold for them too
        return None
    shape = service_model(call.service).operation_model(operation).input_shape
    # Lambda answers range and enum violations in its own words (lambda_api checks
    # them); only types and missing members are checked here.
    # Enums only where AWS is known to enforce them: SQS, for one, takes values its
    # model's enums leave out (ReceiveMessage AttributeNames=SentTimestamp).
    problems = _Problems(constraints=call.protocol != "rest-json",
                         enums=call.service in ENUM_SERVICES)
    params: dict[str, Any] = {}
    if call.protocol == "json":
        params = call.json_body()
        if shape is not None:
            check_json(shape, params, "", problems)
        if b"null" in call.body:
            params = _without_nulls(params)
            call.replace_body(json.dumps(params).encode())
    elif call.protocol == "query":
        params = call.query_params()
        if shape is not None:
            check_query(shape, params, problems)
    else:
        try:
            call.body.decode("utf-8")
        except UnicodeDecodeError:
            raise RequestError("malformed", "The request body is not UTF-8") from None
        if shape is not None:
            _check_rest_json(call, shape, problems)
    problems.raise_any()
    check_rules(call, params)
    return None
