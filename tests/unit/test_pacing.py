"""What differs between backends is only their pacing (helpers.clients.Pacing)."""

from __future__ import annotations

import pytest

from helpers import clients, lambda_metrics
from helpers.clients import Pacing, get_backend


def test_an_endpoint_that_does_not_name_its_profile_serves_one_second_metrics():
    # when
    pacing = Pacing.for_profile(None)
    # then
    assert pacing.metric_period_s == 1
    assert pacing.profile == "default"


def test_the_default_profile_keeps_the_period_the_endpoint_serves():
    # when
    pacing = Pacing.for_profile({"name": "default", "time_scale": 1.0, "metric_period_s": 5})
    # then
    assert pacing.metric_period_s == 5
    assert pacing.patience_s == Pacing().patience_s


def test_the_aws_profile_waits_as_long_as_aws_needs_times_its_scale():
    # when
    pacing = Pacing.for_profile({"name": "aws", "time_scale": 0.5, "metric_period_s": 60})
    # then
    assert pacing.metric_period_s == 60
    assert pacing.patience_s == Pacing.for_aws().patience_s * 0.5
    assert pacing.propagation_s == Pacing.for_aws().propagation_s * 0.5
    assert pacing.profile == "aws"


def test_a_small_time_scale_never_waits_less_than_the_default_profile():
    # when
    pacing = Pacing.for_profile({"name": "aws", "time_scale": 0.01, "metric_period_s": 60})
    # then
    assert pacing.patience_s == Pacing().patience_s
    assert pacing.poll_s >= 0.1


def test_the_local_backend_takes_its_pacing_from_the_running_endpoint(monkeypatch):
    # given: an endpoint whose health document names the AWS profile
    from localaws import lifecycle

    started = []
    monkeypatch.setattr(lifecycle, "ensure_running", lambda port: started.append(port) or {
        "status": "ok", "profile": {"name": "aws", "time_scale": 1.0, "metric_period_s": 60}})
    monkeypatch.setenv("WORKSHOP_LOCAL_PORT", "4999")
    monkeypatch.delenv("WORKSHOP_BACKEND", raising=False)
    monkeypatch.delenv("AWS_ENDPOINT_URL", raising=False)
    # when
    backend = get_backend("local")
    # then
    assert lambda_metrics.default_period(backend) == 60
    assert backend.pacing.profile == "aws"
    assert started == [4999]


def test_each_call_checks_the_local_endpoint_again_so_a_stopped_one_is_restarted(monkeypatch):
    # given: a kernel that resolved its backend once, then `make down`
    from localaws import lifecycle

    started = []
    monkeypatch.setattr(lifecycle, "ensure_running", lambda port: started.append(port) or {})
    monkeypatch.setenv("WORKSHOP_LOCAL_PORT", "4998")
    # when: the setup cell runs again
    get_backend("local")
    get_backend("local")
    # then: both calls made sure the endpoint runs (no cached backend)
    assert started == [4998, 4998]


@pytest.mark.parametrize(
    ("pacing", "attempts"), [(Pacing(), 1), (Pacing.for_aws(), 3)])
def test_the_sdk_retry_attempts_come_from_the_pacing(pacing, attempts):
    # given
    backend = clients.Backend("local", "us-east-1", "http://127.0.0.1:9",
                              get_backend("local", start_local=False).session, pacing)
    # when
    client = backend.client("dynamodb")
    # then
    assert client.meta.config.retries["total_max_attempts"] == attempts + 1
