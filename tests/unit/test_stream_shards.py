"""A stream's shards: rollover with lineage, trimming, reading by position (no endpoint)."""

from __future__ import annotations

import itertools
import pickle

import pytest

from localaws.streams.settings import StreamSettings, StreamSettingsError
from localaws.streams.shards import SequenceNumberError, Stream, TrimmedDataError

LIFETIME = 10.0
RETENTION = 35.0
T0 = 1_700_000_000.0


def _stream() -> Stream:
    return Stream("arn:aws:dynamodb:us-east-1:123456789012:table/t/stream/label", "label",
                  "NEW_IMAGE", T0)


def _put(stream: Stream, at: float, text: str = "x") -> int:
    stream.maintain(at, LIFETIME, RETENTION)
    return stream.append(lambda seq, arrival: f'{{"seq":{seq},"v":"{text}"}}'.encode(), at)


def _read_all(stream: Stream, shard_id: str, iterator_type: str = "TRIM_HORIZON") -> list:
    shard = stream.shard(shard_id)
    position = Stream.start_position(shard, iterator_type)
    out: list[bytes] = []
    while position is not None:
        bodies, position = Stream.read(shard, position, 2)
        out.extend(bodies)
        if not bodies and shard.is_open:
            break
    return out


def test_a_new_stream_has_one_open_shard_without_parent():
    # when
    stream = _stream()
    # then
    [shard] = stream.describe_page(100)[0]
    assert shard["ShardId"].startswith("shardId-")
    assert "ParentShardId" not in shard
    assert "EndingSequenceNumber" not in shard["SequenceNumberRange"]


def test_the_open_shard_rolls_over_after_its_lifetime_with_lineage():
    # given
    stream = _stream()
    first = _put(stream, T0 + 1)
    last_in_parent = _put(stream, T0 + 9)
    # when
    in_child = _put(stream, T0 + 11)
    # then
    parent, child = stream.describe_page(100)[0]
    assert parent["SequenceNumberRange"] == {"StartingSequenceNumber": str(first),
                                             "EndingSequenceNumber": str(last_in_parent)}
    assert child["ParentShardId"] == parent["ShardId"]
    assert child["SequenceNumberRange"] == {"StartingSequenceNumber": str(in_child)}
    assert in_child > last_in_parent


def test_no_rollover_before_the_lifetime_is_up():
    # given
    stream = _stream()
    # when
    _put(stream, T0 + LIFETIME - 0.5)
    # then
    assert len(stream.shards) == 1


