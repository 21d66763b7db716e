"""Fixtures for the unit tests: sample events, Lambda modules loaded by path, fakes.

The folders under ``lambda_src/`` are not packages on ``sys.path`` (Lambda imports
them from the zip root), so their modules are loaded from their files, afresh for
each test.
"""

from __future__ import annotations

import importlib.util
import itertools
import json
import logging
import sys
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest

REPO_ROOT = Path(__file__).resolve().parents[2]
EVENTS_DIR = REPO_ROOT / "tests" / "events"
LAMBDA_SRC_DIR = REPO_ROOT / "lambda_src"

_counter = itertools.count()


def read_event(name: str) -> dict[str, Any]:
    """Load ``tests/events/<name>.json`` (the ``.json`` suffix is optional)."""
    file_name = name if name.endswith(".json") else f"{name}.json"
    return json.loads((EVENTS_DIR / file_name).read_text(encoding="utf-8"))


@pytest.fixture
def load_event() -> Callable[[str], dict[str, Any]]:
    """``load_event("dynamodb_update")`` returns a fresh copy of a sample event."""
    return read_event


@pytest.fixture
def load_lambda_module() -> Iterator[Callable[[str, str], ModuleType]]:
    """``load_lambda_module("replicator", "ddbreplica_lambda")`` imports a handler module by path.

    Each call executes the file again under a unique module name, so module-level state
    (cached clients) never leaks between tests. Whatever the module does to the root
    logger (level, handlers) is undone afterwards.
    """
    root = logging.getLogger()
    level_before = root.level
    handlers_before = list(root.handlers)
    loaded: list[str] = []

    def load(function_dir: str, module_name: str) -> ModuleType:
        path = LAMBDA_SRC_DIR / function_dir / f"{module_name}.py"
        unique_name = f"lambda_src_{function_dir}_{module_name}_{next(_counter)}"
        spec = importlib.util.spec_from_file_location(unique_name, path)
        assert spec is not None and spec.loader is not None, f"cannot load {path}"
        module = importlib.util.module_from_spec(spec)
        sys.modules[unique_name] = module
        loaded.append(unique_name)
        spec.loader.exec_module(module)
        return module

    yield load

    for name in loaded:
        sys.modules.pop(name, None)
    for handler in list(root.handlers):
        if handler not in handlers_before and type(handler) is logging.StreamHandler:
            root.removeHandler(handler)
    root.setLevel(level_before)


@pytest.fixture
def stream_processor(load_lambda_module: Callable[[str, str], ModuleType]) -> ModuleType:
    """``lambda_src/stream_processor/app.py``, freshly imported."""
    return load_lambda_module("stream_processor", "app")


@pytest.fixture
def replicator(load_lambda_module: Callable[[str, str], ModuleType]) -> ModuleType:
    """``lambda_src/replicator/ddbreplica_lambda.py``, freshly imported."""
    return load_lambda_module("replicator", "ddbreplica_lambda")


@pytest.fixture
def sleeps(production: ModuleType, monkeypatch: pytest.MonkeyPatch) -> list[float]:
    """The pauses of the module's ``production`` function, recorded instead of slept."""
    slept: list[float] = []
    monkeypatch.setattr(production, "_sleep", slept.append)
    return slept


@pytest.fixture(autouse=True)
def _no_partial_mode_by_default(monkeypatch: pytest.MonkeyPatch) -> None:
    # A developer's shell must not change what the handlers do under test.
    monkeypatch.delenv("REPORT_BATCH_ITEM_FAILURES", raising=False)
    monkeypatch.delenv("REPLICA_TABLE", raising=False)


@dataclass
class FakeLambdaContext:
    """The parts of Lambda's context object the handlers use."""

    remaining_millis: int = 30_000
    function_name: str = "test-function"
    memory_limit_in_mb: int = 128
    aws_request_id: str = "00000000-0000-0000-0000-000000000000"

    def get_remaining_time_in_millis(self) -> int:
        return self.remaining_millis


@pytest.fixture
def lambda_context() -> FakeLambdaContext:
    """A context with 30 s left, like the seed function's timeout."""
    return FakeLambdaContext()


@pytest.fixture
def make_record() -> Callable[..., dict[str, Any]]:
    """Build one stream record of a Lambda event from DynamoDB-JSON parts.

    ``make_record("INSERT", {"PK": {"S": "k"}}, new_image={...}, sequence_number="...")``;
    images are kept only where ``view_type`` says AWS would send them.
    """

    def make(
        event_name: str,
        keys: dict[str, Any],
        *,
        new_image: dict[str, Any] | None = None,
        old_image: dict[str, Any] | None = None,
        sequence_number: str = "500000000000000000001",
        view_type: str = "NEW_AND_OLD_IMAGES",
    ) -> dict[str, Any]:
        ddb: dict[str, Any] = {"ApproximateCreationDateTime": 1768471200.0, "Keys": keys}
        if new_image is not None and view_type in ("NEW_IMAGE", "NEW_AND_OLD_IMAGES"):
            ddb["NewImage"] = new_image
        if old_image is not None and view_type in ("OLD_IMAGE", "NEW_AND_OLD_IMAGES"):
            ddb["OldImage"] = old_image
        ddb.update(
            {"SequenceNumber": sequence_number, "SizeBytes": 100, "StreamViewType": view_type}
        )
        return {
            "eventID": f"{int(sequence_number):032x}"[-32:],
            "eventName": event_name,
            "eventVersion": "1.1",
            "eventSource": "aws:dynamodb",
            "awsRegion": "us-east-1",
            "dynamodb": ddb,
            "eventSourceARN": (
                "arn:aws:dynamodb:us-east-1:123456789012:table/unit/stream/2026-01-15T10:00:00.000"
            ),
        }

    return make


def sequence_numbers(response: dict[str, Any]) -> list[str]:
    """The ``itemIdentifier`` values of a partial batch response."""
    return [failure["itemIdentifier"] for failure in response["batchItemFailures"]]


@pytest.fixture
def failed_sequence_numbers() -> Callable[[dict[str, Any]], list[str]]:
    """``failed_sequence_numbers(response)`` lists the reported ``itemIdentifier`` values."""
    return sequence_numbers


@pytest.fixture
def state_hooks() -> Iterator[None]:
    """The hooks the durable state relies on: streams on moto's tables, look-up records."""
    from localaws import backends, streams
    from localaws.state import dirty
    from localaws.streams.settings import StreamSettings

    streams.install(StreamSettings())
    dirty.install()
    yield
    backends.reset_gate()
