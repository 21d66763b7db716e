"""Where the endpoint keeps its files, and the port it listens on."""

from __future__ import annotations

import os

import pytest

from localaws import paths


def test_the_port_is_workshop_local_port_or_4566(monkeypatch):
    # given
    monkeypatch.delenv(paths.ENV_PORT, raising=False)
    # when / then
    assert paths.default_port() == 4566
    monkeypatch.setenv(paths.ENV_PORT, "4631")
    assert paths.default_port() == 4631


def test_a_port_that_is_no_number_is_the_callers_error_saying_what_to_set(monkeypatch):
    # given
    monkeypatch.setenv(paths.ENV_PORT, "fortyfive")
    # when
    with pytest.raises(paths.PortConfigError) as caught:
        paths.default_port()
    # then
    assert str(caught.value) == ("WORKSHOP_LOCAL_PORT='fortyfive' is not a port number: "
                                 "set it to e.g. 4566")


def test_every_file_of_a_port_lives_in_the_configured_state_dir(monkeypatch, tmp_path):
    # given
    monkeypatch.setenv(paths.ENV_STATE_DIR, str(tmp_path / "state"))
    # when
    files = [paths.pid_file(4631), paths.log_file(4631), paths.token_file(4631),
             paths.saved_state_dir(4631)]
    # then
    assert (tmp_path / "state").is_dir()
    assert [f.relative_to(tmp_path / "state").as_posix() for f in files] == [
        "endpoint-4631.pid", "endpoint-4631.log", "endpoint-4631.token", "state/4631"]


def test_without_a_checkout_the_state_dir_is_in_the_users_cache(monkeypatch, tmp_path):
    # given: an installed copy (no pyproject.toml beside the package)
    monkeypatch.delenv(paths.ENV_STATE_DIR, raising=False)
    monkeypatch.setattr(paths, "project_root", lambda: tmp_path / "site-packages")
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    # when
    where = paths.state_dir()
    # then
    assert where == tmp_path / "home" / ".cache" / "ddb-streams-workshop" and where.is_dir()


def test_in_a_checkout_the_state_dir_is_its_dot_workshop(monkeypatch):
    # given
    monkeypatch.delenv(paths.ENV_STATE_DIR, raising=False)
    # when / then
    assert paths.state_dir() == paths.project_root() / ".workshop"


def test_a_directorys_size_counts_the_files_under_it_and_a_missing_one_is_empty(tmp_path):
    # given
    (tmp_path / "a").mkdir()
    (tmp_path / "a" / "one").write_bytes(b"x" * 10)
    (tmp_path / "two").write_bytes(b"y" * 5)
    # when / then
    assert paths.directory_size(tmp_path) == 15
    assert paths.directory_size(tmp_path / "nothing") == 0


def test_a_state_dir_given_for_a_block_is_undone_after_it(monkeypatch, tmp_path):
    # given
    monkeypatch.setenv(paths.ENV_STATE_DIR, str(tmp_path / "session"))
    # when
    with paths.using_state_dir(tmp_path / "other"):
        inside = paths.pid_file(4600)
    # then: a pid file written in the block is found again only in such a block
    assert inside == tmp_path / "other" / "endpoint-4600.pid"
    assert paths.pid_file(4600) == tmp_path / "session" / "endpoint-4600.pid"


def test_a_state_dir_given_where_none_was_set_leaves_none_set(monkeypatch, tmp_path):
    # given
    monkeypatch.delenv(paths.ENV_STATE_DIR, raising=False)
    # when
    with paths.using_state_dir(tmp_path):
        pass
    # then
    assert paths.ENV_STATE_DIR not in os.environ
