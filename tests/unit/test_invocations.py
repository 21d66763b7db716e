"""Reading invocations from a function's log (helpers.invocation_log.parse_invocations)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pandas as pd
from boto3.dynamodb.types import TypeSerializer

from helpers import invocation_log, write_latency

RID = ["11111111-1111-1111-1111-111111111111", "22222222-2222-2222-2222-222222222222"]


def log(*lines: str) -> pd.DataFrame:
    start = datetime(2026, 1, 1, tzinfo=UTC)
    return pd.DataFrame({"time": [start + timedelta(milliseconds=i) for i in range(len(lines))],
                         "stream": ["s"] * len(lines), "message": list(lines)})


def info(rid: str, text: str) -> str:
    return f"[INFO]\t2026-01-01T00:00:00.000Z\t{rid}\t{text}"


def report(rid: str) -> str:
    return (f"REPORT RequestId: {rid}\tDuration: 2.00 ms\tBilled Duration: 2 ms\t"
            "Memory Size: 128 MB\tMax Memory Used: 40 MB")


def test_a_failed_batch_shows_what_was_delivered_apart_from_what_was_processed() -> None:
    # given: a production-variant invocation that received 5 records and failed on the third
    events = log(
        f"START RequestId: {RID[0]} Version: $LATEST",
        info(RID[0], "Received 5 records"),
        info(RID[0], "Processing INSERT for item: ORDER#1#DETAILS"),
        info(RID[0], "Processing INSERT for item: ORDER#2#DETAILS"),
        "[ERROR] InjectedFailureError: item ORDER#3 has fail_mode=raise\nTraceback ...",
        f"END RequestId: {RID[0]}",
        report(RID[0]),
    )
    # when
    frame = invocation_log.parse_invocations(events)
    summary = invocation_log.invocation_summary(frame)
    # then
    assert frame["delivered"].tolist() == [5]
    assert frame["records"].tolist() == [2]
    assert summary[["records delivered", "records processed"]].values.tolist() == [[5, 2]]


def test_a_teaching_function_that_failed_does_not_say_what_it_received() -> None:
    # given: no "Received" line (the teaching version); one success, one failure
    events = log(
        f"START RequestId: {RID[0]} Version: $LATEST",
        info(RID[0], "Processing INSERT for item: A#1"),
        info(RID[0], "Successfully processed 1 records"),
        report(RID[0]),
        f"START RequestId: {RID[1]} Version: $LATEST",
        info(RID[1], "Processing INSERT for item: A#2"),
        "[ERROR] KeyError: 'PK'",
        report(RID[1]),
    )
    # when
    summary = invocation_log.invocation_summary(invocation_log.parse_invocations(events))
    # then: a success delivered what it processed; a failure is unknown, not guessed
    assert summary["records delivered"].tolist() == [1, "?"]


def test_writes_made_through_a_taught_client_are_noted_with_their_stream_event() -> None:
    # given
    recorder = write_latency.WriteRecorder.__new__(write_latency.WriteRecorder)
    recorder.table, recorder.key_names, recorder._rows = "t", ("PK", "SK"), []
    recorder._deserializer = write_latency.TypeDeserializer()
    dump = TypeSerializer().serialize
    key = {"PK": dump("ORDER#1"), "SK": dump("DETAILS")}
    sent = datetime(2026, 1, 1, tzinfo=UTC)
    # when
    recorder.observe("put_item", {"TableName": "t", "Item": key}, {}, sent)
    recorder.observe("update_item", {"TableName": "t", "Key": key}, {}, sent)
    recorder.observe("put_item", {"TableName": "other", "Item": key}, {}, sent)
    recorder.observe("batch_write_item", {"RequestItems": {"t": [
        {"DeleteRequest": {"Key": key}}]}}, {}, sent)
    # then
    assert recorder.frame()[["item", "event"]].values.tolist() == [
        ["ORDER#1#DETAILS", "INSERT"], ["ORDER#1#DETAILS", "MODIFY"],
        ["ORDER#1#DETAILS", "REMOVE"]]
