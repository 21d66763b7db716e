"""The configuration of a DynamoDB Streams event source mapping: defaults and validation.

:func:`create_config` and :func:`update_config` turn a CreateEventSourceMapping /
UpdateEventSourceMapping request body (rest-json, PascalCase keys, as boto3 sends
it) into a :class:`MappingConfig`, or raise :class:`~localaws.errors.ServiceError`
with the code and message AWS answers with. :func:`to_response` renders a config
as AWS returns it. Nothing here touches the network, a clock the caller cannot
override, or shared state.

Every parameter and what the local endpoint does with it:

================================== ==================== ==========================================
Parameter                          Default (DynamoDB)   Local endpoint
================================== ==================== ==========================================
EventSourceArn                     required             a DynamoDB stream ARN; anything else is
                                                        refused (Kinesis, SQS, ... not emulated)
FunctionName                       required             resolved by the caller; qualifier kept
StartingPosition                   required             TRIM_HORIZON or LATEST; AT_TIMESTAMP
                                                        refused as AWS does for DynamoDB
Enabled                            true                 honoured (polling paused when false)
BatchSize                          100                  honoured, 1-10000
MaximumBatchingWindowInSeconds     0                    honoured, 0-300
ParallelizationFactor              1                    honoured, 1-10
MaximumRetryAttempts               -1 (infinite)        honoured, -1-10000
MaximumRecordAgeInSeconds          -1 (infinite)        honoured, -1 or 60-604800
BisectBatchOnFunctionError         false                honoured
DestinationConfig.OnFailure        none                 standard SQS queue or SNS topic; S3 and
                                                        FIFO refused; OnSuccess refused as AWS does
FunctionResponseTypes              []                   ["ReportBatchItemFailures"] honoured
FilterCriteria                     none                 up to 5 patterns, honoured; cidr, wildcard
                                                        and $or refused
MetricsConfig                      none                 {"Metrics": ["EventCount"]} (emitted) or []
TumblingWindowInSeconds            0                    honoured, 0-900 (ParallelizationFactor 1)
Tags                               none                 stored, never returned (as on AWS)
KMSKeyArn                          none                 refused (filters are not encrypted)
StartingPositionTimestamp, Topics, -                    refused: not valid for DynamoDB streams
Queues, ScalingConfig, Kafka, ...                       (see ``NOT_FOR_DYNAMODB``)
================================== ==================== ==========================================

Checks run in this order, so that one request gets one error: unknown keys; JSON
types (``SerializationException``); the API model's constraints, all in one
``ValidationException`` as AWS does (:mod:`localaws.esm.parameters`); the DynamoDB
rules (``InvalidParameterValueException``); the function; the stream; duplicates (409).
"""

from __future__ import annotations

import copy
import re
import time
import uuid as uuidlib
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field, replace
from types import MappingProxyType
from typing import Any

from localaws.errors import ServiceError, invalid_parameter
from localaws.esm.filters import FilterPatternError, UnsupportedFilterError, compile_pattern
from localaws.esm.parameters import (
    ARN_PATTERN,
    CREATE_PARAMETERS,
    FUNCTION_RESPONSE_TYPES,
    METRICS,
    RANGES,
    STARTING_POSITIONS,
    UPDATE_PARAMETERS,
    check_constraints,
    check_keys,
    check_types,
    present,
)

__all__ = [
    "ARN_PATTERN", "CREATE_PARAMETERS", "ESM_DEFAULTS", "FUNCTION_RESPONSE_TYPES", "METRICS",
    "RANGES", "STARTING_POSITIONS", "UPDATE_PARAMETERS", "MappingConfig", "create_config",
    "to_response", "update_config",
]  # fmt: skip

ESM_DEFAULTS: Mapping[str, Any] = MappingProxyType(
    {
        "BatchSize": 100,
        "MaximumBatchingWindowInSeconds": 0,
        "ParallelizationFactor": 1,
        "MaximumRetryAttempts": -1,
        "MaximumRecordAgeInSeconds": -1,
        "BisectBatchOnFunctionError": False,
        "TumblingWindowInSeconds": 0,
        "Enabled": True,
        "FunctionResponseTypes": (),
    }
)
"""AWS's defaults for a DynamoDB stream mapping, keyed by API parameter."""

