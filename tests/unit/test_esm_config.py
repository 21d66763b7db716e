"""Event source mapping configuration: defaults, validation, the AWS response shape.

Messages marked ``aws_`` are recorded from AWS (esm-semantics §1.1, §1.8); the
others are the local endpoint's own wording for things AWS does not record or the
endpoint does not emulate (listed in FIDELITY.md).
"""

from __future__ import annotations

import copy
import json
from typing import Any

import botocore.session
import pytest

from localaws.errors import ServiceError
from localaws.esm.config import (
    ARN_PATTERN,
    CREATE_PARAMETERS,
    ESM_DEFAULTS,
    FUNCTION_RESPONSE_TYPES,
    METRICS,
    RANGES,
    STARTING_POSITIONS,
    UPDATE_PARAMETERS,
    MappingConfig,
    create_config,
    to_response,
    update_config,
)

REGION = "us-east-1"
ACCOUNT = "123456789012"
UUID = "a1b2c3d4-5678-90ab-cdef-111111111111"
OTHER_UUID = "a1b2c3d4-5678-90ab-cdef-222222222222"
NOW = 1764000000.5
STREAM = f"arn:aws:dynamodb:{REGION}:{ACCOUNT}:table/orders/stream/2025-11-25T10:00:00.000"
FUNCTION = f"arn:aws:lambda:{REGION}:{ACCOUNT}:function:process-orders"
QUEUE = f"arn:aws:sqs:{REGION}:{ACCOUNT}:orders-dlq"
TOPIC = f"arn:aws:sns:{REGION}:{ACCOUNT}:orders-failures"
ESM_ARN = f"arn:aws:lambda:{REGION}:{ACCOUNT}:event-source-mapping:{UUID}"
INVALID_PATTERN = "Invalid filter pattern definition."


def request(**overrides: Any) -> dict[str, Any]:
    """A CreateEventSourceMapping body as boto3 sends it, minus what ``overrides`` drop."""
    body: dict[str, Any] = {
        "FunctionName": "process-orders",
        "EventSourceArn": STREAM,
        "StartingPosition": "TRIM_HORIZON",
    }
    for key, value in overrides.items():
        if value is ...:
            body.pop(key, None)
        else:
            body[key] = value
    return body


def create(params: dict[str, Any], **kwargs: Any) -> MappingConfig:
    arguments: dict[str, Any] = {
        "function_arn": FUNCTION,
        "stream_exists": True,
        "existing": [],
        "region": REGION,
        "account_id": ACCOUNT,
        "mapping_uuid": UUID,
        "now": NOW,
    }
    arguments.update(kwargs)
    return create_config(params, **arguments)


def create_error(params: dict[str, Any], **kwargs: Any) -> ServiceError:
    with pytest.raises(ServiceError) as err:
        create(params, **kwargs)
    return err.value


def range_message(member: str, value: int, bound: int, *, above: bool) -> str:
    side = "less than or equal to" if above else "greater than or equal to"
    return (
        f"1 validation error detected: Value '{value}' at '{member}' failed to satisfy "
        f"constraint: Member must have value {side} {bound}"
    )


# -- response shape ----------------------------------------------------------------------


def test_create_response_matches_aws_golden_shape():
    # given the request of AWS's recorded test_disabled_dynamodb_event_source_mapping
    params = request(MaximumBatchingWindowInSeconds=1)
    # when
    response = to_response(create(params))
    # then
    assert response == {
        "BatchSize": 100,
        "BisectBatchOnFunctionError": False,
        "DestinationConfig": {"OnFailure": {}},
        "EventSourceArn": STREAM,
        "EventSourceMappingArn": ESM_ARN,
        "FunctionArn": FUNCTION,
        "FunctionResponseTypes": [],
        "LastModified": NOW,
        "LastProcessingResult": "No records processed",
        "MaximumBatchingWindowInSeconds": 1,
        "MaximumRecordAgeInSeconds": -1,
        "MaximumRetryAttempts": -1,
        "ParallelizationFactor": 1,
        "StartingPosition": "TRIM_HORIZON",
        "State": "Creating",
        "StateTransitionReason": "User action",
        "TumblingWindowInSeconds": 0,
        "UUID": UUID,
    }


