"""The AWS timing profile end to end: an endpoint started with ``--profile aws`` and the
time scale of issue 12's check (0.2: shorter windows can close before a loaded
machine's next call), observed by the plain boto3 script ``tools/profile_check.py``.

The check is about the *order* of the states, so the long waits (a GSI backfill, the
first poll, a deleted queue's name: 6 to 12 s at 0.2) are capped at 2 s
(``--max-delay``); the windows shorter than that keep their scaled length. The
figures at S = 1 are checked against FIDELITY.md's table in
``tests/unit/test_profile.py``."""

from __future__ import annotations

import socket

import pytest

from localaws import lifecycle
from localaws.profile import ProfileSettings
from tools import profile_check

pytestmark = pytest.mark.functional


@pytest.fixture(scope="module")
def aws_profile_endpoint(endpoint: dict):
    # After the session's endpoint, which sets WORKSHOP_STATE_DIR: the admin token this
    # endpoint writes at start must be where profile_check reads it later.
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    settings = ProfileSettings("aws", 0.2, max_delay=2.0)
    status = lifecycle.up(port, ephemeral=True, env=settings.to_env())
    yield status
    lifecycle.down(port)


def test_the_health_document_publishes_the_profile(aws_profile_endpoint):
    # given / when
    profile = aws_profile_endpoint["profile"]
    # then
    assert profile == {"name": "aws", "time_scale": 0.2, "metric_period_s": 60,
                       "max_delay_s": 2.0}


def test_under_the_aws_profile_every_worker_starts_from_scratch(aws_profile_endpoint, endpoint):
    # given / when: an endpoint in the aws profile, and one in the default profile
    # then: only the default profile forks boto3 handlers' workers warm (Init Duration
    # keeps the cost of importing boto3 under the aws profile)
    assert aws_profile_endpoint["warm_starts"] is False
    assert endpoint["warm_starts"] is True


def test_a_plain_boto3_script_sees_every_intermediate_state_in_order(aws_profile_endpoint,
                                                                     capsys):
    # given
    url = aws_profile_endpoint["url"]
    # when
    failures = profile_check.check(url, quick=True)
    # then
    printed = capsys.readouterr().out
    assert failures == 0, printed
    assert printed.count("ok    ") == 18, printed  # every check of the quick run
