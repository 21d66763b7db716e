"""``python -m helpers.local`` is kept for older notes: it runs the endpoint's own command line."""

from __future__ import annotations

import runpy
import sys

import pytest


def test_the_old_module_name_runs_the_endpoints_command_line(monkeypatch, capsys):
    # given
    monkeypatch.setattr(sys, "argv", ["python -m helpers.local", "--help"])
    # when
    with pytest.raises(SystemExit) as stopped:
        runpy.run_module("helpers.local", run_name="__main__", alter_sys=False)
    # then
    assert stopped.value.code == 0
    usage = capsys.readouterr().out
    assert usage.startswith("usage: python -m localaws")
    assert "{up,down,status,reset,serve}" in usage


def test_a_bad_command_through_the_old_name_is_refused_as_localaws_refuses_it(monkeypatch,
                                                                               capsys):
    # given
    monkeypatch.setattr(sys, "argv", ["python -m helpers.local", "start"])
    # when
    with pytest.raises(SystemExit) as stopped:
        runpy.run_module("helpers.local", run_name="__main__", alter_sys=False)
    # then
    assert stopped.value.code == 2
    assert "invalid choice: 'start'" in capsys.readouterr().err