def test_response_is_json_serializable():
    # given a mapping using every optional setting
    params = request(
        FilterCriteria={"Filters": [{"Pattern": '{"eventName": ["INSERT"]}'}]},
        DestinationConfig={"OnFailure": {"Destination": QUEUE}},
        MetricsConfig={"Metrics": ["EventCount"]},
        FunctionResponseTypes=["ReportBatchItemFailures"],
    )
    # when
    text = json.dumps(to_response(create(params)))
    # then
    assert json.loads(text)["UUID"] == UUID


def test_defaults_are_aws_defaults():
    # given a request with only the required parameters
    # when
    response = to_response(create(request()))
    # then
    for key, value in ESM_DEFAULTS.items():
        expected = list(value) if isinstance(value, tuple) else value
        if key != "Enabled":
            assert response[key] == expected, key


def test_mapping_is_enabled_by_default():
    # given / when
    cfg = create(request())
    # then
    assert cfg.enabled is True
    assert cfg.state == "Creating"


@pytest.mark.parametrize(
    "function_arn",
    [
        pytest.param(FUNCTION + ":$LATEST", id="latest"),
        pytest.param(FUNCTION + ":3", id="version"),
        pytest.param(FUNCTION + ":live", id="alias"),
    ],
)
def test_function_arn_keeps_its_qualifier(function_arn: str):
    # given the caller resolved a qualified function name
    params = request(FunctionName="process-orders" + function_arn[len(FUNCTION):])
    # when
    response = to_response(create(params, function_arn=function_arn))
    # then
    assert response["FunctionArn"] == function_arn


def test_filter_criteria_is_echoed_with_pattern_strings():
    # given
    pattern = '{"dynamodb": {"NewImage": {"status": {"S": ["failed"]}}}}'
    params = request(FilterCriteria={"Filters": [{"Pattern": pattern}]})
    # when
    response = to_response(create(params))
    # then
    assert response["FilterCriteria"] == {"Filters": [{"Pattern": pattern}]}


def test_empty_filter_list_is_accepted_and_omitted():
    # given AWS's recorded FilterCriteria={"Filters": []}
    params = request(FilterCriteria={"Filters": []})
    # when
    response = to_response(create(params))
    # then
    assert "FilterCriteria" not in response


@pytest.mark.parametrize("destination", [QUEUE, TOPIC], ids=["sqs_queue", "sns_topic"])
def test_on_failure_destination_is_echoed(destination: str):
    # given
    params = request(DestinationConfig={"OnFailure": {"Destination": destination}})
    # when
    response = to_response(create(params))
    # then
    assert response["DestinationConfig"] == {"OnFailure": {"Destination": destination}}


def test_metrics_config_is_echoed_when_set():
    # given
    params = request(MetricsConfig={"Metrics": ["EventCount"]})
    # when
    response = to_response(create(params))
    # then
    assert response["MetricsConfig"] == {"Metrics": ["EventCount"]}


def test_tags_are_stored_but_not_returned():
    # given
    params = request(Tags={"team": "data"})
    # when
    cfg = create(params)
    # then
    assert cfg.tags == {"team": "data"}
    assert "Tags" not in to_response(cfg)


def test_report_batch_item_failures_is_echoed_and_flagged():
    # given
    params = request(FunctionResponseTypes=["ReportBatchItemFailures"])
    # when
    cfg = create(params)
    # then
    assert to_response(cfg)["FunctionResponseTypes"] == ["ReportBatchItemFailures"]
    assert cfg.report_batch_item_failures is True


def test_every_setting_lands_in_its_field():
    # given
    params = request(
        Enabled=False, BatchSize=10, MaximumBatchingWindowInSeconds=5, ParallelizationFactor=4,
        MaximumRetryAttempts=2, MaximumRecordAgeInSeconds=60, BisectBatchOnFunctionError=True,
        StartingPosition="LATEST", TumblingWindowInSeconds=0,
    )  # fmt: skip
    # when
    cfg = create(params)
    # then
    assert (cfg.enabled, cfg.batch_size, cfg.maximum_batching_window) == (False, 10, 5)
    assert (cfg.parallelization_factor, cfg.maximum_retry_attempts) == (4, 2)
    assert (cfg.maximum_record_age, cfg.bisect_on_error) == (60, True)
    assert (cfg.starting_position, cfg.function_name) == ("LATEST", "process-orders")


