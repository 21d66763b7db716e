"""The engine's answer to "has this function's mapping delivered everything?" and the wait
that uses it (``GET /_workshop/mappings/idle``, ``invocation_log.wait_until_drained``)."""

from __future__ import annotations

import json
import time
import urllib.parse
from typing import Any

import pytest

from helpers import invocation_log
from localaws import lifecycle
from tests.functional.support import (
    journal,
    journaled_function,
    log_text,
    map_stream,
    wait_for,
)

pytestmark = pytest.mark.functional


def _idle(endpoint: dict, backend: Any, function: str) -> dict[str, Any]:
    query = urllib.parse.urlencode({"function": function, "region": backend.region})
    return lifecycle.admin_request(endpoint["port"], f"/_workshop/mappings/idle?{query}")


def test_a_mapping_is_busy_from_the_write_until_the_invocation_has_ended(
        endpoint, backend, role, unique):
    # given: a mapped function whose handler pauses half a second per record
    made = journaled_function(backend, f"idle-{unique}", role=role)
    uuid = map_stream(backend, made.name, made.stream)
    wait_for(lambda: not _idle(endpoint, backend, made.name)["busy"], message="idle at first")
    # when
    backend.client("dynamodb").put_item(TableName=made.table, Item={
        "pk": {"S": "slow"}, "mode": {"S": "pause:0.5"}})
    right_after = _idle(endpoint, backend, made.name)
    wait_for(lambda: not _idle(endpoint, backend, made.name)["busy"], interval=0.02,
             message="idle after the write")
    # then: busy as soon as the write was answered; idle only once the REPORT line is written
    assert right_after == {"function": made.name, "mappings": 1, "busy": [uuid]}
    assert log_text(backend, made.name).count("REPORT RequestId") == 1
    # and a question about two regions counts the mappings of both (here: one)
    both = lifecycle.admin_request(endpoint["port"], "/_workshop/mappings/idle?" + urllib.parse
                                   .urlencode({"function": made.name,
                                               "region": f"{backend.region},eu-west-1"}))
    assert both == {"function": made.name, "mappings": 1, "busy": []}


def test_a_function_without_mappings_has_nothing_busy_and_a_bad_query_is_a_400(
        endpoint, backend):
    # when
    answer = _idle(endpoint, backend, "no-such-function")
    # then
    assert answer == {"function": "no-such-function", "mappings": 0, "busy": []}
    with pytest.raises(OSError, match="400"):
        lifecycle.admin_request(endpoint["port"], "/_workshop/mappings/idle?function=f")


def test_waiting_until_drained_ends_when_the_engine_is_idle_not_after_the_quiet_period(
        backend, role, unique):
    # given
    made = journaled_function(backend, f"drain-{unique}", role=role)
    map_stream(backend, made.name, made.stream)
    since = time.time()
    for n in range(3):
        backend.client("dynamodb").put_item(TableName=made.table, Item={"pk": {"S": f"r{n}"}})
    # when: a quiet period longer than the wait's own timeout
    invocations = invocation_log.wait_until_drained(backend, made.name, since=since,
                                                    quiet_s=600, timeout=30)
    # then: it returned (no WaitTimeoutError) with every record delivered and counted
    delivered = sorted(json.loads(key)["pk"]["S"] for inv in journal(backend, made.journal_table)
                       for key in inv["keys"])
    assert delivered == ["r0", "r1", "r2"]
    assert invocations == log_text(backend, made.name).count("REPORT RequestId")
