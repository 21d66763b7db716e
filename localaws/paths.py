"""Where the local endpoint keeps its files: pid and log files, unpacked code, saved state.

The saved state (tables, functions, mappings, queues, ...) of the endpoint on a
port lives in ``<state dir>/state/<port>/`` unless ``--state-dir`` says otherwise.
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Iterator
from pathlib import Path

ENV_STATE_DIR = "WORKSHOP_STATE_DIR"
ENV_PORT = "WORKSHOP_LOCAL_PORT"
DEFAULT_PORT = 4566


class PortConfigError(ValueError):
    """``WORKSHOP_LOCAL_PORT`` is not a port number (the caller's fault)."""


def default_port() -> int:
    """The endpoint's port: ``WORKSHOP_LOCAL_PORT`` or 4566."""
    raw = os.environ.get(ENV_PORT, str(DEFAULT_PORT))
    try:
        return int(raw)
    except ValueError:
        raise PortConfigError(
            f"{ENV_PORT}={raw!r} is not a port number: set it to e.g. 4566") from None


def project_root() -> Path:
    """The checkout's root (the folder holding ``pyproject.toml``)."""
    return Path(__file__).resolve().parents[1]


def python_path(existing: str | None = None) -> str:
    """``PYTHONPATH`` for a process of the endpoint: the checkout first, then ``existing``."""
    return os.pathsep.join(p for p in (str(project_root()), existing or "") if p)


def state_dir() -> Path:
    """The state directory: ``WORKSHOP_STATE_DIR`` or ``<checkout>/.workshop`` (gitignored)."""
    configured = os.environ.get(ENV_STATE_DIR)
    if configured:
        path = Path(configured)
    elif (project_root() / "pyproject.toml").exists():
        path = project_root() / ".workshop"
    else:
        path = Path.home() / ".cache" / "ddb-streams-workshop"
    path.mkdir(parents=True, exist_ok=True)
    return path


@contextlib.contextmanager
def using_state_dir(path: str | os.PathLike[str]) -> Iterator[None]:
    """``WORKSHOP_STATE_DIR`` set to ``path`` for the block, then as it was.

    An endpoint started in the block keeps its pid file and admin token in ``path``;
    stop it inside such a block too, or :func:`localaws.lifecycle.down` cannot find it.
    """
    saved = os.environ.get(ENV_STATE_DIR)
    os.environ[ENV_STATE_DIR] = str(path)
    try:
        yield
    finally:
        if saved is None:
            os.environ.pop(ENV_STATE_DIR, None)
        else:
            os.environ[ENV_STATE_DIR] = saved


def pid_file(port: int) -> Path:
    """PID file of the endpoint on ``port``."""
    return state_dir() / f"endpoint-{port}.pid"


def log_file(port: int) -> Path:
    """Log file of the endpoint on ``port``."""
    return state_dir() / f"endpoint-{port}.log"


def saved_state_dir(port: int) -> Path:
    """Default directory of the saved state of the endpoint on ``port``."""
    return state_dir() / "state" / str(port)


def directory_size(directory: Path) -> int:
    """Bytes used by the files under ``directory`` (0 when it does not exist)."""
    if not directory.exists():
        return 0
    return sum(p.stat().st_size for p in directory.rglob("*") if p.is_file())


def token_file(port: int) -> Path:
    """Admin token of the endpoint on ``port`` (for ``/_workshop/*``), mode 0600."""
    return state_dir() / f"endpoint-{port}.token"
