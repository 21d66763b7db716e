"""Endpoints forked by :mod:`localaws.launcher`, and when they start from scratch instead."""

from __future__ import annotations

import os
import subprocess
import sys
import time

import boto3
import psutil
import pytest

from localaws import launcher, lifecycle
from localaws.paths import python_path
from tests.conftest import ROOT, _free_port

pytestmark = pytest.mark.functional


def _up(port: int) -> dict:
    return lifecycle.up(port, ephemeral=True)


def _launcher(socket_path: str) -> psutil.Process:
    """The launcher listening on ``socket_path`` (a child of this process)."""
    (found,) = [p for p in psutil.Process(os.getpid()).children()
                if socket_path in p.cmdline()]
    return found


def _gone(pid: int, timeout: float = 10.0) -> bool:
    """True once ``pid`` has ended and been reaped (its parent reaps it)."""
    deadline = time.monotonic() + timeout
    while psutil.pid_exists(pid) and time.monotonic() < deadline:
        time.sleep(0.02)
    return not psutil.pid_exists(pid)


def _request_id(url: str) -> str:
    client = boto3.client("dynamodb", endpoint_url=url, region_name="us-east-1",
                          aws_access_key_id="test", aws_secret_access_key="test")
    return client.list_tables()["ResponseMetadata"]["RequestId"]


@pytest.fixture
def own_launcher(monkeypatch) -> str:
    """A launcher of this test's own (the session's may have forked others meanwhile)."""
    monkeypatch.delenv(launcher.ENV_LAUNCHER, raising=False)
    with launcher.running() as socket_path:
        yield socket_path


def test_an_endpoint_is_forked_by_the_launcher_with_its_own_settings(own_launcher, tmp_path,
                                                                    monkeypatch):
    # given
    port = _free_port()
    monkeypatch.setenv("WORKSHOP_STATE_DIR", str(tmp_path))
    monkeypatch.setenv("WORKSHOP_LOCAL_PROFILE", "aws")
    launcher_pid = _launcher(own_launcher).pid
    # when
    status = _up(port)
    try:
        process = psutil.Process(status["pid"])
        # then: the launcher's child, in a session of its own, with the settings it was given
        assert process.ppid() == launcher_pid
        assert os.getsid(status["pid"]) == status["pid"]
        assert status["profile"]["name"] == "aws"
        assert status["warm_starts"] is False
        assert process.cwd() == str(ROOT)
        assert f"listening on http://127.0.0.1:{port}" in (tmp_path / f"endpoint-{port}.log"
                                                          ).read_text()
        assert _request_id(status["url"])
    finally:
        lifecycle.down(port)
    # then: stopped, and reaped by the launcher (no zombie left behind)
    assert _gone(status["pid"])


def test_two_forked_endpoints_draw_different_request_ids(own_launcher, tmp_path, monkeypatch):
    # given: moto draws request ids from its own random generator, copied by each fork
    monkeypatch.setenv("WORKSHOP_STATE_DIR", str(tmp_path))
    ports = [_free_port(), _free_port()]
    statuses = [_up(port) for port in ports]
    try:
        # when
        ids = [_request_id(status["url"]) for status in statuses]
        # then
        assert ids[0] != ids[1]
    finally:
        for port in ports:
            lifecycle.down(port)


def test_a_request_the_launcher_cannot_serve_starts_the_endpoint_from_scratch(
        own_launcher, tmp_path, monkeypatch):
    # given: the endpoint is to see another PYTHONPATH than the launcher's interpreter has
    monkeypatch.setenv("WORKSHOP_STATE_DIR", str(tmp_path))
    monkeypatch.setenv("PYTHONPATH", str(tmp_path))
    port = _free_port()
    # when
    with pytest.warns(RuntimeWarning, match="PYTHONPATH differs"):
        status = _up(port)
    try:
        # then: started as `python -m localaws serve`, by this process
        process = psutil.Process(status["pid"])
        assert process.cmdline()[1:4] == ["-m", "localaws", "serve"]
        assert process.ppid() == os.getpid()
    finally:
        lifecycle.down(port)


