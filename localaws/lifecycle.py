"""Start, stop and inspect the local endpoint running in the background.

The endpoint runs as ``python -m localaws serve --port N`` in its own process
session (forked by :mod:`localaws.launcher` when ``WORKSHOP_ENDPOINT_LAUNCHER`` names
one), writing its pid and log to the state directory (see :mod:`localaws.paths`).
Nothing here imports moto, so these functions are cheap to call from notebooks and
the client factory.
"""

from __future__ import annotations

import json
import os
import signal
import socket
import time
import urllib.error
import urllib.request
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from localaws import launcher
from localaws.paths import log_file, pid_file, project_root, python_path
from localaws.processes import running

HEALTH_PATH = "/_workshop/health"
START_TIMEOUT_S = 60.0


class EndpointStartError(RuntimeError):
    """The endpoint could not be started (see its log file)."""


def admin_request(port: int, path: str, method: str = "GET",
                  timeout: float = 2.0) -> dict[str, Any]:
    """Call an admin route (``/_workshop/...``) with the token from the state directory.

    Raises
    ------
    urllib.error.URLError, OSError, ValueError
        Nothing answers, the token is refused, or the answer is not JSON.
    """
    from localaws.gate import ADMIN_HEADER, read_admin_token

    request = urllib.request.Request(f"http://127.0.0.1:{port}{path}", method=method,
                                     headers={ADMIN_HEADER: read_admin_token(port) or ""})
    with urllib.request.urlopen(request, timeout=timeout) as response:
        return json.loads(response.read())


def health(port: int, timeout: float = 2.0) -> dict[str, Any] | None:
    """The endpoint's health document, or ``None`` when nothing healthy answers."""
    try:
        return admin_request(port, HEALTH_PATH, timeout=timeout)
    except (urllib.error.URLError, OSError, ValueError):
        return None


def port_in_use(port: int) -> bool:
    """True when something listens on 127.0.0.1:``port``."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.settimeout(0.5)
        return sock.connect_ex(("127.0.0.1", port)) == 0


def serve_arguments(port: int, state_dir: str | os.PathLike[str] | None = None,
                    ephemeral: bool = False, allow_hosts: tuple[str, ...] = (),
                    allow_origins: tuple[str, ...] = ()) -> list[str]:
    """The ``serve`` command line for a port, a state choice and the gate's extras."""
    args = ["serve", "--port", str(port)]
    if ephemeral:
        args.append("--ephemeral")
    elif state_dir is not None:
        args += ["--state-dir", str(state_dir)]
    args += [f"--allow-host={h}" for h in allow_hosts]
    args += [f"--allow-origin={o}" for o in allow_origins]
    return args


def up(port: int, *, state_dir: str | os.PathLike[str] | None = None,
       ephemeral: bool = False, env: dict[str, str] | None = None,
       allow_hosts: tuple[str, ...] = (), allow_origins: tuple[str, ...] = ()) -> dict[str, Any]:
    """Start the endpoint in the background if it is not running; wait until healthy.

    Parameters
    ----------
    port : int
        TCP port on 127.0.0.1.
    state_dir : path, optional
        Where the state is saved (default ``.workshop/state/<port>/``).
    ephemeral : bool
        Keep no state: everything is gone when the endpoint stops.
    env : dict, optional
        Extra environment for the ``serve`` process (e.g. the
        ``WORKSHOP_LOCAL_SHARD_LIFETIME``-style settings given as flags).
    allow_hosts, allow_origins : tuple of str
        Passed on as ``--allow-host`` and ``--allow-origin``.

    An endpoint already running on ``port`` is returned as it is, whatever its
    state directory and settings (``status`` shows them).

    Returns
    -------
    dict
        The health document (``url``, ``pid``, ...).

    Raises
    ------
    EndpointStartError
        The port is taken by something else, or the endpoint did not become healthy.
    """
    status = health(port)
    if status is not None:
        return status
    return start(port, state_dir=state_dir, ephemeral=ephemeral, env=env,
                 allow_hosts=allow_hosts, allow_origins=allow_origins).wait()


@dataclass
class Starting:
    """An endpoint process that :func:`start` launched, not yet known to be healthy."""

    port: int
    proc: Any  # subprocess.Popen, or the launcher's handle with the same poll()
    log_path: Path
    log_start: int

    def wait(self, timeout: float = START_TIMEOUT_S) -> dict[str, Any]:
        """Wait until the endpoint answers its health route.

        Returns
        -------
        dict
            The health document.

        Raises
        ------
        EndpointStartError
            The process exited, or did not answer within ``timeout`` seconds; the
            message quotes what it wrote to its log.
        """
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            status = health(self.port, timeout=1.0)
            if status is not None:
                return status
            if self.proc.poll() is not None:
                break
            time.sleep(0.05)
        written = _read_from(self.log_path, self.log_start)
        refusal = [line[len("error: "):] for line in written.splitlines()
                   if line.startswith("error: ")]
        if refusal and self.proc.poll() is not None:
            raise EndpointStartError("\n".join(refusal))
        raise EndpointStartError(
            f"the local endpoint did not start on port {self.port}; log {self.log_path}:\n"
            f"{written[-2000:]}")


def start(port: int, *, state_dir: str | os.PathLike[str] | None = None,
          ephemeral: bool = False, env: dict[str, str] | None = None,
          allow_hosts: tuple[str, ...] = (),
          allow_origins: tuple[str, ...] = ()) -> Starting:
    """Launch the endpoint in the background and return at once, before it is healthy.

    The parameters are :func:`up`'s. Call :meth:`Starting.wait` before the first
    request; meanwhile the caller can get on with its own start-up (the notebook
    runner imports papermill and starts its kernels).

    Raises
    ------
    EndpointStartError
        Something else listens on ``port``.
    """
    if port_in_use(port):
        raise EndpointStartError(
            f"port {port} is in use by another program: stop it or choose another port "
            f"(--port, or WORKSHOP_LOCAL_PORT)")
    log_path = log_file(port)
    log_start = log_path.stat().st_size if log_path.exists() else 0
    env = {**os.environ, **(env or {})}
    env["PYTHONPATH"] = python_path(env.get("PYTHONPATH"))
    proc = launcher.start_endpoint(
        serve_arguments(port, state_dir, ephemeral, allow_hosts, allow_origins),
        env, project_root(), log_path)
    pid_file(port).write_text(str(proc.pid))
    return Starting(port, proc, log_path, log_start)


def _read_from(path: Any, offset: int) -> str:
    try:
        with open(path, "rb") as f:
            f.seek(offset)
            return f.read().decode(errors="replace")
    except OSError:
        return ""


def ensure_running(port: int) -> dict[str, Any]:
    """Alias of :func:`up`, for callers that only need it to be there."""
    return up(port)


def down(port: int, timeout: float = 15.0) -> bool:
    """Stop the endpoint on ``port`` and wait until the port is free.

    Returns
    -------
    bool
        True if an endpoint was stopped.
    """
    status = health(port)
    pid = status["pid"] if status else _read_pid(port)
    if pid is None:
        return False
    try:
        os.kill(pid, signal.SIGTERM)
    except ProcessLookupError:
        pid_file(port).unlink(missing_ok=True)
        return False
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline and (running(pid) or port_in_use(port)):
        time.sleep(0.1)
    if running(pid):
        os.kill(pid, signal.SIGKILL)
        time.sleep(0.2)
    pid_file(port).unlink(missing_ok=True)
    return True


def _read_pid(port: int) -> int | None:
    try:
        return int(pid_file(port).read_text().strip())
    except (OSError, ValueError):
        return None
