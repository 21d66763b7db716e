"""Kernels forked from one warm parent process, for headless runs of many notebooks.

Every kernel of a headless run imports the same modules before its first cell:
ipykernel and IPython, pandas, boto3, matplotlib, the helpers, and in the tests the
AWS CLI's parser. That is 1.5 to 2.5 s of CPU per kernel, paid again by each of the
ten kernels of ``make workshop``, on a machine whose two cores are the bound.

A :class:`KernelForker` starts one parent process (``python -m helpers.kernel_forks``)
that imports them once and then only forks: each kernel is a child that replaces
its environment, working directory and standard input with what ``jupyter_client``
asked for, starts a session of its own, and runs ``ipykernel`` as
``python -m ipykernel_launcher`` would. :class:`ForkedProvisioner` is the
``jupyter_client`` provisioner that launches kernels this way; the kernel manager,
its channels, its interrupts and its shutdown are ``jupyter_client``'s own.

The parent talks to the runner over a socket pair, one JSON document per line:
the runner asks ``{"id", "argv", "env", "cwd"}``, the parent answers
``{"id", "pid"}`` (or ``{"id", "error"}``) and, when it reaps a kernel,
``{"exit", "code"}``. It exits when the runner closes its end; its kernels then
see their parent gone and exit too (ipykernel's parent poller).
"""

from __future__ import annotations

import atexit
import contextlib
import gc
import json
import os
import selectors
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Mapping, Sequence
from typing import Any

from jupyter_client.provisioning import LocalProvisioner

#: The command a kernelspec must run for its kernels to be forked instead.
LAUNCHER = ("-m", "ipykernel_launcher")
STARTUP_TIMEOUT_S = 60.0
#: The exit status reported for a kernel that outlived its parent: another process reaped it.
LOST_STATUS = -1


class ForkError(RuntimeError):
    """The warm parent could not start or could not fork a kernel (the run's environment)."""


class ForkedProcess:
    """A forked kernel as ``jupyter_client`` sees a :class:`subprocess.Popen`.

    Its exit status comes from the parent that reaps it; signals go to it directly.
    """

    stdin = stdout = stderr = None

    def __init__(self, pid: int) -> None:
        self.pid = pid
        self.returncode: int | None = None
        self._exited = threading.Event()

    def exited(self, code: int) -> None:
        """Record the exit status (called by the forker's reader thread)."""
        self.returncode = code
        self._exited.set()

    def poll(self) -> int | None:
        """The exit status, or ``None`` while the kernel runs."""
        return self.returncode if self._exited.is_set() else None

    def wait(self, timeout: float | None = None) -> int:
        """Wait for the kernel to exit and return its status."""
        if not self._exited.wait(timeout):
            raise subprocess.TimeoutExpired(f"kernel {self.pid}", timeout or 0)
        assert self.returncode is not None
        return self.returncode

    def send_signal(self, signum: int) -> None:
        """Send ``signum`` to the kernel, unless it already exited."""
        if not self._exited.is_set():
            os.kill(self.pid, signum)

    def terminate(self) -> None:
        """``SIGTERM``."""
        self.send_signal(signal.SIGTERM)

    def kill(self) -> None:
        """``SIGKILL``."""
        self.send_signal(signal.SIGKILL)