def test_an_idle_stream_keeps_a_chain_of_empty_shards_bounded_by_retention():
    # given
    stream = _stream()
    _put(stream, T0 + 1)
    # when: a day without writes
    stream.maintain(T0 + 86400, LIFETIME, RETENTION)
    # then
    assert len(stream.shards) <= int(RETENTION // LIFETIME) + 2
    ids = [s.shard_id for s in stream.shards]
    assert ids == sorted(ids)
    for parent, child in itertools.pairwise(stream.shards):
        assert child.parent_id == parent.shard_id
        assert child.starting_seq > parent.ending_seq
    assert stream.shards[-1].is_open


def test_reading_a_closed_shard_ends_with_no_next_position():
    # given
    stream = _stream()
    for i in range(5):
        _put(stream, T0 + 1 + i, str(i))
    _put(stream, T0 + 12)
    parent = stream.shards[0]
    # when
    records = _read_all(stream, parent.shard_id)
    bodies, position = Stream.read(parent, parent.ending_seq + 1, 10)
    # then
    assert len(records) == 5
    assert (bodies, position) == ([], None)


def test_reading_the_open_shard_returns_a_position_to_read_on_from():
    # given
    stream = _stream()
    seq = _put(stream, T0 + 1)
    shard = stream.shards[-1]
    # when
    bodies, position = Stream.read(shard, Stream.start_position(shard, "TRIM_HORIZON"), 10)
    # then
    assert len(bodies) == 1
    assert position == seq + 1


def test_an_empty_closed_shard_ends_at_once():
    # given
    stream = _stream()
    stream.maintain(T0 + LIFETIME + 1, LIFETIME, RETENTION)
    empty = stream.shards[0]
    # when
    bodies, position = Stream.read(empty, Stream.start_position(empty, "TRIM_HORIZON"), 10)
    # then
    assert not empty.is_open
    assert (bodies, position) == ([], None)


def test_latest_on_a_closed_shard_reads_nothing_and_ends():
    # given
    stream = _stream()
    _put(stream, T0 + 1)
    _put(stream, T0 + 11)
    parent = stream.shards[0]
    # when
    result = Stream.read(parent, Stream.start_position(parent, "LATEST"), 10)
    # then
    assert result == ([], None)


def test_records_older_than_the_retention_are_trimmed():
    # given
    stream = _stream()
    old = _put(stream, T0 + 1, "old")
    kept = _put(stream, T0 + 5, "kept")
    # when
    stream.maintain(T0 + 1 + RETENTION + 0.5, LIFETIME, RETENTION)
    # then
    shard = stream.shards[0]
    assert Stream.start_position(shard, "TRIM_HORIZON") == kept
    assert shard.record(old) is None
    assert shard.record(kept) is not None


def test_a_sequence_number_behind_the_trim_horizon_is_trimmed_data():
    # given
    stream = _stream()
    old = _put(stream, T0 + 1)
    _put(stream, T0 + 5)
    stream.maintain(T0 + 1 + RETENTION + 0.5, LIFETIME, RETENTION)
    shard = stream.shards[0]
    # when / then
    with pytest.raises(TrimmedDataError):
        Stream.start_position(shard, "AT_SEQUENCE_NUMBER", old)
    assert Stream.start_position(shard, "AFTER_SEQUENCE_NUMBER", old) == old + 1


def test_an_iterator_overtaken_by_the_trim_horizon_reads_trimmed_data():
    # given
    stream = _stream()
    old = _put(stream, T0 + 1)
    shard = stream.shards[0]
    position = Stream.start_position(shard, "TRIM_HORIZON")
    _put(stream, T0 + 5)
    # when
    stream.maintain(T0 + 1 + RETENTION + 0.5, LIFETIME, RETENTION)
    # then
    assert position == old
    with pytest.raises(TrimmedDataError):
        Stream.read(shard, position, 10)


def test_a_sequence_number_outside_the_shard_is_refused():
    # given
    stream = _stream()
    seq = _put(stream, T0 + 1)
    shard = stream.shards[0]
    # when / then
    with pytest.raises(SequenceNumberError):
        Stream.start_position(shard, "AT_SEQUENCE_NUMBER", seq + 5)
    with pytest.raises(SequenceNumberError):
        Stream.start_position(shard, "AT_SEQUENCE_NUMBER", shard.starting_seq - 1)


def test_closed_shards_disappear_once_older_than_the_retention():
    # given
    stream = _stream()
    _put(stream, T0 + 1)
    _put(stream, T0 + 11)
    first = stream.shards[0].shard_id
    # when
    stream.maintain(T0 + LIFETIME + RETENTION + 0.5, LIFETIME, RETENTION)
    # then
    assert stream.shard(first) is None
    assert stream.shards[0].parent_id == first  # the lineage is still shown


def test_memory_is_bounded_by_the_retention():
    # given
    stream = _stream()
    # when: 20 records a second for 10 retention periods
    for i in range(int(RETENTION * 10 * 20)):
        _put(stream, T0 + i / 20)
    # then
    kept = sum(s.kept for s in stream.shards)
    stored = sum(len(s.records) for s in stream.shards)
    assert kept <= RETENTION * 20 + 1
    assert stored <= 2 * kept + 1100


def test_describe_pages_through_shards_with_last_evaluated_shard_id():
    # given
    stream = _stream()
    for i in range(5):
        _put(stream, T0 + 1 + i * LIFETIME)
    # when
    pages, start = [], None
    while True:
        page, start = stream.describe_page(2, start)
        pages.append([s["ShardId"] for s in page])
        if start is None:
            break
    # then
    assert [len(p) for p in pages] == [2, 2, 1]
    assert [i for p in pages for i in p] == [s.shard_id for s in stream.shards]


def test_describe_with_a_child_filter_lists_only_the_children():
    # given
    stream = _stream()
    _put(stream, T0 + 1)
    _put(stream, T0 + 11)
    _put(stream, T0 + 21)
    parent = stream.shards[0]
    # when
    page, last = stream.describe_page(100, child_of=parent.shard_id)
    # then
    assert [s["ShardId"] for s in page] == [stream.shards[1].shard_id]
    assert last is None


def test_a_read_stops_at_one_megabyte():
    # given
    stream = _stream()
    big = b"x" * (400 * 1024)
    for i in range(4):
        stream.append(lambda seq, at: big, T0 + i)
    shard = stream.shards[0]
    # when
    bodies, position = Stream.read(shard, shard.starting_seq, 1000)
    # then
    assert len(bodies) == 2
    assert position == shard.starting_seq + 2


def test_disabling_closes_the_open_shard_which_stays_readable():
    # given
    stream = _stream()
    _put(stream, T0 + 1)
    # when
    stream.disable(T0 + 2)
    # then
    [shard] = stream.shards
    assert not shard.is_open
    assert len(_read_all(stream, shard.shard_id)) == 1


def test_a_stream_survives_pickling():
    # given
    stream = _stream()
    _put(stream, T0 + 1)
    _put(stream, T0 + 11)
    # when
    copy = pickle.loads(pickle.dumps(stream))
    # then
    assert copy == stream


@pytest.mark.parametrize("raw", ["0", "-1", "abc", "inf"])
def test_a_bad_stream_setting_in_the_environment_is_refused(raw):
    # when / then
    with pytest.raises(StreamSettingsError):
        StreamSettings.from_env({"WORKSHOP_LOCAL_SHARD_LIFETIME": raw})


def test_stream_settings_default_to_aws_and_round_trip_through_the_environment():
    # given
    settings = StreamSettings(shard_lifetime=4, stream_retention=30, ttl_sweep=2)
    # when
    back = StreamSettings.from_env(settings.to_env())
    # then
    assert back == settings
    assert StreamSettings.from_env({}) == StreamSettings(14400, 86400, 5)
