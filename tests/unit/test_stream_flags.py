"""The stream flags of ``python -m localaws`` become environment for ``serve``."""

from __future__ import annotations

import argparse

import pytest

from localaws.__main__ import _stream_env, main


def test_stream_flags_become_the_serve_processs_environment():
    # given
    args = argparse.Namespace(shard_lifetime=4.0, stream_retention=30.0, ttl_sweep=None)
    # when
    env = _stream_env(args)
    # then
    assert env == {"WORKSHOP_LOCAL_SHARD_LIFETIME": "4.0",
                   "WORKSHOP_LOCAL_STREAM_RETENTION": "30.0"}


@pytest.mark.parametrize("flag", ["--shard-lifetime", "--stream-retention", "--ttl-sweep"])
def test_a_stream_flag_that_is_not_positive_is_a_usage_error(flag, capsys):
    # when
    with pytest.raises(SystemExit) as exit_info:
        main(["up", "--port", "1", flag, "0"])
    # then
    assert exit_info.value.code == 2
    assert "positive number of seconds" in capsys.readouterr().err
