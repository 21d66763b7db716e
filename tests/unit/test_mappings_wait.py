"""wait_until_reading: probes until a LATEST mapping has processed a batch."""

from __future__ import annotations

import pytest

from helpers import mappings
from helpers.waits import WaitTimeoutError
from tests.unit.stubs import StubBackend

UUID = "6f2c1b1e-8a52-4b3d-9b62-2f0c1d7e4a10"


def _mapping(result: str) -> dict:
    return {"UUID": UUID, "LastProcessingResult": result}


def test_probes_are_written_until_the_mapping_reports_a_processed_batch():
    # given: the mapping has not polled for two probes, then processes one
    backend = StubBackend("lambda")
    lam = backend.stub("lambda")
    for result in ("No records processed", "No records processed", "OK"):
        lam.add_response("get_event_source_mapping", _mapping(result), {"UUID": UUID})
    probes: list[int] = []
    # when
    written = mappings.wait_until_reading(backend, UUID, probes.append, timeout=60)
    # then
    assert written == 3
    assert probes == [1, 2, 3]


def test_a_mapping_that_never_reads_times_out_with_its_last_result():
    # given
    backend = StubBackend("lambda")
    backend.stub("lambda").add_response("get_event_source_mapping",
                                        _mapping("No records processed"), {"UUID": UUID})
    # when
    with pytest.raises(WaitTimeoutError) as error:
        mappings.wait_until_reading(backend, UUID, lambda n: None, timeout=0)
    # then
    assert "No records processed" in str(error.value)