class KernelForker:
    """The runner's side of one warm parent process.

    Parameters
    ----------
    env : mapping
        The parent's environment: the kernels' (``os.environ`` and the kernelspec's
        ``env``). Modules read parts of it when imported (matplotlib its backend),
        so a forker serves only kernels started with this environment.
    modules : sequence of str
        Imported in the parent, with :func:`helpers.kernels.warm`.
    """

    def __init__(self, env: Mapping[str, str], modules: Sequence[str]) -> None:
        self.env = dict(env)
        ours, theirs = socket.socketpair()
        self._sock = ours
        self._lock = threading.Lock()
        self._next_id = 0
        self._asked: dict[int, list[Any]] = {}
        self._kernels: dict[int, ForkedProcess] = {}
        self._gone = False
        self._process = subprocess.Popen(
            [sys.executable, "-m", "helpers.kernel_forks", str(theirs.fileno()), *modules],
            env=self.env, pass_fds=(theirs.fileno(),), stdin=subprocess.DEVNULL,
            start_new_session=True,
        )
        theirs.close()
        self._ready = threading.Event()
        self._reader = threading.Thread(target=self._read, name="kernel-forks", daemon=True)
        self._reader.start()

    def spawn(self, argv: Sequence[str], env: Mapping[str, str], cwd: str) -> ForkedProcess:
        """Fork a kernel that runs ``argv`` (``python -m ipykernel_launcher ...``).

        Raises
        ------
        ForkError
            The parent is gone, did not get ready in time, or could not fork.
        """
        if not self._ready.wait(STARTUP_TIMEOUT_S) or self._gone:
            raise ForkError("the warm kernel parent is not running")
        answered = threading.Event()
        with self._lock:
            self._next_id += 1
            ask = self._next_id
            self._asked[ask] = [answered, None]
            request = {"id": ask, "argv": list(argv), "env": dict(env), "cwd": str(cwd)}
            try:
                self._sock.sendall(json.dumps(request).encode() + b"\n")  # whole, under the lock
            except OSError as exc:
                del self._asked[ask]
                raise ForkError(f"the warm kernel parent is gone: {exc}") from exc
        if not answered.wait(STARTUP_TIMEOUT_S):
            raise ForkError("the warm kernel parent did not answer")
        answer = self._asked.pop(ask)[1]
        if "process" not in answer:
            raise ForkError(f"the warm kernel parent could not fork: {answer.get('error')}")
        return answer["process"]  # (its exit may already be recorded: a kernel that crashed)

    @property
    def kernels(self) -> int:
        """How many of the kernels it forked have not exited yet."""
        return len(self._kernels)

    @property
    def running(self) -> bool:
        """Whether the parent still serves."""
        return not self._gone and self._process.poll() is None

    def close(self) -> None:
        """Stop the parent (kernels it forked exit when they see it gone)."""
        with contextlib.suppress(OSError):
            self._sock.shutdown(socket.SHUT_RDWR)
        self._sock.close()
        try:
            self._process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self._process.kill()
            self._process.wait()

    def _read(self) -> None:
        buffer = b""
        while True:
            try:
                data = self._sock.recv(65536)
            except OSError:
                data = b""
            if not data:
                break
            buffer += data
            *lines, buffer = buffer.split(b"\n")
            for line in lines:
                self._answer(json.loads(line))
        self._gone = True
        self._ready.set()
        with contextlib.suppress(subprocess.TimeoutExpired):
            self._process.wait(timeout=10)  # reaped here, so that no zombie of it is left
        for asked in list(self._asked.values()):
            asked[1] = {"error": "the parent exited"}
            asked[0].set()
        self._watch_orphans()

    def _answer(self, message: dict[str, Any]) -> None:
        if message.get("ready"):
            self._ready.set()
        elif "exit" in message:
            kernel = self._kernels.pop(message["exit"], None)
            if kernel is not None:
                kernel.exited(message["code"])
        else:
            if "pid" in message:
                message["process"] = self._kernels[message["pid"]] = ForkedProcess(message["pid"])
            asked = self._asked[message["id"]]
            asked[1] = message
            asked[0].set()

    def _watch_orphans(self) -> None:
        """The parent is gone: a kernel's end is seen by its pid disappearing."""
        while self._kernels:
            for pid, kernel in list(self._kernels.items()):
                try:
                    os.kill(pid, 0)
                except ProcessLookupError:
                    kernel.exited(LOST_STATUS)
                    del self._kernels[pid]
            time.sleep(0.1)


class ForkedProvisioner(LocalProvisioner):
    """``jupyter_client``'s local provisioner, launching the kernel as a fork of ``forker``."""

    forker: KernelForker | None = None

    async def launch_kernel(self, cmd: list[str], **kwargs: Any) -> Any:
        """Fork the kernel; a command other than ``python -m ipykernel_launcher`` runs as usual."""
        if self.forker is None or tuple(cmd[1:3]) != LAUNCHER:
            return await super().launch_kernel(cmd, **kwargs)
        env = kwargs.get("env") or dict(os.environ)
        self.cwd = kwargs.get("cwd") or os.getcwd()
        self.process = self.forker.spawn(cmd, env, str(self.cwd))
        self.pid = self.pgid = self.process.pid  # the kernel leads a session of its own
        return self.connection_info


