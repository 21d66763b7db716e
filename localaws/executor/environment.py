"""One execution environment: a warm worker process running a function's handler.

The worker runs ``bootstrap.py``'s runtime in a process of its own (started by a
:class:`~localaws.executor.spawner.Spawner`: from scratch, or forked warm), so a
crashing, hanging or memory-hungry handler never takes the endpoint down. The
environment enforces the function's timeout (the worker is killed and the
environment recycled, as AWS does) and its memory size (the resident set size is
watched while the handler runs; over ``MemorySize`` the worker is killed and an
out-of-memory error is returned).
"""

from __future__ import annotations

import collections
import contextlib
import json
import os
import select
import signal
import subprocess
import time
import uuid
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from localaws.errors import EndpointError
from localaws.executor import sessions
from localaws.executor.function import FunctionSpec
from localaws.executor.spawner import Spawner, WorkerProcess, imports_sdk

_PAGE = os.sysconf("SC_PAGE_SIZE")
_MEMORY_POLL_S = 0.005


@dataclass
class Outcome:
    """What one invocation produced inside an environment."""

    request_id: str
    payload: bytes = b""
    error: dict[str, Any] | None = None
    duration_ms: float = 0.0
    init_ms: float | None = None
    max_memory_mb: int = 0
    logs: list[tuple[int, str]] = field(default_factory=list)
    init_logs: list[tuple[int, str]] = field(default_factory=list)  # output while loading
    recycled: bool = False  # the environment died or was killed

    @property
    def failed(self) -> bool:
        """True when the invocation ended in a function error."""
        return self.error is not None


class EnvironmentDiedError(EndpointError):
    """An execution environment could not be started or reached (ours, not the function's).

    A function whose process exits while it runs is the function's fault, a function
    error (``Runtime exited with error``); this is for the endpoint failing to spawn
    the worker process or to talk to it at all.
    """


