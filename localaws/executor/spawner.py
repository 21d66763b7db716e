"""How an execution environment's worker process is started: from scratch, or forked warm.

A worker started from scratch is ``python bootstrap.py``. A handler that imports
boto3 then spends about 0.3 s of CPU importing it, on every cold start. Under the
default profile (no AWS delays) the :class:`Spawner` forks such workers from a
:mod:`fork server <localaws.executor.forkserver>` that has boto3 imported already;
under the ``aws`` profile every worker starts from scratch, so ``Init Duration``
keeps what importing costs.

A worker is forked only when that cannot change what the handler sees: its module
imports boto3 or botocore itself (``import boto3`` / ``from botocore…`` in the
handler's file), its code does not bring its own copy of either, and its
environment sets no ``PYTHON*`` variable (which a fresh interpreter would read when
it starts). Any other worker, and every worker when the fork server cannot be
reached, starts from scratch.
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import queue
import re
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Protocol

from localaws.processes import running

log = logging.getLogger("localaws.executor")

HERE = Path(__file__).parent
BOOTSTRAP = HERE / "bootstrap.py"
FORKSERVER = HERE / "forkserver.py"
_IMPORTS_SDK = re.compile(rb"^[ \t]*(?:import|from)[ \t]+(?:boto3|botocore)\b", re.MULTILINE)
_SPAWN_TIMEOUT_S = 10.0
_MAX_PACKET = 1 << 20


class WorkerProcess(Protocol):
    """What the environment needs of its worker process (a ``subprocess.Popen`` has it)."""

    pid: int

    def poll(self) -> int | None: ...

    def wait(self, timeout: float | None = None) -> int: ...


def imports_sdk(task_root: Path, handler: str, environment: dict[str, str]) -> bool:
    """True when a worker for this handler may be forked from the fork server.

    Parameters
    ----------
    task_root : Path
        The function's unpacked code.
    handler : str
        ``module.function``; the module's file is read (``module.py`` or
        ``module/__init__.py``).
    environment : dict of str to str
        The function's environment variables.

    Returns
    -------
    bool
        The module imports boto3 or botocore, the code has no ``boto3`` or
        ``botocore`` of its own, and no variable starts with ``PYTHON``.
    """
    if any(name.startswith("PYTHON") for name in environment):
        return False
    if any((task_root / own).exists() for own in ("boto3", "botocore")):
        return False
    module = handler.rpartition(".")[0].replace(".", "/")
    if not module:
        return False
    for candidate in (task_root / f"{module}.py", task_root / module / "__init__.py"):
        try:
            return _IMPORTS_SDK.search(candidate.read_bytes()) is not None
        except OSError:
            continue
    return False


def _with_pipes(start: Callable[[tuple[int, int]], WorkerProcess],
                ) -> tuple[WorkerProcess, int, int]:
    """``start((requests_r, messages_w))`` on two new pipes; our ends with the process."""
    req_r, req_w = os.pipe()
    msg_r, msg_w = os.pipe()
    try:
        process = start((req_r, msg_w))
    except BaseException:
        os.close(req_w)
        os.close(msg_r)
        raise
    finally:
        os.close(req_r)
        os.close(msg_w)
    return process, req_w, msg_r


class ForkedWorker:
    """A worker forked by the fork server: ``poll``/``wait`` as on a ``Popen``.

    The worker is the fork server's child, so its exit status comes from the server.
    """

    def __init__(self, pid: int, server: ForkServer) -> None:
        self.pid = pid
        self.returncode: int | None = None
        self._server = server

    def poll(self) -> int | None:
        """The exit code once the worker has ended, else ``None``."""
        if self.returncode is None:
            self.returncode = self._server.take_exit(self.pid, 0.0)
        return self.returncode

    def wait(self, timeout: float | None = None) -> int:
        """Wait for the worker to end; ``subprocess.TimeoutExpired`` after ``timeout``."""
        if self.returncode is None:
            self.returncode = self._server.take_exit(self.pid, timeout)
        if self.returncode is None:
            raise subprocess.TimeoutExpired(str(FORKSERVER), timeout or 0.0)
        return self.returncode


def _server_env() -> dict[str, str]:
    """The fork server's environment: a minimal one, plus coverage.py's own settings.

    Under ``make coverage`` the endpoint has ``COVERAGE_PROCESS_CONFIG``; passing it on
    lets coverage measure the server (a worker takes on its function's environment).
    """
    env = {"PATH": os.environ.get("PATH", "/usr/bin:/bin"), "LANG": "en_US.UTF-8",
           "TZ": ":UTC", "PYTHONDONTWRITEBYTECODE": "1", "PYTHONNOUSERSITE": "1"}
    env.update((k, v) for k, v in os.environ.items() if k.startswith("COVERAGE_"))
    return env


class ForkServer:
    """The endpoint's side of one fork server process."""

    def __init__(self) -> None:
        ours, theirs = socket.socketpair(socket.AF_UNIX, socket.SOCK_SEQPACKET)
        self._sock = ours
        try:
            self._proc = subprocess.Popen(
                [sys.executable, str(FORKSERVER), str(theirs.fileno())],
                pass_fds=(theirs.fileno(),),
                env=_server_env(),
                cwd="/", stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                stderr=subprocess.DEVNULL, start_new_session=True)
        finally:
            theirs.close()
        self._answers: queue.Queue[dict] = queue.Queue()
        self._exits: dict[int, int] = {}
        self._changed = threading.Condition()
        self._send_lock = threading.Lock()
        self._gone = False
        self._reader = threading.Thread(target=self._read, name="lambda-forkserver",
                                        daemon=True)
        self._reader.start()

    @property
    def alive(self) -> bool:
        """False once the server has exited (or its socket is closed)."""
        return not self._gone

    def spawn(self, env: dict[str, str], cwd: str, fds: tuple[int, int]) -> ForkedWorker:
        """Fork a worker with ``env`` in ``cwd``, handing it the two pipe ends ``fds``.

        Raises
        ------
        OSError
            The server could not be reached or could not fork.
        """
        packet = json.dumps({"env": env, "cwd": cwd}).encode()
        with self._send_lock:
            if self._gone:
                raise OSError("the fork server has exited")
            socket.send_fds(self._sock, [packet], list(fds))
            try:
                answer = self._answers.get(timeout=_SPAWN_TIMEOUT_S)
            except queue.Empty:
                self._abandon()
                raise OSError("the fork server did not answer") from None
        if "pid" not in answer:
            raise OSError(answer.get("error", "the fork server has exited"))
        return ForkedWorker(answer["pid"], self)

    def _abandon(self) -> None:
        """Stop a server that did not answer in time, and any worker it forked late.

        The caller then starts the worker from scratch (on pipes of its own).
        """
        self._proc.kill()
        self._proc.wait()
        self._reader.join(timeout=2)  # it ends at the socket's end of file
        while True:
            try:
                late = self._answers.get_nowait()
            except queue.Empty:
                break
            if "pid" in late:
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(late["pid"], signal.SIGKILL)
        self._gone = True

    def take_exit(self, pid: int, timeout: float | None) -> int | None:
        """A forked worker's exit code, waiting up to ``timeout`` s; ``None`` while it runs.

        The code is handed out once (the worker keeps it).
        """
        def ended() -> bool:
            if pid not in self._exits and self._gone and not running(pid):
                self._exits[pid] = -9  # ended after the server did: its status is lost
            return pid in self._exits

        deadline = None if timeout is None else time.monotonic() + timeout
        with self._changed:
            while not ended():
                left = None if deadline is None else deadline - time.monotonic()
                if left is not None and left <= 0:
                    return None
                # Notified when the server reports an exit; once it is gone, look again
                # every 50 ms (nobody reports any more).
                self._changed.wait(0.05 if self._gone else left)
            return self._exits.pop(pid)

    def close(self) -> None:
        """Stop the server (its workers are killed by their environments)."""
        with contextlib.suppress(OSError):
            self._sock.shutdown(socket.SHUT_RDWR)
        try:
            self._proc.wait(timeout=2)
        except subprocess.TimeoutExpired:
            self._proc.kill()
            self._proc.wait()
        self._sock.close()

    def _read(self) -> None:
        while True:
            try:
                data = self._sock.recv(_MAX_PACKET)
            except OSError:
                data = b""
            if not data:
                break
            message = json.loads(data)
            if "exit" in message:
                with self._changed:
                    self._exits[message["exit"]] = message["code"]
                    self._changed.notify_all()
            else:
                self._answers.put(message)
        with self._changed:
            self._gone = True
            self._changed.notify_all()
        self._answers.put({"error": "the fork server has exited"})


class Spawner:
    """Starts workers: forked from a fork server when allowed, else from scratch.

    Parameters
    ----------
    warm : bool
        Fork workers whose handler imports boto3 (the default profile); False starts
        every worker from scratch (the ``aws`` profile).
    """

    def __init__(self, warm: bool = False) -> None:
        self.warm = warm
        self._server: ForkServer | None = None
        self._lock = threading.Lock()
        self._closed = False

    def start(self, env: dict[str, str], cwd: Path,
              forkable: bool) -> tuple[WorkerProcess, int, int]:
        """Start a worker with a pipe for its requests and one for its messages.

        A worker forked late by a fork server that did not answer in time would share
        the pipes of the worker started from scratch instead: each try has new pipes.

        Returns
        -------
        tuple
            The process, the descriptor to write its requests to, and the one to read
            its messages from.

        Raises
        ------
        OSError
            The worker could not be started at all.
        """
        if self.warm and forkable:
            server = self._fork_server()
            if server is not None:
                try:
                    return _with_pipes(lambda fds: server.spawn(env, str(cwd), fds))
                except OSError as exc:
                    log.warning("fork server unavailable (%s); starting from scratch", exc)
        return _with_pipes(lambda fds: subprocess.Popen(
            [sys.executable, str(BOOTSTRAP), str(fds[0]), str(fds[1])],
            pass_fds=fds, env=env, cwd=str(cwd), stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True))

    def close(self) -> None:
        """Stop the fork server, if one was started."""
        with self._lock:
            self._closed = True
            server, self._server = self._server, None
        if server is not None:
            server.close()

    def _fork_server(self) -> ForkServer | None:
        with self._lock:
            if self._closed:
                return None
            if self._server is None or not self._server.alive:
                if self._server is not None:
                    self._server.close()
                try:
                    self._server = ForkServer()
                except OSError as exc:
                    log.warning("cannot start the fork server: %s", exc)
                    return None
            return self._server