MAX_FILTERS = 5
"""Filters per mapping: AWS's default quota (it can be raised to 10 on AWS)."""

NOT_FOR_DYNAMODB = (
    "StartingPositionTimestamp", "Topics", "Queues", "SourceAccessConfigurations",
    "SelfManagedEventSource", "ScalingConfig", "ProvisionedPollerConfig",
    "DocumentDBEventSourceConfig", "AmazonManagedKafkaEventSourceConfig",
    "SelfManagedKafkaEventSourceConfig", "LoggingConfig",
)  # fmt: skip
"""Members of the API that apply to other event sources only."""

_FIELDS = {
    "BatchSize": "batch_size", "MaximumBatchingWindowInSeconds": "maximum_batching_window",
    "ParallelizationFactor": "parallelization_factor",
    "MaximumRetryAttempts": "maximum_retry_attempts",
    "MaximumRecordAgeInSeconds": "maximum_record_age",
    "BisectBatchOnFunctionError": "bisect_on_error",
    "TumblingWindowInSeconds": "tumbling_window", "Enabled": "enabled",
}  # fmt: skip
_READ = {
    *_FIELDS, *NOT_FOR_DYNAMODB, "EventSourceArn", "FunctionName", "StartingPosition",
    "FilterCriteria", "KMSKeyArn", "MetricsConfig", "DestinationConfig", "Tags",
    "FunctionResponseTypes",
}
"""Every member this module reads or refuses; a member a newer API model adds is refused."""
_STREAM_ARN = re.compile(r"arn:aws[a-zA-Z-]*:dynamodb:[a-z0-9-]+:\d{12}:table/[\w.-]+/stream/.+")


@dataclass
class MappingConfig:
    """One event source mapping from a DynamoDB stream to a function.

    Field names follow the API parameters (see the module docstring); ``state``,
    ``state_transition_reason``, ``last_processing_result`` and ``last_modified``
    are the read-only fields AWS reports.
    """

    uuid: str
    function_arn: str
    event_source_arn: str
    starting_position: str
    event_source_mapping_arn: str
    batch_size: int = 100
    maximum_batching_window: int = 0
    parallelization_factor: int = 1
    maximum_retry_attempts: int = -1
    maximum_record_age: int = -1
    bisect_on_error: bool = False
    on_failure_destination: str | None = None
    function_response_types: list[str] = field(default_factory=list)
    filter_patterns: list[str] = field(default_factory=list)
    tumbling_window: int = 0
    enabled: bool = True
    state: str = "Creating"
    state_transition_reason: str = "User action"
    last_processing_result: str = "No records processed"
    last_modified: float = 0.0
    tags: dict[str, str] = field(default_factory=dict)
    metrics_config: dict[str, Any] | None = None

    @property
    def function_name(self) -> str:
        """The function's name, without ARN prefix or qualifier."""
        return self.function_arn.split(":")[6]

    @property
    def report_batch_item_failures(self) -> bool:
        """Whether partial batch responses are read (``ReportBatchItemFailures``)."""
        return "ReportBatchItemFailures" in self.function_response_types


