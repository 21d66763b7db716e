"""The event source mapping API of the local endpoint, used only through boto3.

Create/Get/List/Update/DeleteEventSourceMapping for DynamoDB streams: AWS's
defaults and response shape, AWS's validation errors on the wire, the lifecycle
states and ``LastProcessingResult`` (reference: esm-semantics §1).
"""

from __future__ import annotations

import json
from datetime import datetime

import pytest
from botocore.config import Config
from botocore.exceptions import ClientError

from tests.functional.support import (
    Journaled,
    journal,
    journaled_function,
    make_role,
    map_stream,
    wait_for,
    wait_for_state,
)

pytestmark = pytest.mark.functional

MISSING_STREAM = ("arn:aws:dynamodb:us-east-1:123456789012:table/no-such-table/stream/"
                  "2024-01-01T00:00:00.000")


@pytest.fixture
def source(backend, role, unique) -> Journaled:
    """A function (the journal handler) and a table with a stream."""
    return journaled_function(backend, f"esm-api-{unique}", role=role)


def _raw_lambda(backend):
    """A Lambda client that lets bad values reach the endpoint, as other SDKs would."""
    return backend.client("lambda", config=Config(parameter_validation=False))


def _error(err: pytest.ExceptionInfo[ClientError]) -> tuple[str, str, int]:
    response = err.value.response
    return (response["Error"]["Code"], response["Error"]["Message"],
            response["ResponseMetadata"]["HTTPStatusCode"])


# -- create: defaults and response shape ---------------------------------------------------


def test_create_fills_in_aws_defaults_and_answers_202_creating(backend, source):
    # given
    lam = backend.client("lambda")
    # when
    response = lam.create_event_source_mapping(
        FunctionName=source.name, EventSourceArn=source.stream,
        StartingPosition="TRIM_HORIZON")
    # then
    assert response.pop("ResponseMetadata")["HTTPStatusCode"] == 202
    assert isinstance(response.pop("LastModified"), datetime)
    uuid = response["UUID"]
    assert response == {
        "UUID": uuid,
        "StartingPosition": "TRIM_HORIZON",
        "BatchSize": 100,
        "MaximumBatchingWindowInSeconds": 0,
        "ParallelizationFactor": 1,
        "EventSourceArn": source.stream,
        "FunctionArn": source.function_arn,
        "LastProcessingResult": "No records processed",
        "State": "Creating",
        "StateTransitionReason": "User action",
        "DestinationConfig": {"OnFailure": {}},
        "MaximumRecordAgeInSeconds": -1,
        "BisectBatchOnFunctionError": False,
        "MaximumRetryAttempts": -1,
        "TumblingWindowInSeconds": 0,
        "FunctionResponseTypes": [],
        "EventSourceMappingArn": f"arn:aws:lambda:us-east-1:123456789012:"
                                 f"event-source-mapping:{uuid}",
    }


