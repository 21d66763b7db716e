"""A real kernel started ahead (helpers.kernels): warm, with a clean namespace, and shut down."""

from __future__ import annotations

import time

import pytest

from helpers import notebook_runs

pytestmark = pytest.mark.timeout(120)


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
    share = notebook_runs.write_kernelspec()
    monkeypatch.setenv("JUPYTER_PATH", str(share))
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

    share = notebook_runs.write_kernelspec()
    monkeypatch.setenv("JUPYTER_PATH", str(share))
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