def create_config(
    params: dict[str, Any],
    *,
    function_arn: str | None,
    stream_exists: bool,
    existing: Iterable[MappingConfig],
    region: str,
    account_id: str,
    mapping_uuid: str | None = None,
    now: float | None = None,
) -> MappingConfig:
    """Validate a CreateEventSourceMapping request and build the new mapping.

    Parameters
    ----------
    params : dict
        The request body, PascalCase keys as boto3 sends them.
    function_arn : str or None
        The function's ARN as AWS reports it (qualifier kept), or ``None`` when
        the function does not exist.
    stream_exists : bool
        Whether ``EventSourceArn`` names an existing stream.
    existing : iterable of MappingConfig
        The mappings already in the account and region (duplicate check).
    region, account_id : str
        Where the mapping lives (its ``EventSourceMappingArn``).
    mapping_uuid : str, optional
        The new mapping's UUID; a random one by default.
    now : float, optional
        ``LastModified`` in epoch seconds; the current time by default.

    Returns
    -------
    MappingConfig
        In state ``Creating``.

    Raises
    ------
    ServiceError
        ``SerializationException``, ``ValidationException`` or
        ``InvalidParameterValueException`` (400), or ``ResourceConflictException``
        (409) when the function already has a mapping on this stream.

    Examples
    --------
    >>> arn = "arn:aws:dynamodb:us-east-1:123456789012:table/orders/stream/2024-01-01T00:00:00.000"
    >>> cfg = create_config(
    ...     {"FunctionName": "f", "EventSourceArn": arn, "StartingPosition": "LATEST"},
    ...     function_arn="arn:aws:lambda:us-east-1:123456789012:function:f",
    ...     stream_exists=True, existing=[], region="us-east-1", account_id="123456789012")
    >>> cfg.batch_size, cfg.state
    (100, 'Creating')
    """
    params = present(params)
    check_keys(params, CREATE_PARAMETERS, "CreateEventSourceMapping")
    check_types(params)
    check_constraints(params, create=True)
    _check_on_success(params)
    source = params.get("EventSourceArn")
    if source is None:
        raise invalid_parameter("Unrecognized event source.")
    if not _STREAM_ARN.fullmatch(source):
        raise invalid_parameter(
            "The local endpoint supports only DynamoDB stream event sources "
            f"(arn:aws:dynamodb:<region>:<account>:table/<table>/stream/<label>); got {source}"
        )
    position = params.get("StartingPosition")
    if position is None:
        raise invalid_parameter(
            "1 validation error detected: Value null at 'startingPosition' failed to satisfy "
            "constraint: Member must not be null."
        )
    if position == "AT_TIMESTAMP":
        # Before the check of StartingPositionTimestamp: AWS answers an AT_TIMESTAMP
        # request on a DynamoDB stream this way, with or without the timestamp.
        raise invalid_parameter(f"Unsupported starting position for arn type: {source}")
    _check_dynamodb_only(params)
    settings = _settings(params)
    _check_window(settings, None)
    if function_arn is None:
        raise invalid_parameter("Function does not exist")
    if not stream_exists:
        raise invalid_parameter(f"Stream not found: {source}")
    _check_duplicate(function_arn, source, existing)
    mapping_uuid = mapping_uuid or str(uuidlib.uuid4())
    return MappingConfig(
        uuid=mapping_uuid,
        function_arn=function_arn,
        event_source_arn=source,
        starting_position=position,
        event_source_mapping_arn=(
            f"arn:aws:lambda:{region}:{account_id}:event-source-mapping:{mapping_uuid}"
        ),
        last_modified=time.time() if now is None else now,
        tags=dict(params.get("Tags") or {}),
        **settings,
    )


def update_config(
    current: MappingConfig,
    params: dict[str, Any],
    *,
    function_arn: str | None,
    existing: Iterable[MappingConfig] = (),
    now: float | None = None,
) -> MappingConfig:
    """Validate an UpdateEventSourceMapping request and return the updated mapping.

    Parameters
    ----------
    current : MappingConfig
        The mapping as it is; left unchanged.
    params : dict
        The request body (``UUID`` travels in the path, not here).
    function_arn : str or None
        When ``params`` has ``FunctionName``: the resolved ARN, or ``None`` if the
        function does not exist. Ignored otherwise.
    existing : iterable of MappingConfig, optional
        All mappings, for the duplicate check when ``FunctionName`` changes.
    now : float, optional
        ``LastModified`` in epoch seconds; the current time by default.

    Returns
    -------
    MappingConfig
        A new config in state ``Disabling`` (Enabled true to false), ``Enabling``
        (false to true) or ``Updating``; ``FilterCriteria={}`` removes the filters
        and ``DestinationConfig={"OnFailure": {}}`` the destination.

    Raises
    ------
    ServiceError
        As :func:`create_config`; a create-only parameter (``StartingPosition``,
        ``EventSourceArn``, ``Tags``, ...) is an ``InvalidParameterValueException``.
    """
    params = present(params)
    check_keys(params, UPDATE_PARAMETERS, "UpdateEventSourceMapping")
    check_types(params)
    check_constraints(params, create=False)
    _check_on_success(params)
    _check_dynamodb_only(params)
    settings = _settings(params)
    _check_window(settings, current)
    if "FunctionName" in params:
        if function_arn is None:
            raise invalid_parameter("Function does not exist")
        others = [m for m in existing if m.uuid != current.uuid]
        _check_duplicate(function_arn, current.event_source_arn, others)
        settings["function_arn"] = function_arn
    state = "Updating"
    if settings.get("enabled", current.enabled) != current.enabled:
        state = "Enabling" if settings["enabled"] else "Disabling"
    return replace(
        copy.deepcopy(current),
        **settings,
        state=state,
        state_transition_reason="User action",
        last_modified=time.time() if now is None else now,
    )


