"""The event source mapping engine of the local endpoint, end to end through boto3.

Real functions run on the local endpoint and read a real DynamoDB stream. Every
failure is injected by data: the item attribute ``mode`` tells the journal
handler what to do with a record (see ``tests/functional/support.py``), and the
journal it keeps is what the assertions read. Reference: esm-semantics §1-§4.
"""

from __future__ import annotations

import json
import re
import time
from dataclasses import dataclass
from typing import Any

import pytest
from botocore.exceptions import ClientError

from tests.functional.support import (
    EVENT_JOURNAL_HANDLER,
    JOURNAL_HANDLER,
    journal,
    journaled_events,
    journaled_function,
    lambda_metric,
    map_stream,
    queue_messages,
    wait_for,
    wait_for_state,
    wait_until_idle,
)

pytestmark = pytest.mark.functional

ISO_MILLIS = r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z"
ISO_SECONDS = r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ"


@dataclass
class Pipeline:
    """A source table with a stream, a function that journals, and its journal."""

    backend: Any
    name: str
    function_arn: str
    stream: str

    @property
    def table(self) -> str:
        return f"{self.name}-source"

    @property
    def journal_table(self) -> str:
        return f"{self.name}-journal"

    def put(self, pk: str, mode: str = "ok", **attributes: dict[str, Any]) -> None:
        """Write one item; ``mode`` tells the journal handler what to do with it."""
        item = {"pk": {"S": pk}, "mode": {"S": mode}, **attributes}
        self.backend.client("dynamodb").put_item(TableName=self.table, Item=item)

    def map(self, starting_position: str = "TRIM_HORIZON", **settings: Any) -> str:
        """Create the mapping and wait until it is enabled; returns its UUID."""
        return map_stream(self.backend, self.name, self.stream,
                          starting_position=starting_position, **settings)

    def queue(self) -> tuple[str, str]:
        """A new SQS queue: ``(url, arn)``."""
        sqs = self.backend.client("sqs")
        url = sqs.create_queue(QueueName=f"{self.name}-dlq")["QueueUrl"]
        arn = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["QueueArn"])[
            "Attributes"]["QueueArn"]
        return url, arn

    def invocations(self) -> list[dict[str, Any]]:
        """The journal, each invocation with the partition keys it received."""
        out = journal(self.backend, self.journal_table)
        for inv in out:
            inv["pks"] = [json.loads(k)["pk"]["S"] for k in inv["keys"]]
        return out

    def invoked_pks(self) -> list[str]:
        """Partition keys of every record received, in invocation order."""
        return [pk for inv in self.invocations() for pk in inv["pks"]]

    def wait_invoked(self, pk: str, timeout: float = 30.0) -> list[dict[str, Any]]:
        """Wait until a record with ``pk`` reached the function; returns the journal."""
        return wait_for(lambda: (invs := self.invocations())
                        and any(pk in inv["pks"] for inv in invs) and invs,
                        timeout=timeout, message=f"record {pk!r} to be delivered")

    def sequence_of(self, pk: str) -> str:
        """The sequence number the function saw for ``pk`` (first occurrence)."""
        for inv in self.invocations():
            if pk in inv["pks"]:
                return inv["seqs"][inv["pks"].index(pk)]
        raise AssertionError(f"record {pk!r} was never delivered")


def _pipeline(backend, role, unique, handler: str = JOURNAL_HANDLER, **settings) -> Pipeline:
    made = journaled_function(backend, f"esm-{unique}", role=role, handler=handler, **settings)
    return Pipeline(backend, made.name, made.function_arn, made.stream)


@pytest.fixture
def pipe(backend, role, unique) -> Pipeline:
    return _pipeline(backend, role, unique)


def _failure_messages(pipe: Pipeline, url: str, count: int = 1,
                      timeout: float = 30.0) -> list[dict[str, Any]]:
    got: list[dict[str, Any]] = []
    wait_for(lambda: got.extend(queue_messages(pipe.backend, url)) or len(got) >= count,
             timeout=timeout, interval=0.1, message=f"{count} on-failure message(s)")
    return got


