"""A launcher: one process with the endpoint's modules imported, forking endpoints.

An endpoint started as ``python -m localaws serve`` spends about 0.8 s of CPU before
it serves: 0.6 s importing moto, botocore, werkzeug and the endpoint, 0.2 s preparing
moto (:func:`localaws.moto_setup.prepare`). A test suite that starts dozens of
endpoints (fresh state, restarts, crash tests) pays that every time.
``python -m localaws.launcher SOCKET`` pays it once, then forks one endpoint per
request. Each forked endpoint takes its own command line, environment, working
directory and log file, becomes a session leader, and runs ``python -m localaws``'s
``main`` to the end as a process started from scratch does.

:func:`localaws.lifecycle.up` asks the launcher whose socket ``WORKSHOP_ENDPOINT_LAUNCHER``
names. Without that variable, or when the launcher cannot serve a request (it is not
there, it runs another interpreter, the request sets other ``PYTHON*`` variables), it
starts ``python -m localaws`` itself, as before. :func:`running` starts a launcher
for the length of a ``with`` block (``tests/conftest.py`` keeps one per test worker).

Protocol, on a Unix stream socket, one connection per endpoint: the client sends one
JSON line ``{"argv": [...], "env": {...}, "cwd": str, "log": str, "executable": str}``;
the launcher answers ``{"pid": int}`` or ``{"error": str}`` and closes. It reaps the
endpoints it forked as they end, and exits when the process that started it closes
its standard input.
"""

from __future__ import annotations

import contextlib
import json
import os
import select
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
import warnings
from collections.abc import Iterator, Mapping, Sequence
from pathlib import Path
from typing import Any

from localaws.processes import running as running_process

ENV_LAUNCHER = "WORKSHOP_ENDPOINT_LAUNCHER"
ANSWER_TIMEOUT_S = 10.0  # a client waits this long for its answer, then starts from scratch
READ_TIMEOUT_S = 2.0  # the launcher waits this long for a whole request
MAX_REQUEST = 1 << 20
# The interpreter reads PYTHON* variables when it starts: a launcher started with other
# values would give its endpoints the wrong ones. The forked endpoint applies this one
# itself (bytecode writing), so it may differ.
_REAPPLIED = ("PYTHONDONTWRITEBYTECODE",)


class LauncherError(RuntimeError):
    """The launcher could not fork the endpoint (the caller starts it from scratch)."""


# --------------------------------------------------------------------------- the launcher


def _preload() -> None:
    """Import everything an endpoint imports before it serves, and prepare moto."""
    import waitress.server  # noqa: F401

    import localaws.__main__
    import localaws.server  # noqa: F401
    from localaws import alarms, moto_setup, profile, state, streams  # noqa: F401
    from localaws.esm import service  # noqa: F401
    from localaws.executor import pool  # noqa: F401
    from localaws.lambda_api import LambdaApi  # noqa: F401
    from localaws.streams import settings, ttl  # noqa: F401

    moto_setup.prepare()
    if threading.active_count() != 1:  # a fork copies only the forking thread
        raise LauncherError(f"{threading.active_count()} threads after the imports")


def _refusal(request: Any) -> str | None:
    """Why this launcher cannot start the endpoint ``request`` describes, if it cannot."""
    if not (isinstance(request, dict) and isinstance(request.get("env"), dict)
            and isinstance(request.get("argv"), list)):
        return "a request is a JSON object with an argv list and an env object"
    if request.get("executable") != sys.executable:
        return f"the launcher runs {sys.executable}, not {request.get('executable')}"
    env = request["env"]
    names = {n for n in (*env, *os.environ) if n.startswith("PYTHON") and n not in _REAPPLIED}
    for name in sorted(names):
        theirs, ours = env.get(name) or "", os.environ.get(name) or ""
        if name == "PYTHONPATH":  # the same folders, each once, make the same sys.path
            theirs, ours = _folders(theirs), _folders(ours)
        if theirs != ours:
            return f"{name} differs from the launcher's"
    return None


def _folders(path: str) -> tuple[str, ...]:
    return tuple(dict.fromkeys(os.path.abspath(p) for p in path.split(os.pathsep) if p))


def _reap() -> None:
    with contextlib.suppress(ChildProcessError):
        while os.waitpid(-1, os.WNOHANG)[0]:
            pass