def test_json_null_parameters_are_treated_as_absent():
    # given a raw client sending null for optional members
    params = request(BatchSize=None, FilterCriteria=None)
    # when
    cfg = create(params)
    # then
    assert cfg.batch_size == 100
    assert cfg.filter_patterns == []


# -- create validation --------------------------------------------------------------------


@pytest.mark.parametrize(
    ("params", "code", "message"),
    [
        pytest.param(
            request(EventSourceArn=...), "InvalidParameterValueException",
            "Unrecognized event source.", id="aws_missing_event_source_arn",
        ),
        pytest.param(
            request(StartingPosition=...), "InvalidParameterValueException",
            "1 validation error detected: Value null at 'startingPosition' failed to satisfy "
            "constraint: Member must not be null.",
            id="aws_missing_starting_position",
        ),
        pytest.param(
            request(StartingPosition="invalid"), "ValidationException",
            "1 validation error detected: Value 'invalid' at 'startingPosition' failed to "
            "satisfy constraint: Member must satisfy enum value set: [LATEST, AT_TIMESTAMP, "
            "TRIM_HORIZON]",
            id="aws_invalid_starting_position",
        ),
        pytest.param(
            request(StartingPosition="AT_TIMESTAMP"), "InvalidParameterValueException",
            f"Unsupported starting position for arn type: {STREAM}",
            id="aws_at_timestamp_on_dynamodb",
        ),
        pytest.param(
            request(StartingPosition="AT_TIMESTAMP", StartingPositionTimestamp=1764000000),
            "InvalidParameterValueException",
            f"Unsupported starting position for arn type: {STREAM}",
            id="aws_at_timestamp_with_its_timestamp_on_dynamodb",
        ),
        pytest.param(
            request(DestinationConfig={"OnSuccess": {"Destination": QUEUE}}),
            "InvalidParameterValueException",
            "Unsupported DestinationConfig parameter for given event source mapping type.",
            id="aws_on_success_destination",
        ),
        pytest.param(
            request(FilterCriteria={"Filters": [{"Pattern": "single-string"}]}),
            "InvalidParameterValueException", INVALID_PATTERN, id="aws_filter_single_string",
        ),
        pytest.param(
            request(FilterCriteria={"Filters": [{"Pattern": '[{"eventName": ["INSERT"=123}]'}]}),
            "InvalidParameterValueException", INVALID_PATTERN, id="aws_filter_broken_json",
        ),
        pytest.param(
            request(FilterCriteria={"Filters": [{"Pattern": "{}"}]}),
            "InvalidParameterValueException", INVALID_PATTERN, id="filter_empty_object",
        ),
        pytest.param(
            request(FilterCriteria={"Filters": [{}]}),
            "InvalidParameterValueException", INVALID_PATTERN, id="filter_without_pattern",
        ),
        pytest.param(
            request(FilterCriteria={"Filters": [{"Pattern": '{"eventName": "INSERT"}'}]}),
            "InvalidParameterValueException", INVALID_PATTERN, id="filter_leaf_not_array",
        ),
        pytest.param(
            request(MaximumRecordAgeInSeconds=0), "InvalidParameterValueException",
            "MaximumRecordAgeInSeconds must be either -1 (forever) or between 60 and 604800 "
            "(inclusive)",
            id="aws_record_age_zero",
        ),
        pytest.param(
            request(MaximumRecordAgeInSeconds=59), "InvalidParameterValueException",
            "MaximumRecordAgeInSeconds must be either -1 (forever) or between 60 and 604800 "
            "(inclusive)",
            id="aws_record_age_59",
        ),
        pytest.param(
            request(FunctionName=...), "ValidationException",
            "1 validation error detected: Value null at 'functionName' failed to satisfy "
            "constraint: Member must not be null",
            id="missing_function_name",
        ),
        pytest.param(
            request(EventSourceArn="orders-stream"), "ValidationException",
            "1 validation error detected: Value 'orders-stream' at 'eventSourceArn' failed to "
            f"satisfy constraint: Member must satisfy regular expression pattern: {ARN_PATTERN}",
            id="event_source_arn_not_an_arn",
        ),
        pytest.param(
            request(FunctionResponseTypes=["ReportBatchItemFailure"]), "ValidationException",
            "1 validation error detected: Value '[ReportBatchItemFailure]' at "
            "'functionResponseTypes' failed to satisfy constraint: Member must satisfy "
            "constraint: [Member must satisfy enum value set: [ReportBatchItemFailures]]",
            id="function_response_type_not_in_enum",
        ),
        pytest.param(
            request(FunctionResponseTypes=["ReportBatchItemFailures"] * 2), "ValidationException",
            "1 validation error detected: Value '[ReportBatchItemFailures, "
            "ReportBatchItemFailures]' at 'functionResponseTypes' failed to satisfy constraint: "
            "Member must have length less than or equal to 1",
            id="function_response_types_too_long",
        ),
        pytest.param(
            request(MetricsConfig={"Metrics": ["Latency"]}), "ValidationException",
            "1 validation error detected: Value '[Latency]' at 'metricsConfig.metrics' failed "
            "to satisfy constraint: Member must satisfy constraint: [Member must satisfy enum "
            "value set: [EventCount, ErrorCount, KafkaMetrics]]",
            id="metric_not_in_enum",
        ),
        pytest.param(
            request(BatchSize=0, ParallelizationFactor=11), "ValidationException",
            "2 validation errors detected: Value '0' at 'batchSize' failed to satisfy "
            "constraint: Member must have value greater than or equal to 1; Value '11' at "
            "'parallelizationFactor' failed to satisfy constraint: Member must have value less "
            "than or equal to 10",
            id="two_violations_in_one_error",
        ),
        pytest.param(
            request(FilterCriteria={"Filters": [{"Pattern": "x" * 4097}]}), "ValidationException",
            f"1 validation error detected: Value '{'x' * 4097}' at "
            "'filterCriteria.filters.1.member.pattern' failed to satisfy constraint: Member "
            "must have length less than or equal to 4096",
            id="pattern_longer_than_4096",
        ),
    ],
)
def test_create_validation(params: dict[str, Any], code: str, message: str):
    # given an invalid request
    # when
    err = create_error(params)
    # then
    assert (err.code, err.message, err.status) == (code, message, 400)