# -- reading the stream ------------------------------------------------------------------


@pytest.mark.parametrize(
    ("position", "expected"),
    [("TRIM_HORIZON", ["old-1", "old-2", "new-1", "new-2"]), ("LATEST", ["new-1", "new-2"])],
)
def test_starting_position_decides_whether_earlier_records_are_read(pipe, position, expected):
    # given
    pipe.put("old-1")
    pipe.put("old-2")
    # when
    pipe.map(position)
    pipe.put("new-1")
    pipe.put("new-2")
    # then
    pipe.wait_invoked("new-2")
    assert pipe.invoked_pks() == expected


def test_batches_never_exceed_batch_size_so_a_burst_takes_fewer_invocations(pipe):
    # given
    pks = [f"r{i:02d}" for i in range(25)]
    for pk in pks:
        pipe.put(pk)
    # when
    pipe.map(BatchSize=10)
    # then
    invocations = pipe.wait_invoked("r24")
    assert [len(inv["pks"]) for inv in invocations] == [10, 10, 5]
    assert pipe.invoked_pks() == pks


def test_batching_window_gathers_a_burst_into_one_batch(pipe):
    # given
    pipe.map("LATEST", BatchSize=100, MaximumBatchingWindowInSeconds=2)
    pks = [f"r{i:02d}" for i in range(10)]
    # when
    started = time.monotonic()
    for pk in pks:
        pipe.put(pk)
    written_in = time.monotonic() - started
    # then
    invocations = pipe.wait_invoked("r09")
    assert written_in < 1.5, "the burst was too slow to fit in the window"
    assert [inv["pks"] for inv in invocations] == [pks]


def test_event_records_have_the_aws_lambda_shape(backend, role, unique):
    # given
    pipe = _pipeline(backend, role, unique, handler=EVENT_JOURNAL_HANDLER)
    pipe.map("LATEST")
    # when
    pipe.put("hello world")
    # then
    events = wait_for(lambda: journaled_events(backend, pipe.journal_table),
                      message="the event to be journaled")
    (record,) = events[0]["Records"]
    assert list(record) == ["eventID", "eventName", "eventVersion", "eventSource",
                            "awsRegion", "dynamodb", "eventSourceARN"]
    assert re.fullmatch(r"[0-9a-f]{32}", record["eventID"])
    assert record["eventName"] == "INSERT"
    assert record["eventVersion"] == "1.1"
    assert record["eventSource"] == "aws:dynamodb"
    assert record["awsRegion"] == "us-east-1"
    assert record["eventSourceARN"] == pipe.stream
    ddb = record["dynamodb"]
    assert isinstance(ddb["ApproximateCreationDateTime"], int | float)
    assert abs(ddb["ApproximateCreationDateTime"] - time.time()) < 60
    assert ddb["Keys"] == {"pk": {"S": "hello world"}}
    assert ddb["NewImage"] == {"pk": {"S": "hello world"}, "mode": {"S": "ok"}}
    assert re.fullmatch(r"\d{21,40}", ddb["SequenceNumber"])
    assert ddb["StreamViewType"] == "NEW_AND_OLD_IMAGES"


def test_binary_attributes_reach_the_function_base64_encoded(backend, role, unique):
    # given
    pipe = _pipeline(backend, role, unique, handler=EVENT_JOURNAL_HANDLER)
    uuid = pipe.map("LATEST")
    # when
    pipe.put("bin", blob={"B": b"foobar"}, blobs={"BS": [b"\x00\xff"]})
    # then
    try:
        events = wait_for(lambda: journaled_events(backend, pipe.journal_table), timeout=10,
                          message="the event to be journaled")
    finally:
        backend.client("lambda").delete_event_source_mapping(UUID=uuid)
    image = events[0]["Records"][0]["dynamodb"]["NewImage"]
    assert image["blob"] == {"B": "Zm9vYmFy"}
    assert image["blobs"] == {"BS": ["AP8="]}


