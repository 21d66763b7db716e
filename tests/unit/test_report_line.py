"""The REPORT line's Billed Duration (AWS bills INIT for ZIP functions since 2025-08-01)."""

from __future__ import annotations

import pytest

from localaws.executor.pool import billed_duration_ms


@pytest.mark.parametrize(
    ("duration", "init", "billed"),
    [(0.2, None, 1), (1.0, None, 1), (1.01, None, 2), (12.34, 40.5, 53), (0.4, 0.5, 1),
     (100.0, 250.0, 350)],
    ids=["warm_rounds_up_to_1", "warm_exact", "warm_rounds_up", "cold_adds_init",
         "cold_tiny", "cold_exact"],
)
def test_billed_duration_is_the_ceiling_of_init_plus_duration(duration, init, billed):
    # given a REPORT line's Duration and, for a cold start, its Init Duration
    # when
    result = billed_duration_ms(duration, init)
    # then
    assert result == billed
