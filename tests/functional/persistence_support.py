"""An endpoint of its own for restart tests: started, stopped, killed and started again."""

from __future__ import annotations

import os
import signal
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from localaws import lifecycle


@dataclass
class Restartable:
    """One endpoint on ``port`` whose state lives in ``state_dir``."""

    port: int
    state_dir: Path
    pid: int | None = None
    starts: list[float] = field(default_factory=list)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def up(self) -> dict[str, Any]:
        began = time.monotonic()
        status = lifecycle.up(self.port, state_dir=self.state_dir)
        self.starts.append(time.monotonic() - began)
        self.pid = status["pid"]
        return status

    def down(self) -> None:
        lifecycle.down(self.port)
        self.pid = None

    def kill(self) -> float:
        """SIGKILL the endpoint; returns the wall-clock time of the kill."""
        assert self.pid is not None
        at = time.time()
        os.kill(self.pid, signal.SIGKILL)
        deadline = time.monotonic() + 10
        while lifecycle.port_in_use(self.port) and time.monotonic() < deadline:
            time.sleep(0.05)
        self.pid = None
        return at

    def backend(self) -> Any:
        from helpers.clients import get_backend

        return get_backend("endpoint", endpoint_url=self.url)

    def health(self) -> dict[str, Any] | None:
        return lifecycle.health(self.port)