def test_parallelization_factor_keeps_per_key_order_across_concurrent_lanes(pipe):
    # given: 8 items updated 4 times each, every invocation pausing a little
    keys = [f"k{i}" for i in range(8)]
    for version in range(4):
        for pk in keys:
            pipe.put(pk, "pause:0.1", version={"N": str(version)})
    # when
    pipe.map(BatchSize=2, ParallelizationFactor=4)
    # then
    wait_for(lambda: len(pipe.invoked_pks()) >= 32, message="all 32 records")
    invocations = pipe.invocations()
    seen: dict[str, list[int]] = {pk: [] for pk in keys}
    for inv in invocations:
        for pk, seq in zip(inv["pks"], inv["seqs"], strict=True):
            seen[pk].append(int(seq))
    assert all(len(seqs) == 4 for seqs in seen.values()), seen
    assert all(seqs == sorted(seqs) for seqs in seen.values()), seen
    assert max(len(inv["pks"]) for inv in invocations) <= 2
    assert len({inv["pid"] for inv in invocations}) > 1, "lanes never ran concurrently"


# -- function errors, retries and on-failure destinations -----------------------------------


@pytest.mark.parametrize("retries", [0, 1, 3])
def test_a_failing_batch_is_invoked_max_retry_attempts_plus_one_times(pipe, retries):
    # given
    url, arn = pipe.queue()
    pipe.put("poison", "raise")
    pipe.put("after")
    # when
    pipe.map(BatchSize=1, MaximumRetryAttempts=retries,
             DestinationConfig={"OnFailure": {"Destination": arn}})
    # then
    pipe.wait_invoked("after")
    assert pipe.invoked_pks() == ["poison"] * (retries + 1) + ["after"]
    (message,) = _failure_messages(pipe, url)
    assert message["requestContext"]["approximateInvokeCount"] == retries + 1
    assert queue_messages(pipe.backend, url) == []


def test_exhausted_retries_send_an_aws_shaped_record_to_the_sqs_destination(pipe):
    # given
    url, arn = pipe.queue()
    pipe.put("poison", "raise")
    # when
    pipe.map(BatchSize=1, MaximumRetryAttempts=1,
             DestinationConfig={"OnFailure": {"Destination": arn}})
    # then
    (message,) = _failure_messages(pipe, url)
    invocations = pipe.invocations()
    seq = invocations[0]["seqs"][0]
    info = message["DDBStreamBatchInfo"]
    assert list(message) == ["requestContext", "responseContext", "version", "timestamp",
                             "DDBStreamBatchInfo"]
    assert message["requestContext"] == {
        "requestId": invocations[-1]["id"],
        "functionArn": pipe.function_arn,
        "condition": "RetryAttemptsExhausted",
        "approximateInvokeCount": 2,
    }
    assert message["responseContext"] == {"statusCode": 200, "executedVersion": "$LATEST",
                                          "functionError": "Unhandled"}
    assert message["version"] == "1.0"
    assert re.fullmatch(ISO_MILLIS, message["timestamp"])
    assert list(info) == ["shardId", "startSequenceNumber", "endSequenceNumber",
                          "approximateArrivalOfFirstRecord", "approximateArrivalOfLastRecord",
                          "batchSize", "streamArn"]
    assert info["shardId"].startswith("shardId-")
    assert info["startSequenceNumber"] == info["endSequenceNumber"] == seq
    assert re.fullmatch(ISO_SECONDS, info["approximateArrivalOfFirstRecord"])
    assert info["approximateArrivalOfLastRecord"] == info["approximateArrivalOfFirstRecord"]
    assert info["batchSize"] == 1
    assert info["streamArn"] == pipe.stream


