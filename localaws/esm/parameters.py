"""The event source mapping API's request members, as the Lambda API model defines them.

Member lists, integer ranges, enums and patterns are read from the Lambda service
model that ships with the pinned botocore, so they follow AWS's API; the checks
here (JSON types, then every model constraint at once) run before any DynamoDB
rule in :mod:`localaws.esm.config`. Nothing here knows about DynamoDB streams.
"""

from __future__ import annotations

import functools
import re
from collections.abc import Callable, Mapping
from types import MappingProxyType
from typing import Any

from localaws import sdk_data
from localaws.errors import ServiceError, invalid_parameter, validation_error


@functools.lru_cache(maxsize=1)
def _model() -> Any:
    return sdk_data.service_model("lambda")


def _members(operation: str) -> Mapping[str, Any]:
    return _model().operation_model(operation).input_shape.members


_CREATE = _members("CreateEventSourceMapping")

CREATE_PARAMETERS: tuple[str, ...] = tuple(_CREATE)
"""CreateEventSourceMapping's body members, in the API model's order."""

UPDATE_PARAMETERS: tuple[str, ...] = tuple(
    k for k in _members("UpdateEventSourceMapping") if k != "UUID")
"""UpdateEventSourceMapping's body members (``UUID`` is in the path), in model order."""


def _member_name(key: str) -> str:
    return key[0].lower() + key[1:]


RANGES: Mapping[str, tuple[str, int, int]] = MappingProxyType({
    key: (_member_name(key), shape.metadata["min"], shape.metadata["max"])
    for key, shape in _CREATE.items()
    if shape.type_name == "integer"
})
"""Integer parameters: (member name in AWS messages, minimum, maximum) from the API model."""

STARTING_POSITIONS = ("LATEST", "AT_TIMESTAMP", "TRIM_HORIZON")
"""The model's ``EventSourcePosition`` enum, in the order AWS's message lists it."""
FUNCTION_RESPONSE_TYPES: tuple[str, ...] = tuple(_CREATE["FunctionResponseTypes"].member.enum)
MAX_RESPONSE_TYPES: int = _CREATE["FunctionResponseTypes"].metadata["max"]
METRICS: tuple[str, ...] = tuple(_CREATE["MetricsConfig"].members["Metrics"].member.enum)
MAX_METRICS: int = _CREATE["MetricsConfig"].members["Metrics"].metadata["max"]
ARN_PATTERN: str = _CREATE["EventSourceArn"].metadata["pattern"]
"""The API model's pattern for ``EventSourceArn`` (shape ``Arn``)."""
MAX_ARN_LENGTH: int = _CREATE["EventSourceArn"].metadata["max"]
MAX_FUNCTION_NAME: int = _CREATE["FunctionName"].metadata["max"]
MAX_PATTERN_LENGTH: int = (
    _CREATE["FilterCriteria"].members["Filters"].member.members["Pattern"].metadata["max"])

_DESTINATION: dict[str, Any] = {"Destination": "string"}
_SHAPES: dict[str, Any] = {
    **dict.fromkeys(RANGES, "integer"),
    **dict.fromkeys(("Enabled", "BisectBatchOnFunctionError"), "boolean"),
    **dict.fromkeys(("FunctionName", "EventSourceArn", "StartingPosition", "KMSKeyArn"), "string"),
    "FunctionResponseTypes": ["string"],
    "FilterCriteria": {"Filters": [{"Pattern": "string"}]},
    "DestinationConfig": {"OnSuccess": _DESTINATION, "OnFailure": _DESTINATION},
    "MetricsConfig": {"Metrics": ["string"]},
    "Tags": "map",
}
_CHECKS = {"integer": int, "boolean": bool, "string": str, "map": dict}
_DESCRIBED = {"integer": "an integer", "boolean": "a boolean", "string": "a string",
              "map": "an object"}


def present(params: Any) -> dict[str, Any]:
    """The request body without JSON nulls (an optional member sent as null is absent).

    Raises
    ------
    ServiceError
        ``SerializationException`` when the body is not a JSON object.
    """
    if not isinstance(params, dict):
        raise ServiceError("SerializationException", "The request body must be a JSON object.")
    return {key: value for key, value in params.items() if value is not None}


def check_keys(params: dict[str, Any], allowed: tuple[str, ...], operation: str) -> None:
    """Refuse members the operation does not have (a create-only one on update too)."""
    for key in params:
        if key in allowed:
            continue
        if key in CREATE_PARAMETERS:
            raise invalid_parameter(
                f"{key} cannot be changed by {operation}; delete the mapping and create it again."
            )
        raise invalid_parameter(f"Unknown parameter for {operation}: {key}.")


def check_types(params: dict[str, Any]) -> None:
    """JSON types of the members the endpoint reads (``SerializationException``)."""
    for key, value in params.items():
        if key in _SHAPES:
            _check_shape(value, _SHAPES[key], key)


