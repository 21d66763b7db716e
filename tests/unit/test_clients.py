"""Choosing a backend in the client factory (no endpoint needed)."""

from __future__ import annotations

import pytest
from botocore.exceptions import ClientError

from helpers.clients import BackendConfigError, existed, get_backend, new_session


@pytest.fixture(autouse=True)
def clean_env(monkeypatch):
    for key in ("WORKSHOP_BACKEND", "AWS_ENDPOINT_URL", "WORKSHOP_LOCAL_PORT",
                "AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_PROFILE", "AWS_REGION",
                "AWS_DEFAULT_REGION"):
        monkeypatch.delenv(key, raising=False)
    monkeypatch.setenv("AWS_CONFIG_FILE", "/nonexistent")
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", "/nonexistent")


def test_local_is_the_default_backend():
    # when
    backend = get_backend(start_local=False)
    # then
    assert backend.name == "local"
    assert backend.region == "us-east-1"
    assert backend.endpoint_url == "http://127.0.0.1:4566"


def test_local_port_comes_from_the_environment(monkeypatch):
    # given
    monkeypatch.setenv("WORKSHOP_LOCAL_PORT", "4999")
    # when
    backend = get_backend("local", start_local=False)
    # then
    assert backend.endpoint_url == "http://127.0.0.1:4999"


def test_aws_endpoint_url_selects_the_endpoint_backend(monkeypatch):
    # given
    monkeypatch.setenv("AWS_ENDPOINT_URL", "http://localhost:4510")
    # when
    backend = get_backend()
    # then
    assert backend.name == "endpoint"
    assert backend.endpoint_url == "http://localhost:4510"


def test_workshop_backend_variable_wins(monkeypatch):
    # given
    monkeypatch.setenv("WORKSHOP_BACKEND", "endpoint")
    monkeypatch.setenv("AWS_ENDPOINT_URL", "http://localhost:4510")
    # when / then
    assert get_backend().name == "endpoint"


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"backend": "moto"}, "backend='moto' is unknown: use one of 'local', 'aws', 'endpoint'"),
        ({"backend": "local", "region": "mars-1"}, "region 'mars-1' is not an AWS region"),
        ({"backend": "endpoint"}, "backend='endpoint' needs an endpoint_url"),
        ({"backend": "aws", "region": "us-east-1"}, "backend='aws' found no AWS credentials"),
    ],
    ids=["unknown_backend", "bad_region", "endpoint_without_url", "aws_without_credentials"],
)
def test_bad_settings_fail_with_a_one_line_message(kwargs, message):
    # when
    with pytest.raises(BackendConfigError) as err:
        get_backend(start_local=False, **kwargs)
    # then
    assert message in str(err.value)
    assert "\n" not in str(err.value)


def test_aws_backend_refuses_the_local_dummy_credentials(monkeypatch):
    # given
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")
    # when
    with pytest.raises(BackendConfigError) as err:
        get_backend("aws", region="eu-west-1")
    # then
    assert "refuses the local dummy credentials" in str(err.value)


def test_clients_disable_the_account_id_endpoint_mode():
    # given
    backend = get_backend("endpoint", endpoint_url="http://127.0.0.1:1")
    # when
    client = backend.client("dynamodbstreams")
    # then
    assert client.meta.config.account_id_endpoint_mode == "disabled"
    assert client.meta.endpoint_url == "http://127.0.0.1:1"


def test_existed_is_false_only_for_the_missing_code_and_raises_other_refusals():
    # given: a call that finds nothing, one that is refused, and one that runs
    def refused(code: str):
        def call():
            raise ClientError({"Error": {"Code": code, "Message": code}}, "DeleteThing")
        return call

    ran: list[str] = []
    # when
    gone = existed(refused("ResourceNotFoundException"))
    gone_iam = existed(refused("NoSuchEntity"), missing="NoSuchEntity")
    done = existed(lambda: ran.append("called"))
    # then
    assert gone is False
    assert gone_iam is False
    assert done is True
    assert ran == ["called"]
    with pytest.raises(ClientError, match="AccessDenied"):
        existed(refused("AccessDenied"))
    with pytest.raises(ClientError, match="NoSuchEntity"):
        existed(refused("NoSuchEntity"))


def test_a_backend_makes_each_services_client_once_even_from_several_threads():
    # given
    from concurrent.futures import ThreadPoolExecutor

    backend = get_backend("endpoint", endpoint_url="http://127.0.0.1:9")
    # when
    with ThreadPoolExecutor(8) as pool:
        made = list(pool.map(lambda _: backend.client("dynamodb"), range(16)))
    other = backend.client("sqs")
    configured = backend.client("dynamodb", region_name="eu-west-1")
    # then: one shared client per service; extra arguments make a new one
    assert all(client is made[0] for client in made)
    assert other is backend.client("sqs") and other is not made[0]
    assert configured is not made[0] and configured.meta.region_name == "eu-west-1"
    assert get_backend("endpoint", endpoint_url="http://127.0.0.1:9").client("dynamodb") \
        is not made[0]


def test_a_backend_copied_for_another_region_makes_clients_of_its_own():
    # given: a backend whose client is made, copied as the cleanup copies it
    import dataclasses

    backend = get_backend("endpoint", endpoint_url="http://127.0.0.1:9")
    here = backend.client("cloudwatch")
    # when
    there = dataclasses.replace(backend, region="eu-west-1").client("cloudwatch")
    # then
    assert here.meta.region_name == "us-east-1" and there.meta.region_name == "eu-west-1"


def test_sessions_share_one_data_loader_and_keep_their_own_credentials_and_region():
    # given
    first = new_session(aws_access_key_id="first", aws_secret_access_key="x",
                        region_name="us-east-1")
    second = new_session(aws_access_key_id="second", aws_secret_access_key="y",
                         region_name="eu-west-1")
    third = new_session(aws_access_key_id="third", aws_secret_access_key="z",
                        region_name="us-east-1")
    # when
    loaders = {id(s._session.get_component("data_loader")) for s in (first, second, third)}
    models = [s.client("dynamodb").meta.service_model for s in (first, second)]
    paths = first._session.get_component("data_loader").search_paths
    # then: one loader, whose search paths boto3 does not lengthen at each new session
    assert len(loaders) == 1
    assert len(paths) == len(set(paths))
    assert models[0].service_name == models[1].service_name == "dynamodb"
    assert [s.get_credentials().access_key for s in (first, second, third)] == [
        "first", "second", "third"]
    assert [s.region_name for s in (first, second, third)] == [
        "us-east-1", "eu-west-1", "us-east-1"]
