"""The local Lambda executor: warm environments per function, concurrency, logs, metrics.

``Executor.invoke`` is what ``lambda:Invoke`` and the event-source-mapping engine
call. Per function it keeps warm :class:`ExecutionEnvironment` workers and reuses
them; it starts a new one (a cold start, reported as ``Init Duration``) only
when all are busy, up to the function's reserved concurrency, beyond which the
call is throttled (``TooManyRequestsException``). Every invocation writes AWS's
``START`` / ``END`` / ``REPORT`` lines and the handler's output to CloudWatch Logs
and records ``Invocations``, ``Errors``, ``Duration``, ``Throttles`` and
``ConcurrentExecutions``.
"""

from __future__ import annotations

import base64
import logging
import math
import sys
import threading
import time
import uuid
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

from localaws import telemetry
from localaws.errors import ServiceError
from localaws.executor.environment import EnvironmentDiedError, ExecutionEnvironment, Outcome
from localaws.executor.function import FunctionSpec, resolve
from localaws.executor.spawner import Spawner

log = logging.getLogger("localaws.executor")

ACCOUNT_CONCURRENCY = 1000
IDLE_SECONDS = 600.0
ASYNC_THROTTLE_RETRY_SECONDS = 60.0
SESSION_MARGIN_SECONDS = 300.0  # recycle an environment this long before its session ends
_LOCAL_RUNTIME = f"python{sys.version_info.major}.{sys.version_info.minor}"


@dataclass
class Invocation:
    """The answer to one synchronous invoke, as the Invoke API returns it."""

    request_id: str
    payload: bytes
    function_error: str | None
    executed_version: str
    log_tail: str | None
    outcome: Outcome
    function_arn: str
    status_code: int = 200


def billed_duration_ms(duration_ms: float, init_ms: float | None) -> int:
    """``Billed Duration`` of a REPORT line, in whole milliseconds.

    Since 2025-08-01 AWS bills the INIT phase of on-demand invocations of ZIP
    functions on managed runtimes (every function the executor runs): a cold
    start bills ceil(Init Duration + Duration), a warm one ceil(Duration).

    Examples
    --------
    >>> billed_duration_ms(1.2, None), billed_duration_ms(1.2, 40.5)
    (2, 42)
    """
    return max(1, math.ceil(duration_ms + (init_ms or 0.0)))


def throttled() -> ServiceError:
    """AWS's throttle for a function at its reserved concurrency."""
    return ServiceError(
        "TooManyRequestsException", "Rate Exceeded.", status=429,
        extra={"Reason": "ReservedFunctionConcurrentInvocationLimitExceeded"},
    )


