"""Event source mappings from the helpers (helpers.mappings), through botocore's Stubber."""

from __future__ import annotations

from typing import Any

import pytest

from helpers import mappings
from tests.unit.stubs import StubBackend

UUID = "a1b2c3d4-0000-0000-0000-000000000000"
STREAM = "arn:aws:dynamodb:us-east-1:123456789012:table/orders/stream/2026-01-01T00:00:00.000"
FUNCTION_ARN = "arn:aws:lambda:us-east-1:123456789012:function:f"


def mapping(**settings: Any) -> dict[str, Any]:
    return {"UUID": UUID, "State": "Enabled", "EventSourceArn": STREAM,
            "FunctionArn": FUNCTION_ARN, "StartingPosition": "TRIM_HORIZON", "BatchSize": 100,
            **settings}


def test_wait_for_state_tells_every_state_it_saw_on_the_way():
    # given
    backend = StubBackend("lambda")
    for state in ("Creating", "Enabling", "Enabled"):
        backend.stub("lambda").add_response("get_event_source_mapping", mapping(State=state),
                                            {"UUID": UUID})
    backend.pacing = type(backend.pacing)(poll_s=0.0, patience_s=60.0)
    # when
    final = mappings.wait_for_state(backend, UUID, progress=False)
    # then
    assert final["StatesSeen"] == ["Creating", "Enabling", "Enabled"]
    backend.assert_all_used()


def test_a_mapping_stuck_in_a_transitional_state_times_out_naming_it():
    # given: no patience at all
    backend = StubBackend("lambda")
    backend.stub("lambda").add_response("get_event_source_mapping", mapping(State="Creating"))
    # when / then
    with pytest.raises(mappings.MappingTimeoutError, match=r"Disabled or Enabled.*Creating"):
        mappings.wait_for_state(backend, UUID, progress=False)


def test_a_mapping_that_disappears_while_waited_for_is_an_error():
    # given
    backend = StubBackend("lambda")
    backend.stub("lambda").add_client_error("get_event_source_mapping",
                                            "ResourceNotFoundException", "not found", 404)
    # when / then
    with pytest.raises(mappings.MappingTimeoutError, match="does not exist"):
        mappings.wait_for_state(backend, UUID, progress=False)


def test_ensure_mapping_refuses_to_change_the_starting_position_of_an_existing_mapping():
    # given: a mapping reading from TRIM_HORIZON
    backend = StubBackend("lambda")
    stub = backend.stub("lambda")
    stub.add_response("list_event_source_mappings", {"EventSourceMappings": [mapping()]})
    stub.add_response("list_event_source_mappings", {"EventSourceMappings": [mapping()]})
    stub.add_response("get_event_source_mapping", mapping())
    # when / then
    with pytest.raises(mappings.MappingSettingError, match="cannot be changed"):
        mappings.ensure_mapping(backend, "f", STREAM, starting_position="LATEST")
    backend.assert_all_used()


def test_ensure_mapping_sends_only_the_settings_that_differ():
    # given: the mapping exists with batch size 100
    backend = StubBackend("lambda")
    stub = backend.stub("lambda")
    stub.add_response("list_event_source_mappings", {"EventSourceMappings": [mapping()]})
    stub.add_response("list_event_source_mappings", {"EventSourceMappings": [mapping()]})
    current = mapping(MaximumBatchingWindowInSeconds=0, ParallelizationFactor=1,
                      MaximumRetryAttempts=-1, MaximumRecordAgeInSeconds=-1,
                      BisectBatchOnFunctionError=False, DestinationConfig={"OnFailure": {}},
                      FunctionResponseTypes=[], FilterCriteria={})
    stub.add_response("get_event_source_mapping", current)
    stub.add_response("update_event_source_mapping", {**current, "State": "Updating"},
                      {"UUID": UUID, "BatchSize": 10})
    stub.add_response("get_event_source_mapping", {**current, "BatchSize": 10})
    # when
    result = mappings.ensure_mapping(backend, "f", STREAM, batch_size=10)
    # then
    assert result["Action"] == "updated"
    assert result["BatchSize"] == 10
    backend.assert_all_used()


def test_deleting_a_mapping_that_does_not_exist_says_so():
    # given
    backend = StubBackend("lambda")
    backend.stub("lambda").add_client_error("delete_event_source_mapping",
                                            "ResourceNotFoundException", "gone", 404)
    # when / then
    assert mappings.delete_mapping(backend, UUID) is False


def test_deleting_a_mapping_waits_until_it_is_gone():
    # given
    backend = StubBackend("lambda")
    stub = backend.stub("lambda")
    stub.add_response("delete_event_source_mapping", mapping(State="Deleting"))
    stub.add_response("get_event_source_mapping", mapping(State="Deleting"))
    stub.add_client_error("get_event_source_mapping", "ResourceNotFoundException", "gone", 404)
    backend.pacing = type(backend.pacing)(poll_s=0.0, patience_s=60.0)
    # when
    deleted = mappings.delete_mapping(backend, UUID)
    # then
    assert deleted is True
    backend.assert_all_used()


def test_the_mapping_table_uses_the_console_labels():
    # given
    settings = mapping(MaximumRetryAttempts=-1, FunctionResponseTypes=["ReportBatchItemFailures"],
                       DestinationConfig={"OnFailure": {"Destination": "arn:aws:sqs:q"}})
    # when
    table = dict(mappings.mapping_table(settings).values.tolist())
    # then
    assert table["Retry attempts"] == "-1 (no limit)"
    assert table["Report batch item failures"] == "True"
    assert table["On-failure destination"] == "arn:aws:sqs:q"
    assert table["Filter criteria"] == "(none)"
