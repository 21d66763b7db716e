"""A forked kernel as jupyter_client sees it (helpers.kernel_forks.ForkedProcess)."""

from __future__ import annotations

import signal
import subprocess
import threading

import pytest

from helpers import kernel_forks
from helpers.kernel_forks import ForkedProcess


def test_a_running_kernel_polls_none_and_is_signalled(monkeypatch: pytest.MonkeyPatch):
    # given
    sent: list[tuple[int, int]] = []
    monkeypatch.setattr(kernel_forks.os, "kill", lambda pid, signum: sent.append((pid, signum)))
    kernel = ForkedProcess(4242)
    # when
    kernel.terminate()
    kernel.kill()
    kernel.send_signal(signal.SIGINT)
    # then
    assert kernel.poll() is None
    assert sent == [(4242, signal.SIGTERM), (4242, signal.SIGKILL), (4242, signal.SIGINT)]


def test_an_exited_kernel_reports_its_status_and_is_not_signalled(
        monkeypatch: pytest.MonkeyPatch):
    # given: the parent reaped the kernel (its pid may belong to another process now)
    sent: list[tuple[int, int]] = []
    monkeypatch.setattr(kernel_forks.os, "kill", lambda pid, signum: sent.append((pid, signum)))
    kernel = ForkedProcess(4242)
    kernel.exited(-signal.SIGKILL)
    # when
    kernel.kill()
    # then
    assert (kernel.poll(), kernel.wait(timeout=0), kernel.returncode) == (-9, -9, -9)
    assert sent == []


def test_waiting_for_a_running_kernel_times_out_as_popen_does():
    # given
    kernel = ForkedProcess(4242)
    # when / then
    with pytest.raises(subprocess.TimeoutExpired):
        kernel.wait(timeout=0.01)


def test_a_forker_answers_a_fork_and_then_its_exit():
    # given: the reader's view of the parent's messages, without a parent
    forker = object.__new__(kernel_forks.KernelForker)
    forker._asked, forker._kernels = {7: [threading.Event(), None]}, {}
    # when
    forker._answer({"id": 7, "pid": 4242})
    kernel = forker._kernels[4242]
    forker._answer({"exit": 4242, "code": 0})
    # then
    assert forker._asked[7][0].is_set() and forker._asked[7][1]["process"] is kernel
    assert kernel.poll() == 0 and forker._kernels == {}