def test_failure_record_reaches_an_sns_destination_inside_the_sns_envelope(pipe):
    # given: a topic with an SQS subscription
    sns = pipe.backend.client("sns")
    topic = sns.create_topic(Name=f"{pipe.name}-topic")["TopicArn"]
    url, queue_arn = pipe.queue()
    sns.subscribe(TopicArn=topic, Protocol="sqs", Endpoint=queue_arn)
    pipe.put("poison", "raise")
    # when
    pipe.map(BatchSize=1, MaximumRetryAttempts=0,
             DestinationConfig={"OnFailure": {"Destination": topic}})
    # then
    (envelope,) = _failure_messages(pipe, url)
    assert sorted(envelope) == ["Message", "MessageId", "Signature", "SignatureVersion",
                                "SigningCertURL", "Timestamp", "TopicArn", "Type",
                                "UnsubscribeURL"]
    assert envelope["Type"] == "Notification"
    assert envelope["TopicArn"] == topic
    message = json.loads(envelope["Message"])
    assert message["requestContext"]["condition"] == "RetryAttemptsExhausted"
    assert message["requestContext"]["approximateInvokeCount"] == 1
    assert message["DDBStreamBatchInfo"]["startSequenceNumber"] == pipe.sequence_of("poison")
    assert message["DDBStreamBatchInfo"]["streamArn"] == pipe.stream


def test_bisect_isolates_the_poison_record_and_processes_every_other_one(pipe):
    # given: one poison record in the middle of a batch of eight, then one more record
    pks = [f"r{i}" for i in range(8)]
    for pk in pks:
        pipe.put(pk, "raise" if pk == "r5" else "ok")
    pipe.put("after")
    url, arn = pipe.queue()
    # when
    pipe.map(BatchSize=8, MaximumRetryAttempts=3, BisectBatchOnFunctionError=True,
             DestinationConfig={"OnFailure": {"Destination": arn}})
    # then
    pipe.wait_invoked("after")
    invocations = pipe.invocations()
    succeeded = [pk for inv in invocations if "raise" not in inv["modes"] for pk in inv["pks"]]
    assert sorted(succeeded) == sorted([pk for pk in pks if pk != "r5"] + ["after"])
    # splitting does not use the retry quota: the isolated record gets all of it
    assert sum(inv["pks"] == ["r5"] for inv in invocations) == 4
    (message,) = _failure_messages(pipe, url)
    info = message["DDBStreamBatchInfo"]
    assert message["requestContext"]["condition"] == "RetryAttemptsExhausted"
    assert message["responseContext"]["functionError"] == "Unhandled"
    assert info["startSequenceNumber"] == info["endSequenceNumber"] == pipe.sequence_of("r5")
    assert info["batchSize"] == 1
    assert queue_messages(pipe.backend, url) == []


@pytest.mark.parametrize("mode", ["sleep", "oom", "exit"],
                         ids=["timeout", "out_of_memory", "runtime_exit"])
def test_timeouts_crashes_and_out_of_memory_are_function_errors(backend, role, unique, mode):
    # given
    pipe = _pipeline(backend, role, unique, Timeout=1, MemorySize=128)
    url, arn = pipe.queue()
    pipe.put("poison", mode)
    pipe.put("after")
    # when
    pipe.map(BatchSize=1, MaximumRetryAttempts=1,
             DestinationConfig={"OnFailure": {"Destination": arn}})
    # then
    pipe.wait_invoked("after")
    assert pipe.invoked_pks() == ["poison", "poison", "after"]
    (message,) = _failure_messages(pipe, url)
    assert message["requestContext"]["approximateInvokeCount"] == 2
    assert message["responseContext"]["functionError"] == "Unhandled"


# -- ReportBatchItemFailures --------------------------------------------------------------


@pytest.mark.parametrize(
    "response",
    [[], None, {}, {"batchItemFailures": []}, {"batchItemFailures": None}],
    ids=["empty_list_success", "null_success", "empty_dict_success",
         "empty_batch_item_failure_success", "null_batch_item_failure_success"],
)
def test_report_batch_item_failures_success_responses_need_one_invocation(pipe, response):
    # given
    url, arn = pipe.queue()
    pipe.put("record", "respond:" + json.dumps(response))
    pipe.put("after")
    # when
    pipe.map(BatchSize=1, MaximumRetryAttempts=3, FunctionResponseTypes=[
        "ReportBatchItemFailures"], DestinationConfig={"OnFailure": {"Destination": arn}})
    # then
    pipe.wait_invoked("after")
    assert pipe.invoked_pks() == ["record", "after"]
    assert queue_messages(pipe.backend, url) == []


