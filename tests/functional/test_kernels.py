"""A real kernel started ahead (helpers.kernels): warm, with a clean namespace, and shut down."""

from __future__ import annotations

import time

import pytest

from helpers import notebook_runs

pytestmark = pytest.mark.timeout(120)


@pytest.fixture(autouse=True)
def _kernelspec(monkeypatch: pytest.MonkeyPatch) -> None:
    """The workshop's kernelspec on ``JUPYTER_PATH``, as a headless run sets it."""
    monkeypatch.setenv("JUPYTER_PATH", str(notebook_runs.write_kernelspec()))


def _ask(kernel, code: str) -> tuple[str, int]:
    client = kernel.client()
    client.start_channels()
    try:
        client.wait_for_ready(timeout=60)
        printed: list[str] = []
        reply = client.execute_interactive(
            code, timeout=60, output_hook=lambda message: printed.append(
                message["content"].get("text", "")) if message["msg_type"] == "stream" else None)
        return "".join(printed).strip(), reply["content"]["execution_count"]
    finally:
        client.stop_channels()


def test_a_kernel_started_ahead_has_the_imports_but_no_names_and_is_shut_down_after_use(
        monkeypatch: pytest.MonkeyPatch):
    # given
    with notebook_runs.kernel_queue() as queue:
        queue.prepare()
        # when
        kernel = queue.take()
        assert kernel is not None
        seen, count = _ask(kernel, "print('pandas' in __import__('sys').modules, 'pandas' in dir(),"
                                   " __import__('os').getcwd())")
        queue.release(kernel)
    # then
    assert seen == f"True False {notebook_runs.NOTEBOOKS_DIR}"
    assert count == 1  # the warm-up was not counted: the notebook's first cell is [1]
    assert not kernel.is_alive()


def test_headless_kernels_take_their_channels_on_unix_sockets_not_on_chosen_ports(
        monkeypatch: pytest.MonkeyPatch):
    # given: a kernel started ahead, and one of the kind papermill starts in a headless run
    import asyncio

    import psutil

    from helpers.kernels import IpcKernelManager

    channels = ("shell", "iopub", "stdin", "control", "hb")
    with notebook_runs.kernel_queue() as queue:
        queue.prepare()
        ahead = queue.take()
        papermills = IpcKernelManager(kernel_name=notebook_runs.KERNEL_NAME)
        asyncio.run(papermills.start_kernel())
        try:
            # when
            _ask(ahead, "print(1)")
            found = []
            for kernel in (ahead, papermills):
                info = kernel.get_connection_info()
                wanted = {f"{info['ip']}-{info[f'{name}_port']}" for name in channels}
                process = psutil.Process(kernel.provisioner.process.pid)
                deadline = time.monotonic() + 60  # papermill's kernel may still be starting
                while not wanted <= (bound := {c.laddr for c in process.net_connections("unix")}):
                    if time.monotonic() > deadline:
                        break
                    time.sleep(0.1)
                found.append((info["transport"], wanted <= bound))
        finally:
            queue.release(ahead)
            asyncio.run(papermills.shutdown_kernel(now=True))
    # then: each kernel's five channels are socket files it bound, not ports chosen for it
    assert found == [("ipc", True), ("ipc", True)]


def _spec_env() -> dict[str, str]:
    """The workshop kernelspec's ``env``, as a kernel manager reads it."""
    from jupyter_client.kernelspec import KernelSpecManager

    return KernelSpecManager().get_kernel_spec(notebook_runs.KERNEL_NAME).env


def _parent_of(pid: int) -> int:
    import psutil

    return psutil.Process(pid).ppid()


