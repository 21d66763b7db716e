"""A real kernel started ahead (helpers.kernels): warm, with a clean namespace, and shut down."""

from __future__ import annotations

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
