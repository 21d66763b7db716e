"""Kernels started one notebook ahead, for headless runs of several notebooks in a row.

A fresh kernel takes about 0.7 s to answer, its first cell about 1 s to import
pandas, boto3, matplotlib and the helpers, and a graceful shutdown up to half a
second more: a few seconds per notebook in which the run does nothing else. A
:class:`KernelQueue` starts the kernel of the next notebook while the current one
runs, imports those modules in it (silently: no output, no execution count, no
name left in the notebook's namespace; in the tests, the AWS CLI's parser too), and
shuts used kernels down in the background. The notebook still runs every one of
its cells in a kernel of its own.

Each kernel started ahead is forked from one warm parent process that has those
modules imported already (:mod:`helpers.kernel_forks`): a kernel is then ready and
warm after 0.15-0.2 s of CPU instead of 1.7-2 s (the parent pays those once).
``WORKSHOP_FORK_KERNELS=0`` starts each one as a process of its own instead.

A kernel started ahead is used only if the process environment is still the one
it was started with (a test that sets a variable between two notebooks gets a new
kernel); otherwise it is shut down and a new one started as papermill would.

Headless kernels talk to their runner over Unix sockets, not TCP ports
(:class:`IpcKernelManager`, and papermill's kernels through
:mod:`helpers.papermill_engine`). A TCP kernel's five ports are chosen free by the
runner and bound by the kernel a second later; on a machine where tests start
endpoints on free ports at the same time, another process can take one in between,
and the kernel dies with ``Address already in use``.
"""

from __future__ import annotations

import atexit
import functools
import importlib
import os
import shutil
import tempfile
import threading
import uuid
from collections.abc import Mapping, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from pathlib import Path
from typing import Any

from jupyter_client.connect import ConnectionFileMixin
from jupyter_client.manager import AsyncKernelManager, KernelManager
from traitlets import default

# Imported in a kernel started ahead: what the notebooks' first cells import.
WARM_MODULES = (
    "pandas",
    "boto3",
    "matplotlib.pyplot",
    "helpers.calls",
    "helpers.display",
    "helpers.plots",
    "helpers.workshop",
)
STARTUP_TIMEOUT_S = 60.0
#: Set to ``0`` to start every kernel as a process of its own instead of a fork of a warm parent.
ENV_FORK = "WORKSHOP_FORK_KERNELS"
_forker_lock = threading.Lock()
_forker: Any = None  # the warm parent in use (helpers.kernel_forks.KernelForker)
_retired: list[Any] = []  # earlier parents, stopped once their last kernel has exited


@functools.cache
def _socket_folder() -> Path:
    """This process's folder of kernel sockets, removed when the process exits."""
    folder = Path(tempfile.mkdtemp(prefix="workshop-kernels-"))
    atexit.register(shutil.rmtree, folder, True)
    return folder


def _socket_prefix() -> str:
    """A new path prefix for one kernel's five Unix sockets (``<prefix>-1`` ... ``-5``)."""
    return str(_socket_folder() / uuid.uuid4().hex[:12])


class _UnixSockets(ConnectionFileMixin):
    """Mixed into a kernel manager: its kernel's channels are Unix sockets, not TCP ports."""

    @default("transport")
    def _default_transport(self) -> str:
        return "ipc"

    @default("ip")
    def _default_ip(self) -> str:
        return _socket_prefix()


class IpcKernelManager(_UnixSockets, AsyncKernelManager):
    """papermill's kernel manager (nbclient's default), over Unix sockets instead of ports."""


class TrackedKernelManager(_UnixSockets, KernelManager):
    """A kernel manager over Unix sockets that remembers its clients, to close their channels."""

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.made_clients: list[Any] = []

    def client(self, **kwargs: Any) -> Any:
        """A client of this kernel, as :meth:`KernelManager.client`, remembered."""
        made = super().client(**kwargs)
        self.made_clients.append(made)
        return made

    def close(self) -> None:
        """Stop every client's channels and shut the kernel down (gracefully)."""
        for made in self.made_clients:
            made.stop_channels()
        self.made_clients.clear()
        if self.has_kernel:
            self.shutdown_kernel(now=False)


def warm(modules: Sequence[str] = WARM_MODULES) -> None:
    """Import ``modules``; with the tests' CLI-line check on, build the AWS CLI's parser too.

    Run in a kernel started ahead (:func:`warm_code`). The check
    (``helpers.cli_requests.ENV_CHECK``) parses every shown CLI line with the AWS CLI,
    whose driver and command table take most of a second to build.
    """
    for name in modules:
        importlib.import_module(name)
    from helpers import cli_requests

    if os.environ.get(cli_requests.ENV_CHECK) == "1":
        cli_requests.sent_by_cli("aws sts get-caller-identity", region="us-east-1")


