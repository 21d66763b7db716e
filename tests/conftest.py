"""Fixtures shared by every test layer.

Functional tests talk to a real local endpoint, started once per test session
on a free loopback port, with its own state directory; they reach it only
through boto3 clients built by :mod:`helpers.clients`.
"""

from __future__ import annotations

import contextlib
import json
import os
import socket
import sys
import time
import uuid
import warnings
from collections.abc import Iterator
from pathlib import Path

import pytest

from helpers.notebook_runs import without_iri_grammar

without_iri_grammar()  # before any test module imports nbformat (jsonschema)

ROOT = Path(__file__).resolve().parents[1]
EVENTS = Path(__file__).with_name("events")


TIMELINE = ROOT / "build" / "test-timeline.json"
DURATIONS = TIMELINE.with_name("test-durations.json")  # every file's last measured length
# Without a previous run's timeline, a module's rank guesses its length (seconds).
GUESS = {0: float("inf"), 1: 30.0, 2: 5.0, 3: 1.0}


def _rank(item: pytest.Item) -> int:
    """Where a test's module goes in the run: the longest work first."""
    module = item.module.__name__ if getattr(item, "module", None) else ""
    if item.get_closest_marker("notebooks"):
        return 0  # each run of the whole workshop is one long unit of work
    if module.startswith("tests.functional") and item.get_closest_marker("slow"):
        return 1
    if module.startswith("tests.functional"):
        return 2
    return 3


def _measured() -> dict[str, float]:
    """Each file's length (seconds) in the last run that ran it (``build/test-durations.json``)."""
    try:
        return json.loads(DURATIONS.read_text())
    except (OSError, ValueError):
        return {}


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Longest modules first, each module's tests in their own order.

    ``pytest -n N --dist loadfile --no-loadscope-reorder`` (``make test``) hands the
    modules to the workers in this order, so the notebook runs (a few minutes each)
    start at once on workers of their own while the others work through the rest,
    and the last units handed out are short ones. A module's length is what the last
    run measured (``build/test-durations.json``), else a guess from its longest
    test's rank (a module with a slow test goes before one without).
    """
    measured = _measured()
    length: dict[str, float] = {}
    for item in items:
        key = item.nodeid.split("::", 1)[0]
        guess = GUESS[_rank(item)] if key not in measured else measured[key]
        length[key] = max(length.get(key, 0.0), guess)
    items.sort(key=lambda item: -length[item.nodeid.split("::", 1)[0]])  # stable


_spans: dict[str, list[float]] = {}


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_protocol(item: pytest.Item, nextitem: pytest.Item | None):
    """Note when each test file starts and ends on this worker (fixtures included)."""
    start = time.time()
    yield
    span = _spans.setdefault(item.nodeid.split("::", 1)[0], [start, start, 0])
    span[1], span[2] = time.time(), span[2] + 1


def pytest_sessionfinish(session: pytest.Session) -> None:
    """Write ``build/test-timeline.json``: which files each worker ran, and when.

    Each xdist worker writes its own part; the controller (or a run without xdist)
    merges the parts into one document sorted by start time per worker.
    """
    worker = os.environ.get("PYTEST_XDIST_WORKER", "main")
    part = TIMELINE.with_name(f"test-timeline-{worker}.part.json")
    if _spans:
        part.parent.mkdir(parents=True, exist_ok=True)
        part.write_text(json.dumps({path: span for path, span in _spans.items()}))
    if worker != "main":
        return
    timeline: dict[str, list[dict]] = {}
    for piece in sorted(TIMELINE.parent.glob("test-timeline-*.part.json")):
        name = piece.name.removeprefix("test-timeline-").removesuffix(".part.json")
        spans = json.loads(piece.read_text())
        piece.unlink()
        timeline[name] = sorted(
            ({"file": path, "start": start, "end": end, "tests": count}
             for path, (start, end, count) in spans.items()), key=lambda s: s["start"])
    if timeline:
        origin = min(s["start"] for spans in timeline.values() for s in spans)
        for spans in timeline.values():
            for span in spans:
                span["start"] = round(span["start"] - origin, 1)
                span["end"] = round(span["end"] - origin, 1)
        TIMELINE.write_text(json.dumps(timeline, indent=1) + "\n")
        lengths = _measured() | {span["file"]: round(span["end"] - span["start"], 1)
                                 for spans in timeline.values() for span in spans}
        DURATIONS.write_text(json.dumps(dict(sorted(lengths.items())), indent=1) + "\n")


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _measuring_coverage() -> bool:
    coverage = sys.modules.get("coverage")
    return coverage is not None and coverage.Coverage.current() is not None


@pytest.fixture(scope="session", autouse=True)
def endpoint_launcher() -> Iterator[str | None]:
    """One :mod:`localaws.launcher` per test process: endpoints start forked, not from scratch.

    Dozens of tests start endpoints of their own; each would spend about 0.8 s of CPU
    importing and preparing moto. Not under coverage (``make coverage`` measures each
    endpoint started from scratch), nor when ``WORKSHOP_ENDPOINT_LAUNCHER`` is already
    set (to a launcher of the caller's, or to nothing, which turns launching off).
    """
    from localaws import launcher

    if launcher.ENV_LAUNCHER in os.environ or _measuring_coverage():
        yield os.environ.get(launcher.ENV_LAUNCHER) or None
        return
    with contextlib.ExitStack() as stack:
        try:
            socket_path = stack.enter_context(launcher.running())
        except launcher.LauncherError as exc:  # the tests go on, each endpoint from scratch
            warnings.warn(str(exc), RuntimeWarning, stacklevel=1)
            socket_path = None
        yield socket_path


@pytest.fixture(scope="session")
def endpoint(tmp_path_factory: pytest.TempPathFactory,
             endpoint_launcher: str | None) -> Iterator[dict]:
    """A running local endpoint (health document), stopped after the session."""
    from localaws import lifecycle

    port = _free_port()
    state = tmp_path_factory.mktemp("endpoint-state")
    saved = {k: os.environ.get(k) for k in ("WORKSHOP_LOCAL_PORT", "WORKSHOP_STATE_DIR",
                                            "WORKSHOP_BACKEND", "AWS_ENDPOINT_URL")}
    os.environ["WORKSHOP_LOCAL_PORT"] = str(port)
    os.environ["WORKSHOP_STATE_DIR"] = str(state)
    os.environ.pop("WORKSHOP_BACKEND", None)
    os.environ.pop("AWS_ENDPOINT_URL", None)
    status = lifecycle.up(port)
    yield status
    lifecycle.down(port)
    for key, value in saved.items():
        if value is None:
            os.environ.pop(key, None)
        else:
            os.environ[key] = value


@pytest.fixture(scope="session")
def backend(endpoint: dict):
    """The ``local`` backend pointing at the session's endpoint."""
    from helpers.clients import get_backend

    return get_backend("local")


@pytest.fixture
def unique() -> str:
    """A short unique suffix for resource names."""
    return uuid.uuid4().hex[:8]


def load_event(name: str) -> dict:
    """Load ``tests/events/<name>.json``."""
    return json.loads((EVENTS / f"{name}.json").read_text())