def test_a_kernel_started_ahead_is_forked_from_the_warm_parent_in_a_session_of_its_own(
        monkeypatch: pytest.MonkeyPatch):
    # given
    from helpers import kernels

    monkeypatch.setenv("WORKSHOP_TEST_MARK", "forked")
    with notebook_runs.kernel_queue() as queue:
        queue.prepare()
        # when
        kernel = queue.take()
        assert kernel is not None
        pid = kernel.provisioner.process.pid
        parent = kernels.forker(_spec_env())
        seen, _ = _ask(kernel, "import os, sys; print(os.getsid(0) == os.getpid(),"
                               " os.environ['WORKSHOP_TEST_MARK'], 'boto3' in sys.modules)")
        ppid = _parent_of(pid)
        queue.release(kernel)
    # then: a child of the parent, with the environment asked for, reaped with status 0
    assert type(kernel.provisioner).__name__ == "ForkedProvisioner"
    assert ppid == parent._process.pid
    assert seen == "True forked True"
    assert not kernel.is_alive()


def test_a_forked_kernel_is_interrupted_as_a_started_one_is(monkeypatch: pytest.MonkeyPatch):
    # given: a forked kernel busy in a cell
    with notebook_runs.kernel_queue() as queue:
        queue.prepare()
        kernel = queue.take()
        client = kernel.client()
        client.start_channels()
        try:
            client.wait_for_ready(timeout=60)
            asked = client.execute("import time; time.sleep(60)")
            time.sleep(0.5)
            # when
            kernel.interrupt_kernel()
            reply = client.get_shell_msg(timeout=30)
        finally:
            client.stop_channels()
            queue.release(kernel)
    # then
    assert reply["parent_header"]["msg_id"] == asked
    assert (reply["content"]["status"], reply["content"]["ename"]) == ("error", "KeyboardInterrupt")


def test_a_changed_environment_gets_a_new_warm_parent_and_the_old_one_stops_after_its_kernels(
        monkeypatch: pytest.MonkeyPatch):
    # given: a kernel forked by the first parent, still in use
    from helpers import kernels

    with notebook_runs.kernel_queue() as queue:
        queue.prepare()
        kernel = queue.take()
        first = kernels.forker(_spec_env())
        # when: the environment changes while it runs
        monkeypatch.setenv("WORKSHOP_TEST_MARK", "changed")
        second = kernels.forker(_spec_env())
        still, _ = _ask(kernel, "print('still here')")
        first_ran_on = first.running
        queue.release(kernel)
    kernels.forker(_spec_env())  # the first has no kernel left now
    # then
    assert second is not first and second.env["WORKSHOP_TEST_MARK"] == "changed"
    assert (still, first_ran_on) == ("still here", True)
    assert first._process.wait(timeout=10) == 0


def test_a_kernel_whose_warm_parent_dies_exits_and_is_seen_to_exit(
        monkeypatch: pytest.MonkeyPatch):
    # given: a forked kernel
    import signal

    import psutil

    from helpers import kernel_forks, kernels

    monkeypatch.setenv("WORKSHOP_TEST_MARK", "orphaned")  # a parent of this test's own
    with notebook_runs.kernel_queue() as queue:
        queue.prepare()
        kernel = queue.take()
        _ask(kernel, "print(1)")
        # when: the parent is killed
        kernels.forker(_spec_env())._process.send_signal(signal.SIGKILL)
        code = kernel.provisioner.process.wait(timeout=30)
        queue.release(kernel)
    zombies = [child.pid for child in psutil.Process().children()
               if child.status() == psutil.STATUS_ZOMBIE]
    # then: ipykernel's parent poller ended the kernel, the runner saw it go, and the
    # dead parent was reaped (a zombie child breaks the next test that lists children)
    assert code == kernel_forks.LOST_STATUS
    assert zombies == []
    assert not kernel.is_alive()


def test_fork_kernels_off_starts_each_kernel_as_a_process_of_its_own(
        monkeypatch: pytest.MonkeyPatch):
    # given
    import os

    monkeypatch.setenv("WORKSHOP_FORK_KERNELS", "0")
    with notebook_runs.kernel_queue() as queue:
        queue.prepare()
        # when
        kernel = queue.take()
        ppid = _parent_of(kernel.provisioner.process.pid)
        queue.release(kernel)
    # then
    assert type(kernel.provisioner).__name__ == "LocalProvisioner"
    assert ppid == os.getpid()