def warm_code(modules: Sequence[str] = WARM_MODULES) -> str:
    """The code run silently in a kernel started ahead: :func:`warm`, binding no name.

    >>> warm_code(("json",))
    "__import__('helpers.kernels', fromlist=['warm']).warm(('json',))"
    """
    return f"__import__('helpers.kernels', fromlist=['warm']).warm({tuple(modules)!r})"


def forker(spec_env: Mapping[str, str], modules: Sequence[str] = WARM_MODULES) -> Any:
    """The warm parent that forks this environment's kernels, started on first use.

    ``spec_env`` is the kernelspec's ``env``, which the kernels get on top of
    ``os.environ``.

    One parent serves every kernel queue of the process. When the environment has
    changed since it started (a test set a variable), a new one is started; the old
    one is stopped once none of its kernels runs (its kernels would exit with it).
    Returns ``None`` when ``WORKSHOP_FORK_KERNELS=0``.
    """
    if os.environ.get(ENV_FORK, "1") == "0":
        return None
    from helpers.kernel_forks import KernelForker

    global _forker
    env = {**os.environ, **spec_env}
    with _forker_lock:
        if _forker is not None and (_forker.env != env or not _forker.running):
            _retired.append(_forker)
            _forker = None
        for old in [old for old in _retired if not old.kernels]:
            _retired.remove(old)
            old.close()
        if _forker is None:
            _forker = KernelForker(env, modules)
        return _forker


@atexit.register
def _close_forkers() -> None:
    global _forker
    with _forker_lock:
        for parent in [_forker, *_retired]:
            if parent is not None:
                parent.close()
        _forker = None
        _retired.clear()


class KernelQueue:
    """Kernels for notebooks run one after another, each started during the one before.

    Parameters
    ----------
    kernel_name : str
        The kernelspec to start (it must be findable on ``JUPYTER_PATH`` when a
        kernel starts).
    cwd : Path
        The kernels' working directory (papermill's ``cwd``).
    modules : sequence of str
        Imported silently in each kernel started ahead.
    """

    def __init__(self, kernel_name: str, cwd: Path, modules: Sequence[str] = WARM_MODULES) -> None:
        self.kernel_name = kernel_name
        self.cwd = cwd
        self.modules = tuple(modules)
        self._pool = ThreadPoolExecutor(max_workers=2, thread_name_prefix="kernels")
        self._ahead: tuple[dict[str, str], Future[TrackedKernelManager]] | None = None
        self._closing: list[Future[None]] = []
        self._lock = threading.Lock()

    def prepare(self) -> None:
        """Start (in the background) the kernel the next :meth:`take` returns."""
        with self._lock:
            if self._ahead is None:
                self._ahead = (dict(os.environ), self._pool.submit(self._start_warm))

    def take(self) -> TrackedKernelManager | None:
        """The kernel started ahead, ready and warm; ``None`` if there is none to use.

        ``None`` means: no kernel was prepared, it failed to start, or the
        environment changed since it started. papermill then starts its own.
        """
        with self._lock:
            ahead, self._ahead = self._ahead, None
        if ahead is None:
            return None
        environ, started = ahead
        try:
            kernel = started.result()
        except Exception:  # the run goes on with a kernel papermill starts itself
            return None
        if environ != dict(os.environ):
            self.release(kernel)
            return None
        return kernel

    def release(self, kernel: TrackedKernelManager | None) -> None:
        """Shut a used kernel down in the background."""
        if kernel is not None:
            self._closing.append(self._pool.submit(kernel.close))

    def close(self) -> None:
        """Shut down the kernel started ahead, if any, and wait for every shutdown."""
        self.release(self.take())
        for closing in self._closing:
            closing.exception()  # a failed shutdown leaves nothing to do
        self._closing.clear()
        self._pool.shutdown(wait=True)

    def __enter__(self) -> KernelQueue:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def _start_warm(self) -> TrackedKernelManager:
        kernel = TrackedKernelManager(kernel_name=self.kernel_name)
        parent = forker(kernel.kernel_spec.env, self.modules)
        if parent is not None:
            from helpers.kernel_forks import ForkedProvisioner

            kernel.kernel_id = str(uuid.uuid4())
            kernel.provisioner = ForkedProvisioner(
                kernel_id=kernel.kernel_id, kernel_spec=kernel.kernel_spec, parent=kernel)
            kernel.provisioner.forker = parent
        kernel.start_kernel(cwd=str(self.cwd))
        client = kernel.client()
        try:
            client.start_channels()
            client.wait_for_ready(timeout=STARTUP_TIMEOUT_S)
            reply = client.execute_interactive(
                warm_code(self.modules), silent=True, store_history=False,
                timeout=STARTUP_TIMEOUT_S, output_hook=lambda message: None,
            )
            if reply["content"]["status"] != "ok":
                raise RuntimeError(f"warming the kernel failed: {reply['content']}")
        except BaseException:
            kernel.close()
            raise
        client.stop_channels()
        kernel.made_clients.remove(client)
        return kernel