@pytest.mark.parametrize(
    ("mode", "function_error"),
    [
        ("respond:" + json.dumps({"batchItemFailures": [{"itemIdentifier": 123}]}), None),
        ("respond:" + json.dumps({"batchItemFailures": [{"itemIdentifier": ""}]}), None),
        ("respond:" + json.dumps({"batchItemFailures": [{"itemIdentifier": None}]}), None),
        ("respond:" + json.dumps({"batchItemFailures": [{"foo": 123}]}), None),
        ("respond:" + json.dumps({"batchItemFailures": [{"foo": None}]}), None),
        ("raise", "Unhandled"),
    ],
    ids=["item_identifier_not_present_failure", "empty_string_item_identifier_failure",
         "null_item_identifier_failure", "invalid_key_foo_failure",
         "invalid_key_foo_null_value_failure", "unhandled_exception_in_function"],
)
def test_report_batch_item_failures_failure_responses_fail_the_whole_batch(pipe, mode,
                                                                           function_error):
    # given
    url, arn = pipe.queue()
    pipe.put("record", mode)
    pipe.put("after")
    # when
    pipe.map(BatchSize=1, MaximumRetryAttempts=3, FunctionResponseTypes=[
        "ReportBatchItemFailures"], DestinationConfig={"OnFailure": {"Destination": arn}})
    # then
    pipe.wait_invoked("after")
    assert pipe.invoked_pks() == ["record"] * 4 + ["after"]
    (message,) = _failure_messages(pipe, url)
    assert message["requestContext"]["condition"] == "RetryAttemptsExhausted"
    assert message["requestContext"]["approximateInvokeCount"] == 4
    assert message["responseContext"] == {"statusCode": 200, "executedVersion": "$LATEST",
                                          "functionError": function_error}
    assert message["DDBStreamBatchInfo"]["batchSize"] == 1


def test_partial_batch_failure_retries_and_discards_only_the_failed_record(pipe):
    # given: six records in batches of three; the sixth reports itself failed
    pks = [f"r{i}" for i in range(1, 7)]
    for pk in pks:
        pipe.put(pk, "report" if pk == "r6" else "ok")
    url, arn = pipe.queue()
    # when
    pipe.map(BatchSize=3, MaximumRetryAttempts=3, FunctionResponseTypes=[
        "ReportBatchItemFailures"], DestinationConfig={"OnFailure": {"Destination": arn}})
    # then
    (message,) = _failure_messages(pipe, url)
    assert [inv["pks"] for inv in pipe.invocations()] == [
        ["r1", "r2", "r3"], ["r4", "r5", "r6"], ["r6"], ["r6"], ["r6"]]
    info = message["DDBStreamBatchInfo"]
    assert info["startSequenceNumber"] == info["endSequenceNumber"] == pipe.sequence_of("r6")
    assert info["batchSize"] == 1
    assert message["requestContext"]["approximateInvokeCount"] == 4
    assert message["responseContext"]["functionError"] is None


def test_partial_response_is_ignored_unless_report_batch_item_failures_is_on(pipe):
    # given
    url, arn = pipe.queue()
    pipe.put("record", "report")
    pipe.put("after")
    # when
    uuid = pipe.map(BatchSize=1, MaximumRetryAttempts=0,
                    DestinationConfig={"OnFailure": {"Destination": arn}})
    # then
    pipe.wait_invoked("after")
    assert pipe.invoked_pks() == ["record", "after"]
    assert queue_messages(pipe.backend, url) == []
    mapping = pipe.backend.client("lambda").get_event_source_mapping(UUID=uuid)
    assert mapping["LastProcessingResult"] == "OK"


