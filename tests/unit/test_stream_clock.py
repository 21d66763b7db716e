"""The stream clock moves on without waiting (``streams.registry.advance``, and the admin
route ``POST /_workshop/streams/clock``), and records age with it."""

from __future__ import annotations

import json

import pytest

from localaws import admin
from localaws.protocols import Call
from localaws.streams import registry
from localaws.streams.shards import Stream


@pytest.fixture
def wall_clock(monkeypatch: pytest.MonkeyPatch) -> list[float]:
    """The registry's wall clock, held still at 1000 s; the offset back to 0 afterwards."""
    now = [1000.0]
    monkeypatch.setattr(registry, "_clock", lambda: now[0])
    monkeypatch.setattr(registry, "_offset", 0.0)
    return now


def _post(path: str) -> tuple[int, dict]:
    path, _, query = path.partition("?")
    status, _, body = admin.serve(
        Call({"REQUEST_METHOD": "POST", "PATH_INFO": path, "QUERY_STRING": query}),
        status=dict, restart_engine=None, mappings_idle=lambda regions, function: {})
    return status, json.loads(body)


def test_advancing_the_stream_clock_adds_to_the_wall_clock(wall_clock):
    # given
    assert registry.now() == 1000.0
    # when
    first = registry.advance(20)
    second = registry.advance(0.5)
    # then
    assert (first, second) == (20, 20.5)
    assert registry.advance(0) == 20.5
    assert registry.now() == 1020.5
    wall_clock[0] = 1001.0
    assert registry.now() == 1021.5


@pytest.mark.parametrize("seconds", [-1, float("nan"), float("inf"), "5"])
def test_the_stream_clock_never_goes_back(wall_clock, seconds):
    # when
    with pytest.raises(ValueError) as err:
        registry.advance(seconds)
    # then
    assert "only moves forward" in str(err.value)
    assert registry.now() == 1000.0


def test_a_record_read_after_an_advance_past_the_retention_is_trimmed(wall_clock):
    # given: a record written at 1000 s, kept 20 s
    stream = Stream("arn:aws:dynamodb:us-east-1:1:table/t/stream/s", "label", "KEYS_ONLY",
                    registry.now())
    stream.append(lambda seq, arrival: {"seq": seq}, registry.now())
    stream.maintain(registry.now(), 2.0, 20.0)
    kept = sum(len(s.records) - s.head for s in stream.shards)
    # when
    registry.advance(20.5)
    stream.maintain(registry.now(), 2.0, 20.0)
    # then
    assert kept == 1
    assert sum(len(s.records) - s.head for s in stream.shards) == 0
    assert len(stream.shards) >= 2  # and the open shard rolled over meanwhile


def test_the_admin_route_advances_the_stream_clock(wall_clock):
    # when
    status, answer = _post("/_workshop/streams/clock?advance=30")
    # then
    assert (status, answer) == (200, {"offset_s": 30.0})
    assert registry.now() == 1030.0


@pytest.mark.parametrize("query", ["", "?advance=", "?advance=-3", "?advance=soon"])
def test_the_admin_route_refuses_what_is_not_a_forward_number_of_seconds(wall_clock, query):
    # when
    status, answer = _post(f"/_workshop/streams/clock{query}")
    # then
    assert status == 400
    assert "advance must be a number of seconds >= 0" in answer["message"]
    assert registry.now() == 1000.0
