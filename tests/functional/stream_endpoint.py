"""A second local endpoint with short stream settings (rollover, trimming, TTL).

Import ``short_streams_fixture`` into a test module to use the ``short_streams``
fixture; it starts once per test
session (``up --shard-lifetime 2 --stream-retention 20 --ttl-sweep 0.5``) on its
own free port and state directory, and is stopped at the end. The retention is
long enough for a loaded machine's engine to keep up (a record that waits longer
than the retention expires, as on AWS).

Tests age records by moving the endpoint's stream clock on
(:func:`advance_stream_clock`) instead of waiting a retention or a shard lifetime.
The clock never goes back, so later tests run on a stream clock ahead of the wall
clock by what earlier ones added; every stream time (arrival, rollover, trimming,
record age, TTL) comes from that one clock, so only its differences show.
"""

from __future__ import annotations

import contextlib
import socket
from collections.abc import Iterator
from typing import Any

import pytest

SHORT = {"WORKSHOP_LOCAL_SHARD_LIFETIME": "2", "WORKSHOP_LOCAL_STREAM_RETENTION": "20",
         "WORKSHOP_LOCAL_TTL_SWEEP": "0.5"}
STREAMS_CLOCK_PATH = "/_workshop/streams/clock"


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@contextlib.contextmanager
def short_streams_endpoint(tmp_path_factory: pytest.TempPathFactory,
                           name: str = "short-streams") -> Iterator[Any]:
    """An endpoint with the :data:`SHORT` settings, as a ``helpers.clients`` backend.

    The backend carries the endpoint's health document as ``.health`` and its state
    directory as ``.state_dir``; the endpoint is stopped when the block ends.
    """
    from helpers.clients import get_backend
    from localaws import lifecycle, paths

    port = _free_port()
    state = str(tmp_path_factory.mktemp(f"{name}-state"))
    with paths.using_state_dir(state):
        health = lifecycle.up(port, env=SHORT)
    backend = get_backend("endpoint", endpoint_url=health["url"])
    object.__setattr__(backend, "health", health)
    object.__setattr__(backend, "state_dir", state)
    yield backend
    # its pid file and admin token are in its own state directory: down() reads them there
    with paths.using_state_dir(state):
        stopped = lifecycle.down(port)
    assert stopped, f"the {name} endpoint on port {port} was not found to stop"


@pytest.fixture(scope="session", name="short_streams")
def short_streams_fixture(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Any]:
    """A ``helpers.clients`` backend on an endpoint with short stream settings.

    The backend object carries the endpoint's health document as ``.health``.
    """
    with short_streams_endpoint(tmp_path_factory) as backend:
        yield backend


def advance_stream_clock(backend: Any, seconds: float) -> float:
    """Move the endpoint's stream clock ``seconds`` on: every record that much older.

    Returns the clock's whole offset from the wall clock (seconds).
    """
    from localaws import lifecycle, paths

    with paths.using_state_dir(backend.state_dir):
        answer = lifecycle.admin_request(backend.health["port"],
                                         f"{STREAMS_CLOCK_PATH}?advance={seconds!r}",
                                         method="POST")
    return float(answer["offset_s"])
