"""Reading streams, diagnosing a pipeline and recording writes (streams, troubleshooting,
write_latency), through botocore's Stubber."""

from __future__ import annotations

from typing import Any

import pytest
from botocore.exceptions import EndpointConnectionError

from helpers import streams, troubleshooting, workshop, write_latency
from helpers.clients import Pacing
from helpers.naming import Names
from tests.unit.stubs import StubBackend

STREAM = "arn:aws:dynamodb:us-east-1:123456789012:table/orders/stream/2026-01-01T00:00:00.000"


SHARD = "shardId-00000001700000000000-0000abcd"


def seq(n: int) -> str:
    return str(10**20 + n)  # sequence numbers have at least 21 digits


def record(n: int) -> dict[str, Any]:
    return {"eventID": str(n), "eventName": "INSERT",
            "dynamodb": {"SequenceNumber": seq(n), "Keys": {"PK": {"S": f"k{n}"}}}}


def test_failed_records_are_read_from_the_start_to_the_end_sequence_number():
    # given: the on-failure message points at records 200..300
    backend = StubBackend("dynamodbstreams")
    stub = backend.stub("dynamodbstreams")
    stub.add_response("get_shard_iterator", {"ShardIterator": "i" * 10},
                      {"StreamArn": STREAM, "ShardId": SHARD,
                       "ShardIteratorType": "AT_SEQUENCE_NUMBER", "SequenceNumber": seq(200)})
    stub.add_response("get_records", {"Records": [record(200), record(300), record(400)],
                                      "NextShardIterator": "j" * 10})
    letter = {"DDBStreamBatchInfo": {"streamArn": STREAM, "shardId": SHARD,
                                     "startSequenceNumber": seq(200),
                                     "endSequenceNumber": seq(300)}}
    # when
    found = streams.fetch_failed_records(backend, letter)
    # then
    assert [r["dynamodb"]["SequenceNumber"] for r in found] == [seq(200), seq(300)]


def test_stream_records_reads_each_shard_until_it_ends():
    # given: one closed shard with two pages
    backend = StubBackend("dynamodbstreams")
    stub = backend.stub("dynamodbstreams")
    stub.add_response("describe_stream", {"StreamDescription": {"Shards": [
        {"ShardId": SHARD, "SequenceNumberRange": {"StartingSequenceNumber": seq(1),
                                                   "EndingSequenceNumber": seq(9)}}]}})
    stub.add_response("get_shard_iterator", {"ShardIterator": "i" * 10})
    stub.add_response("get_records", {"Records": [record(1)], "NextShardIterator": "j" * 10})
    stub.add_response("get_records", {"Records": [record(2)]})
    # when
    found = streams.stream_records(backend, STREAM)
    # then
    assert len(found) == 2
    backend.assert_all_used()


def test_a_missing_table_is_the_first_problem_found():
    # given
    backend = StubBackend("dynamodb")
    backend.stub("dynamodb").add_client_error("describe_table", "ResourceNotFoundException",
                                              "Requested resource not found", 400)
    # when
    found = troubleshooting.diagnose(backend, "orders", "f")
    # then
    assert found.problem == "no-table"
    assert found.checks["ok"].tolist() == [False]


def test_a_stream_that_is_off_is_found_before_the_function_is_looked_at():
    # given
    backend = StubBackend("dynamodb")
    backend.stub("dynamodb").add_response("describe_table", {"Table": {
        "TableName": "orders", "TableStatus": "ACTIVE",
        "StreamSpecification": {"StreamEnabled": False}}})
    # when
    found = troubleshooting.diagnose(backend, "orders", "f")
    # then
    assert found.problem == "stream-off"
    assert found.row("no records")["found"] == "stream-off"
    backend.assert_all_used()