# --------------------------------------------------------------------------- the parent


def _serve(sock: socket.socket, modules: Sequence[str]) -> None:
    """The warm parent: import ``modules``, then fork a kernel per request until EOF."""
    from ipykernel import kernelapp  # noqa: F401  (imported once, for every kernel)

    from helpers.kernels import warm

    warm(modules)
    gc.collect()
    gc.freeze()  # the imported objects stay out of the children's collections: fewer copied pages
    wake_r, wake_w = os.pipe()
    os.set_blocking(wake_w, False)
    signal.set_wakeup_fd(wake_w)
    signal.signal(signal.SIGCHLD, lambda *_: None)
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # the runner decides when this ends
    select = selectors.DefaultSelector()
    select.register(sock, selectors.EVENT_READ)
    select.register(wake_r, selectors.EVENT_READ)
    _send(sock, {"ready": True})
    buffer = b""
    while True:
        for key, _ in select.select():
            if key.fileobj == wake_r:
                os.read(wake_r, 4096)
                continue
            data = sock.recv(65536)
            if not data:
                return
            buffer += data
            *lines, buffer = buffer.split(b"\n")
            for line in lines:
                request = json.loads(line)
                try:
                    pid = os.fork()
                except OSError as exc:
                    _send(sock, {"id": request["id"], "error": str(exc)})
                    continue
                if pid == 0:
                    _kernel(request, (sock.fileno(), wake_r, wake_w))
                _send(sock, {"id": request["id"], "pid": pid})
        _reap(sock)


def _reap(sock: socket.socket) -> None:
    while True:
        try:
            pid, status = os.waitpid(-1, os.WNOHANG)
        except ChildProcessError:
            return
        if pid == 0:
            return
        _send(sock, {"exit": pid, "code": os.waitstatus_to_exitcode(status)})


def _send(sock: socket.socket, message: dict[str, Any]) -> None:
    sock.sendall(json.dumps(message).encode() + b"\n")


def _kernel(request: dict[str, Any], fds: Sequence[int]) -> None:
    """In the child: become the kernel ``request`` asks for; never returns."""
    code = 1
    try:
        signal.set_wakeup_fd(-1)
        signal.signal(signal.SIGCHLD, signal.SIG_DFL)
        signal.signal(signal.SIGINT, signal.default_int_handler)  # the parent ignores it
        for fd in fds:
            os.close(fd)
        os.setsid()
        null = os.open(os.devnull, os.O_RDONLY)
        os.dup2(null, 0)
        os.close(null)
        os.chdir(request["cwd"])
        os.environ.clear()
        os.environ.update(request["env"])
        sys.argv = [request["argv"][0], *request["argv"][3:]]
        from ipykernel.kernelapp import IPKernelApp

        app = IPKernelApp.instance()
        app.parent_handle = os.getppid()  # exit when the warm parent does
        app.initialize(sys.argv[1:])
        app.start()
        code = 0
    except SystemExit as exc:
        code = exc.code if isinstance(exc.code, int) else (0 if exc.code is None else 1)
    except BaseException:  # the kernel's crash: printed, and reported as its exit status
        import traceback

        traceback.print_exc()
    finally:
        atexit._run_exitfuncs()
        for stream in (sys.stdout, sys.stderr):
            with contextlib.suppress(Exception):
                stream.flush()
        os._exit(code)


if __name__ == "__main__":
    if sys.path and sys.path[0] == os.getcwd():
        del sys.path[0]  # as ipykernel_launcher does: the kernels import from PYTHONPATH
    with contextlib.suppress(BrokenPipeError, ConnectionResetError):  # the runner left first
        _serve(socket.socket(fileno=int(sys.argv[1])), sys.argv[2:])