@pytest.mark.parametrize(
    ("key", "value", "member", "bound", "above"),
    [
        ("BatchSize", 0, "batchSize", 1, False),
        ("BatchSize", 10001, "batchSize", 10000, True),
        ("MaximumBatchingWindowInSeconds", -1, "maximumBatchingWindowInSeconds", 0, False),
        ("MaximumBatchingWindowInSeconds", 301, "maximumBatchingWindowInSeconds", 300, True),
        ("ParallelizationFactor", 0, "parallelizationFactor", 1, False),
        ("ParallelizationFactor", 11, "parallelizationFactor", 10, True),
        ("MaximumRetryAttempts", -2, "maximumRetryAttempts", -1, False),
        ("MaximumRetryAttempts", 10001, "maximumRetryAttempts", 10000, True),
        ("MaximumRecordAgeInSeconds", -2, "maximumRecordAgeInSeconds", -1, False),
        ("MaximumRecordAgeInSeconds", 604801, "maximumRecordAgeInSeconds", 604800, True),
        ("TumblingWindowInSeconds", -1, "tumblingWindowInSeconds", 0, False),
        ("TumblingWindowInSeconds", 901, "tumblingWindowInSeconds", 900, True),
    ],
)
def test_out_of_range_integer_is_a_validation_exception(
    key: str, value: int, member: str, bound: int, above: bool
):
    # given
    params = request(**{key: value})
    # when
    err = create_error(params)
    # then
    assert err.code == "ValidationException"
    assert err.message == range_message(member, value, bound, above=above)


