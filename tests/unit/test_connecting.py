"""Connecting a notebook to its backend (workshop.connect, workshop.where, clients), no endpoint."""

from __future__ import annotations

import pytest

from helpers import clients, workshop
from helpers.clients import Pacing, unless_missing
from tests.unit.stubs import StubBackend


@pytest.fixture(autouse=True)
def clean_env(monkeypatch):
    for key in ("WORKSHOP_BACKEND", "AWS_ENDPOINT_URL", "AWS_ACCESS_KEY_ID",
                "AWS_SECRET_ACCESS_KEY", "AWS_PROFILE", "AWS_REGION", "AWS_DEFAULT_REGION"):
        monkeypatch.delenv(key, raising=False)
    monkeypatch.setenv("WORKSHOP_LOCAL_PORT", "4997")


def test_a_local_endpoint_that_does_not_start_is_a_one_line_setup_error(monkeypatch):
    # given
    from localaws import lifecycle

    def refuse(port):
        raise lifecycle.EndpointStartError(f"port {port} is in use by another program\nmore")

    monkeypatch.setattr(lifecycle, "ensure_running", refuse)
    # when / then
    with pytest.raises(workshop.SetupError, match=r"^port 4997 is in use by another program "
                                                  r"\(see `python -m localaws status`\)$"):
        workshop.connect("local")


def test_an_unknown_backend_is_a_setup_error():
    # when / then
    with pytest.raises(workshop.SetupError, match="backend='moto' is unknown"):
        workshop.connect("moto")


def test_a_bad_prefix_is_a_setup_error(monkeypatch):
    # given
    from localaws import lifecycle

    monkeypatch.setattr(lifecycle, "ensure_running", lambda port: {})
    # when / then
    with pytest.raises(workshop.SetupError, match="name prefix 'no spaces allowed ' is not valid"):
        workshop.connect("local", name_prefix="no spaces allowed ")


def test_where_shows_the_backend_and_its_account():
    # given
    backend = StubBackend("sts")
    backend.is_local = False
    backend.stub("sts").add_response("get_caller_identity", {"Account": "123456789012"})
    backend.describe = lambda: clients.Backend.describe(backend)  # the real summary
    backend.account_id = lambda: clients.Backend.account_id(backend)
    # when
    table = dict(workshop.where(backend).values.tolist())
    # then
    assert table["account"] == "123456789012"
    assert table["backend"] == "local"


def test_unless_missing_turns_only_a_missing_resource_into_none():
    # given
    backend = StubBackend("lambda", pacing=Pacing())
    stub = backend.stub("lambda")
    stub.add_client_error("get_function", "ResourceNotFoundException", "no", 404)
    stub.add_client_error("get_function", "AccessDeniedException", "denied", 403)
    lam = backend.client("lambda")
    # when / then
    assert unless_missing(lambda: lam.get_function(FunctionName="f")) is None
    with pytest.raises(lam.exceptions.ClientError, match="denied"):
        unless_missing(lambda: lam.get_function(FunctionName="f"))