def _check_shape(value: Any, shape: Any, path: str) -> None:
    if isinstance(shape, dict):
        _expect(value, dict, "an object", path)
        for key, member in value.items():
            if key not in shape:
                raise invalid_parameter(f"Unknown parameter: {path}.{key}.")
            if member is not None:
                _check_shape(member, shape[key], f"{path}.{key}")
    elif isinstance(shape, list):
        _expect(value, list, "an array", path)
        for index, item in enumerate(value):
            _check_shape(item, shape[0], f"{path}[{index}]")
    else:
        _expect(value, _CHECKS[shape], _DESCRIBED[shape], path)
        if shape == "map":
            for key, item in value.items():
                _expect(item, str, "a string", f"{path}.{key}")


def _expect(value: Any, kind: type, described: str, path: str) -> None:
    wrong_bool = isinstance(value, bool) and kind is not bool
    if not isinstance(value, kind) or wrong_bool:
        raise ServiceError(
            "SerializationException",
            f"Invalid type for {path}: expected {described}, got {_json_type(value)}.",
        )


def _json_type(value: Any) -> str:
    for kind, name in ((bool, "boolean"), (int, "integer"), (float, "number"), (str, "string"),
                       (list, "array"), (dict, "object")):  # fmt: skip
        if isinstance(value, kind):
            return name
    return "null" if value is None else type(value).__name__


def check_constraints(params: dict[str, Any], *, create: bool) -> None:
    """Report every API-model violation at once, in AWS's ValidationException wording."""
    found: list[str] = []

    def violated(value: str, member: str, constraint: str) -> None:
        found.append(f"Value {value} at '{member}' failed to satisfy constraint: {constraint}")

    for key in CREATE_PARAMETERS:
        value = params.get(key)
        if key == "FunctionName" and value is None and create:
            violated("null", "functionName", "Member must not be null")
        elif key == "FunctionName" and value is not None and len(value) > MAX_FUNCTION_NAME:
            violated(_show(value), "functionName", _at_most(MAX_FUNCTION_NAME, "length"))
        elif key == "EventSourceArn" and value is not None:
            if len(value) > MAX_ARN_LENGTH:
                violated(_show(value), "eventSourceArn", _at_most(MAX_ARN_LENGTH, "length"))
            if not re.fullmatch(ARN_PATTERN, value):
                violated(
                    _show(value), "eventSourceArn",
                    f"Member must satisfy regular expression pattern: {ARN_PATTERN}",
                )  # fmt: skip
        elif key in RANGES and value is not None:
            member, low, high = RANGES[key]
            if value < low:
                violated(_show(value), member, _at_least(low))
            elif value > high:
                violated(_show(value), member, _at_most(high, "value"))
        elif key == "StartingPosition" and value is not None and value not in STARTING_POSITIONS:
            violated(_show(value), "startingPosition", _enum(STARTING_POSITIONS))
        elif key == "FunctionResponseTypes" and value is not None:
            _list_violations(value, "functionResponseTypes", MAX_RESPONSE_TYPES,
                             FUNCTION_RESPONSE_TYPES, violated)
        elif key == "MetricsConfig" and value is not None:
            metrics = value.get("Metrics") or []
            _list_violations(metrics, "metricsConfig.metrics", MAX_METRICS, METRICS, violated)
        elif key == "FilterCriteria" and value is not None:
            for index, item in enumerate(value.get("Filters") or [], start=1):
                pattern = item.get("Pattern") or ""
                if len(pattern) > MAX_PATTERN_LENGTH:
                    member = f"filterCriteria.filters.{index}.member.pattern"
                    violated(_show(pattern), member, _at_most(MAX_PATTERN_LENGTH, "length"))
    if found:
        count = f"{len(found)} validation error{'s' if len(found) > 1 else ''}"
        raise validation_error(f"{count} detected: " + "; ".join(found))


def _list_violations(values: list[str], member: str, longest: int, allowed: tuple[str, ...],
                     violated: Callable[[str, str, str], None]) -> None:
    if len(values) > longest:
        violated(_show(values), member, _at_most(longest, "length"))
    if any(value not in allowed for value in values):
        violated(_show(values), member, f"Member must satisfy constraint: [{_enum(allowed)}]")


def _show(value: Any) -> str:
    if isinstance(value, list):
        return "'[" + ", ".join(str(item) for item in value) + "]'"
    return f"'{value}'"


def _at_least(limit: int) -> str:
    return f"Member must have value greater than or equal to {limit}"


def _at_most(limit: int, what: str) -> str:
    return f"Member must have {what} less than or equal to {limit}"


def _enum(allowed: tuple[str, ...]) -> str:
    return "Member must satisfy enum value set: [" + ", ".join(allowed) + "]"
