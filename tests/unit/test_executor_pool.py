"""The executor's pool of environments, through its seams (no worker process runs)."""

from __future__ import annotations

import subprocess

import pytest

from localaws.errors import EndpointError
from localaws.executor import environment, sessions
from localaws.executor.function import FunctionSpec
from localaws.executor.pool import _FunctionPool


def _spec(tmp_path, reserved: int | None = None) -> FunctionSpec:
    return FunctionSpec(name="f", arn="arn:aws:lambda:us-east-1:123456789012:function:f",
                        account_id="123456789012", region="us-east-1", handler="app.handler",
                        runtime="python3.12", timeout_s=3, memory_mb=128, environment={},
                        code_sha256="sha", task_root=tmp_path, reserved_concurrency=reserved)


def test_an_environment_that_cannot_be_spawned_is_our_failure_and_frees_its_slot(
        tmp_path, monkeypatch):
    # given: the machine refuses to start the worker process
    def refuse(*args, **kwargs):
        raise OSError(24, "Too many open files")

    monkeypatch.setattr(subprocess, "Popen", refuse)
    monkeypatch.setattr(sessions, "issue", lambda *args: None)
    pool = _FunctionPool()
    # when
    with pytest.raises(environment.EnvironmentDiedError) as caught:
        pool.acquire(_spec(tmp_path), "http://127.0.0.1:1")
    # then
    assert isinstance(caught.value, EndpointError)
    assert "Too many open files" in str(caught.value)
    assert pool.busy == set()


def test_a_function_at_its_reserved_concurrency_is_throttled_with_a_429(tmp_path):
    # given
    from localaws.errors import ServiceError

    pool = _FunctionPool()
    # when
    with pytest.raises(ServiceError) as caught:
        pool.acquire(_spec(tmp_path, reserved=0), "http://127.0.0.1:1")
    # then
    assert (caught.value.code, caught.value.status) == ("TooManyRequestsException", 429)


def test_a_failure_of_ours_in_an_async_invocation_is_logged_with_its_traceback(
        tmp_path, monkeypatch, caplog):
    # given: the function exists, but its environment cannot be started
    import logging

    from localaws.executor import pool as pool_module
    from localaws.executor.pool import Executor

    monkeypatch.setattr(pool_module, "resolve", lambda *args: _spec(tmp_path))

    def broken(self, account_id, region, function, payload, **kwargs):
        raise environment.EnvironmentDiedError("cannot start the execution environment")

    monkeypatch.setattr(Executor, "invoke", broken)
    executor = Executor(tmp_path, "http://127.0.0.1:1")
    # when
    with caplog.at_level(logging.ERROR, logger="localaws"):
        executor.invoke_async("123456789012", "us-east-1", "f", b"{}")
        executor._async.shutdown(wait=True)
    executor.shutdown()
    # then
    (logged,) = [r for r in caplog.records if r.exc_info]
    assert isinstance(logged.exc_info[1], environment.EnvironmentDiedError)
