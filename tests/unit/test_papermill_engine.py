"""The headless runs' papermill engine (helpers.papermill_engine): fewer saves, the last kept."""

from __future__ import annotations

from datetime import datetime, timedelta
from pathlib import Path

import nbformat
import papermill.engines
import pytest

from helpers.papermill_engine import ENGINE_NAME, SAVE_EVERY_S, SparingSaves, WorkshopEngine


def test_saves_are_spaced_out_and_the_end_of_a_run_always_saves(
        monkeypatch: pytest.MonkeyPatch, tmp_path: Path):
    # given: a clock we move, and every write of the executed copy recorded
    clock = [datetime(2026, 12, 7, 12, 0, 0)]
    monkeypatch.setattr(SparingSaves, "now", lambda self: clock[0])
    written: list[float] = []
    monkeypatch.setattr(papermill.engines, "write_ipynb",
                        lambda nb, path: written.append((clock[0] - start).total_seconds()))
    start = clock[0]
    nb = nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell("1")])
    nb.metadata.papermill = {}  # papermill.execute_notebook prepares it so
    manager = SparingSaves(nb, output_path=str(tmp_path / "out.ipynb"), progress_bar=False)
    # when: a start, saves 1 s and SAVE_EVERY_S + 1 s later, then the end
    manager.notebook_start()
    for seconds in (1.0, SAVE_EVERY_S + 1.0):
        clock[0] = start + timedelta(seconds=seconds)
        manager.save()
    clock[0] = start + timedelta(seconds=SAVE_EVERY_S + 1.5)
    manager.notebook_complete()
    # then: one save in between, and the final one half a second after it
    assert written == [SAVE_EVERY_S + 1.0, SAVE_EVERY_S + 1.5]


def test_the_engine_is_registered_with_papermill():
    # when / then
    assert papermill.engines.papermill_engines.get_engine(ENGINE_NAME) is WorkshopEngine