def test_create_echoes_every_setting_given(backend, source, unique):
    # given
    queue = backend.client("sqs").create_queue(QueueName=f"dlq-{unique}")["QueueUrl"]
    queue_arn = backend.client("sqs").get_queue_attributes(
        QueueUrl=queue, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
    pattern = json.dumps({"eventName": ["INSERT"]})
    # when
    response = backend.client("lambda").create_event_source_mapping(
        FunctionName=source.name, EventSourceArn=source.stream,
        StartingPosition="LATEST", BatchSize=7, MaximumBatchingWindowInSeconds=2,
        ParallelizationFactor=3, MaximumRetryAttempts=4, MaximumRecordAgeInSeconds=120,
        BisectBatchOnFunctionError=True, FunctionResponseTypes=["ReportBatchItemFailures"],
        DestinationConfig={"OnFailure": {"Destination": queue_arn}},
        FilterCriteria={"Filters": [{"Pattern": pattern}]})
    # then
    assert {k: response[k] for k in (
        "StartingPosition", "BatchSize", "MaximumBatchingWindowInSeconds",
        "ParallelizationFactor", "MaximumRetryAttempts", "MaximumRecordAgeInSeconds",
        "BisectBatchOnFunctionError", "FunctionResponseTypes", "DestinationConfig",
        "FilterCriteria")} == {
        "StartingPosition": "LATEST", "BatchSize": 7, "MaximumBatchingWindowInSeconds": 2,
        "ParallelizationFactor": 3, "MaximumRetryAttempts": 4,
        "MaximumRecordAgeInSeconds": 120, "BisectBatchOnFunctionError": True,
        "FunctionResponseTypes": ["ReportBatchItemFailures"],
        "DestinationConfig": {"OnFailure": {"Destination": queue_arn}},
        "FilterCriteria": {"Filters": [{"Pattern": pattern}]},
    }


def test_empty_filter_list_is_accepted_and_left_out_of_the_response(backend, source):
    # given
    lam = backend.client("lambda")
    # when
    created = lam.create_event_source_mapping(
        FunctionName=source.name, EventSourceArn=source.stream,
        StartingPosition="LATEST", FilterCriteria={"Filters": []})
    # then
    assert "FilterCriteria" not in created
    assert "FilterCriteria" not in lam.get_event_source_mapping(UUID=created["UUID"])


# -- create: validation -------------------------------------------------------------------


def _range_error(value: int, member: str, constraint: str) -> str:
    return (f"1 validation error detected: Value '{value}' at '{member}' failed to satisfy "
            f"constraint: Member must have value {constraint}")


@pytest.mark.parametrize(
    ("settings", "code", "message"),
    [
        ({"BatchSize": 0}, "ValidationException",
         _range_error(0, "batchSize", "greater than or equal to 1")),
        ({"BatchSize": 10001}, "ValidationException",
         _range_error(10001, "batchSize", "less than or equal to 10000")),
        ({"MaximumBatchingWindowInSeconds": -1}, "ValidationException",
         _range_error(-1, "maximumBatchingWindowInSeconds", "greater than or equal to 0")),
        ({"MaximumBatchingWindowInSeconds": 301}, "ValidationException",
         _range_error(301, "maximumBatchingWindowInSeconds", "less than or equal to 300")),
        ({"ParallelizationFactor": 0}, "ValidationException",
         _range_error(0, "parallelizationFactor", "greater than or equal to 1")),
        ({"ParallelizationFactor": 11}, "ValidationException",
         _range_error(11, "parallelizationFactor", "less than or equal to 10")),
        ({"MaximumRetryAttempts": -2}, "ValidationException",
         _range_error(-2, "maximumRetryAttempts", "greater than or equal to -1")),
        ({"MaximumRetryAttempts": 10001}, "ValidationException",
         _range_error(10001, "maximumRetryAttempts", "less than or equal to 10000")),
        ({"MaximumRecordAgeInSeconds": -2}, "ValidationException",
         _range_error(-2, "maximumRecordAgeInSeconds", "greater than or equal to -1")),
        ({"MaximumRecordAgeInSeconds": 604801}, "ValidationException",
         _range_error(604801, "maximumRecordAgeInSeconds", "less than or equal to 604800")),
        ({"TumblingWindowInSeconds": 901}, "ValidationException",
         _range_error(901, "tumblingWindowInSeconds", "less than or equal to 900")),
    ],
    ids=["batch_size_0", "batch_size_10001", "window_negative", "window_301",
         "parallelization_0", "parallelization_11", "retries_minus_2", "retries_10001",
         "record_age_minus_2", "record_age_604801", "tumbling_901"],
)
def test_values_outside_the_api_ranges_are_refused(backend, source, settings, code, message):
    # given
    lam = _raw_lambda(backend)
    # when
    with pytest.raises(ClientError) as err:
        lam.create_event_source_mapping(FunctionName=source.name,
                                        EventSourceArn=source.stream,
                                        StartingPosition="LATEST", **settings)
    # then
    assert _error(err) == (code, message, 400)


@pytest.mark.parametrize("age", [0, 1, 59])
def test_record_age_between_0_and_59_is_refused(backend, source, age):
    # given
    lam = _raw_lambda(backend)
    # when
    with pytest.raises(ClientError) as err:
        lam.create_event_source_mapping(FunctionName=source.name,
                                        EventSourceArn=source.stream,
                                        StartingPosition="LATEST", MaximumRecordAgeInSeconds=age)
    # then
    code, message, status = _error(err)
    assert (code, status) == ("InvalidParameterValueException", 400)
    assert "MaximumRecordAgeInSeconds" in message and "60" in message


@pytest.mark.parametrize(
    ("settings", "code", "message"),
    [
        ({"StartingPosition": None}, "InvalidParameterValueException",
         "1 validation error detected: Value null at 'startingPosition' failed to satisfy "
         "constraint: Member must not be null."),
        ({"StartingPosition": "invalid"}, "ValidationException",
         "1 validation error detected: Value 'invalid' at 'startingPosition' failed to satisfy "
         "constraint: Member must satisfy enum value set: [LATEST, AT_TIMESTAMP, TRIM_HORIZON]"),
        ({"StartingPosition": "AT_TIMESTAMP"}, "InvalidParameterValueException",
         "Unsupported starting position for arn type: {stream}"),
        ({"StartingPosition": "AT_TIMESTAMP", "StartingPositionTimestamp": 1764000000},
         "InvalidParameterValueException",
         "Unsupported starting position for arn type: {stream}"),
        ({"FunctionName": "no-such-function"}, "InvalidParameterValueException",
         "Function does not exist"),
        ({"EventSourceArn": MISSING_STREAM}, "InvalidParameterValueException",
         f"Stream not found: {MISSING_STREAM}"),
        ({"EventSourceArn": None}, "InvalidParameterValueException",
         "Unrecognized event source."),
        ({"DestinationConfig": {"OnSuccess": {"Destination": "arn:aws:sqs:us-east-1:"
                                                             "123456789012:q"}}},
         "InvalidParameterValueException",
         "Unsupported DestinationConfig parameter for given event source mapping type."),
        ({"FilterCriteria": {"Filters": [{"Pattern": "{not json"}]}},
         "InvalidParameterValueException", "Invalid filter pattern definition."),
        ({"FilterCriteria": {"Filters": [{"Pattern": '{"eventName": "INSERT"}'}]}},
         "InvalidParameterValueException", "Invalid filter pattern definition."),
    ],
    ids=["starting_position_missing", "starting_position_invalid", "at_timestamp",
         "at_timestamp_with_timestamp", "unknown_function", "missing_stream",
         "no_event_source", "on_success", "filter_not_json", "filter_value_not_a_list"],
)
def test_invalid_requests_get_aws_codes_and_messages(backend, source, settings, code, message):
    # given
    lam = _raw_lambda(backend)
    args = {"FunctionName": source.name, "EventSourceArn": source.stream,
            "StartingPosition": "TRIM_HORIZON", **settings}
    args = {k: v for k, v in args.items() if v is not None}
    # when
    with pytest.raises(ClientError) as err:
        lam.create_event_source_mapping(**args)
    # then
    assert _error(err) == (code, message.format(stream=source.stream), 400)


def test_tumbling_window_is_accepted_and_echoed(backend, source):
    # given
    lam = backend.client("lambda")
    # when
    created = lam.create_event_source_mapping(FunctionName=source.name,
                                              EventSourceArn=source.stream,
                                              StartingPosition="LATEST",
                                              TumblingWindowInSeconds=60)
    # then
    try:
        assert created["TumblingWindowInSeconds"] == 60
        fetched = lam.get_event_source_mapping(UUID=created["UUID"])
        assert fetched["TumblingWindowInSeconds"] == 60
    finally:
        lam.delete_event_source_mapping(UUID=created["UUID"])


def test_second_mapping_of_a_function_to_the_same_stream_is_a_409_conflict(backend, source):
    # given
    lam = backend.client("lambda")
    first = lam.create_event_source_mapping(FunctionName=source.name,
                                            EventSourceArn=source.stream,
                                            StartingPosition="LATEST")
    # when
    with pytest.raises(ClientError) as err:
        lam.create_event_source_mapping(FunctionName=source.name,
                                        EventSourceArn=source.stream,
                                        StartingPosition="TRIM_HORIZON")
    # then
    assert _error(err) == (
        "ResourceConflictException",
        f'The event source arn (" {source.stream} ") and function (" {source.name} '
        '") provided mapping already exists. Please update or delete the existing mapping '
        f'with UUID {first["UUID"]}',
        409)


def test_role_without_stream_permissions_cannot_access_the_stream(backend, unique):
    # given
    role = make_role(backend, f"no-stream-{unique}", stream_access=False)
    stream = journaled_function(backend, f"no-stream-{unique}", role=role).stream
    # when
    with pytest.raises(ClientError) as err:
        backend.client("lambda").create_event_source_mapping(
            FunctionName=f"no-stream-{unique}", EventSourceArn=stream, StartingPosition="LATEST")
    # then
    assert _error(err) == (
        "InvalidParameterValueException",
        f"Cannot access stream {stream}. Please ensure the role can perform the GetRecords, "
        "GetShardIterator, DescribeStream, and ListStreams Actions on your stream in IAM.",
        400)


@pytest.mark.parametrize(
    ("service", "message"),
    [
        ("sqs", "The provided execution role does not have permissions to call SendMessage "
                "on SQS"),
        ("sns", "The provided execution role does not have permissions to call Publish "
                "on SNS"),
    ],
)
def test_role_that_cannot_reach_the_failure_destination_is_refused(backend, unique, service,
                                                                   message):
    # given: a role that can read streams but not send to the destination
    role = make_role(backend, f"no-dest-{service}-{unique}")
    name = f"no-dest-{unique}"
    stream = journaled_function(backend, name, role=role).stream
    if service == "sqs":
        url = backend.client("sqs").create_queue(QueueName=f"no-dest-{unique}")["QueueUrl"]
        destination = backend.client("sqs").get_queue_attributes(
            QueueUrl=url, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
    else:
        destination = backend.client("sns").create_topic(Name=f"no-dest-{unique}")["TopicArn"]
    # when
    with pytest.raises(ClientError) as err:
        backend.client("lambda").create_event_source_mapping(
            FunctionName=name, EventSourceArn=stream, StartingPosition="LATEST",
            DestinationConfig={"OnFailure": {"Destination": destination}})
    # then
    assert _error(err) == ("InvalidParameterValueException", message, 400)


# -- lifecycle ----------------------------------------------------------------------------


def test_new_mapping_goes_from_creating_to_enabled(backend, source):
    # given
    lam = backend.client("lambda")
    # when
    created = lam.create_event_source_mapping(FunctionName=source.name,
                                              EventSourceArn=source.stream,
                                              StartingPosition="LATEST")
    # then
    assert created["State"] == "Creating"
    enabled = wait_for_state(backend, created["UUID"], "Enabled")
    assert enabled["StateTransitionReason"] == "User action"


def test_update_answers_updating_then_settles_enabled_with_the_new_value(backend, source):
    # given
    lam = backend.client("lambda")
    uuid = map_stream(backend, source.name, source.stream, starting_position="LATEST")
    # when
    updated = lam.update_event_source_mapping(UUID=uuid, BatchSize=10)
    # then
    assert updated["ResponseMetadata"]["HTTPStatusCode"] == 202
    assert updated["State"] == "Updating"
    assert wait_for_state(backend, uuid, "Enabled")["BatchSize"] == 10


@pytest.mark.parametrize(
    ("enabled", "state", "passing", "settled"),
    [(True, "Enabled", "Disabling", "Disabled"), (False, "Disabled", "Enabling", "Enabled")],
    ids=["disabling", "enabling_a_disabled_mapping"],
)
def test_switching_enabled_answers_the_passing_state_then_settles(
        backend, source, enabled, state, passing, settled):
    # given
    lam = backend.client("lambda")
    uuid = map_stream(backend, source.name, source.stream, starting_position="LATEST",
                      state=state, Enabled=enabled)
    # when
    updated = lam.update_event_source_mapping(UUID=uuid, Enabled=not enabled)
    # then
    assert updated["State"] == passing
    wait_for_state(backend, uuid, settled)


def test_delete_answers_deleting_and_the_mapping_is_then_gone(backend, source):
    # given
    lam = backend.client("lambda")
    uuid = map_stream(backend, source.name, source.stream, starting_position="LATEST")
    # when
    deleted = lam.delete_event_source_mapping(UUID=uuid)
    # then
    assert deleted["ResponseMetadata"]["HTTPStatusCode"] == 202
    assert deleted["State"] == "Deleting"

    def gone() -> tuple[str, str, int] | None:
        try:
            lam.get_event_source_mapping(UUID=uuid)
        except ClientError as exc:
            return (exc.response["Error"]["Code"], exc.response["Error"]["Message"],
                    exc.response["ResponseMetadata"]["HTTPStatusCode"])
        return None

    assert wait_for(gone, message="the mapping to disappear") == (
        "ResourceNotFoundException", "The resource you requested does not exist.", 404)


@pytest.mark.parametrize("operation", ["get", "update", "delete"])
def test_unknown_uuid_is_a_404(backend, operation):
    # given
    lam = backend.client("lambda")
    uuid = "00000000-0000-0000-0000-000000000000"
    calls = {"get": lambda: lam.get_event_source_mapping(UUID=uuid),
             "update": lambda: lam.update_event_source_mapping(UUID=uuid, BatchSize=5),
             "delete": lambda: lam.delete_event_source_mapping(UUID=uuid)}
    # when
    with pytest.raises(ClientError) as err:
        calls[operation]()
    # then
    assert _error(err) == ("ResourceNotFoundException",
                           "The resource you requested does not exist.", 404)


@pytest.mark.parametrize(
    ("mode", "result"),
    [("ok", "OK"), ("raise", "PROBLEM: Function call failed")],
    ids=["success", "function_error"],
)
def test_last_processing_result_reports_the_last_batch(backend, source, mode, result):
    # given
    lam = backend.client("lambda")
    uuid = lam.create_event_source_mapping(FunctionName=source.name,
                                           EventSourceArn=source.stream,
                                           StartingPosition="LATEST",
                                           MaximumRetryAttempts=0)["UUID"]
    before = wait_for_state(backend, uuid, "Enabled")["LastProcessingResult"]
    # when
    backend.client("dynamodb").put_item(TableName=source.table,
                                        Item={"pk": {"S": "a"}, "mode": {"S": mode}})
    # then
    assert before == "No records processed"
    wait_for(lambda: journal(backend, source.journal_table), message="an invocation")
    wait_for(lambda: lam.get_event_source_mapping(UUID=uuid)["LastProcessingResult"] == result,
             message=f"LastProcessingResult {result!r}")


# -- list ---------------------------------------------------------------------------------


@pytest.fixture
def three_mappings(backend, role, unique) -> dict[str, object]:
    """Functions f1, f2 and streams s1, s2 mapped as f1-s1, f1-s2, f2-s1."""
    lam = backend.client("lambda")
    pairs = [journaled_function(backend, f"list-{unique}-{i}", role=role) for i in (1, 2)]
    functions = [pair.name for pair in pairs]
    streams = [pair.stream for pair in pairs]
    uuids = {}
    for f, s in ((0, 0), (0, 1), (1, 0)):
        uuids[(f, s)] = lam.create_event_source_mapping(
            FunctionName=functions[f], EventSourceArn=streams[s],
            StartingPosition="LATEST")["UUID"]
    return {"functions": functions, "streams": streams, "uuids": uuids}


@pytest.mark.parametrize(
    ("by_function", "by_stream", "expected"),
    [(0, None, [(0, 0), (0, 1)]), (None, 0, [(0, 0), (1, 0)]), (0, 1, [(0, 1)]),
     (1, 1, [])],
    ids=["function", "stream", "function_and_stream", "no_match"],
)
def test_list_filters_by_function_and_event_source(backend, three_mappings, by_function,
                                                   by_stream, expected):
    # given
    args = {}
    if by_function is not None:
        args["FunctionName"] = three_mappings["functions"][by_function]
    if by_stream is not None:
        args["EventSourceArn"] = three_mappings["streams"][by_stream]
    # when
    listed = backend.client("lambda").list_event_source_mappings(**args)
    # then
    assert sorted(m["UUID"] for m in listed["EventSourceMappings"]) == sorted(
        three_mappings["uuids"][key] for key in expected)


def test_list_pages_with_marker_and_max_items(backend, three_mappings):
    # given
    lam = backend.client("lambda")
    stream = three_mappings["streams"][0]
    # when
    first = lam.list_event_source_mappings(EventSourceArn=stream, MaxItems=1)
    second = lam.list_event_source_mappings(EventSourceArn=stream, MaxItems=1,
                                            Marker=first["NextMarker"])
    # then
    assert len(first["EventSourceMappings"]) == 1
    assert len(second["EventSourceMappings"]) == 1
    assert "NextMarker" not in second
    assert sorted(m["UUID"] for m in first["EventSourceMappings"]
                  + second["EventSourceMappings"]) == sorted(
        [three_mappings["uuids"][(0, 0)], three_mappings["uuids"][(1, 0)]])


def test_list_paginator_walks_every_page(backend, three_mappings):
    # given
    paginator = backend.client("lambda").get_paginator("list_event_source_mappings")
    # when
    pages = list(paginator.paginate(FunctionName=three_mappings["functions"][0],
                                    PaginationConfig={"PageSize": 1}))
    # then
    assert [len(p["EventSourceMappings"]) for p in pages] == [1, 1]
    assert sorted(m["UUID"] for p in pages for m in p["EventSourceMappings"]) == sorted(
        [three_mappings["uuids"][(0, 0)], three_mappings["uuids"][(0, 1)]])