class ExecutionEnvironment:
    """A worker process bound to one version of a function's code and settings.

    Parameters
    ----------
    spec : FunctionSpec
        The function's settings and code location.
    endpoint_url : str
        What ``AWS_ENDPOINT_URL`` is set to inside the worker.
    spawner : Spawner, optional
        Starts the worker process; by default every worker starts from scratch.
    """

    def __init__(self, spec: FunctionSpec, endpoint_url: str,
                 spawner: Spawner | None = None) -> None:
        self.spec = spec
        self.id = uuid.uuid4().hex
        today = datetime.now(UTC).strftime("%Y/%m/%d")
        self.log_stream = f"{today}/[$LATEST]{self.id}"
        self.last_used = time.monotonic()
        self.invocations = 0
        self._endpoint_url = endpoint_url
        self._spawner = spawner or Spawner()
        self._proc: WorkerProcess | None = None
        self._requests = -1
        self._messages = -1
        self._buffer = b""
        self._lines: collections.deque[bytes] = collections.deque()
        self._next_memory_check = 0.0
        self._ready = False
        self.session: sessions.Session | None = None

    # -- process management -------------------------------------------------
    def _environ(self) -> dict[str, str]:
        spec = self.spec
        env = {k: v for k, v in spec.environment.items()}
        env.update({
            "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
            "LANG": "en_US.UTF-8",
            "TZ": ":UTC",
            "PYTHONDONTWRITEBYTECODE": "1",
            "PYTHONNOUSERSITE": "1",
            "LAMBDA_TASK_ROOT": str(spec.task_root),
            "_HANDLER": spec.handler,
            "AWS_LAMBDA_FUNCTION_NAME": spec.name,
            "AWS_LAMBDA_FUNCTION_VERSION": "$LATEST",
            "AWS_LAMBDA_FUNCTION_MEMORY_SIZE": str(spec.memory_mb),
            "AWS_LAMBDA_LOG_GROUP_NAME": spec.log_group,
            "AWS_LAMBDA_LOG_STREAM_NAME": self.log_stream,
            "AWS_LAMBDA_INITIALIZATION_TYPE": "on-demand",
            "AWS_EXECUTION_ENV": f"AWS_Lambda_{spec.runtime}",
            "AWS_REGION": spec.region,
            "AWS_DEFAULT_REGION": spec.region,
            "AWS_ENDPOINT_URL": self._endpoint_url,
            "AWS_ACCOUNT_ID_ENDPOINT_MODE": "disabled",
        })
        if self.session is not None:  # the role session's keys, as the runtime sets them
            env.update(self.session.environ())
        return env

    def start(self) -> None:
        """Assume the role, spawn the worker (the INIT phase begins; see :meth:`invoke`)."""
        spec = self.spec
        self.session = sessions.issue(spec.account_id, spec.region, spec.role, spec.name)
        forkable = self._spawner.warm and imports_sdk(spec.task_root, spec.handler,
                                                      spec.environment)
        try:
            self._proc, self._requests, self._messages = self._spawner.start(
                self._environ(), spec.task_root, forkable=forkable)
        except OSError as exc:  # ours: the machine would not start the worker
            raise EnvironmentDiedError(
                f"cannot start the execution environment of {spec.name}: {exc}") from exc

    def credentials_expire_within(self, seconds: float) -> bool:
        """True when the environment's role session ends within ``seconds``."""
        return self.session is not None and self.session.expires_within(seconds)

    @property
    def pid(self) -> int | None:
        """The worker's process id."""
        return self._proc.pid if self._proc else None

    @property
    def alive(self) -> bool:
        """True while the worker process runs."""
        return self._proc is not None and self._proc.poll() is None

    def kill(self) -> None:
        """Kill the worker and release its pipes."""
        if self._proc is not None and self._proc.poll() is None:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(self._proc.pid, signal.SIGKILL)
            self._proc.wait()
        for fd in (self._requests, self._messages):
            if fd >= 0:
                with contextlib.suppress(OSError):
                    os.close(fd)
        self._requests = self._messages = -1

    def rss_mb(self) -> float:
        """The worker's resident set size in MB (0 if it is gone)."""
        if self._proc is None:
            return 0.0
        try:
            with open(f"/proc/{self._proc.pid}/statm", "rb") as f:
                return int(f.read().split()[1]) * _PAGE / 1048576
        except (OSError, IndexError, ValueError):
            return 0.0

    # -- messages --------------------------------------------------------------
    def _read_message(self, deadline: float, watch_memory: bool) -> dict[str, Any] | str:
        """Next message, or "timeout" / "oom" / "died"."""
        while True:
            if self._lines:
                return json.loads(self._lines.popleft())
            now = time.monotonic()
            if watch_memory and now >= self._next_memory_check:
                self._next_memory_check = now + _MEMORY_POLL_S
                if self.rss_mb() > self.spec.memory_mb:
                    return "oom"
            remaining = deadline - now
            if remaining <= 0:
                return "timeout"
            wait = min(remaining, _MEMORY_POLL_S) if watch_memory else remaining
            ready, _, _ = select.select([self._messages], [], [], wait)
            if not ready:
                continue
            chunk = os.read(self._messages, 65536)
            if not chunk:
                return "died"
            *complete, self._buffer = (self._buffer + chunk).split(b"\n")
            self._lines.extend(complete)

    def invoke(self, request_id: str, payload: bytes, function_arn: str) -> Outcome:
        """Run the handler once; the caller guarantees one invocation at a time.

        Returns
        -------
        Outcome
            ``recycled`` is True when the environment is no longer usable.
        """
        outcome = Outcome(request_id)
        start_wall = time.time()
        timeout_s = self.spec.timeout_s
        deadline = time.monotonic() + timeout_s
        self.invocations += 1
        if not self._ready:
            init_deadline = time.monotonic() + max(10.0, timeout_s)
            while True:  # module-level prints and logs arrive before "ready"
                message = self._read_message(init_deadline, True)
                if not isinstance(message, dict) or message.get("type") != "log":
                    break
                outcome.init_logs.append((int(time.time() * 1000), message["message"]))
            if not isinstance(message, dict) or message.get("type") != "ready":
                return self._abnormal_end(outcome, message, start_wall, timeout_s)
            outcome.init_ms = message["init_ms"]
            if message["error"] is not None:
                outcome.error = message["error"]
                self._drain_logs(outcome.init_logs)
                outcome.recycled = True
                self.kill()
                return outcome
            self._ready = True
            deadline = time.monotonic() + timeout_s
        started = time.perf_counter()
        request = {
            "type": "invoke",
            "request_id": request_id,
            "payload": payload.decode() if payload else "",
            "deadline_ms": (time.time() + timeout_s) * 1000,
            "function_arn": function_arn,
        }
        try:
            os.write(self._requests, (json.dumps(request) + "\n").encode())
        except OSError:
            return self._abnormal_end(outcome, "died", start_wall, timeout_s)
        while True:
            message = self._read_message(deadline, True)
            if not isinstance(message, dict):
                outcome.duration_ms = (time.perf_counter() - started) * 1000
                return self._abnormal_end(outcome, message, start_wall, timeout_s)
            if message["type"] == "log":
                outcome.logs.append((int(time.time() * 1000), message["message"]))
            elif message["type"] == "result":
                outcome.duration_ms = (time.perf_counter() - started) * 1000
                outcome.error = message["error"]
                outcome.payload = message["payload"].encode()
                outcome.max_memory_mb = max(1, round(message["max_rss_kb"] / 1024))
                return outcome

    def _drain_logs(self, into: list[tuple[int, str]]) -> None:
        deadline = time.monotonic() + 0.2
        while True:
            message = self._read_message(deadline, False)
            if not isinstance(message, dict):
                return
            if message["type"] == "log":
                into.append((int(time.time() * 1000), message["message"]))

    def _out_of_memory(self, outcome: Outcome, rid: str) -> None:
        """Lambda's answer when the runtime is killed for using more than its memory."""
        outcome.error = {
            "errorType": "Runtime.OutOfMemory",
            "errorMessage": f"RequestId: {rid} Error: Runtime exited with error: signal: killed",
        }
        outcome.max_memory_mb = self.spec.memory_mb

    def _abnormal_end(self, outcome: Outcome, why: Any, start_wall: float,
                      timeout_s: float) -> Outcome:
        rid = outcome.request_id
        if why == "timeout":
            outcome.error = {
                "errorType": "Sandbox.Timedout",
                "errorMessage": f"RequestId: {rid} Error: Task timed out after "
                                f"{timeout_s:.2f} seconds",
            }
            stamp = datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%S.%f")[:-3] + "Z"
            outcome.logs.append((int(time.time() * 1000),
                                 f"{stamp} {rid} Task timed out after {timeout_s:.2f} seconds\n"))
        elif why == "oom":
            self._out_of_memory(outcome, rid)
        else:
            self._drain_logs(outcome.logs)
            code = self._proc.poll() if self._proc else None
            if code is None and self._proc is not None:
                try:
                    code = self._proc.wait(timeout=1)
                except subprocess.TimeoutExpired:
                    code = None
            if code == 137:  # the worker caught MemoryError and exited
                self._out_of_memory(outcome, rid)
            else:
                detail = (f"signal: {signal.Signals(-code).name.lower().removeprefix('sig')}"
                          if code is not None and code < 0 else f"exit status {code}")
                outcome.error = {
                    "errorType": "Runtime.ExitError",
                    "errorMessage": f"RequestId: {rid} Error: Runtime exited with error: "
                                    f"{detail}",
                }
        if not outcome.duration_ms:
            outcome.duration_ms = (time.time() - start_wall) * 1000
        outcome.recycled = True
        self.kill()
        return outcome
