"""Fixtures shared by the functional tests."""

from __future__ import annotations

import pytest

from tests.functional.support import DESTINATIONS, make_role


@pytest.fixture(scope="module")
def role(backend, request: pytest.FixtureRequest) -> str:
    """An execution role for the module's functions: stream reads, table writes, and
    sending to an on-failure destination (SQS or SNS)."""
    module = request.module.__name__.rsplit(".", 1)[-1].removeprefix("test_")
    return make_role(backend, f"{module.replace('_', '-')}-tests-role", extra=DESTINATIONS)
