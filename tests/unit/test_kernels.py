"""Kernels started ahead (helpers.kernels) through their seam: the start of a real kernel is
replaced by a fake that records what happens to it."""

from __future__ import annotations

from pathlib import Path

import pytest

from helpers import kernels


class FakeKernel:
    """Stands for a started, warmed kernel."""

    def __init__(self) -> None:
        self.closed = 0

    def close(self) -> None:
        self.closed += 1


@pytest.fixture
def started(monkeypatch: pytest.MonkeyPatch) -> list[FakeKernel]:
    """Every kernel the queue starts, in order."""
    made: list[FakeKernel] = []

    def start(self: kernels.KernelQueue) -> FakeKernel:
        made.append(FakeKernel())
        return made[-1]

    monkeypatch.setattr(kernels.KernelQueue, "_start_warm", start)
    return made


def test_the_kernel_started_ahead_is_the_one_taken(started: list[FakeKernel], tmp_path: Path):
    # given
    with kernels.KernelQueue("python3", tmp_path) as queue:
        queue.prepare()
        queue.prepare()  # one kernel ahead, not two
        # when
        taken = queue.take()
        # then
        assert taken is started[0] and len(started) == 1
        assert queue.take() is None  # nothing more was prepared
        queue.release(taken)
    assert started[0].closed == 1


def test_a_kernel_started_before_the_environment_changed_is_not_used(
        started: list[FakeKernel], tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    # given
    with kernels.KernelQueue("python3", tmp_path) as queue:
        queue.prepare()
        monkeypatch.setenv("WORKSHOP_TEST_VARIABLE", "set after the kernel started")
        # when
        taken = queue.take()
        # then
        assert taken is None
    assert started[0].closed == 1  # shut down, not leaked


def test_a_kernel_that_failed_to_start_leaves_the_start_to_papermill(
        monkeypatch: pytest.MonkeyPatch, tmp_path: Path):
    # given
    def fail(self: kernels.KernelQueue) -> None:
        raise RuntimeError("Kernel died before replying to kernel_info")

    monkeypatch.setattr(kernels.KernelQueue, "_start_warm", fail)
    with kernels.KernelQueue("python3", tmp_path) as queue:
        queue.prepare()
        # when / then
        assert queue.take() is None


def test_closing_the_queue_shuts_down_the_kernel_no_notebook_took(
        started: list[FakeKernel], tmp_path: Path):
    # given
    queue = kernels.KernelQueue("python3", tmp_path)
    queue.prepare()
    # when
    queue.close()
    # then
    assert [k.closed for k in started] == [1]


def test_the_warm_up_imports_without_binding_a_name():
    # given
    namespace: dict = {}
    # when
    exec(kernels.warm_code(("json", "email.message")), namespace)
    # then
    import sys

    assert "email.message" in sys.modules
    assert set(namespace) == {"__builtins__"}


@pytest.mark.parametrize(("check", "parsed"), [("1", ["aws sts get-caller-identity"]), (None, [])])
def test_the_warm_up_builds_the_cli_parser_only_when_the_tests_check_cli_lines(
        monkeypatch: pytest.MonkeyPatch, check, parsed):
    # given
    from helpers import cli_requests

    lines: list[str] = []
    monkeypatch.setattr(cli_requests, "sent_by_cli", lambda line, **_: lines.append(line))
    if check is None:
        monkeypatch.delenv(cli_requests.ENV_CHECK, raising=False)
    else:
        monkeypatch.setenv(cli_requests.ENV_CHECK, check)
    # when
    kernels.warm(("json",))
    # then
    assert lines == parsed