@pytest.mark.parametrize(
    ("key", "value"),
    [
        ("BatchSize", 1), ("BatchSize", 10000), ("MaximumBatchingWindowInSeconds", 300),
        ("ParallelizationFactor", 10), ("MaximumRetryAttempts", -1),
        ("MaximumRetryAttempts", 10000), ("MaximumRecordAgeInSeconds", -1),
        ("MaximumRecordAgeInSeconds", 60), ("MaximumRecordAgeInSeconds", 604800),
        ("TumblingWindowInSeconds", 0),
    ],
)  # fmt: skip
def test_range_bounds_are_accepted(key: str, value: int):
    # given
    params = request(**{key: value})
    # when
    response = to_response(create(params))
    # then
    assert response[key] == value


@pytest.mark.parametrize(
    ("key", "value", "message"),
    [
        ("BatchSize", "10", "Invalid type for BatchSize: expected an integer, got string."),
        ("BatchSize", True, "Invalid type for BatchSize: expected an integer, got boolean."),
        ("BatchSize", 10.5, "Invalid type for BatchSize: expected an integer, got number."),
        ("Enabled", "false", "Invalid type for Enabled: expected a boolean, got string."),
        ("BisectBatchOnFunctionError", 1,
         "Invalid type for BisectBatchOnFunctionError: expected a boolean, got integer."),
        ("FunctionResponseTypes", "ReportBatchItemFailures",
         "Invalid type for FunctionResponseTypes: expected an array, got string."),
        ("FilterCriteria", [], "Invalid type for FilterCriteria: expected an object, got array."),
        ("FilterCriteria", {"Filters": [{"Pattern": {"eventName": ["INSERT"]}}]},
         "Invalid type for FilterCriteria.Filters[0].Pattern: expected a string, got object."),
        ("DestinationConfig", {"OnFailure": {"Destination": 1}},
         "Invalid type for DestinationConfig.OnFailure.Destination: expected a string, "
         "got integer."),
        ("Tags", {"team": 1}, "Invalid type for Tags.team: expected a string, got integer."),
    ],
)
def test_wrong_json_type_is_a_serialization_exception(key: str, value: Any, message: str):
    # given a raw client that sends the wrong JSON type
    params = request(**{key: value})
    # when
    err = create_error(params)
    # then
    assert (err.code, err.message, err.status) == ("SerializationException", message, 400)


@pytest.mark.parametrize(
    "key",
    [
        "StartingPositionTimestamp", "Topics", "Queues", "SourceAccessConfigurations",
        "SelfManagedEventSource", "ScalingConfig", "ProvisionedPollerConfig",
        "DocumentDBEventSourceConfig", "AmazonManagedKafkaEventSourceConfig",
        "SelfManagedKafkaEventSourceConfig", "LoggingConfig",
    ],
)  # fmt: skip
def test_parameter_for_other_sources_is_refused(key: str):
    # given a parameter that does not apply to DynamoDB streams
    params = request(**{key: {"Anything": "x"}})
    # when
    err = create_error(params)
    # then
    assert err.code == "InvalidParameterValueException"
    assert err.message == f"{key} does not apply to DynamoDB stream event sources; remove it."


