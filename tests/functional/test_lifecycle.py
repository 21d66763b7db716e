"""Starting, inspecting and stopping the endpoint from the command line."""

from __future__ import annotations

import os
import subprocess
import sys

import psutil
import pytest

from localaws import lifecycle
from tests.conftest import ROOT, _free_port

pytestmark = pytest.mark.functional


def _cli(*args: str, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "localaws", *args], cwd=ROOT, env=env,
                          capture_output=True, text=True, timeout=120)


@pytest.fixture
def cli_env(tmp_path) -> dict[str, str]:
    env = dict(os.environ)
    env["WORKSHOP_STATE_DIR"] = str(tmp_path)
    env["PYTHONPATH"] = str(ROOT)
    return env


def test_up_status_down_round_trip(cli_env):
    # given
    port = str(_free_port())
    # when
    first = _cli("up", "--port", port, env=cli_env)
    again = _cli("up", "--port", port, env=cli_env)
    status = _cli("status", "--port", port, env=cli_env)
    down = _cli("down", "--port", port, env=cli_env)
    after = _cli("status", "--port", port, env=cli_env)
    # then
    assert first.returncode == 0, first.stderr
    assert f"http://127.0.0.1:{port}" in first.stdout
    assert again.stdout.split("(pid")[1] == first.stdout.split("(pid")[1]  # idempotent
    assert "pid" in status.stdout and "uptime" in status.stdout
    assert "event source mappings 0" in status.stdout
    assert down.stdout.strip() == "stopped"
    assert after.returncode == 3
    assert not lifecycle.port_in_use(int(port))


def test_endpoint_listens_on_loopback_only(endpoint):
    # when
    sockets = [c for c in psutil.Process(endpoint["pid"]).net_connections(kind="inet")
               if c.status == psutil.CONN_LISTEN]
    # then
    assert sockets
    assert {c.laddr.ip for c in sockets} == {"127.0.0.1"}


def test_up_refuses_a_port_taken_by_another_program(cli_env):
    # given
    import socket

    with socket.socket() as other:
        other.bind(("127.0.0.1", 0))
        other.listen()
        port = str(other.getsockname()[1])
        # when
        result = _cli("up", "--port", port, env=cli_env)
    # then
    assert result.returncode == 1
    assert "in use by another program" in result.stderr


def test_an_ephemeral_endpoint_starts_empty_after_a_restart(cli_env, monkeypatch):
    # given
    from helpers.clients import get_backend

    port = _free_port()
    monkeypatch.setenv("WORKSHOP_STATE_DIR", cli_env["WORKSHOP_STATE_DIR"])
    lifecycle.up(port, ephemeral=True)
    backend = get_backend("endpoint", endpoint_url=f"http://127.0.0.1:{port}")
    backend.client("sqs").create_queue(QueueName="before-restart")
    # when
    lifecycle.down(port)
    lifecycle.up(port, ephemeral=True)
    try:
        queues = backend.client("sqs").list_queues().get("QueueUrls", [])
        state = lifecycle.health(port)["state"]
    finally:
        lifecycle.down(port)
    # then: --ephemeral keeps nothing (the default keeps everything: test_persistence)
    assert queues == []
    assert state["ephemeral"] is True


def test_requests_in_flight_at_a_clean_stop_are_answered_before_their_connections_close(
        cli_env, tmp_path):
    # given: an endpoint busy with scans of a few thousand items on four connections
    import threading

    import boto3
    from botocore.config import Config

    port = _free_port()
    assert _cli("up", "--port", str(port), "--ephemeral", env=cli_env).returncode == 0
    ddb = boto3.client("dynamodb", endpoint_url=f"http://127.0.0.1:{port}",
                       region_name="us-east-1", aws_access_key_id="t",
                       aws_secret_access_key="t",
                       config=Config(retries={"max_attempts": 1}, max_pool_connections=4))
    ddb.create_table(TableName="busy", BillingMode="PAY_PER_REQUEST",
                     AttributeDefinitions=[{"AttributeName": "pk", "AttributeType": "S"}],
                     KeySchema=[{"AttributeName": "pk", "KeyType": "HASH"}])
    for start in range(0, 3000, 25):
        ddb.batch_write_item(RequestItems={"busy": [
            {"PutRequest": {"Item": {"pk": {"S": f"k{n}"}, "pad": {"S": "x" * 100}}}}
            for n in range(start, start + 25)]})
    answered: list[int] = []
    stop = threading.Event()

    def scan() -> None:
        while not stop.is_set():
            try:
                answered.append(ddb.scan(TableName="busy", Select="COUNT")["Count"])
            except Exception:  # refused or reset once the endpoint stops: not counted
                return

    threads = [threading.Thread(target=scan) for _ in range(4)]
    for thread in threads:
        thread.start()
    while len(answered) < 4:
        threading.Event().wait(0.05)
    # when: it is stopped while scans are being served
    down = _cli("down", "--port", str(port), env=cli_env)
    stop.set()
    for thread in threads:
        thread.join(timeout=30)
    # then: every answer it sent was whole, and none failed while being written
    assert down.stdout.strip() == "stopped"
    assert set(answered) == {3000}
    log = (tmp_path / f"endpoint-{port}.log").read_text()
    assert "Exception when servicing" not in log and "Traceback" not in log, log[-2000:]
    assert "Client disconnected while serving" not in log, log[-2000:]  # an answer dropped
