"""Write times and end-to-end latency (helpers.write_latency): the recorder's writes through
botocore's Stubber, and the pairing of writes with the function's log lines."""

from __future__ import annotations

from datetime import UTC, datetime

import pandas as pd
import pytest
from boto3.dynamodb.types import TypeSerializer

from helpers import write_latency
from tests.unit.stubs import StubBackend

dump = TypeSerializer().serialize
SENT = datetime(2026, 1, 1, tzinfo=UTC)


def times(*seconds: float) -> pd.Series:
    return pd.to_datetime([1_767_225_600 + s for s in seconds], unit="s", utc=True)


def frames(writes: list[tuple[str, str, float]],
           processed: list[tuple[str, str, float]]) -> tuple[pd.DataFrame, pd.DataFrame]:
    w = pd.DataFrame(writes, columns=["item", "event", "s"])
    p = pd.DataFrame(processed, columns=["item", "event", "s"])
    return (w.assign(written_at=times(*w["s"])).drop(columns="s"),
            p.assign(processed_at=times(*p["s"])).drop(columns="s"))


def test_a_retried_record_is_paired_once_and_the_next_write_with_its_own_processing():
    # given: a's first MODIFY failed and was delivered again; a second MODIFY came later
    writes, processed = frames(
        [("a", "MODIFY", 0.0), ("a", "MODIFY", 10.0)],
        [("a", "MODIFY", 0.5), ("a", "MODIFY", 2.5), ("a", "MODIFY", 10.25)])
    # when
    paired = write_latency.latency(writes, processed)
    # then: the retry at 2.5 s belongs to the first write, not to the second
    assert paired["latency_s"].tolist() == [0.5, 0.25]


def test_a_record_processed_in_the_millisecond_of_its_write_counts():
    # given: the log keeps milliseconds, the write time has microseconds
    writes = pd.DataFrame({"item": ["a"], "event": ["INSERT"],
                           "written_at": times(0.0004)})
    processed = pd.DataFrame({"item": ["a"], "event": ["INSERT"], "processed_at": times(0.0)})
    # when
    paired = write_latency.latency(writes, processed)
    # then
    assert len(paired) == 1
    assert paired["latency_s"].iloc[0] == pytest.approx(-0.0004, abs=1e-6)


def test_a_processing_logged_before_the_write_is_not_its_record():
    # given: a line left from an earlier run of the same item, then this run's write
    writes, processed = frames([("a", "INSERT", 5.0), ("b", "INSERT", 6.0)],
                               [("a", "INSERT", 1.0), ("a", "INSERT", 5.5)])
    # when
    paired = write_latency.latency(writes, processed)
    # then: b is not processed yet and has no row
    assert paired[["item", "latency_s"]].values.tolist() == [["a", 0.5]]


def test_writes_keep_their_order_and_events_are_paired_apart():
    # given: writes listed out of time order; an INSERT and a REMOVE of one item
    writes, processed = frames([("b", "INSERT", 3.0), ("a", "INSERT", 1.0), ("a", "REMOVE", 2.0)],
                               [("a", "REMOVE", 2.2), ("a", "INSERT", 1.1), ("b", "INSERT", 3.3)])
    # when
    paired = write_latency.latency(writes, processed)
    # then
    assert paired[["item", "event"]].values.tolist() == [["b", "INSERT"], ["a", "INSERT"],
                                                         ["a", "REMOVE"]]
    assert paired["latency_s"].round(3).tolist() == [0.3, 0.1, 0.2]


def test_nothing_processed_gives_an_empty_table_with_the_columns():
    # given
    writes, processed = frames([("a", "INSERT", 0.0)], [])
    # when
    paired = write_latency.latency(writes, processed)
    # then
    assert paired.empty
    assert list(paired.columns) == ["item", "event", "written_at", "processed_at", "latency_s"]


def test_an_update_is_noted_as_a_modify_with_its_expression():
    # given
    backend = StubBackend("dynamodb")
    backend.stub("dynamodb").add_response("update_item", {}, {
        "TableName": "orders", "Key": {"PK": dump("a"), "SK": dump("1")},
        "UpdateExpression": "SET #a0 = :v0, #a1 = :v1",
        "ExpressionAttributeNames": {"#a0": "status", "#a1": "qty"},
        "ExpressionAttributeValues": {":v0": dump("PAID"), ":v1": dump(3)}})
    recorder = write_latency.WriteRecorder(backend, "orders")
    # when
    recorder.update({"PK": "a", "SK": "1"}, status="PAID", qty=3)
    # then
    backend.assert_all_used()
    assert recorder.frame()[["item", "event"]].values.tolist() == [["a#1", "MODIFY"]]
    assert recorder.started == recorder.frame()["written_at"].iloc[0]


def test_a_batch_resends_what_dynamodb_left_and_notes_only_written_items(monkeypatch):
    # given: the first call leaves b unprocessed, every later one too
    monkeypatch.setattr(write_latency.time, "sleep", lambda s: None)
    backend = StubBackend("dynamodb")
    stub = backend.stub("dynamodb")
    left = {"orders": [{"PutRequest": {"Item": {"PK": dump("b")}}}]}
    for _ in range(write_latency.BATCH_ATTEMPTS):
        stub.add_response("batch_write_item", {"UnprocessedItems": left})
    recorder = write_latency.WriteRecorder(backend, "orders", ["PK"])
    # when
    with pytest.raises(write_latency.UnprocessedItemsError, match="1 of 2 items were not written"):
        recorder.put_many([{"PK": "a"}, {"PK": "b"}], progress=False)
    # then
    backend.assert_all_used()
    assert recorder.frame()["item"].tolist() == ["a"]