@pytest.mark.slow
@pytest.mark.wall_clock  # AWS's least MaximumRecordAgeInSeconds is 60: a minute of retries
def test_records_older_than_maximum_record_age_go_to_the_destination(pipe):
    # unit twin: tests/unit/test_esm_delivery.py
    # test_a_poison_record_too_old_goes_to_the_destination_and_the_shard_moves_on
    # given: a record that fails forever unless its age ends it
    url, arn = pipe.queue()
    pipe.put("poison", "raise")
    pipe.map(BatchSize=1, MaximumRetryAttempts=-1, MaximumRecordAgeInSeconds=60,
             DestinationConfig={"OnFailure": {"Destination": arn}})
    # when: a second record arrives behind it some retries later (about 4 s of backoff),
    # so it is still young enough when the poison expires
    wait_for(lambda: len(pipe.invocations()) >= 8, message="a few retries of the poison")
    pipe.put("after")
    # then: the poison goes to the destination with the number of times it was really
    # invoked, and the shard moves on to the next record
    (message,) = _failure_messages(pipe, url, timeout=90)
    pipe.wait_invoked("after")
    pks = pipe.invoked_pks()
    assert pks[-1] == "after" and set(pks[:-1]) == {"poison"}
    assert list(message) == ["requestContext", "version", "timestamp", "DDBStreamBatchInfo"]
    assert message["requestContext"]["condition"] == "RecordAgeExceeded"
    assert message["requestContext"]["approximateInvokeCount"] == len(pks) - 1
    info = message["DDBStreamBatchInfo"]
    assert info["startSequenceNumber"] == info["endSequenceNumber"] == pipe.sequence_of("poison")
    assert info["batchSize"] == 1


# -- filtering ----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("patterns", "expected"),
    [
        ([{"eventName": ["INSERT"]}], [("INSERT", "a"), ("INSERT", "b"), ("INSERT", "z")]),
        ([{"eventName": ["MODIFY", "REMOVE"]}, {"dynamodb": {"Keys": {"pk": {"S": ["z"]}}}}],
         [("MODIFY", "a"), ("REMOVE", "a"), ("INSERT", "z")]),
        ([{"dynamodb": {"NewImage": {"colour": {"S": ["red"]}}}}],
         [("INSERT", "a"), ("INSERT", "z")]),
        ([{"dynamodb": {"NewImage": {"colour": ["red"]}}},
          {"dynamodb": {"Keys": {"pk": {"S": ["z"]}}}}], [("INSERT", "z")]),
    ],
    ids=["event_name", "event_name_or_key", "typed_new_image", "untyped_new_image_never_matches"],
)
def test_filtered_out_records_are_skipped_without_an_invocation(backend, role, unique,
                                                                  patterns, expected):
    # given: a INSERT red, a MODIFY blue, b INSERT blue, a REMOVE, z INSERT red
    pipe = _pipeline(backend, role, unique, handler=EVENT_JOURNAL_HANDLER)
    pipe.put("a", colour={"S": "red"})
    pipe.put("a", colour={"S": "blue"})
    pipe.put("b", colour={"S": "blue"})
    backend.client("dynamodb").delete_item(TableName=pipe.table, Key={"pk": {"S": "a"}})
    pipe.put("z", colour={"S": "red"})
    # when
    pipe.map(BatchSize=1, FilterCriteria={"Filters": [{"Pattern": json.dumps(p)}
                                                      for p in patterns]})
    # then
    def delivered() -> list[tuple[str, str]]:
        return [(r["eventName"], r["dynamodb"]["Keys"]["pk"]["S"])
                for event in journaled_events(backend, pipe.journal_table)
                for r in event["Records"]]

    wait_for(lambda: ("INSERT", "z") in delivered(), message="the last record")
    assert delivered() == expected


# -- throttling, disabling, deleting --------------------------------------------------------