def test_without_a_launcher_the_endpoint_starts_from_scratch(tmp_path, monkeypatch):
    # given
    monkeypatch.setenv(launcher.ENV_LAUNCHER, str(tmp_path / "nothing-listens-here"))
    monkeypatch.setenv("WORKSHOP_STATE_DIR", str(tmp_path))
    port = _free_port()
    # when
    with pytest.warns(RuntimeWarning, match="no answer from the launcher"):
        status = _up(port)
    try:
        # then
        assert psutil.Process(status["pid"]).cmdline()[1:4] == ["-m", "localaws", "serve"]
    finally:
        lifecycle.down(port)


def test_the_launcher_exits_with_its_owner_and_leaves_its_endpoints_running(tmp_path,
                                                                             monkeypatch):
    # given: a short-lived process that runs a launcher and starts one endpoint with it
    port = _free_port()
    monkeypatch.setenv("WORKSHOP_STATE_DIR", str(tmp_path))
    env = dict(os.environ)
    env.pop(launcher.ENV_LAUNCHER, None)
    script = ("import psutil\n"
              "from localaws import launcher, lifecycle\n"
              "with launcher.running():\n"
              f"    endpoint = lifecycle.up({port}, ephemeral=True)['pid']\n"
              "    print(endpoint, psutil.Process(endpoint).ppid())\n")
    owner = subprocess.run([sys.executable, "-c", script], cwd=ROOT, env=env, text=True,
                           capture_output=True, timeout=120)
    assert owner.returncode == 0, owner.stderr
    endpoint_pid, launcher_pid = map(int, owner.stdout.split())
    try:
        # when: the owner has exited
        gone = _gone(launcher_pid)
        # then: its launcher has gone too; the endpoint it forked still serves
        assert gone
        assert lifecycle.health(port)["pid"] == endpoint_pid
    finally:
        lifecycle.down(port)


def test_the_launcher_refuses_another_interpreter_or_other_startup_variables(monkeypatch):
    # given: the launcher's own environment (this process's, for the check)
    monkeypatch.setenv("PYTHONPATH", str(ROOT))
    monkeypatch.delenv("PYTHONHASHSEED", raising=False)
    base = {"argv": ["serve"], "cwd": "/", "log": "/dev/null",
            "executable": sys.executable, "env": dict(os.environ)}

    def verdict(**env: str) -> str | None:
        return launcher._refusal({**base, "env": {**base["env"], **env}})

    # when / then
    assert verdict() is None
    assert verdict(PYTHONPATH=os.pathsep.join([str(ROOT), str(ROOT)])) is None  # same sys.path
    assert verdict(PYTHONPATH="/elsewhere") == "PYTHONPATH differs from the launcher's"
    assert verdict(PYTHONHASHSEED="7") == "PYTHONHASHSEED differs from the launcher's"
    assert "runs" in launcher._refusal({**base, "executable": "/usr/bin/python3"})


def test_a_log_the_launcher_cannot_open_is_refused_before_anything_is_forked(own_launcher,
                                                                             tmp_path):
    # given
    log = tmp_path / "no-such-folder" / "endpoint.log"
    env = {**os.environ, "PYTHONPATH": python_path(os.environ.get("PYTHONPATH"))}  # as up()
    forked = _launcher(own_launcher)
    before = forked.children()
    # when
    with pytest.raises(launcher.LauncherError, match="FileNotFoundError"):
        launcher.launch(own_launcher, ["serve", "--port", str(_free_port()), "--ephemeral"],
                        env, ROOT, log)
    # then: no endpoint was forked
    assert forked.children() == before


def test_a_malformed_request_is_answered_with_an_error_and_the_launcher_serves_on(
        own_launcher, tmp_path, monkeypatch):
    # given
    import socket

    monkeypatch.setenv("WORKSHOP_STATE_DIR", str(tmp_path))
    answers = []
    for line in (b"null\n", b"[]\n", b'{"argv": "serve", "env": {}}\n', b"not json\n"):
        with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as sock:
            sock.settimeout(10)
            sock.connect(own_launcher)
            sock.sendall(line)
            answers.append(sock.recv(65536))
    port = _free_port()
    # when
    status = _up(port)
    try:
        # then: each refused in words, and the next endpoint still forked
        assert all(b'"error"' in answer for answer in answers)
        assert psutil.Process(status["pid"]).ppid() == _launcher(own_launcher).pid
    finally:
        lifecycle.down(port)
