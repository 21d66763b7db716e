"""Starting workers: which handlers are forked warm, and a forked worker behaves as one
started from scratch (environment, working directory, module names, exit codes)."""

from __future__ import annotations

import json
import os
import queue
import signal
import subprocess
import textwrap
import time
from pathlib import Path

import psutil
import pytest

from localaws.executor import spawner as spawner_module
from localaws.executor.spawner import ForkedWorker, Spawner, imports_sdk


@pytest.mark.parametrize(("source", "expected"), [
    ("import boto3\n", True),
    ("import json\n\nfrom botocore.config import Config\n", True),
    ("def f():\n    import boto3\n", True),
    ("import json, logging\n", False),
    ("# uses boto3 later\nimport json\n", False),
    ("import boto3_extras\n", False),
])
def test_a_handler_is_forkable_when_its_module_imports_the_sdk(tmp_path, source, expected):
    # given
    (tmp_path / "app.py").write_text(source)
    # when
    forkable = imports_sdk(tmp_path, "app.handler", {})
    # then
    assert forkable is expected


def test_a_handler_in_a_package_or_a_subdirectory_is_read_from_its_file(tmp_path):
    # given
    (tmp_path / "pkg").mkdir()
    (tmp_path / "pkg" / "__init__.py").write_text("import boto3\n")
    (tmp_path / "sub").mkdir()
    (tmp_path / "sub" / "app.py").write_text("import boto3\n")
    # when / then
    assert imports_sdk(tmp_path, "pkg.handler", {})
    assert imports_sdk(tmp_path, "sub/app.handler", {})
    assert not imports_sdk(tmp_path, "missing.handler", {})
    assert not imports_sdk(tmp_path, "nodot", {})


def test_code_with_its_own_sdk_or_an_interpreter_variable_starts_from_scratch(tmp_path):
    # given: a handler that imports boto3
    (tmp_path / "app.py").write_text("import boto3\n")
    # when / then: an interpreter setting, read when Python starts, rules out a fork
    assert not imports_sdk(tmp_path, "app.handler", {"PYTHONPATH": "/opt"})
    # when / then: so does a boto3 of the code's own (the preloaded one would shadow it)
    (tmp_path / "boto3").mkdir()
    assert not imports_sdk(tmp_path, "app.handler", {})


HANDLER = '''
import os, sys, time
import boto3

SEEN_AT_INIT = {"x": os.environ.get("X"), "cwd": os.getcwd(), "tz": time.tzname[0],
                "module": __name__, "path0": sys.path[0]}
if os.environ.get("EXIT_AT_INIT"):
    sys.exit(int(os.environ["EXIT_AT_INIT"]))


def handler(event, context):
    if event.get("exit"):
        os._exit(event["exit"])
    return SEEN_AT_INIT
'''


class _Worker:
    """A worker started by a spawner over two pipes, as an environment starts one."""

    def __init__(self, spawner: Spawner, root: Path, module: str = "app",
                 **env: str) -> None:
        environ = {"PATH": os.environ["PATH"], "TZ": ":UTC", "LAMBDA_TASK_ROOT": str(root),
                   "_HANDLER": f"{module}.handler", "AWS_LAMBDA_FUNCTION_NAME": "fn", **env}
        self.process, self.requests, messages = spawner.start(environ, root, forkable=True)
        self._reader = os.fdopen(messages, "rb")

    def next_message(self) -> dict | None:
        line = self._reader.readline()
        return json.loads(line) if line else None

    def invoke(self, event: dict) -> dict | None:
        request = {"request_id": "r", "payload": json.dumps(event),
                   "deadline_ms": (time.time() + 10) * 1000, "function_arn": "arn"}
        os.write(self.requests, (json.dumps(request) + "\n").encode())
        return self.next_message()

    def close(self) -> None:
        os.close(self.requests)
        self._reader.close()


@pytest.fixture
def code(tmp_path: Path) -> Path:
    (tmp_path / "app.py").write_text(textwrap.dedent(HANDLER))
    (tmp_path / "bootstrap.py").write_text(textwrap.dedent(HANDLER))
    return tmp_path


@pytest.fixture(scope="module", params=[True, False], ids=["forked", "from-scratch"])
def spawner(request):  # one fork server for the module's tests (each costs ~0.4 s of CPU)
    spawner = Spawner(warm=request.param)
    yield spawner
    spawner.close()


def test_a_worker_sees_its_own_environment_and_code_directory(spawner, code):
    # given
    worker = _Worker(spawner, code, X="mine")
    # when
    ready = worker.next_message()
    result = worker.invoke({})
    worker.close()
    # then
    assert isinstance(worker.process, ForkedWorker) is spawner.warm
    assert ready["type"] == "ready" and ready["error"] is None
    assert json.loads(result["payload"]) == {"x": "mine", "cwd": str(code), "tz": "UTC",
                                             "module": "app", "path0": str(code)}
    assert worker.process.wait(timeout=5) == 0


