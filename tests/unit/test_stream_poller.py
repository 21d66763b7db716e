"""The poll step follows shard lineage and recovers from trimmed positions (no endpoint)."""

from __future__ import annotations

from typing import Any

from botocore.exceptions import ClientError

from localaws.esm.poller import StreamPoller

ARN = "arn:aws:dynamodb:us-east-1:123456789012:table/t/stream/label"


def _record(seq: int) -> dict[str, Any]:
    return {"eventID": str(seq), "eventName": "INSERT", "eventSource": "aws:dynamodb",
            "awsRegion": "us-east-1",
            "dynamodb": {"Keys": {"pk": {"S": "a"}}, "SequenceNumber": str(seq)}}


def _error(code: str) -> ClientError:
    return ClientError({"Error": {"Code": code, "Message": code}}, "Op")


class FakeStreams:
    """A parent shard (closed, records 1-3) and its open child (record 4)."""

    def __init__(self) -> None:
        self.records = {"parent": [_record(1), _record(2), _record(3)], "child": [_record(4)]}
        self.iterator_calls: list[dict[str, Any]] = []
        self.trimmed_after: str | None = None
        self.gone: set[str] = set()

    def describe_stream(self, **kwargs: Any) -> dict[str, Any]:
        return {"StreamDescription": {
            "StreamStatus": "ENABLED",
            "KeySchema": [{"AttributeName": "pk", "KeyType": "HASH"}],
            "Shards": [{"ShardId": "parent"}, {"ShardId": "child", "ParentShardId": "parent"}]}}

    def get_shard_iterator(self, **kwargs: Any) -> dict[str, Any]:
        self.iterator_calls.append(kwargs)
        if kwargs["ShardId"] in self.gone:
            raise _error("ResourceNotFoundException")
        if kwargs.get("SequenceNumber") is not None \
                and kwargs.get("SequenceNumber") == self.trimmed_after:
            raise _error("TrimmedDataAccessException")
        start = 0
        if kwargs["ShardIteratorType"] == "AFTER_SEQUENCE_NUMBER":
            start = int(kwargs["SequenceNumber"])
        return {"ShardIterator": f"{kwargs['ShardId']}|{start}"}

    def get_records(self, ShardIterator: str, Limit: int) -> dict[str, Any]:  # noqa: N803
        shard, start = ShardIterator.split("|")
        records = [r for r in self.records[shard]
                   if int(r["dynamodb"]["SequenceNumber"]) > int(start)]
        out: dict[str, Any] = {"Records": records}
        if shard == "child":
            last = records[-1]["dynamodb"]["SequenceNumber"] if records else start
            out["NextShardIterator"] = f"child|{last}"
        return out


def _poller(client: FakeStreams, checkpoints: dict[str, str] | None = None) -> StreamPoller:
    marks = checkpoints or {}
    poller = StreamPoller(client, ARN, "TRIM_HORIZON", marks.get)
    poller.refresh_shards()
    return poller


def test_a_child_waits_until_every_record_read_from_its_parent_is_handed_on():
    # given
    poller = _poller(FakeStreams())
    [parent] = poller.readable()
    # when: the parent is read to its end (null NextShardIterator), records still buffered
    poller.poll(parent)
    # then
    assert parent.ended
    assert [s.shard_id for s in poller.readable()] == ["parent"]
    assert poller.needs_refresh
    parent.buffer.clear()  # the worker delivered them
    assert [s.shard_id for s in poller.readable()] == ["child"]


def test_a_rewind_reads_an_ended_parent_again_from_its_checkpoint():
    # given
    client = FakeStreams()
    poller = _poller(client, {"parent": "1"})
    [parent] = poller.readable()
    poller.poll(parent)
    # when: the delivery stopped (an update): the round is read again
    poller.rewind(parent)
    poller.poll(parent)
    # then
    assert [r["dynamodb"]["SequenceNumber"] for r in parent.buffer] == ["2", "3"]


def test_a_checkpoint_behind_the_trim_horizon_goes_on_from_the_oldest_record():
    # given
    client = FakeStreams()
    client.trimmed_after = "1"
    poller = _poller(client, {"parent": "1"})
    [parent] = poller.readable()
    # when
    poller.poll(parent)
    # then
    assert [c["ShardIteratorType"] for c in client.iterator_calls] == [
        "AFTER_SEQUENCE_NUMBER", "TRIM_HORIZON"]
    assert [r["dynamodb"]["SequenceNumber"] for r in parent.buffer] == ["1", "2", "3"]


def test_a_shard_trimmed_away_counts_as_ended():
    # given
    client = FakeStreams()
    client.gone.add("parent")
    poller = _poller(client)
    [parent] = poller.readable()
    # when
    poller.poll(parent)
    # then
    assert parent.exhausted
    assert [s.shard_id for s in poller.readable()] == ["child"]