def test_a_trigger_on_an_older_stream_is_found():
    # given: the table's stream was turned off and on, the trigger reads the old one
    backend = StubBackend("dynamodb", "lambda")
    backend.stub("dynamodb").add_response("describe_table", {"Table": {
        "TableName": "orders", "TableStatus": "ACTIVE", "LatestStreamArn": STREAM,
        "StreamSpecification": {"StreamEnabled": True, "StreamViewType": "NEW_IMAGE"}}})
    lam = backend.stub("lambda")
    lam.add_response("get_function_configuration", {"FunctionName": "f", "State": "Active"})
    old = STREAM.replace("2026-01-01", "2025-12-31")
    lam.add_response("list_event_source_mappings", {"EventSourceMappings": [
        {"UUID": "a1b2c3d4-0000-0000-0000-000000000000", "EventSourceArn": old,
         "State": "Enabled"}]})
    # when
    found = troubleshooting.diagnose(backend, "orders", "f")
    # then
    assert found.problem == "old-stream"
    backend.assert_all_used()


def test_items_dynamodb_left_unprocessed_are_an_error_and_not_noted_as_written(monkeypatch):
    # given: every retry leaves the second item unprocessed
    backend = StubBackend("dynamodb")
    stub = backend.stub("dynamodb")
    first, second = {"PK": "a", "SK": "1"}, {"PK": "b", "SK": "1"}
    left = {"orders": [{"PutRequest": {"Item": {"PK": {"S": "b"}, "SK": {"S": "1"}}}}]}
    for _ in range(write_latency.BATCH_ATTEMPTS):
        stub.add_response("batch_write_item", {"UnprocessedItems": left})
    recorder = write_latency.WriteRecorder(backend, "orders")
    monkeypatch.setattr(write_latency.time, "sleep", lambda _: None)  # no back-off here
    # when
    with pytest.raises(write_latency.UnprocessedItemsError, match="1 of 2 items"):
        recorder.put_many([first, second], progress=False)
    # then
    assert recorder.frame()["item"].tolist() == ["a#1"]


def test_require_starts_a_stopped_local_endpoint_again(monkeypatch):
    # given: the endpoint was stopped (``make down``) while the kernel ran
    backend = StubBackend("sts", "dynamodb")
    backend.clients["sts"].get_caller_identity = _refused
    from localaws import lifecycle

    started = []
    monkeypatch.setattr(lifecycle, "ensure_running", lambda port: started.append(port) or {})
    backend.stub("dynamodb").add_response("describe_table", {"Table": {"TableName": "orders"}})
    # when
    workshop.require(backend, Names.with_prefix(""), "ecommerce_table")
    # then
    assert started == [9]


def test_require_on_a_remote_endpoint_that_does_not_answer_is_a_setup_error():
    # given
    backend = StubBackend("sts", pacing=Pacing())
    backend.is_local = False
    backend.clients["sts"].get_caller_identity = _refused
    # when / then
    with pytest.raises(workshop.SetupError, match="does not answer"):
        workshop.require(backend, Names.with_prefix(""), "ecommerce_table")


def _refused(**_: Any) -> Any:
    raise EndpointConnectionError(endpoint_url="http://127.0.0.1:9/")


def test_stream_shards_follows_every_page_of_describe_stream():
    # given: two pages of one shard each
    backend = StubBackend("dynamodbstreams")
    stub = backend.stub("dynamodbstreams")
    first, second = SHARD, SHARD.replace("abcd", "abce")
    stub.add_response("describe_stream", {"StreamDescription": {
        "Shards": [{"ShardId": first}], "LastEvaluatedShardId": first}},
        {"StreamArn": STREAM, "Limit": 1})
    stub.add_response("describe_stream", {"StreamDescription": {
        "Shards": [{"ShardId": second}]}},
        {"StreamArn": STREAM, "Limit": 1, "ExclusiveStartShardId": first})
    # when
    shards = streams.stream_shards(backend, STREAM, limit=1)
    # then
    assert [s["ShardId"] for s in shards] == [first, second]
    stub.assert_no_pending_responses()
