"""The endpoints compared by ``make bench-peers``: ours, MiniStack and plain moto.

Each one runs as its own process on a free loopback port and is stopped (with its
process group: MiniStack's function workers included) when the run ends.

* **ours**: ``python -m localaws serve`` (through :func:`localaws.lifecycle.up`),
  with a throw-away state directory.
* **MiniStack**: the ``ministack`` command from its own virtualenv
  (``.venv-peers/ministack``, made by ``make bench-peers``; never ``.venv``). Its
  Lambda functions run without Docker: a ``python*`` runtime with
  ``LAMBDA_EXECUTOR=local`` (the default) runs the handler in a warm worker
  subprocess of MiniStack's own interpreter, which is why that virtualenv also
  holds boto3 (AWS's runtime ships it; MiniStack's interpreter does not).
* **moto**: plain ``moto.server`` 5.2.5 from our own ``.venv`` (the same pin as the
  endpoint, without any of our patches or providers). It cannot run functions
  without Docker, so the scenarios that need a function say "n/a" for it.
"""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from benchmarks.harness import free_port

ROOT = Path(__file__).resolve().parents[1]
PEERS_DIR = ROOT / ".venv-peers"
MINISTACK_BIN = PEERS_DIR / "ministack" / "bin" / "ministack"
START_TIMEOUT_S = 60.0


class RivalStartError(RuntimeError):
    """A rival endpoint did not start (our side: the benchmark's set-up)."""


@dataclass
class Rival:
    """One running endpoint.

    Parameters
    ----------
    name : str
        ``"ours"``, ``"ministack"`` or ``"moto"``.
    url : str
        ``http://127.0.0.1:<port>``.
    reset_path : str
        The path that wipes all state with a POST.
    runs_functions : bool
        Whether the endpoint can run Lambda functions without Docker.
    pid : int
        The server process (its RSS is reported).
    """

    name: str
    url: str
    reset_path: str
    runs_functions: bool
    pid: int
    _stop: Any = field(default=None, repr=False)

    def reset(self) -> None:
        """POST the rival's reset path (raises on an HTTP error)."""
        request = urllib.request.Request(self.url + self.reset_path, data=b"", method="POST")
        with urllib.request.urlopen(request, timeout=120) as response:
            response.read()

    def rss_mb(self) -> float:
        """Resident memory of the server process and its children, in MB."""
        import psutil

        try:
            proc = psutil.Process(self.pid)
            procs = [proc, *proc.children(recursive=True)]
            return round(sum(p.memory_info().rss for p in procs) / 2**20, 1)
        except psutil.Error:
            return 0.0

    def stop(self) -> None:
        """Stop the endpoint and everything it started."""
        if self._stop is not None:
            self._stop()
            self._stop = None


def _wait_listening(port: int, proc: subprocess.Popen[bytes] | None, log: Path) -> None:
    deadline = time.monotonic() + START_TIMEOUT_S
    while time.monotonic() < deadline:
        with socket.socket() as sock:
            if sock.connect_ex(("127.0.0.1", port)) == 0:
                return
        if proc is not None and proc.poll() is not None:
            break
        time.sleep(0.1)
    tail = log.read_text(errors="replace")[-2000:] if log.exists() else ""
    raise RivalStartError(f"nothing listening on port {port} after start; log {log}:\n{tail}")


def _stop_group(proc: subprocess.Popen[bytes]) -> None:
    with contextlib.suppress(ProcessLookupError):
        os.killpg(proc.pid, signal.SIGTERM)
    try:
        proc.wait(timeout=15)
    except subprocess.TimeoutExpired:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, signal.SIGKILL)
        proc.wait(timeout=5)


def _spawn(command: list[str], env: dict[str, str], log: Path) -> subprocess.Popen[bytes]:
    with open(log, "ab") as out:
        return subprocess.Popen(command, stdin=subprocess.DEVNULL, stdout=out,
                                stderr=subprocess.STDOUT, env=env, cwd=str(ROOT),
                                start_new_session=True)


def start_ours(workdir: Path) -> Rival:
    """Our endpoint on a free port, with its own state directory."""
    from localaws import lifecycle, paths

    port = free_port()
    state = str(workdir / "ours-state")
    with paths.using_state_dir(state):
        status = lifecycle.up(port)

    def stop() -> None:
        with paths.using_state_dir(state):  # its pid file and admin token are there
            lifecycle.down(port)

    return Rival("ours", status["url"], "/moto-api/reset", True, status["pid"], stop)


def start_ministack(workdir: Path) -> Rival:
    """MiniStack from ``.venv-peers/ministack`` on a free port (functions run locally)."""
    if not MINISTACK_BIN.exists():
        raise RivalStartError(f"{MINISTACK_BIN} is missing: run `make bench-peers`, which "
                              "installs MiniStack into its own virtualenv")
    port = free_port()
    env = dict(os.environ)
    env.update({"GATEWAY_PORT": str(port), "BIND_HOST": "127.0.0.1", "LOG_LEVEL": "WARNING",
                "LAMBDA_EXECUTOR": "local", "TMPDIR": str(workdir),
                "S3_DATA_DIR": str(workdir / "ministack-s3")})
    for key in ("AWS_ENDPOINT_URL", "PYTHONPATH", "VIRTUAL_ENV"):
        env.pop(key, None)
    log = workdir / "ministack.log"
    proc = _spawn([str(MINISTACK_BIN)], env, log)
    _wait_listening(port, proc, log)
    return Rival("ministack", f"http://127.0.0.1:{port}", "/_ministack/reset", True, proc.pid,
                 lambda: _stop_group(proc))


def start_moto(workdir: Path) -> Rival:
    """Plain ``moto.server`` (same pin as ours, from ``.venv``) on a free port."""
    port = free_port()
    env = dict(os.environ)
    for key in ("MOTO_IAM_LOAD_MANAGED_POLICIES", "AWS_ENDPOINT_URL"):
        env.pop(key, None)
    log = workdir / "moto.log"
    proc = _spawn([sys.executable, "-m", "moto.server", "-H", "127.0.0.1", "-p", str(port)],
                  env, log)
    _wait_listening(port, proc, log)
    return Rival("moto", f"http://127.0.0.1:{port}", "/moto-api/reset", False, proc.pid,
                 lambda: _stop_group(proc))


STARTERS = {"ours": start_ours, "ministack": start_ministack, "moto": start_moto}


@contextlib.contextmanager
def running(names: list[str]) -> Any:
    """Start the named rivals (in order); yield ``{name: Rival}``; stop them all."""
    workdir = Path(tempfile.mkdtemp(prefix="bench-peers-"))
    rivals: dict[str, Rival] = {}
    try:
        for name in names:
            rivals[name] = STARTERS[name](workdir)
            print(f"  {name}: {rivals[name].url} (pid {rivals[name].pid})", flush=True)
        yield rivals
    finally:
        for rival in rivals.values():
            rival.stop()
