"""Whether a process runs, from /proc (localaws.processes)."""

from __future__ import annotations

import os
import subprocess
import sys
import time

from localaws.processes import running


def test_a_live_process_runs_and_a_zombie_or_a_reaped_one_does_not():
    # given: a child that has exited but is not reaped yet, and one that still runs
    ended = subprocess.Popen([sys.executable, "-c", "pass"])
    alive = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(30)"])
    try:
        deadline = time.monotonic() + 10
        while running(ended.pid) and time.monotonic() < deadline:
            time.sleep(0.01)  # exited: a zombie until waited for
        # when
        verdicts = (running(os.getpid()), running(alive.pid), running(ended.pid))
        ended.wait()
        reaped = running(ended.pid)
    finally:
        alive.kill()
        alive.wait()
    # then
    assert verdicts == (True, True, False)
    assert reaped is False
