"""Where the local endpoint keeps its state (pid and log files, unpacked code, checkpoints)."""

from __future__ import annotations

import os
from pathlib import Path

ENV_STATE_DIR = "WORKSHOP_STATE_DIR"


def project_root() -> Path:
    """The checkout's root (the folder holding ``pyproject.toml``)."""
    return Path(__file__).resolve().parents[2]


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


def pid_file(port: int) -> Path:
    """PID file of the endpoint on ``port``."""
    return state_dir() / f"endpoint-{port}.pid"


def log_file(port: int) -> Path:
    """Log file of the endpoint on ``port``."""
    return state_dir() / f"endpoint-{port}.log"