class _FunctionPool:
    """Environments of one function (all versions of its settings)."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.idle: list[ExecutionEnvironment] = []
        self.busy: set[ExecutionEnvironment] = set()

    def acquire(self, spec: FunctionSpec, endpoint_url: str,
                spawner: Spawner | None = None) -> tuple[ExecutionEnvironment, int]:
        with self.lock:
            # Other settings, or a role session that could expire during the call.
            stale = [e for e in self.idle if e.spec.fingerprint != spec.fingerprint
                     or e.credentials_expire_within(spec.timeout_s + SESSION_MARGIN_SECONDS)]
            for env in stale:
                self.idle.remove(env)
                env.kill()
            limit = spec.reserved_concurrency
            limit = ACCOUNT_CONCURRENCY if limit is None else limit
            if len(self.busy) >= limit:
                raise throttled()
            cold = None
            while self.idle:
                env = self.idle.pop()
                if env.alive:
                    break
                env.kill()
            else:
                env = cold = ExecutionEnvironment(spec, endpoint_url, spawner)
            self.busy.add(env)
            concurrent = len(self.busy)
        if cold is not None:  # spawn outside the lock: cold starts may overlap
            try:
                cold.start()
            except EnvironmentDiedError:  # ours: answered InternalFailure, logged
                self.release(cold, False)
                raise
        return env, concurrent

    def release(self, env: ExecutionEnvironment, reusable: bool) -> None:
        with self.lock:
            self.busy.discard(env)
            if reusable and env.alive:
                env.last_used = time.monotonic()
                self.idle.append(env)
            else:
                env.kill()

    def reap(self, older_than: float) -> None:
        with self.lock:
            for env in [e for e in self.idle if e.last_used < older_than]:
                self.idle.remove(env)
                env.kill()

    def close(self) -> None:
        with self.lock:
            for env in [*self.idle, *self.busy]:
                env.kill()
            self.idle.clear()
            self.busy.clear()


class Executor:
    """Runs deployed functions for the local endpoint.

    Parameters
    ----------
    state_dir : Path
        Where function code is unpacked.
    endpoint_url : str
        The endpoint's URL, given to handlers as ``AWS_ENDPOINT_URL``.
    warm_starts : bool
        Fork the workers of handlers that import boto3 from a process that has it
        imported already (see :mod:`localaws.executor.spawner`); False (the ``aws``
        profile) starts every worker from scratch.
    """

    def __init__(self, state_dir: Path, endpoint_url: str, warm_starts: bool = False) -> None:
        self.state_dir = state_dir
        self.endpoint_url = endpoint_url
        self.spawner = Spawner(warm=warm_starts)
        self._pools: dict[tuple[str, str, str], _FunctionPool] = {}
        self._lock = threading.Lock()
        self._async = ThreadPoolExecutor(max_workers=8, thread_name_prefix="lambda-async")
        self._stop = threading.Event()
        self._reaper = threading.Thread(target=self._reap_loop, name="lambda-reaper",
                                        daemon=True)
        self._reaper.start()

    # -- public API --------------------------------------------------------------
    def invoke(self, account_id: str, region: str, function: str, payload: bytes, *,
               log_tail: bool = False) -> Invocation:
        """Invoke a function synchronously (``RequestResponse``).

        Parameters
        ----------
        function : str
            Name, partial ARN or full ARN (``$LATEST`` qualifier allowed).
        payload : bytes
            The event, JSON text.
        log_tail : bool
            Return the last 4 KB of the invocation's log, as ``LogType=Tail`` does.

        Returns
        -------
        Invocation

        Raises
        ------
        ServiceError
            ``ResourceNotFoundException`` for an unknown function,
            ``TooManyRequestsException`` (429) when throttled.
        """
        spec = resolve(account_id, region, function, self.state_dir)
        pool = self._pool(spec)
        try:
            env, concurrent = pool.acquire(spec, self.endpoint_url, self.spawner)
        except ServiceError:
            telemetry.put_metrics(account_id, spec.region, spec.name, {"Throttles": 1})
            raise
        request_id = str(uuid.uuid4())
        invoked_at = datetime.now(UTC)
        start_ms = int(time.time() * 1000)
        cold = env.invocations == 0
        try:
            outcome = env.invoke(request_id, payload, spec.arn)
        except BaseException:
            pool.release(env, False)
            raise
        pool.release(env, not outcome.recycled)
        lines = self._log_lines(spec, env, outcome, start_ms, cold)
        telemetry.write_logs(account_id, spec.region, spec.log_group, env.log_stream, lines,
                             role=spec.role)
        telemetry.put_metrics(account_id, spec.region, spec.name, {
            "Invocations": 1,
            "Errors": 1 if outcome.failed else 0,
            "Duration": outcome.duration_ms,
            "ConcurrentExecutions": concurrent,
        }, when=invoked_at)
        payload_out = outcome.payload
        if outcome.error is not None:
            import json

            payload_out = json.dumps(outcome.error).encode()
        tail = None
        if log_tail:
            text = "".join(message for _, message in lines).encode()[-4096:]
            tail = base64.b64encode(text).decode()
        return Invocation(
            request_id=request_id,
            payload=payload_out,
            function_error="Unhandled" if outcome.failed else None,
            executed_version="$LATEST",
            log_tail=tail,
            outcome=outcome,
            function_arn=spec.arn,
        )

    def invoke_async(self, account_id: str, region: str, function: str,
                     payload: bytes) -> str:
        """Queue an ``Event`` invocation; returns its request id at once."""
        resolve(account_id, region, function, self.state_dir)  # 404 now, not later
        request_id = str(uuid.uuid4())

        def run() -> None:
            deadline = time.monotonic() + ASYNC_THROTTLE_RETRY_SECONDS
            while not self._stop.is_set():
                try:
                    self.invoke(account_id, region, function, payload)
                    return
                except ServiceError as err:
                    if err.status != 429 or time.monotonic() > deadline:
                        log.warning("async invocation of %s dropped: %s", function, err)
                        return
                    self._stop.wait(0.2)
                except Exception:  # ours; the thread pool would keep it silently
                    log.exception("async invocation of %s failed in the endpoint", function)
                    return

        self._async.submit(run)
        return request_id

    def validate(self, account_id: str, region: str, function: str) -> FunctionSpec:
        """Resolve a function without running it (``DryRun``)."""
        return resolve(account_id, region, function, self.state_dir)

    def stats(self) -> dict[str, int]:
        """Counts of functions seen and of live environments."""
        with self._lock:
            pools = list(self._pools.values())
        envs = sum(len(p.idle) + len(p.busy) for p in pools)
        busy = sum(len(p.busy) for p in pools)
        return {"functions": len(pools), "environments": envs, "busy": busy}

    def environments(self) -> list[ExecutionEnvironment]:
        """Every live environment (for tests and diagnostics)."""
        with self._lock:
            pools = list(self._pools.values())
        result: list[ExecutionEnvironment] = []
        for pool in pools:
            with pool.lock:
                result.extend([*pool.idle, *pool.busy])
        return result

    def shutdown(self) -> None:
        """Kill every environment."""
        self._stop.set()
        self._async.shutdown(wait=False, cancel_futures=True)
        with self._lock:
            pools = list(self._pools.values())
        for pool in pools:
            pool.close()
        self.spawner.close()

    # -- internals --------------------------------------------------------------------
    def _pool(self, spec: FunctionSpec) -> _FunctionPool:
        key = (spec.account_id, spec.region, spec.name)
        with self._lock:
            pool = self._pools.get(key)
            if pool is None:
                pool = self._pools[key] = _FunctionPool()
            return pool

    def _reap_loop(self) -> None:
        while not self._stop.wait(30):
            cutoff = time.monotonic() - IDLE_SECONDS
            with self._lock:
                pools = list(self._pools.values())
            for pool in pools:
                pool.reap(cutoff)

    @staticmethod
    def _log_lines(spec: FunctionSpec, env: ExecutionEnvironment, outcome: Outcome,
                   start_ms: int, cold: bool) -> list[tuple[int, str]]:
        rid = outcome.request_id
        lines: list[tuple[int, str]] = []
        if cold:
            lines.append((start_ms, f"INIT_START Runtime Version: {_LOCAL_RUNTIME}.local\t"
                                    f"Runtime Version ARN: arn:aws:lambda:{spec.region}::"
                                    f"runtime:local-{_LOCAL_RUNTIME}\n"))
            if spec.runtime != _LOCAL_RUNTIME:
                lines.append((start_ms, f"LOCAL NOTE: runtime {spec.runtime} is emulated by "
                                        f"the local Python {sys.version.split()[0]}\n"))
            lines.extend(outcome.init_logs)
        begin = max([start_ms, *(ts for ts, _ in outcome.init_logs)])
        lines.append((begin, f"START RequestId: {rid} Version: $LATEST\n"))
        lines.extend(outcome.logs)
        end_ms = max([start_ms, *(ts for ts, _ in outcome.init_logs + outcome.logs)])
        lines.append((end_ms, f"END RequestId: {rid}\n"))
        report = (f"REPORT RequestId: {rid}\tDuration: {outcome.duration_ms:.2f} ms\t"
                  f"Billed Duration: {billed_duration_ms(outcome.duration_ms, outcome.init_ms)}"
                  " ms\t"
                  f"Memory Size: {spec.memory_mb} MB\t"
                  f"Max Memory Used: {outcome.max_memory_mb or round(env.rss_mb()) or 1} MB\t")
        if outcome.init_ms is not None:
            report += f"Init Duration: {outcome.init_ms:.2f} ms\t"
        if outcome.error and outcome.error.get("errorType") == "Sandbox.Timedout":
            report += "Status: timeout\t"
        elif outcome.error and outcome.error.get("errorType", "").startswith("Runtime.") and \
                outcome.recycled:
            report += f"Status: error\tError Type: {outcome.error['errorType']}\t"
        lines.append((end_ms, report + "\n"))
        return lines