def test_throttled_records_wait_without_using_retries(pipe):
    # given: a function that may not run at all
    lam = pipe.backend.client("lambda")
    lam.put_function_concurrency(FunctionName=pipe.name, ReservedConcurrentExecutions=0)
    url, arn = pipe.queue()
    pipe.map("LATEST", MaximumRetryAttempts=0,
             DestinationConfig={"OnFailure": {"Destination": arn}})
    # when
    for pk in ("r1", "r2", "r3"):
        pipe.put(pk)
    wait_for(lambda: sum(lambda_metric(pipe.backend, pipe.name, "Throttles", "Sum")) >= 3,
             message="the mapping to be throttled a few times")
    before = pipe.invocations()
    lam.delete_function_concurrency(FunctionName=pipe.name)
    # then
    assert before == []
    pipe.wait_invoked("r3")
    assert sorted(pipe.invoked_pks()) == ["r1", "r2", "r3"]
    assert queue_messages(pipe.backend, url) == []


def test_disabled_mapping_pauses_and_resumes_from_its_checkpoint(pipe):
    # given
    lam = pipe.backend.client("lambda")
    uuid = pipe.map("LATEST")
    pipe.put("r1")
    pipe.wait_invoked("r1")
    lam.update_event_source_mapping(UUID=uuid, Enabled=False)
    wait_for_state(pipe.backend, uuid, "Disabled")
    # when: the writes wake the disabled mapping, which goes back to rest without them
    pipe.put("r2")
    pipe.put("r3")
    wait_until_idle(pipe.backend, pipe.name)
    while_disabled = pipe.invoked_pks()
    lam.update_event_source_mapping(UUID=uuid, Enabled=True)
    # then
    assert while_disabled == ["r1"]
    pipe.wait_invoked("r3")
    assert pipe.invoked_pks() == ["r1", "r2", "r3"]


def test_latest_mapping_disabled_before_any_record_still_reads_what_came_meanwhile(pipe):
    # given: a LATEST mapping that has never seen a record
    lam = pipe.backend.client("lambda")
    uuid = pipe.map("LATEST")
    lam.update_event_source_mapping(UUID=uuid, Enabled=False)
    wait_for_state(pipe.backend, uuid, "Disabled")
    # when
    pipe.put("r1")
    pipe.put("r2")
    lam.update_event_source_mapping(UUID=uuid, Enabled=True)
    # then
    pipe.wait_invoked("r2")
    assert pipe.invoked_pks() == ["r1", "r2"]


def test_batch_interrupted_by_disabling_is_delivered_again_after_enabling(pipe):
    # given: a LATEST mapping stuck on its first record, which fails forever
    lam = pipe.backend.client("lambda")
    uuid = pipe.map("LATEST", BatchSize=1)
    pipe.put("poison", "raise")
    wait_for(lambda: len(pipe.invocations()) >= 2, message="a few retries")
    # when: disabled mid-retry, then enabled again with a retry limit
    lam.update_event_source_mapping(UUID=uuid, Enabled=False)
    wait_for_state(pipe.backend, uuid, "Disabled")
    stopped_at = len(pipe.invocations())
    pipe.put("after")
    lam.update_event_source_mapping(UUID=uuid, Enabled=True, MaximumRetryAttempts=0)
    # then
    pipe.wait_invoked("after")
    pks = pipe.invoked_pks()
    assert pks[stopped_at:] == ["poison", "after"]


def test_deleted_mapping_stops_invoking_at_once(pipe):
    # given: a record that fails forever
    lam = pipe.backend.client("lambda")
    pipe.put("poison", "raise")
    uuid = pipe.map()
    wait_for(lambda: len(pipe.invocations()) >= 2, message="a few retries")
    # when
    lam.delete_event_source_mapping(UUID=uuid)
    wait_for(lambda: not lam.list_event_source_mappings(EventSourceArn=pipe.stream)[
        "EventSourceMappings"], message="the mapping to be gone")
    count = len(pipe.invocations())
    pipe.put("after")
    time.sleep(1.5)
    # then
    assert len(pipe.invocations()) == count
    assert "after" not in pipe.invoked_pks()