def test_a_handler_module_may_be_named_like_the_runtime(spawner, code):
    # given: the learner's own bootstrap.py
    worker = _Worker(spawner, code, module="bootstrap")
    # when
    ready = worker.next_message()
    result = worker.invoke({})
    worker.close()
    # then: it is the learner's module that is imported, not the runtime
    assert ready["error"] is None
    assert json.loads(result["payload"])["module"] == "bootstrap"


@pytest.mark.parametrize(("how", "code_expected"), [
    ("exit-at-init", 3), ("exit-in-handler", 7), ("killed", -signal.SIGKILL)])
def test_a_worker_ends_with_the_same_exit_code_however_it_was_started(spawner, code, how,
                                                                      code_expected):
    # given
    worker = _Worker(spawner, code, **({"EXIT_AT_INIT": "3"} if how == "exit-at-init" else {}))
    # when
    if how == "exit-in-handler":
        worker.next_message()
        assert worker.invoke({"exit": 7}) is None
    elif how == "killed":
        worker.next_message()
        os.killpg(worker.process.pid, signal.SIGKILL)
    returned = worker.process.wait(timeout=5)
    worker.close()
    # then
    assert returned == code_expected
    assert worker.process.poll() == code_expected


def test_a_running_worker_polls_none_and_wait_times_out(spawner, code):
    # given
    worker = _Worker(spawner, code)
    worker.next_message()
    # when / then
    assert worker.process.poll() is None
    with pytest.raises(subprocess.TimeoutExpired, match="timed out"):
        worker.process.wait(timeout=0.05)
    worker.close()
    assert worker.process.wait(timeout=5) == 0


def test_when_the_fork_server_dies_its_workers_end_and_a_new_server_forks_the_next(code):
    # given: a warm spawner whose fork server has been killed, with a worker it forked
    spawner = Spawner(warm=True)
    forked = _Worker(spawner, code)
    assert isinstance(forked.process, ForkedWorker)
    forked.next_message()
    server = spawner._server
    server._proc.kill()
    server._proc.wait()
    deadline = time.monotonic() + 5
    while server.alive and time.monotonic() < deadline:
        time.sleep(0.01)
    # when: the orphaned worker ends, and another worker is wanted
    forked.close()
    code_after = forked.process.wait(timeout=5)
    worker = _Worker(spawner, code)
    # then: the first one's end is still seen; the next one comes from a new server
    assert code_after == -signal.SIGKILL  # its status went with the server
    assert isinstance(worker.process, ForkedWorker) and spawner._server is not server
    assert worker.next_message()["type"] == "ready"
    worker.close()
    assert worker.process.wait(timeout=5) == 0
    spawner.close()


def _forked_workers_in(code: Path) -> set[int]:
    """Live forked workers (wherever they were reparented) running in ``code``."""
    found = set()
    for proc in psutil.process_iter():
        try:
            if (any(part.endswith("forkserver.py") for part in proc.cmdline())
                    and proc.cwd() == str(code) and proc.status() != psutil.STATUS_ZOMBIE):
                found.add(proc.pid)
        except psutil.Error:
            continue
    return found


class _AnswerJustTooLate(queue.Queue):
    """The server's answers, as if each came just after the deadline had passed."""

    def get(self, block: bool = True, timeout: float | None = None) -> dict:
        if timeout is None:
            return super().get(block)
        self.put(super().get(timeout=5))  # the fork has happened ...
        raise queue.Empty  # ... but the spawner stopped waiting


def test_a_fork_server_that_answers_late_leaves_the_pipes_to_one_worker(code):
    # given: a warm fork server whose next answer comes after the deadline
    spawner = Spawner(warm=True)
    first = _Worker(spawner, code)
    assert first.next_message()["type"] == "ready"
    spawner._server._answers = _AnswerJustTooLate()
    # when
    worker = _Worker(spawner, code, X="late")
    # then: the worker started from scratch on pipes of its own, and the one forked
    # late is gone
    assert isinstance(worker.process, subprocess.Popen)
    assert worker.next_message()["type"] == "ready"
    assert json.loads(worker.invoke({})["payload"])["x"] == "late"
    deadline = time.monotonic() + 5
    while _forked_workers_in(code) != {first.process.pid} and time.monotonic() < deadline:
        time.sleep(0.02)
    assert _forked_workers_in(code) == {first.process.pid}
    worker.close()
    first.close()
    assert worker.process.wait(timeout=5) == 0
    spawner.close()


def test_the_fork_server_gets_a_minimal_environment_plus_coverage_settings(monkeypatch):
    # given
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "the endpoint's own")
    monkeypatch.setenv("COVERAGE_PROCESS_CONFIG", '{"parallel": true}')
    # when
    env = spawner_module._server_env()
    # then
    assert env["COVERAGE_PROCESS_CONFIG"] == '{"parallel": true}'
    assert "AWS_SECRET_ACCESS_KEY" not in env
    assert {"PATH", "LANG", "TZ"} <= env.keys()
