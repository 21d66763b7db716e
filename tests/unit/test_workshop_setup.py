"""A notebook's first cells (helpers.workshop): connecting, checking parameters, reaching the
endpoint again after it stopped, and recorded figures; the backend and the endpoint's lifecycle
are fakes that answer as told."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from botocore.exceptions import ClientError, EndpointConnectionError, NoCredentialsError

from helpers import workshop
from helpers.naming import Names
from tests.unit.stubs import StubBackend


class AwsBackend(StubBackend):
    """A stubbed backend that says it is real AWS."""

    name = "aws"
    is_local = False

    def account_id(self) -> str:
        return self.client("sts").get_caller_identity()["Account"]


@pytest.mark.parametrize(("failure", "said"), [
    (ClientError({"Error": {"Code": "InvalidClientTokenId", "Message": "bad token"}},
                 "GetCallerIdentity"),
     "cannot reach 'aws': An error occurred (InvalidClientTokenId)"),
    (NoCredentialsError(), "cannot reach 'aws': Unable to locate credentials"),
])
def test_connecting_to_aws_checks_the_credentials_before_anything_is_made(monkeypatch, failure,
                                                                         said):
    # given
    backend = AwsBackend("sts")

    def refuse(self: AwsBackend) -> str:
        raise failure

    monkeypatch.setattr(workshop, "get_backend", lambda name, region: backend)
    monkeypatch.setattr(AwsBackend, "account_id", refuse)
    # when / then
    with pytest.raises(workshop.SetupError, match=re.escape(said)):
        workshop.connect("aws")


def test_connecting_with_a_good_account_gives_the_backend_and_the_prefixed_names(monkeypatch):
    # given
    backend = AwsBackend("sts")
    backend.stub("sts").add_response("get_caller_identity", {
        "Account": "123456789012", "Arn": "arn:aws:iam::123456789012:user/u", "UserId": "u"})
    monkeypatch.setattr(workshop, "get_backend", lambda name, region: backend)
    # when
    cloud, names = workshop.connect("aws", name_prefix="alice-")
    # then
    backend.assert_all_used()
    assert cloud is backend and names == Names.with_prefix("alice-")


def test_a_local_endpoint_that_cannot_start_is_a_one_line_setup_error(monkeypatch):
    # given
    def fail(name: str, region: str | None) -> Any:
        raise RuntimeError("the endpoint did not answer on port 4621\nlog: ...")

    monkeypatch.setattr(workshop, "get_backend", fail)
    # when / then
    with pytest.raises(workshop.SetupError) as caught:
        workshop.connect()
    assert str(caught.value) == ("the endpoint did not answer on port 4621 "
                                 "(see `python -m localaws status`)")
    assert caught.value._render_traceback_() == [f"SetupError: {caught.value}"]


def test_a_data_folder_without_the_labs_files_says_which_are_missing(tmp_path: Path):
    # given
    (tmp_path / "logfile_small1.csv").write_text("x\n")
    (tmp_path / "logfile_stream.csv").write_text("x\n")
    # when / then
    with pytest.raises(workshop.SetupError,
                       match=re.escape("lacks logfile_medium1.csv, logfile_medium2.csv: copy")):
        workshop.check_parameters(logfile_data_dir=tmp_path)
    with pytest.raises(workshop.SetupError, match="is not a folder"):
        workshop.check_parameters(logfile_data_dir=tmp_path / "nope")


def test_a_data_folder_with_every_file_passes(tmp_path: Path):
    # given
    for n in ("small1", "medium1", "medium2", "stream"):
        (tmp_path / f"logfile_{n}.csv").write_text("x\n")
    # when / then
    assert workshop.check_parameters(billing="PROVISIONED", logfile_data_dir=tmp_path) is None


class FakeLifecycle:
    def __init__(self, error: str | None = None) -> None:
        self.error = error
        self.ensured: list[int] = []

    def ensure_running(self, port: int) -> dict[str, Any]:
        self.ensured.append(port)
        if self.error:
            raise RuntimeError(self.error)
        return {}

    def health(self, port: int) -> dict[str, Any]:
        return {"pid": 4242, "uptime_s": 61.4}


@pytest.fixture
def lifecycle(monkeypatch):
    from localaws import lifecycle as real

    def use(error: str | None = None) -> FakeLifecycle:
        fake = FakeLifecycle(error)
        monkeypatch.setattr(real, "ensure_running", fake.ensure_running)
        monkeypatch.setattr(real, "health", fake.health)
        return fake

    return use


def unreachable(backend: StubBackend) -> None:
    def refuse(*args: Any, **kwargs: Any) -> None:
        raise EndpointConnectionError(endpoint_url=backend.endpoint_url)

    backend.client("sts").get_caller_identity = refuse


def test_a_stopped_local_endpoint_is_started_again_on_its_own_port(lifecycle):
    # given: ``make down`` ran while the kernel lived
    fake = lifecycle()
    backend = StubBackend("sts")
    unreachable(backend)
    # when
    workshop._reach(backend)  # type: ignore[arg-type]
    # then
    assert fake.ensured == [9]


def test_a_local_endpoint_that_does_not_start_again_says_so(lifecycle):
    # given
    lifecycle("port 9 is taken\nmore")
    backend = StubBackend("sts")
    unreachable(backend)
    # when / then
    with pytest.raises(workshop.SetupError,
                       match="port 9 stopped and did not start again: port 9 is taken "):
        workshop._reach(backend)  # type: ignore[arg-type]


def test_an_endpoint_that_is_not_ours_is_not_restarted(lifecycle):
    # given
    fake = lifecycle()
    backend = AwsBackend("sts")
    backend.endpoint_url = "http://127.0.0.1:4599"
    unreachable(backend)
    # when / then
    with pytest.raises(workshop.SetupError,
                       match=re.escape("http://127.0.0.1:4599 does not answer")):
        workshop._reach(backend)  # type: ignore[arg-type]
    assert fake.ensured == []


def test_where_shows_the_local_endpoints_process(lifecycle, monkeypatch):
    # given
    lifecycle()
    backend = StubBackend("sts")
    monkeypatch.setattr(StubBackend, "describe", lambda self: {"backend": "local"}, raising=False)
    # when
    table = workshop.where(backend)  # type: ignore[arg-type]
    # then
    assert "pid 4242, up 61 s" in table.to_string()


def test_a_recorded_numpy_figure_is_printed_as_a_plain_number(capsys):
    # when
    workshop.record("items", np.int64(40))
    workshop.record("when", Path("/tmp/x"))
    # then
    assert capsys.readouterr().out.splitlines() == ["recorded items = 40",
                                                    "recorded when = '/tmp/x'"]
