"""Bad input gets AWS's error code and message; the endpoint never answers 500 or hangs.

The calls go out with botocore's client-side validation switched off, as another
SDK or a hand-written request would send them, so the endpoint itself must refuse.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

import pytest
from botocore.config import Config
from botocore.exceptions import ClientError

from tests.functional.support import deploy, make_role, make_table, zip_code

pytestmark = pytest.mark.functional

RAW = Config(parameter_validation=False, read_timeout=30, retries={"max_attempts": 1})


@pytest.fixture(scope="module")
def world(backend) -> dict[str, Any]:
    """One function, one stream, one queue for every case to aim at."""
    role = make_role(backend, "bad-input-role")
    deploy(backend, "bad-input-fn", {"app.py": "def handler(e, c):\n    return e\n"},
           role=role)
    stream = make_table(backend, "bad-input-table")
    queue = backend.client("sqs").create_queue(QueueName="bad-input-q")["QueueUrl"]
    queue_arn = backend.client("sqs").get_queue_attributes(
        QueueUrl=queue, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
    return {"role": role, "stream": stream, "queue_arn": queue_arn, "backend": backend}


def esm(**params: Any) -> Callable[[dict[str, Any]], Any]:
    def call(w: dict[str, Any]) -> Any:
        args = {"FunctionName": "bad-input-fn", "EventSourceArn": w["stream"],
                "StartingPosition": "TRIM_HORIZON", **params}
        args = {k: v for k, v in args.items() if v is not ...}
        return w["backend"].client("lambda", config=RAW).create_event_source_mapping(**args)
    return call


def invoke(payload: bytes) -> Callable[[dict[str, Any]], Any]:
    def call(w: dict[str, Any]) -> Any:
        return w["backend"].client("lambda", config=RAW).invoke(
            FunctionName="bad-input-fn", Payload=payload)
    return call


def create_function(**settings: Any) -> Callable[[dict[str, Any]], Any]:
    def call(w: dict[str, Any]) -> Any:
        args = {"FunctionName": "bad-input-new", "Role": w["role"], "Runtime": "python3.12",
                "Handler": "app.handler",
                "Code": {"ZipFile": zip_code({"app.py": "def handler(e, c):\n    pass\n"})},
                **settings}
        return w["backend"].client("lambda", config=RAW).create_function(**args)
    return call


def ddb(operation: str, **params: Any) -> Callable[[dict[str, Any]], Any]:
    def call(w: dict[str, Any]) -> Any:
        return getattr(w["backend"].client("dynamodb", config=RAW), operation)(**params)
    return call


def streams(operation: str, **params: Any) -> Callable[[dict[str, Any]], Any]:
    def call(w: dict[str, Any]) -> Any:
        return getattr(w["backend"].client("dynamodbstreams", config=RAW), operation)(**params)
    return call


def lam(operation: str, **params: Any) -> Callable[[dict[str, Any]], Any]:
    def call(w: dict[str, Any]) -> Any:
        return getattr(w["backend"].client("lambda", config=RAW), operation)(**params)
    return call


GT1 = "Member must have value greater than or equal to 1"
CASES: list[tuple[str, Callable[[dict[str, Any]], Any], str, str]] = [
    ("batch_size_zero", esm(BatchSize=0), "ValidationException", f"at 'batchSize' failed to "
     f"satisfy constraint: {GT1}"),
    ("batch_size_over_10000", esm(BatchSize=10001), "ValidationException",
     "Member must have value less than or equal to 10000"),
    ("batch_size_wrong_type", esm(BatchSize="ten"), "SerializationException", ""),
    ("window_over_300", esm(MaximumBatchingWindowInSeconds=301), "ValidationException",
     "Member must have value less than or equal to 300"),
    ("parallelization_zero", esm(ParallelizationFactor=0), "ValidationException",
     "at 'parallelizationFactor' failed to satisfy constraint"),
    ("parallelization_eleven", esm(ParallelizationFactor=11), "ValidationException",
     "Member must have value less than or equal to 10"),
    ("retries_below_minus_one", esm(MaximumRetryAttempts=-2), "ValidationException",
     "at 'maximumRetryAttempts' failed to satisfy constraint"),
    ("record_age_30", esm(MaximumRecordAgeInSeconds=30), "InvalidParameterValueException",
     "MaximumRecordAgeInSeconds"),
    ("record_age_too_big", esm(MaximumRecordAgeInSeconds=604801), "ValidationException",
     "Member must have value less than or equal to 604800"),
    ("starting_position_missing", esm(StartingPosition=...), "InvalidParameterValueException",
     "Value null at 'startingPosition' failed to satisfy constraint: Member must not be null"),
    ("starting_position_invalid", esm(StartingPosition="invalid"), "ValidationException",
     "Member must satisfy enum value set: [LATEST, AT_TIMESTAMP, TRIM_HORIZON]"),
    ("starting_position_at_timestamp", esm(StartingPosition="AT_TIMESTAMP"),
     "InvalidParameterValueException", "Unsupported starting position for arn type"),
    ("unknown_function", esm(FunctionName="no-such-function"),
     "InvalidParameterValueException", "Function does not exist"),
    ("unknown_stream", esm(EventSourceArn="arn:aws:dynamodb:us-east-1:123456789012:table/"
                               "nope/stream/2020-01-01T00:00:00.000"),
     "InvalidParameterValueException", "Stream not found"),
    ("event_source_missing", esm(EventSourceArn=...), "InvalidParameterValueException",
     "Unrecognized event source."),
    ("on_success_destination",
     lambda w: esm(DestinationConfig={"OnSuccess": {"Destination": w["queue_arn"]}})(w),
     "InvalidParameterValueException",
     "Unsupported DestinationConfig parameter for given event source mapping type."),
    ("filter_not_json", esm(FilterCriteria={"Filters": [{"Pattern": "{not json"}]}),
     "InvalidParameterValueException", "Invalid filter pattern definition."),
    ("filter_leaf_not_a_list", esm(FilterCriteria={"Filters": [{"Pattern": json.dumps(
        {"eventName": "INSERT"})}]}), "InvalidParameterValueException",
     "Invalid filter pattern definition."),
    ("filter_unknown_operator", esm(FilterCriteria={"Filters": [{"Pattern": json.dumps(
        {"eventName": [{"sounds-like": "INSERT"}]})}]}), "InvalidParameterValueException",
     "Invalid filter pattern definition."),
    ("tumbling_window_parallel", esm(TumblingWindowInSeconds=60, ParallelizationFactor=2),
     "InvalidParameterValueException", "requires ParallelizationFactor 1"),
    ("response_type_unknown", esm(FunctionResponseTypes=["ReportEverything"]),
     "ValidationException", "ReportBatchItemFailures"),
    ("get_unknown_mapping", lam("get_event_source_mapping",
                                UUID="00000000-0000-0000-0000-000000000000"),
     "ResourceNotFoundException", "The resource you requested does not exist."),
    ("delete_unknown_mapping", lam("delete_event_source_mapping",
                                   UUID="00000000-0000-0000-0000-000000000000"),
     "ResourceNotFoundException", "The resource you requested does not exist."),
    ("invoke_not_json", invoke(b"{not json"), "InvalidRequestContentException",
     "Could not parse request body into json"),
    ("invoke_over_6_mb", invoke(b'"' + b"x" * (6 * 1024 * 1024 + 10) + b'"'),
     "RequestEntityTooLargeException", "Request must be smaller than 6291456 bytes"),
    ("invoke_unknown_function", lam("invoke", FunctionName="no-such-function", Payload=b"{}"),
     "ResourceNotFoundException", "Function not found"),
    ("invoke_bad_invocation_type", lam("invoke", FunctionName="bad-input-fn",
                                       InvocationType="Sometimes", Payload=b"{}"),
     "ValidationException", "Member must satisfy enum value set: [RequestResponse, Event, "
     "DryRun]"),
    ("function_timeout_zero", create_function(Timeout=0), "ValidationException",
     f"at 'timeout' failed to satisfy constraint: {GT1}"),
    ("function_timeout_over_900", create_function(Timeout=901), "ValidationException",
     "Member must have value less than or equal to 900"),
    ("function_memory_under_128", create_function(MemorySize=127), "ValidationException",
     "Member must have value greater than or equal to 128"),
    ("function_memory_over_10240", create_function(MemorySize=10241),
     "InvalidParameterValueException", "less than or equal to 10240"),
    ("function_deprecated_runtime", create_function(Runtime="python3.7"),
     "InvalidParameterValueException", "The runtime parameter of python3.7 is no longer "
     "supported"),
    ("function_layers_not_emulated",
     create_function(Layers=["arn:aws:lambda:us-east-1:123456789012:layer:l:1"]),
     "InvalidParameterValueException", "Layers is not supported by the local endpoint"),
    ("function_json_logs_not_emulated", create_function(LoggingConfig={"LogFormat": "JSON"}),
     "InvalidParameterValueException", "only the Text log format is emulated"),
    ("function_publish_not_emulated", create_function(Publish=True),
     "InvalidParameterValueException", "versions are not supported"),
    ("event_invoke_config_not_emulated", lam("put_function_event_invoke_config",
                                             FunctionName="bad-input-fn",
                                             MaximumRetryAttempts=0),
     "InvalidParameterValueException", "asynchronous retries and destinations"),
    ("item_over_400_kb", ddb("put_item", TableName="bad-input-table",
                             Item={"pk": {"S": "big"}, "blob": {"S": "x" * 410_000}}),
     "ValidationException", "Item size has exceeded the maximum allowed size"),
    ("put_into_unknown_table", ddb("put_item", TableName="no-such-table",
                                   Item={"pk": {"S": "a"}}),
     "ResourceNotFoundException", "Requested resource not found"),
    ("get_records_bad_iterator", streams("get_records", ShardIterator="x" * 80),
     "ValidationException", "Invalid ShardIterator"),
    ("get_records_limit_over_1000",
     lambda w: streams("get_records", ShardIterator=_iterator(w), Limit=1001)(w),
     "ValidationException", "Member must have value less than or equal to 1000"),
    ("describe_unknown_stream", streams(
        "describe_stream", StreamArn="arn:aws:dynamodb:us-east-1:123456789012:table/nope/"
                                     "stream/2020-01-01T00:00:00.000"),
     "ResourceNotFoundException", "Requested resource not found"),
]


def _iterator(w: dict[str, Any]) -> str:
    client = w["backend"].client("dynamodbstreams")
    shard = client.describe_stream(StreamArn=w["stream"])["StreamDescription"]["Shards"][0]
    return client.get_shard_iterator(StreamArn=w["stream"], ShardId=shard["ShardId"],
                                     ShardIteratorType="TRIM_HORIZON")["ShardIterator"]


def test_the_table_has_at_least_thirty_cases():
    assert len(CASES) >= 30


@pytest.mark.parametrize(("call", "code", "message"), [c[1:] for c in CASES],
                         ids=[c[0] for c in CASES])
def test_invalid_call_gets_aws_error(world, call, code, message):
    # when
    with pytest.raises(ClientError) as err:
        call(world)
    # then
    error = err.value.response["Error"]
    status = err.value.response["ResponseMetadata"]["HTTPStatusCode"]
    assert error["Code"] == code, error
    assert message in error.get("Message", ""), error
    assert 400 <= status < 500, status


def test_a_zip_without_the_handler_fails_at_invoke_not_at_create(world, unique):
    # given: AWS accepts the package; the runtime reports the missing module
    backend = world["backend"]
    deploy(backend, f"no-handler-{unique}", {"other.py": "x = 1\n"}, role=world["role"])
    # when
    response = backend.client("lambda").invoke(FunctionName=f"no-handler-{unique}",
                                                Payload=b"{}")
    # then
    body = json.loads(response["Payload"].read())
    assert response["FunctionError"] == "Unhandled"
    assert body["errorType"] == "Runtime.ImportModuleError"
    assert body["errorMessage"].startswith("Unable to import module 'app'")