@pytest.mark.parametrize(
    ("params", "message"),
    [
        pytest.param(
            request(EventSourceArn=f"arn:aws:kinesis:{REGION}:{ACCOUNT}:stream/orders"),
            "The local endpoint supports only DynamoDB stream event sources "
            "(arn:aws:dynamodb:<region>:<account>:table/<table>/stream/<label>); got "
            f"arn:aws:kinesis:{REGION}:{ACCOUNT}:stream/orders",
            id="kinesis_stream",
        ),
        pytest.param(
            request(EventSourceArn=f"arn:aws:dynamodb:{REGION}:{ACCOUNT}:table/orders"),
            "The local endpoint supports only DynamoDB stream event sources "
            "(arn:aws:dynamodb:<region>:<account>:table/<table>/stream/<label>); got "
            f"arn:aws:dynamodb:{REGION}:{ACCOUNT}:table/orders",
            id="table_instead_of_stream",
        ),
        pytest.param(
            request(TumblingWindowInSeconds=60, ParallelizationFactor=2),
            "TumblingWindowInSeconds requires ParallelizationFactor 1: a window's state is "
            "carried from batch to batch of a shard; got ParallelizationFactor 2.",
            id="tumbling_window_with_parallel_batches",
        ),
        pytest.param(
            request(KMSKeyArn=f"arn:aws:kms:{REGION}:{ACCOUNT}:key/1234"),
            "KMSKeyArn is not supported by the local endpoint: it does not encrypt filter "
            "criteria. Remove KMSKeyArn.",
            id="kms_key",
        ),
        pytest.param(
            request(MetricsConfig={"Metrics": ["EventCount", "ErrorCount"]}),
            "MetricsConfig ['EventCount', 'ErrorCount'] is not supported for DynamoDB stream "
            'event sources: use {"Metrics": ["EventCount"]} (ErrorCount and KafkaMetrics are '
            "for Kafka).",
            id="kafka_metrics",
        ),
        pytest.param(
            request(DestinationConfig={"OnFailure": {"Destination": "arn:aws:s3:::failures"}}),
            "The local endpoint does not support S3 on-failure destinations; use the ARN of an "
            "SQS queue or an SNS topic.",
            id="s3_destination",
        ),
        pytest.param(
            request(DestinationConfig={"OnFailure": {"Destination": FUNCTION}}),
            "The OnFailure destination of a DynamoDB stream event source mapping must be the "
            f"ARN of a standard SQS queue or SNS topic; got {FUNCTION}",
            id="lambda_destination",
        ),
        pytest.param(
            request(DestinationConfig={"OnFailure": {"Destination": QUEUE + ".fifo"}}),
            f"FIFO queues and topics cannot be on-failure destinations; got {QUEUE}.fifo",
            id="fifo_queue_destination",
        ),
        pytest.param(
            request(FilterCriteria={"Filters": [{"Pattern": '{"eventName": ["INSERT"]}'}] * 6}),
            "The local endpoint accepts at most 5 filters per event source mapping (AWS's "
            "default quota); got 6.",
            id="six_filters",
        ),
        pytest.param(
            request(FilterCriteria={"Filters": [{"Pattern": '{"ip": [{"cidr": "10.0.0.0/8"}]}'}]}),
            "Unsupported filter pattern for the local endpoint: the local endpoint does not "
            "support the 'cidr' filter operator (at 'ip').",
            id="cidr_filter",
        ),
        pytest.param(
            request(BatchSzie=10),
            "Unknown parameter for CreateEventSourceMapping: BatchSzie.",
            id="unknown_key",
        ),
        pytest.param(
            request(DestinationConfig={"OnFailure": {"Destination": QUEUE, "Type": "sqs"}}),
            "Unknown parameter: DestinationConfig.OnFailure.Type.",
            id="unknown_nested_key",
        ),
    ],
)
def test_setting_the_local_endpoint_does_not_emulate_is_refused(
    params: dict[str, Any], message: str
):
    # given a request AWS might accept but the local endpoint cannot honour
    # when
    err = create_error(params)
    # then
    assert (err.code, err.message) == ("InvalidParameterValueException", message)


def test_unknown_function_is_refused():
    # given the caller found no such function
    # when
    err = create_error(request(), function_arn=None)
    # then
    assert (err.code, err.message, err.status) == (
        "InvalidParameterValueException", "Function does not exist", 400
    )


def test_missing_stream_is_refused():
    # given the caller found no such stream
    # when
    err = create_error(request(), stream_exists=False)
    # then
    assert (err.code, err.message) == (
        "InvalidParameterValueException", f"Stream not found: {STREAM}"
    )


def test_duplicate_mapping_is_a_conflict():
    # given the function already has a mapping on this stream
    first = create(request(), mapping_uuid=OTHER_UUID)
    # when
    err = create_error(request(), existing=[first])
    # then
    assert (err.code, err.status) == ("ResourceConflictException", 409)
    assert err.message == (
        f'The event source arn (" {STREAM} ") and function (" process-orders ") provided '
        f"mapping already exists. Please update or delete the existing mapping with UUID "
        f"{OTHER_UUID}"
    )


