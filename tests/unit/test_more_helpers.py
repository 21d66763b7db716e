"""Invocations, queues, streams, dashboards, tables and drains from the helpers, through Stubber."""

from __future__ import annotations

import base64
import io
import json
from datetime import UTC, datetime

import pytest
from botocore.response import StreamingBody
from botocore.stub import ANY

from helpers import dashboards, functions, invocation_log, messaging, streams, tables
from helpers.clients import Pacing
from helpers.waits import WaitTimeoutError
from tests.unit.stubs import StubBackend

QUEUE_URL = "http://127.0.0.1:9/123456789012/failures"
QUEUE_ARN = "arn:aws:sqs:us-east-1:123456789012:failures"
TOPIC_ARN = "arn:aws:sns:us-east-1:123456789012:alerts"
STREAM = "arn:aws:dynamodb:us-east-1:123456789012:table/orders/stream/2026-01-01T00:00:00.000"


def body(data: bytes) -> StreamingBody:
    return StreamingBody(io.BytesIO(data), len(data))


def test_an_invocation_answer_is_decoded_with_its_log_tail():
    # given
    backend = StubBackend("lambda")
    backend.stub("lambda").add_response("invoke", {
        "StatusCode": 200, "FunctionError": "Unhandled", "ExecutedVersion": "$LATEST",
        "LogResult": base64.b64encode(b"START\nboom\n\nEND\n").decode(),
        "Payload": body(b'{"errorMessage": "boom"}')},
        {"FunctionName": "f", "InvocationType": "RequestResponse", "LogType": "Tail",
         "Payload": b'{"Records": []}'})
    # when
    result = functions.invoke(backend, "f", {"Records": []})
    # then
    assert result.function_error == "Unhandled"
    assert result.payload == {"errorMessage": "boom"}
    assert result.log_lines == ["START", "boom", "END"]


def test_reserved_concurrency_is_set_and_read_back():
    # given
    backend = StubBackend("lambda")
    stub = backend.stub("lambda")
    stub.add_response("put_function_concurrency", {"ReservedConcurrentExecutions": 0},
                      {"FunctionName": "f", "ReservedConcurrentExecutions": 0})
    stub.add_response("get_function_concurrency", {"ReservedConcurrentExecutions": 0})
    stub.add_response("delete_function_concurrency", {})
    # when / then
    assert functions.set_reserved_concurrency(backend, "f", 0) == 0
    assert functions.set_reserved_concurrency(backend, "f", None) is None
    backend.assert_all_used()


def test_an_unknown_sample_event_names_the_known_ones():
    # when / then
    with pytest.raises(FileNotFoundError, match="dynamodb_update"):
        functions.console_test_event("nope")
    assert functions.console_test_event()["Records"]


def test_handler_source_keeps_only_the_definitions_asked_for():
    # when
    path, source = functions.handler_source("stream_processor", "lambda_handler")
    # then
    assert path.name.endswith(".py")
    assert source.lstrip().startswith("def lambda_handler")


def test_an_existing_queue_is_found_instead_of_created():
    # given
    backend = StubBackend("sqs")
    stub = backend.stub("sqs")
    stub.add_client_error("create_queue", "QueueNameExists", "exists", 400)
    stub.add_response("get_queue_url", {"QueueUrl": QUEUE_URL}, {"QueueName": "failures"})
    stub.add_response("get_queue_attributes", {"Attributes": {"QueueArn": QUEUE_ARN}})
    # when
    url, arn = messaging.ensure_queue(backend, "failures")
    # then
    assert (url, arn) == (QUEUE_URL, QUEUE_ARN)


def test_a_queue_already_subscribed_to_the_topic_is_not_subscribed_twice():
    # given
    backend = StubBackend("sqs", "sns")
    backend.stub("sqs").add_response("set_queue_attributes", {},
                                     {"QueueUrl": QUEUE_URL, "Attributes": ANY})
    backend.stub("sns").add_response("list_subscriptions_by_topic", {"Subscriptions": [
        {"SubscriptionArn": f"{TOPIC_ARN}:sub", "Protocol": "sqs", "Endpoint": QUEUE_ARN,
         "TopicArn": TOPIC_ARN, "Owner": "123456789012"}]})
    # when
    sub = messaging.subscribe_queue(backend, TOPIC_ARN, QUEUE_URL, QUEUE_ARN)
    # then
    assert sub == f"{TOPIC_ARN}:sub"
    backend.assert_all_used()


