"""The internal API over moto's backends: locks, the gate, errors as a client raises them."""

from __future__ import annotations

import contextlib

import pytest
from botocore.exceptions import ClientError

from localaws import backends, streams
from localaws.streams.settings import StreamSettings

ACCOUNT, REGION = "123456789012", "us-east-1"


@pytest.fixture(autouse=True)
def _no_gate():
    streams.install(StreamSettings())
    yield
    backends.reset_gate()


def _gate_log() -> list[str]:
    log: list[str] = []

    @contextlib.contextmanager
    def guard():
        log.append("enter")
        yield
        log.append("leave")

    backends.use_gate(guard, lambda: log.append("changed"))
    return log


def test_a_change_passes_the_gate_and_notes_a_change():
    # given
    log = _gate_log()
    # when
    backends.put_metric_data(ACCOUNT, REGION, "Test/Gate", [
        {"MetricName": "m", "Value": 1.0, "Unit": "Count", "Dimensions": []}])
    # then
    assert log == ["enter", "changed", "leave"]


def test_a_read_passes_the_gate_without_noting_a_change():
    # given
    log = _gate_log()
    # when
    found = backends.lambda_function(ACCOUNT, REGION, "no-such-function")
    # then
    assert (found, log) == (None, ["enter", "leave"])


@pytest.mark.parametrize(("call", "code"), [
    (lambda: backends.StreamReader(ACCOUNT, REGION).describe_stream(
        StreamArn=f"arn:aws:dynamodb:{REGION}:{ACCOUNT}:table/t/stream/x"),
     "ResourceNotFoundException"),
    (lambda: backends.StreamReader(ACCOUNT, REGION).get_records(ShardIterator="x"),
     "ValidationException"),
    (lambda: backends.StreamReader(ACCOUNT, "nowhere-1").get_records(ShardIterator="x"),
     "ResourceNotFoundException"),
    (lambda: backends.sqs_send(f"arn:aws:sqs:{REGION}:{ACCOUNT}:absent", "b"),
     "AWS.SimpleQueueService.NonExistentQueue"),
    (lambda: backends.sns_publish(f"arn:aws:sns:{REGION}:{ACCOUNT}:absent", "b"), "NotFound"),
    (lambda: backends.sqs_send("a-queue-name", "b"), "InvalidParameterValue"),
    (lambda: backends.sqs_send("arn:aws:sqs:us-east-1:x:q", "b"),
     "AWS.SimpleQueueService.NonExistentQueue"),
    (lambda: backends.sns_publish("arn:aws:sns:nowhere-1:123456789012:t", "b"), "NotFound"),
])
def test_motos_refusals_come_out_as_a_client_error_with_the_service_code(call, code):
    # given / when
    with pytest.raises(ClientError) as caught:
        call()
    # then
    assert caught.value.response["Error"]["Code"] == code


def test_a_queue_named_by_its_arn_receives_the_message():
    # given
    from moto.sqs.models import sqs_backends

    sqs_backends[ACCOUNT][REGION].create_queue("failures")
    # when
    backends.sqs_send(f"arn:aws:sqs:{REGION}:{ACCOUNT}:failures", "record")
    # then
    queue = sqs_backends[ACCOUNT][REGION].get_queue("failures")
    assert [m.body for m in queue._messages] == ["record"]


def test_log_events_create_their_group_and_stream_in_time_order():
    # given
    events = [(2000, "second"), (1000, "first")]
    # when
    backends.put_log_events(ACCOUNT, REGION, "/aws/lambda/f", "s", events)
    # then
    assert backends.log_stream_exists(ACCOUNT, REGION, "/aws/lambda/f", "s") == (True, True)
    assert backends.log_query_exists(ACCOUNT, REGION, "never-started") is False


def test_an_unknown_access_key_is_served_from_the_default_account():
    # given / when / then
    assert backends.account_of("AKIDUNKNOWN") == backends.account_of(None) == ACCOUNT

