"""A learner stops the endpoint halfway through the workshop and goes on after `up`.

Runs notebooks 00-03 headlessly against an endpoint with a state directory, stops it
cleanly, starts it again on the same state and runs 04 and 05, as a learner would
after a reboot. Each notebook checks its prerequisites (``workshop.require``) and
what its prose claims, so a state that came back incomplete fails a cell.
"""

from __future__ import annotations

import os
import socket
import subprocess
import sys
from pathlib import Path

import pytest

from localaws import lifecycle

pytestmark = [pytest.mark.slow, pytest.mark.wall_clock]

REPO = Path(__file__).resolve().parents[2]


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _run(port: int, out: Path, *notebooks: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "WORKSHOP_LOCAL_PORT": str(port)}
    env.pop("WORKSHOP_BACKEND", None)
    env.pop("AWS_ENDPOINT_URL", None)
    return subprocess.run(
        [sys.executable, "-m", "helpers.workshop", "run", "--out", str(out), "--no-html",
         "--only", *notebooks],
        cwd=REPO, env=env, capture_output=True, text=True, timeout=600)


def test_a_learner_goes_on_with_04_after_restarting_the_endpoint(tmp_path):
    # given: 00-03 done, then a clean stop
    port, state = _free_port(), tmp_path / "state"
    lifecycle.up(port, state_dir=state)
    try:
        first = _run(port, tmp_path / "first", "00_setup", "01_lambda_function",
                     "02_trigger", "03_test_processing")
    finally:
        lifecycle.down(port)
    assert first.returncode == 0, first.stdout[-3000:] + first.stderr[-3000:]

    # when: the endpoint starts again on the same state, and the learner goes on
    lifecycle.up(port, state_dir=state)
    try:
        later = _run(port, tmp_path / "later", "04_replication_logfile",
                     "05_failures_and_destinations")
    finally:
        lifecycle.down(port)

    # then: 04 and 05 find what 00-03 made, and run through
    assert later.returncode == 0, later.stdout[-3000:] + later.stderr[-3000:]
    assert (tmp_path / "later" / "04_replication_logfile.ipynb").exists()
    assert "replica_matches=True" in later.stdout