@pytest.mark.parametrize(("answers_at_once", "wait_s"), [(False, 1), (True, 0)])
def test_draining_a_queue_counts_what_it_deleted(answers_at_once, wait_s):
    # given: long polls on AWS (a short poll may miss messages), short ones where exact
    backend = StubBackend("sqs", answers_at_once=answers_at_once)
    stub = backend.stub("sqs")
    polls = {"QueueUrl": QUEUE_URL, "MaxNumberOfMessages": 10, "WaitTimeSeconds": wait_s,
             "AttributeNames": ["SentTimestamp"]}
    stub.add_response("receive_message", {"Messages": [
        {"MessageId": "m", "ReceiptHandle": "h", "Body": "{}"}]}, polls)
    stub.add_response("delete_message", {})
    stub.add_response("receive_message", {}, polls)
    # when / then
    assert messaging.drain_queue(backend, QUEUE_URL) == 1
    backend.assert_all_used()


@pytest.mark.parametrize(("answers_at_once", "last_wait_s"), [(False, 1), (True, 0)])
def test_awaited_messages_are_long_polled_and_the_last_read_is_short_where_exact(
        answers_at_once, last_wait_s):
    # given: the awaited message comes on a long poll; the read to the queue's end is
    # a short poll where a short poll answers every visible message
    backend = StubBackend("sqs", answers_at_once=answers_at_once)
    stub = backend.stub("sqs")
    poll = {"QueueUrl": QUEUE_URL, "MaxNumberOfMessages": 10,
            "AttributeNames": ["SentTimestamp"]}
    stub.add_response("receive_message", {"Messages": [
        {"MessageId": "m", "ReceiptHandle": "h", "Body": "{}"}]}, {**poll, "WaitTimeSeconds": 1})
    stub.add_response("delete_message", {})
    stub.add_response("receive_message", {}, {**poll, "WaitTimeSeconds": last_wait_s})
    # when
    found = messaging.receive_messages(backend, QUEUE_URL, expected=1)
    # then
    assert found == [{}]
    backend.assert_all_used()


def test_the_stream_summary_counts_open_shards_and_records():
    # given: one closed and one open shard, no records
    backend = StubBackend("dynamodbstreams")
    stub = backend.stub("dynamodbstreams")
    shard = "shardId-00000001700000000000-0000abcd"
    description = {"StreamDescription": {
        "StreamArn": STREAM, "StreamStatus": "ENABLED", "StreamViewType": "NEW_IMAGE",
        "StreamLabel": "2026-01-01T00:00:00.000", "Shards": [
            {"ShardId": shard, "SequenceNumberRange": {
                "StartingSequenceNumber": "1" * 21, "EndingSequenceNumber": "2" * 21}},
            {"ShardId": shard[:-1] + "e", "SequenceNumberRange": {
                "StartingSequenceNumber": "3" * 21}}]}}
    stub.add_response("describe_stream", description)
    stub.add_response("describe_stream", description)
    stub.add_response("get_shard_iterator", {"ShardIterator": "i" * 10})
    stub.add_response("get_records", {"Records": []})  # the closed shard ends
    stub.add_response("get_shard_iterator", {"ShardIterator": "i" * 10})
    for _ in range(5):  # the open one is read until 5 empty pages in a row
        stub.add_response("get_records", {"Records": [], "NextShardIterator": "j" * 10})
    # when
    summary = dict(streams.stream_summary(backend, STREAM).values.tolist())
    # then
    assert summary["shards (open)"] == "2 (1)"
    assert summary["records now in the stream"] == "0"


def test_dashboards_are_put_and_read_back():
    # given
    backend = StubBackend("cloudwatch")
    stub = backend.stub("cloudwatch")
    stub.add_response("put_dashboard", {"DashboardValidationMessages": [
        {"DataPath": "/widgets/0", "Message": "bad"}]})
    dashboard_body = dashboards.dashboard_body(backend, ["f"])
    stub.add_response("get_dashboard", {"DashboardBody": json.dumps(dashboard_body)})
    # when
    problems = dashboards.put_dashboard(backend, "d", dashboard_body)
    body_back = dashboards.get_dashboard(backend, "d")
    # then
    assert problems == ["bad"]
    assert body_back == dashboard_body