def to_response(cfg: MappingConfig) -> dict[str, Any]:
    """Render a mapping as CreateEventSourceMapping / GetEventSourceMapping return it.

    Parameters
    ----------
    cfg : MappingConfig
        The mapping.

    Returns
    -------
    dict
        The ``EventSourceMappingConfiguration`` members that apply to DynamoDB, in
        the API model's order. ``FilterCriteria`` only when there are filters,
        ``MetricsConfig`` only when set, never ``Tags``; ``LastModified`` in epoch
        seconds (the rest-json wire form).
    """
    response: dict[str, Any] = {
        "UUID": cfg.uuid,
        "StartingPosition": cfg.starting_position,
        "BatchSize": cfg.batch_size,
        "MaximumBatchingWindowInSeconds": cfg.maximum_batching_window,
        "ParallelizationFactor": cfg.parallelization_factor,
        "EventSourceArn": cfg.event_source_arn,
    }
    if cfg.filter_patterns:
        response["FilterCriteria"] = {"Filters": [{"Pattern": p} for p in cfg.filter_patterns]}
    if cfg.metrics_config is not None:
        response["MetricsConfig"] = copy.deepcopy(cfg.metrics_config)
    on_failure = {"Destination": cfg.on_failure_destination} if cfg.on_failure_destination else {}
    response.update(
        {
            "FunctionArn": cfg.function_arn,
            "LastModified": cfg.last_modified,
            "LastProcessingResult": cfg.last_processing_result,
            "State": cfg.state,
            "StateTransitionReason": cfg.state_transition_reason,
            "DestinationConfig": {"OnFailure": on_failure},
            "MaximumRecordAgeInSeconds": cfg.maximum_record_age,
            "BisectBatchOnFunctionError": cfg.bisect_on_error,
            "MaximumRetryAttempts": cfg.maximum_retry_attempts,
            "TumblingWindowInSeconds": cfg.tumbling_window,
            "FunctionResponseTypes": list(cfg.function_response_types),
            "EventSourceMappingArn": cfg.event_source_mapping_arn,
        }
    )
    return response


# -- DynamoDB rules ---------------------------------------------------------------------


def _check_on_success(params: dict[str, Any]) -> None:
    if "OnSuccess" in (params.get("DestinationConfig") or {}):
        raise invalid_parameter(
            "Unsupported DestinationConfig parameter for given event source mapping type."
        )


def _check_dynamodb_only(params: dict[str, Any]) -> None:
    for key in params:
        if key not in _READ:
            raise invalid_parameter(
                f"{key} is not supported by the local endpoint (it is newer than the endpoint's "
                "event source mappings); remove it."
            )
    for key in NOT_FOR_DYNAMODB:
        if key in params:
            raise invalid_parameter(
                f"{key} does not apply to DynamoDB stream event sources; remove it."
            )
    if params.get("KMSKeyArn"):
        raise invalid_parameter(
            "KMSKeyArn is not supported by the local endpoint: it does not encrypt filter "
            "criteria. Remove KMSKeyArn."
        )