def _become(request: Mapping[str, Any], log: int, keep_closed: Sequence[Any]) -> None:
    """In the forked child: leave the launcher's state and take on the endpoint's."""
    signal.set_wakeup_fd(-1)
    signal.signal(signal.SIGCHLD, signal.SIG_DFL)
    for thing in keep_closed:
        thing.close() if hasattr(thing, "close") else os.close(thing)
    os.setsid()
    null = os.open(os.devnull, os.O_RDONLY)
    for fd, target in ((null, 0), (log, 1), (log, 2)):
        os.dup2(fd, target)
    os.close(null)
    os.close(log)
    os.chdir(request["cwd"])
    os.environ.clear()
    os.environ.update(request["env"])
    time.tzset()
    sys.dont_write_bytecode = bool(os.environ.get("PYTHONDONTWRITEBYTECODE"))
    from moto.moto_api._internal import mock_random

    mock_random.seed()  # its own sequence, as a new process draws (random reseeds itself)


def serve(listener: socket.socket, owner: int = 0) -> dict[str, Any] | None:
    """Fork an endpoint for each request until the owner closes ``owner`` (stdin).

    Returns
    -------
    dict or None
        In a forked endpoint, its request (the caller then runs it); in the launcher,
        ``None`` once the owner has gone.
    """
    wake_r, wake_w = os.pipe()
    os.set_blocking(wake_w, False)
    signal.set_wakeup_fd(wake_w)
    signal.signal(signal.SIGCHLD, lambda *_: None)
    while True:
        ready, _, _ = select.select([listener, owner, wake_r], [], [])
        if wake_r in ready:
            os.read(wake_r, 4096)
            _reap()
        if owner in ready and not os.read(owner, 4096):
            return None
        if listener not in ready:
            continue
        conn, _ = listener.accept()
        with conn:
            log = -1
            try:
                request = json.loads(_read_line(conn, time.monotonic() + READ_TIMEOUT_S))
                refusal = _refusal(request)
                if not refusal:  # opened here: a log that cannot be written is refused
                    log = os.open(request["log"], os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
                if not refusal and _hung_up(conn):  # it gave up waiting and started its own
                    refusal = "the client has gone"
                pid = -1 if refusal else os.fork()
            except Exception as exc:  # a bad request is refused; the launcher goes on
                refusal = f"{type(exc).__name__}: {exc}"
            if not refusal and pid == 0:
                _become(request, log, (listener, conn, wake_r, wake_w))
                return request
            if log >= 0:
                os.close(log)
            with contextlib.suppress(OSError):
                answer = {"error": refusal} if refusal else {"pid": pid}
                conn.sendall(json.dumps(answer).encode() + b"\n")


def _read_line(sock: socket.socket, deadline: float) -> bytes:
    """One newline-terminated message, read by ``deadline`` (no file object holds the socket).

    Raises
    ------
    TimeoutError, ValueError
        The message is not complete by the deadline, or longer than ``MAX_REQUEST``.
    """
    data = b""
    while not data.endswith(b"\n"):
        sock.settimeout(max(0.001, deadline - time.monotonic()))
        piece = sock.recv(65536)
        if not piece:
            break
        data += piece
        if len(data) > MAX_REQUEST:
            raise ValueError(f"a request longer than {MAX_REQUEST} bytes")
    return data


def _hung_up(sock: socket.socket) -> bool:
    poller = select.poll()
    poller.register(sock, select.POLLRDHUP | select.POLLHUP)
    return bool(poller.poll(0))


def _run(request: Mapping[str, Any]) -> int:
    """Run ``python -m localaws`` with the request's arguments, in this (forked) process."""
    from localaws.__main__ import __file__ as main_file
    from localaws.__main__ import main

    sys.argv = [main_file, *request["argv"]]
    return main(list(request["argv"]))


def main(argv: Sequence[str] | None = None) -> int:
    """``python -m localaws.launcher SOCKET``: serve on ``SOCKET`` until stdin closes."""
    args = list(sys.argv[1:] if argv is None else argv)
    if len(args) != 1:
        print("usage: python -m localaws.launcher SOCKET", file=sys.stderr)
        return 2
    listener = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    listener.bind(args[0] + ".binding")
    listener.listen(64)  # requests made while preloading wait in the backlog
    os.rename(args[0] + ".binding", args[0])  # the path appears once it is listened on
    _preload()
    request = serve(listener)
    if request is None:
        return 0
    return _run(request)


# --------------------------------------------------------------------------- clients


class LaunchedProcess:
    """An endpoint the launcher forked: a :class:`subprocess.Popen`'s ``pid`` and ``poll``.

    The launcher is its parent and reaps it; ``poll`` can tell that it has ended,
    not its exit status (it answers ``-1``).
    """

    def __init__(self, pid: int) -> None:
        self.pid = pid

    def poll(self) -> int | None:
        """``None`` while the process lives, ``-1`` once it has ended (a zombie has ended)."""
        return None if running_process(self.pid) else -1


def launch(socket_path: str, argv: Sequence[str], env: Mapping[str, str],
           cwd: str | os.PathLike[str], log: str | os.PathLike[str]) -> LaunchedProcess:
    """Ask the launcher on ``socket_path`` to fork ``python -m localaws *argv``.

    Raises
    ------
    LauncherError
        Nothing answers, or the launcher refuses (the reason is in the message).
    """
    request = {"argv": list(argv), "env": dict(env), "cwd": os.path.abspath(cwd),
               "log": os.path.abspath(log), "executable": sys.executable}
    try:
        with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as sock:
            deadline = time.monotonic() + ANSWER_TIMEOUT_S
            sock.settimeout(ANSWER_TIMEOUT_S)
            sock.connect(socket_path)
            sock.sendall(json.dumps(request).encode() + b"\n")
            answer = json.loads(_read_line(sock, deadline) or b"{}")
    except (OSError, ValueError) as exc:
        raise LauncherError(f"no answer from the launcher at {socket_path}: {exc}") from exc
    if "pid" not in answer:
        raise LauncherError(answer.get("error", f"unexpected answer {answer!r}"))
    return LaunchedProcess(int(answer["pid"]))


def start_endpoint(argv: Sequence[str], env: Mapping[str, str], cwd: str | os.PathLike[str],
                   log: str | os.PathLike[str]) -> Any:
    """Start ``python -m localaws *argv``: forked by the launcher if one is set, else from scratch.

    Returns
    -------
    LaunchedProcess or subprocess.Popen
        Either has ``pid`` and ``poll()``.
    """
    socket_path = env.get(ENV_LAUNCHER)
    if socket_path:
        try:
            return launch(socket_path, argv, env, cwd, log)
        except LauncherError as exc:
            warnings.warn(f"the endpoint launcher did not fork the endpoint ({exc}); "
                          f"starting it from scratch", RuntimeWarning, stacklevel=2)
    with open(log, "ab") as out:
        return subprocess.Popen([sys.executable, "-m", "localaws", *argv],
                                stdin=subprocess.DEVNULL, stdout=out, stderr=subprocess.STDOUT,
                                cwd=str(cwd), env=dict(env), start_new_session=True)


@contextlib.contextmanager
def running(env: Mapping[str, str] | None = None) -> Iterator[str]:
    """Run a launcher for the length of the block and name it in ``WORKSHOP_ENDPOINT_LAUNCHER``.

    Parameters
    ----------
    env : mapping, optional
        The launcher's environment (default: this process's), with the project on
        ``PYTHONPATH`` as :func:`localaws.lifecycle.up` gives its endpoints.

    Raises
    ------
    LauncherError
        The launcher did not start listening within 10 s.

    Yields
    ------
    str
        The launcher's socket path. Endpoints started in the block with this
        process's environment are forked by it; those it already forked keep running
        after the block, as endpoints started from scratch do.
    """
    from localaws.paths import project_root, python_path

    env = dict(os.environ if env is None else env)
    env["PYTHONPATH"] = python_path(env.get("PYTHONPATH"))
    folder = Path(tempfile.mkdtemp(prefix="localaws-launcher-"))
    socket_path = str(folder / "socket")
    proc = subprocess.Popen([sys.executable, "-m", "localaws.launcher", socket_path],
                            stdin=subprocess.PIPE, cwd=str(project_root()), env=env)
    deadline = time.monotonic() + 10.0
    while not os.path.exists(socket_path) and proc.poll() is None and time.monotonic() < deadline:
        time.sleep(0.01)  # listening at once; requests then wait in its backlog while it preloads
    if not os.path.exists(socket_path):
        proc.kill()
        proc.wait()
        folder.rmdir()
        raise LauncherError(f"the launcher did not start (exit status {proc.returncode})")
    saved = os.environ.get(ENV_LAUNCHER)
    os.environ[ENV_LAUNCHER] = socket_path
    try:
        yield socket_path
    finally:
        if saved is None:
            os.environ.pop(ENV_LAUNCHER, None)
        else:
            os.environ[ENV_LAUNCHER] = saved
        proc.stdin.close()
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
        for leftover in (socket_path, socket_path + ".binding"):
            with contextlib.suppress(OSError):
                os.unlink(leftover)
        with contextlib.suppress(OSError):
            folder.rmdir()


if __name__ == "__main__":
    sys.exit(main())