def test_a_stream_turned_on_is_waited_for_and_its_arn_returned():
    # given: a table without a stream
    backend = StubBackend("dynamodb", pacing=Pacing(poll_s=1.0))
    stub = backend.stub("dynamodb")
    active = {"TableName": "orders", "TableStatus": "ACTIVE"}
    stub.add_response("describe_table", {"Table": active})
    stub.add_response("update_table", {"TableDescription": active},
                      {"TableName": "orders", "StreamSpecification": {
                          "StreamEnabled": True, "StreamViewType": "NEW_IMAGE"}})
    on = {**active, "LatestStreamArn": STREAM,
          "StreamSpecification": {"StreamEnabled": True, "StreamViewType": "NEW_IMAGE"}}
    for _ in range(3):
        stub.add_response("describe_table", {"Table": on})
    # when
    arn = tables.enable_stream(backend, "orders", "NEW_IMAGE", timeout=60)
    # then
    assert arn == STREAM


def test_a_table_without_a_stream_says_how_to_turn_it_on():
    # given
    backend = StubBackend("dynamodb")
    backend.stub("dynamodb").add_response("describe_table", {"Table": {
        "TableName": "orders", "TableStatus": "ACTIVE"}})
    # when / then
    with pytest.raises(tables.StreamNotEnabledError, match="enable_stream"):
        tables.stream_arn(backend, "orders")


def report(n: int) -> dict:
    return {"timestamp": 1_767_225_600_000 + n, "logStreamName": "s", "eventId": str(n),
            "message": f"REPORT RequestId: r{n}\tDuration: 1.00 ms\tBilled Duration: 1 ms\t"
                       "Memory Size: 128 MB\tMax Memory Used: 60 MB\t"}


def test_a_function_is_drained_once_no_invocation_starts_for_the_idle_window():
    # given: two invocations, then nothing new
    backend = StubBackend("logs", pacing=Pacing(poll_s=0.0, patience_s=60.0, quiet_s=0.0))
    for _ in range(3):
        backend.stub("logs").add_response("filter_log_events", {"events": [report(1),
                                                                          report(2)]})
    # when
    count = invocation_log.wait_until_drained(
        backend, "f", since=datetime(2026, 1, 1, tzinfo=UTC))
    # then
    assert count == 2


@pytest.mark.parametrize(("answer", "drained"), [
    ({"mappings": 1, "busy": []}, True),
    ({"mappings": 1, "busy": ["uuid-1"]}, False),
    ({"mappings": 0, "busy": []}, False),  # no mapping: nothing to ask, the quiet period
])
def test_on_the_local_default_profile_the_engine_says_when_a_function_is_drained(
        monkeypatch: pytest.MonkeyPatch, answer, drained):
    # given: a quiet period longer than the wait's timeout
    from localaws import lifecycle

    asked: list[tuple[int, str]] = []
    monkeypatch.setattr(lifecycle, "admin_request",
                        lambda port, path: asked.append((port, path)) or answer)
    backend = StubBackend("logs", pacing=Pacing(poll_s=0.0, patience_s=0.0, quiet_s=600.0),
                          answers_at_once=True)
    for _ in range(3):
        backend.stub("logs").add_response("filter_log_events", {"events": [report(1)]})
    # when
    if drained:
        count = invocation_log.wait_until_drained(backend, "f", since=0.0)
    else:
        with pytest.raises(WaitTimeoutError, match="f idle for 600 s or caught up"):
            invocation_log.wait_until_drained(backend, "f", since=0.0)
    # then
    assert asked[0] == (9, "/_workshop/mappings/idle?function=f&region=us-east-1")
    if drained:
        assert count == 1


def test_records_not_processed_in_time_are_a_timeout_that_counts_them():
    # given: one of the three records processed
    backend = StubBackend("logs")
    backend.stub("logs").add_response("filter_log_events", {"events": [
        {"timestamp": 1_767_225_600_000, "logStreamName": "s", "eventId": "1",
         "message": "Processing INSERT event for item: A"}]})
    # when / then
    with pytest.raises(WaitTimeoutError, match="records processed by f"):
        invocation_log.wait_until_drained(backend, "f", since=0.0, expected_records=3)


def test_a_log_line_that_never_comes_is_an_empty_answer():
    # given
    backend = StubBackend("logs")
    for _ in range(2):
        backend.stub("logs").add_response("filter_log_events", {"events": []})
    # when
    found = invocation_log.wait_for_log(backend, "f", since=0.0, pattern="AccessDenied")
    # then
    assert found.empty