def test_other_function_on_the_same_stream_is_no_conflict():
    # given another function's mapping on the same stream
    other = create(request(), mapping_uuid=OTHER_UUID, function_arn=FUNCTION + "-audit")
    # when
    cfg = create(request(), existing=[other])
    # then
    assert cfg.uuid == UUID


def test_model_errors_come_before_dynamodb_rules():
    # given a request that breaks a model constraint and a DynamoDB rule
    params = request(BatchSize=0, StartingPosition=...)
    # when
    err = create_error(params)
    # then
    assert err.code == "ValidationException"


# -- update ------------------------------------------------------------------------------


def existing_mapping(**overrides: Any) -> MappingConfig:
    cfg = create(request(**overrides))
    cfg.state = "Enabled"
    return cfg


def update(current: MappingConfig, params: dict[str, Any], **kwargs: Any) -> MappingConfig:
    arguments: dict[str, Any] = {"function_arn": None, "now": NOW + 60}
    arguments.update(kwargs)
    return update_config(current, params, **arguments)


@pytest.mark.parametrize(
    ("enabled_before", "params", "state"),
    [
        pytest.param(True, {"Enabled": False}, "Disabling", id="aws_disable"),
        pytest.param(False, {"Enabled": True}, "Enabling", id="enable"),
        pytest.param(True, {"Enabled": True}, "Updating", id="enable_when_enabled"),
        pytest.param(True, {"BatchSize": 10}, "Updating", id="other_setting"),
    ],
)
def test_update_sets_the_transition_state(enabled_before: bool, params: dict[str, Any], state: str):
    # given
    current = existing_mapping(Enabled=enabled_before)
    # when
    updated = update(current, params)
    # then
    assert (updated.state, updated.state_transition_reason) == (state, "User action")
    assert updated.last_modified == NOW + 60


def test_update_changes_only_what_is_given_and_leaves_the_original_alone():
    # given
    current = existing_mapping(FunctionResponseTypes=["ReportBatchItemFailures"])
    before = copy.deepcopy(current)
    # when
    updated = update(current, {"BatchSize": 10, "MaximumRetryAttempts": 3})
    # then
    assert (updated.batch_size, updated.maximum_retry_attempts) == (10, 3)
    assert updated.function_response_types == ["ReportBatchItemFailures"]
    assert updated.function_response_types is not current.function_response_types
    assert current == before


def test_update_with_empty_filter_criteria_removes_filters():
    # given
    filters = {"Filters": [{"Pattern": '{"eventName": ["INSERT"]}'}]}
    current = existing_mapping(FilterCriteria=filters)
    # when
    updated = update(current, {"FilterCriteria": {}})
    # then
    assert "FilterCriteria" not in to_response(updated)


def test_update_with_empty_on_failure_removes_the_destination():
    # given
    current = existing_mapping(DestinationConfig={"OnFailure": {"Destination": QUEUE}})
    # when
    updated = update(current, {"DestinationConfig": {"OnFailure": {}}})
    # then
    assert to_response(updated)["DestinationConfig"] == {"OnFailure": {}}


def test_update_function_name_uses_the_resolved_arn():
    # given
    current = existing_mapping()
    # when
    updated = update(current, {"FunctionName": "process-orders:live"},
                     function_arn=FUNCTION + ":live")
    # then
    assert updated.function_arn == FUNCTION + ":live"


def test_update_to_unknown_function_is_refused():
    # given
    current = existing_mapping()
    # when
    with pytest.raises(ServiceError) as err:
        update(current, {"FunctionName": "nope"}, function_arn=None)
    # then
    assert (err.value.code, err.value.message) == (
        "InvalidParameterValueException", "Function does not exist"
    )


