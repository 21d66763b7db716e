"""The issue's "done when" check (``tools/stream_check.py``) on short stream settings.

The retention before its trimming check passes on the endpoint's stream clock, moved
on (``advance_stream_clock``) instead of slept through."""

from __future__ import annotations

import pytest

from tests.functional.stream_endpoint import (  # noqa: F401
    advance_stream_clock,
    short_streams_fixture,
)
from tools.stream_check import run

pytestmark = pytest.mark.functional


def test_a_plain_boto3_client_sees_rollover_delivery_ttl_and_trimming(short_streams):
    # given
    settings = short_streams.health["streams"]
    # when
    report = run(short_streams, settings, parallelization=2, log=lambda text: None,
                 age=lambda seconds: advance_stream_clock(short_streams, seconds))
    # then
    assert report["checks"] == {
        "shards roll over with lineage": True,
        "every record delivered once, in per-key order": True,
        "expired item deleted by the service": True,
        "trimmed position answers TrimmedDataAccessException": True,
    }