def _settings(params: dict[str, Any]) -> dict[str, Any]:
    """Validate the DynamoDB rules and map the parameters given to MappingConfig fields."""
    age = params.get("MaximumRecordAgeInSeconds", -1)
    if 0 <= age < 60:
        raise invalid_parameter(
            "MaximumRecordAgeInSeconds must be either -1 (forever) or between 60 and 604800 "
            "(inclusive)"
        )
    settings = {_FIELDS[key]: value for key, value in params.items() if key in _FIELDS}
    if "MetricsConfig" in params:
        metrics = list(params["MetricsConfig"].get("Metrics") or [])
        if any(metric != "EventCount" for metric in metrics):
            raise invalid_parameter(
                f"MetricsConfig {metrics} is not supported for DynamoDB stream event sources: "
                'use {"Metrics": ["EventCount"]} (ErrorCount and KafkaMetrics are for Kafka).'
            )
        settings["metrics_config"] = {"Metrics": metrics}
    if "FunctionResponseTypes" in params:
        settings["function_response_types"] = list(params["FunctionResponseTypes"])
    if "FilterCriteria" in params:
        settings["filter_patterns"] = _filter_patterns(params["FilterCriteria"])
    if "DestinationConfig" in params:
        settings["on_failure_destination"] = _on_failure(params["DestinationConfig"])
    return settings


def _check_window(settings: dict[str, Any], current: MappingConfig | None) -> None:
    """A tumbling window needs one batch at a time per shard (ParallelizationFactor 1)."""
    window = settings.get("tumbling_window", current.tumbling_window if current else 0)
    factor = settings.get("parallelization_factor",
                          current.parallelization_factor if current else 1)
    if window > 0 and factor > 1:
        raise invalid_parameter(
            "TumblingWindowInSeconds requires ParallelizationFactor 1: a window's state is "
            f"carried from batch to batch of a shard; got ParallelizationFactor {factor}."
        )


def _filter_patterns(criteria: dict[str, Any]) -> list[str]:
    filters = criteria.get("Filters") or []
    if len(filters) > MAX_FILTERS:
        raise invalid_parameter(
            f"The local endpoint accepts at most {MAX_FILTERS} filters per event source "
            f"mapping (AWS's default quota); got {len(filters)}."
        )
    patterns: list[str] = []
    for item in filters:
        pattern = item.get("Pattern")
        try:
            if not pattern:
                raise FilterPatternError("empty pattern")
            compile_pattern(pattern)
        except UnsupportedFilterError as exc:
            raise invalid_parameter(
                f"Unsupported filter pattern for the local endpoint: {exc}."
            ) from None
        except FilterPatternError:
            raise invalid_parameter("Invalid filter pattern definition.") from None
        patterns.append(pattern)
    return patterns


def _on_failure(config: dict[str, Any]) -> str | None:
    destination = (config.get("OnFailure") or {}).get("Destination")
    if not destination:
        return None
    parts = destination.split(":", 5)
    service = parts[2] if len(parts) == 6 and parts[0] == "arn" else ""
    if service == "s3":
        raise invalid_parameter(
            "The local endpoint does not support S3 on-failure destinations; use the ARN of an "
            "SQS queue or an SNS topic."
        )
    resource_ok = len(parts) == 6 and all(parts[3:]) and "/" not in parts[5]
    if service not in ("sqs", "sns") or not resource_ok:
        raise invalid_parameter(
            "The OnFailure destination of a DynamoDB stream event source mapping must be the "
            f"ARN of a standard SQS queue or SNS topic; got {destination}"
        )
    if parts[5].endswith(".fifo"):
        raise invalid_parameter(
            f"FIFO queues and topics cannot be on-failure destinations; got {destination}"
        )
    return destination


def _check_duplicate(function_arn: str, source: str, existing: Iterable[MappingConfig]) -> None:
    for other in existing:
        if other.function_arn == function_arn and other.event_source_arn == source:
            name = function_arn.split(":")[6]
            raise ServiceError(
                "ResourceConflictException",
                f'The event source arn (" {source} ") and function (" {name} ") provided '
                "mapping already exists. Please update or delete the existing mapping with "
                f"UUID {other.uuid}",
                status=409,
            )
