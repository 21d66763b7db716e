"""A fork server: a process with boto3 already imported that forks execution environments.

Run as a script by :mod:`localaws.executor.spawner`, never imported by the endpoint.
Importing boto3 takes a Python process about 0.3 s of CPU, and most handlers import
it at module level, so every cold start of such a function paid it again. This
process imports boto3 (and the modules a first client needs) once; each worker it
forks starts with them in memory, sets its environment, then runs ``bootstrap.py``'s
runtime exactly as a worker started from scratch does.

Protocol, on the ``SOCK_SEQPACKET`` Unix socket whose descriptor is ``argv[1]``
(one JSON message per packet):

* parent -> server ``{"env": {...}, "cwd": str}`` with the worker's two pipe ends
  (requests to read, messages to write) attached as ``SCM_RIGHTS``;
* server -> parent ``{"pid": int}`` (or ``{"error": str}``) in answer, in order;
* server -> parent ``{"exit": pid, "code": int}`` when a worker ends (``code`` as
  :attr:`subprocess.Popen.returncode`: the exit status, or minus the signal).

The server exits when the parent closes the socket.
"""

from __future__ import annotations

import contextlib
import gc
import importlib.util
import json
import os
import select
import signal
import socket
import sys
import time

_BOOTSTRAP = os.path.join(os.path.dirname(os.path.abspath(__file__)), "bootstrap.py")
# Loaded under a name no handler module can have ("bootstrap" may be the learner's own).
_spec = importlib.util.spec_from_file_location("_localaws_bootstrap", _BOOTSTRAP)
bootstrap = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(bootstrap)

_MAX_PACKET = 1 << 20


def _preload() -> None:
    """Import boto3 and build one throwaway client, so lazily imported modules are loaded."""
    import boto3

    session = boto3.session.Session(aws_access_key_id="preload",
                                    aws_secret_access_key="preload",
                                    region_name="us-east-1")
    session.client("sts", endpoint_url="http://127.0.0.1:9")
    del session
    gc.collect()
    gc.freeze()  # forked workers then leave these objects' pages shared


def _reap(sock: socket.socket) -> None:
    while True:
        try:
            pid, status = os.waitpid(-1, os.WNOHANG)
        except ChildProcessError:
            return
        if pid == 0:
            return
        code = os.waitstatus_to_exitcode(status)
        with contextlib.suppress(OSError):  # the parent has gone: keep reaping
            sock.send(json.dumps({"exit": pid, "code": code}).encode())


def _child(sock: socket.socket, wakeup: tuple[int, int], request: dict,
           fds: list[int]) -> tuple[int, int]:
    """In the forked worker: leave the server's state, take on the worker's."""
    signal.set_wakeup_fd(-1)
    signal.signal(signal.SIGCHLD, signal.SIG_DFL)
    sock.close()
    for fd in wakeup:
        os.close(fd)
    os.setsid()
    os.environ.clear()
    os.environ.update(request["env"])
    time.tzset()
    os.chdir(request["cwd"])
    return fds[0], fds[1]


def serve(control_fd: int) -> tuple[int, int] | None:
    """Fork workers on request until the parent goes away.

    Returns
    -------
    tuple of int or None
        In a forked worker, its request and message descriptors (the caller then
        runs the runtime); in the server itself, ``None`` once the parent has gone.
    """
    sock = socket.socket(fileno=control_fd)
    wake_r, wake_w = os.pipe()
    os.set_blocking(wake_w, False)
    signal.set_wakeup_fd(wake_w)
    signal.signal(signal.SIGCHLD, lambda *_: None)
    while True:
        ready, _, _ = select.select([sock, wake_r], [], [])
        if wake_r in ready:
            os.read(wake_r, 4096)
            _reap(sock)
        if sock not in ready:
            continue
        data, fds, _, _ = socket.recv_fds(sock, _MAX_PACKET, 2)
        if not data:
            return None
        try:
            request = json.loads(data)
            pid = os.fork()
        except (OSError, ValueError) as exc:
            for fd in fds:
                os.close(fd)
            sock.send(json.dumps({"error": str(exc)}).encode())
            continue
        if pid == 0:
            return _child(sock, (wake_r, wake_w), request, fds)
        for fd in fds:
            os.close(fd)
        sock.send(json.dumps({"pid": pid}).encode())


if __name__ == "__main__":
    _preload()
    worker = serve(int(sys.argv[1]))
    if worker is not None:  # a forked worker: run the runtime, then exit as a script does
        sys.argv = [_BOOTSTRAP, str(worker[0]), str(worker[1])]
        bootstrap.main()