# -- engine restarts ----------------------------------------------------------------------


def _restart_engine(endpoint: dict) -> None:
    """Stop and start the endpoint's mapping engine (no AWS API does this)."""
    from localaws import lifecycle

    status = lifecycle.admin_request(endpoint["port"], "/_workshop/engine/restart", "POST",
                                     timeout=60)
    assert status["status"] == "ok"


def test_engine_restart_resumes_after_the_checkpoint(pipe, endpoint):
    # given
    pipe.put("r1")
    pipe.map()
    pipe.wait_invoked("r1")
    # when
    _restart_engine(endpoint)
    pipe.put("r2")
    # then
    pipe.wait_invoked("r2")
    assert pipe.invoked_pks() == ["r1", "r2"]


def test_engine_restart_keeps_the_unfinished_first_batch_of_a_latest_mapping(pipe, endpoint):
    # given: a LATEST mapping stuck on its first record, which fails forever
    lam = pipe.backend.client("lambda")
    uuid = pipe.map("LATEST")
    try:
        pipe.put("poison", "raise")
        wait_for(lambda: len(pipe.invocations()) >= 2, message="a few retries")
        # when
        _restart_engine(endpoint)
        restarted_at = len(pipe.invocations())
        # then
        wait_for(lambda: len(pipe.invocations()) > restarted_at, timeout=5,
                 message="the record to be retried after the restart")
    finally:
        lam.delete_event_source_mapping(UUID=uuid)


# -- metrics ------------------------------------------------------------------------------


def test_iterator_age_is_reported_to_cloudwatch_after_a_batch(pipe):
    # given
    pipe.map("LATEST")
    # when
    pipe.put("r1")
    pipe.wait_invoked("r1")
    # then
    ages = wait_for(lambda: lambda_metric(pipe.backend, pipe.name, "IteratorAge", "Maximum"),
                    message="IteratorAge datapoints")
    assert all(0 <= age < 60_000 for age in ages)


def test_an_update_during_endless_retries_settles_and_applies(pipe):
    # given: a poison record retried forever (MaximumRetryAttempts -1), one record behind it
    lam = pipe.backend.client("lambda")
    url, arn = pipe.queue()
    pipe.put("poison", "raise")
    pipe.put("after")
    uuid = pipe.map(BatchSize=1, DestinationConfig={"OnFailure": {"Destination": arn}})
    wait_for(lambda: len(pipe.invocations()) >= 2, message="a few retries")
    # when: the learner lowers the retries while the batch is failing
    lam.update_event_source_mapping(UUID=uuid, MaximumRetryAttempts=1)
    # then: the update settles; the batch is read again with the new setting, so the
    # record gets exactly 1 + 1 invocations more, is given up, and the shard moves on
    wait_for_state(pipe.backend, uuid, "Enabled")
    (message,) = _failure_messages(pipe, url)
    assert message["requestContext"]["condition"] == "RetryAttemptsExhausted"
    assert message["requestContext"]["approximateInvokeCount"] == 2
    pipe.wait_invoked("after")
    pks = pipe.invoked_pks()
    assert pks[-1] == "after" and set(pks[:-1]) == {"poison"}
    assert lam.get_event_source_mapping(UUID=uuid)["MaximumRetryAttempts"] == 1


def test_changing_the_function_to_one_already_mapped_is_a_conflict(backend, role, unique):
    # given: two functions, each mapped to its own stream
    first = _pipeline(backend, role, f"a-{unique}")
    second = _pipeline(backend, role, f"b-{unique}")
    uuid = first.map()
    map_stream(backend, second.name, first.stream)
    # when: the first mapping is pointed at the function already mapped to that stream
    with pytest.raises(ClientError) as err:
        backend.client("lambda").update_event_source_mapping(UUID=uuid,
                                                             FunctionName=second.name)
    # then
    assert err.value.response["Error"]["Code"] == "ResourceConflictException"