def test_a_batch_written_on_a_retry_is_noted_whole(monkeypatch):
    # given
    monkeypatch.setattr(write_latency.time, "sleep", lambda s: None)
    backend = StubBackend("dynamodb")
    stub = backend.stub("dynamodb")
    stub.add_response("batch_write_item", {"UnprocessedItems": {
        "orders": [{"PutRequest": {"Item": {"PK": dump("b")}}}]}})
    stub.add_response("batch_write_item", {"UnprocessedItems": {}},
                      {"RequestItems": {"orders": [{"PutRequest": {"Item": {"PK": dump("b")}}}]}})
    recorder = write_latency.WriteRecorder(backend, "orders", ["PK"])
    # when
    recorder.put_many([{"PK": "a"}, {"PK": "b"}], progress=False)
    # then
    backend.assert_all_used()
    assert recorder.frame()[["item", "event"]].values.tolist() == [["a", "INSERT"],
                                                                   ["b", "INSERT"]]


def test_deletes_left_undone_are_an_error(monkeypatch):
    # given
    monkeypatch.setattr(write_latency.time, "sleep", lambda s: None)
    backend = StubBackend("dynamodb")
    left = {"orders": [{"DeleteRequest": {"Key": {"PK": dump("a")}}}]}
    for _ in range(write_latency.BATCH_ATTEMPTS):
        backend.stub("dynamodb").add_response("batch_write_item", {"UnprocessedItems": left})
    recorder = write_latency.WriteRecorder(backend, "orders", ["PK"])
    # when / then
    with pytest.raises(write_latency.UnprocessedItemsError, match="1 of 1 deletes were not made"):
        recorder.delete_many([{"PK": "a"}], progress=False)
    backend.assert_all_used()


def test_deleting_existing_items_counts_only_those_that_were_there():
    # given: keys in DynamoDB JSON with a non-key attribute; the second item is gone
    backend = StubBackend("dynamodb")
    stub = backend.stub("dynamodb")
    stub.add_response("delete_item", {"Attributes": {"PK": dump("a")}},
                      {"TableName": "orders", "Key": {"PK": dump("a")}, "ReturnValues": "ALL_OLD"})
    stub.add_response("delete_item", {},
                      {"TableName": "orders", "Key": {"PK": dump("b")}, "ReturnValues": "ALL_OLD"})
    recorder = write_latency.WriteRecorder(backend, "orders", ["PK"])
    # when
    removed = recorder.delete_many_existing([{"PK": dump("a"), "note": dump("x")},
                                             {"PK": dump("b")}])
    # then
    assert removed == 1
    assert recorder.frame()[["item", "event"]].values.tolist() == [["a", "REMOVE"]]


def test_writes_made_by_a_taught_client_are_noted_as_the_stream_records_them():
    # given
    recorder = write_latency.WriteRecorder(StubBackend("dynamodb"), "orders", ["PK"])
    key = {"PK": dump("a")}
    # when
    recorder.observe("put_item", {"TableName": "orders", "Item": key}, {}, SENT)
    recorder.observe("put_item", {"TableName": "orders", "Item": key}, {"Attributes": key}, SENT)
    recorder.observe("update_item", {"TableName": "orders", "Key": key}, {}, SENT)
    recorder.observe("delete_item", {"TableName": "orders", "Key": key,
                                     "ReturnValues": "ALL_OLD"}, {}, SENT)  # nothing was there
    recorder.observe("delete_item", {"TableName": "orders", "Key": key}, {}, SENT)
    recorder.observe("put_item", {"TableName": "other", "Item": key}, {}, SENT)
    recorder.observe("batch_write_item", {"RequestItems": {"orders": [
        {"PutRequest": {"Item": {"PK": dump("b")}}},
        {"DeleteRequest": {"Key": {"PK": dump("c")}}}]}}, {}, SENT)
    recorder.observe("get_item", {"TableName": "orders", "Key": key}, {}, SENT)
    # then
    assert recorder.frame()[["item", "event"]].values.tolist() == [
        ["a", "INSERT"], ["a", "MODIFY"], ["a", "MODIFY"], ["a", "REMOVE"], ["b", "INSERT"],
        ["c", "REMOVE"]]


def test_a_recorder_without_writes_has_no_start_and_run_ids_are_short():
    # given
    recorder = write_latency.WriteRecorder(StubBackend("dynamodb"), "orders")
    # when / then
    assert recorder.started is None
    assert recorder.frame().empty
    assert len(write_latency.run_id()) == 9 and write_latency.run_id().isdigit()


def test_starting_replication_over_deletes_through_the_stream_then_empties_the_replica(
        monkeypatch):
    # given: the replica holds one item; the function drains before the replica is emptied
    backend = StubBackend("dynamodb")
    stub = backend.stub("dynamodb")
    drained: list[str] = []
    monkeypatch.setattr(write_latency, "wait_until_drained",
                        lambda b, function, since, timeout: drained.append(function))
    stub.add_response("describe_table", {"Table": {
        "KeySchema": [{"AttributeName": "PK", "KeyType": "HASH"}]}}, {"TableName": "replica"})
    stub.add_response("scan", {"Items": [{"PK": dump("old")}]}, {
        "TableName": "replica", "ProjectionExpression": "#k0",
        "ExpressionAttributeNames": {"#k0": "PK"}})
    stub.add_response("batch_write_item", {}, {"RequestItems": {"logfile": [
        {"DeleteRequest": {"Key": {"PK": dump("a")}}}]}})
    stub.add_response("batch_write_item", {}, {"RequestItems": {"replica": [
        {"DeleteRequest": {"Key": {"PK": dump("old")}}}]}})
    # when
    before = write_latency.reset_replication(backend, "logfile", "replica", [{"PK": "a"}],
                                             "replicator")
    # then
    backend.assert_all_used()
    assert before == 1
    assert drained == ["replicator"]