def test_update_to_a_function_already_mapped_is_a_conflict():
    # given two mappings on the same stream for two functions
    current = existing_mapping()
    other = create(request(), mapping_uuid=OTHER_UUID, function_arn=FUNCTION + "-audit")
    # when
    with pytest.raises(ServiceError) as err:
        update(current, {"FunctionName": "process-orders-audit"},
               function_arn=FUNCTION + "-audit", existing=[current, other])
    # then
    assert (err.value.code, err.value.status) == ("ResourceConflictException", 409)


@pytest.mark.parametrize(
    ("params", "code", "message"),
    [
        pytest.param({"BatchSize": 0}, "ValidationException",
                     range_message("batchSize", 0, 1, above=False), id="batch_size_zero"),
        pytest.param({"MaximumRecordAgeInSeconds": 30}, "InvalidParameterValueException",
                     "MaximumRecordAgeInSeconds must be either -1 (forever) or between 60 and "
                     "604800 (inclusive)", id="record_age_30"),
        pytest.param({"FilterCriteria": {"Filters": [{"Pattern": "nope"}]}},
                     "InvalidParameterValueException", INVALID_PATTERN, id="invalid_filter"),
        pytest.param({"DestinationConfig": {"OnSuccess": {"Destination": QUEUE}}},
                     "InvalidParameterValueException",
                     "Unsupported DestinationConfig parameter for given event source mapping type.",
                     id="on_success"),
        pytest.param({"StartingPosition": "LATEST"}, "InvalidParameterValueException",
                     "StartingPosition cannot be changed by UpdateEventSourceMapping; delete the "
                     "mapping and create it again.", id="starting_position_is_create_only"),
        pytest.param({"ScalingConfig": {"MaximumConcurrency": 2}},
                     "InvalidParameterValueException",
                     "ScalingConfig does not apply to DynamoDB stream event sources; remove it.",
                     id="sqs_only_setting"),
        pytest.param({"UUID": UUID}, "InvalidParameterValueException",
                     "Unknown parameter for UpdateEventSourceMapping: UUID.", id="uuid_in_body"),
    ],
)
def test_update_validation(params: dict[str, Any], code: str, message: str):
    # given
    current = existing_mapping()
    # when
    with pytest.raises(ServiceError) as err:
        update(current, params)
    # then
    assert (err.value.code, err.value.message) == (code, message)


# -- drift guard -------------------------------------------------------------------------


@pytest.fixture(scope="module")
def lambda_model() -> Any:
    return botocore.session.get_session().get_service_model("lambda")


def test_tumbling_window_is_accepted_and_echoed():
    # given
    params = request(TumblingWindowInSeconds=900)
    # when
    response = to_response(create(params))
    # then
    assert response["TumblingWindowInSeconds"] == 900


def test_update_to_parallel_batches_is_refused_while_a_tumbling_window_is_set():
    # given
    current = create(request(TumblingWindowInSeconds=30))
    # when
    with pytest.raises(ServiceError) as err:
        update_config(current, {"ParallelizationFactor": 3}, function_arn=None)
    # then
    assert err.value.code == "InvalidParameterValueException"
    assert "ParallelizationFactor 1" in err.value.message


def test_constants_follow_the_pinned_api_model(lambda_model: Any):
    # given the Lambda API model of the pinned botocore
    create_shape = lambda_model.operation_model("CreateEventSourceMapping").input_shape
    update_shape = lambda_model.operation_model("UpdateEventSourceMapping").input_shape
    members = create_shape.members
    # when / then
    assert tuple(members) == CREATE_PARAMETERS
    assert tuple(k for k in update_shape.members if k != "UUID") == UPDATE_PARAMETERS
    for key, (_, low, high) in RANGES.items():
        assert (members[key].metadata["min"], members[key].metadata["max"]) == (low, high), key
    assert sorted(members["StartingPosition"].enum) == sorted(STARTING_POSITIONS)
    assert tuple(members["FunctionResponseTypes"].member.enum) == FUNCTION_RESPONSE_TYPES
    assert tuple(members["MetricsConfig"].members["Metrics"].member.enum) == METRICS
    assert members["EventSourceArn"].metadata["pattern"] == ARN_PATTERN
    pattern_shape = members["FilterCriteria"].members["Filters"].member.members["Pattern"]
    assert pattern_shape.metadata["max"] == 4096
