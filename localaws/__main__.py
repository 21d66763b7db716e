"""``python -m localaws up | down | status | reset | serve [--port N] [options]``.

``up`` and ``serve`` take ``--state-dir DIR`` (default ``.workshop/state/<port>/``)
or ``--ephemeral`` (keep no state); ``reset`` stops the endpoint, deletes its saved
state and starts it, empty.

Stream settings (``up`` and ``serve``; each also as an environment variable, which
``up`` passes to the ``serve`` process): ``--shard-lifetime SECONDS``
(``WORKSHOP_LOCAL_SHARD_LIFETIME``, default 14400), ``--stream-retention SECONDS``
(``WORKSHOP_LOCAL_STREAM_RETENTION``, default 86400), ``--ttl-sweep SECONDS``
(``WORKSHOP_LOCAL_TTL_SWEEP``, default 5).

Timing (``up`` and ``serve``): ``--profile default|aws`` (``WORKSHOP_LOCAL_PROFILE``)
and ``--time-scale S`` (``WORKSHOP_LOCAL_TIME_SCALE``, default 1.0): ``aws`` shows
AWS's intermediate states and delays, each multiplied by ``S`` (:mod:`localaws.profile`);
``--max-delay SECONDS`` (``WORKSHOP_LOCAL_PROFILE_MAX_DELAY``) caps each scaled delay.

``python -m helpers.local`` is an alias kept for older notes.
"""

from __future__ import annotations

import argparse
import os
import shutil
import sys
import time
from pathlib import Path

from localaws import lifecycle
from localaws.gate import Gate, GateConfigError
from localaws.paths import default_port, directory_size, log_file, saved_state_dir
from localaws.profile.settings import ProfileSettings, ProfileSettingsError
from localaws.streams.settings import (
    ENV_SHARD_LIFETIME,
    ENV_STREAM_RETENTION,
    ENV_TTL_SWEEP,
    StreamSettings,
    StreamSettingsError,
)

_STREAM_FLAGS = (("--shard-lifetime", "shard_lifetime", ENV_SHARD_LIFETIME,
                  "seconds a stream shard stays open before it rolls over (default 14400)"),
                 ("--stream-retention", "stream_retention", ENV_STREAM_RETENTION,
                  "seconds stream records are kept before they are trimmed (default 86400)"),
                 ("--ttl-sweep", "ttl_sweep", ENV_TTL_SWEEP,
                  "seconds between two deletions of expired TTL items (default 5)"))


def _stream_env(args: argparse.Namespace) -> dict[str, str]:
    """The stream settings given as flags, as environment variables (validated)."""
    env = {var: repr(float(getattr(args, field))) for _, field, var, _ in _STREAM_FLAGS
           if getattr(args, field) is not None}
    StreamSettings.from_env({**os.environ, **env})
    return env


def _profile_env(args: argparse.Namespace) -> dict[str, str]:
    """The profile flags as environment variables (validated); none when not given."""
    env = {}
    if args.profile is not None:
        env["WORKSHOP_LOCAL_PROFILE"] = args.profile
    if args.time_scale is not None:
        env["WORKSHOP_LOCAL_TIME_SCALE"] = repr(args.time_scale)
    if args.max_delay is not None:
        env["WORKSHOP_LOCAL_PROFILE_MAX_DELAY"] = repr(args.max_delay)
    ProfileSettings.from_env({**os.environ, **env})
    return env


def main(argv: list[str] | None = None) -> int:
    """Run the command line; returns the exit status."""
    parser = argparse.ArgumentParser(
        prog="python -m localaws",
        description="The workshop's embedded local AWS endpoint (127.0.0.1 only).")
    parser.add_argument("command", choices=["up", "down", "status", "reset", "serve"])
    parser.add_argument("--port", type=int, default=None,
                        help="TCP port (default: WORKSHOP_LOCAL_PORT or 4566)")
    keep = parser.add_mutually_exclusive_group()
    keep.add_argument("--state-dir", type=Path, default=None, metavar="DIR",
                      help="where the endpoint saves its state (default: "
                           ".workshop/state/<port>/)")
    keep.add_argument("--ephemeral", action="store_true",
                      help="keep no state: everything is gone when the endpoint stops")
    for flag, field, var, text in _STREAM_FLAGS:
        parser.add_argument(flag, dest=field, type=float, default=None, metavar="SECONDS",
                            help=f"{text}; also {var} (up, serve)")
    parser.add_argument("--profile", choices=["default", "aws"], default=None,
                        help="timing: 'aws' shows AWS's intermediate states and delays; "
                             "also WORKSHOP_LOCAL_PROFILE (up, serve; default: default)")
    parser.add_argument("--time-scale", type=float, default=None, metavar="S",
                        help="multiply every delay of the aws profile by S (default 1.0); "
                             "also WORKSHOP_LOCAL_TIME_SCALE")
    parser.add_argument("--max-delay", type=float, default=None, metavar="SECONDS",
                        help="no delay of the aws profile longer than this once scaled "
                             "(the order of the states, quickly); also "
                             "WORKSHOP_LOCAL_PROFILE_MAX_DELAY")
    parser.add_argument("--allow-host", action="append", default=[], metavar="HOST",
                        help="also answer requests with this Host header (name or name:port; "
                             "repeatable); default: 127.0.0.1, localhost and [::1] only")
    parser.add_argument("--allow-origin", action="append", default=[], metavar="ORIGIN",
                        help="let a browser page from this origin call the endpoint, e.g. "
                             "http://localhost:8080 (repeatable); default: none")
    args = parser.parse_args(argv)
    port = args.port or default_port()
    state = args.state_dir or saved_state_dir(port)
    try:
        Gate(port, "", args.allow_host, args.allow_origin)
    except GateConfigError as exc:
        parser.error(str(exc))
    try:
        stream_env = {**_stream_env(args), **_profile_env(args)}
    except (StreamSettingsError, ProfileSettingsError) as exc:
        parser.error(str(exc))

    if args.command == "serve":
        from localaws.server import serve

        os.environ.update(_profile_env(args))  # the endpoint reads its profile from there

        return serve(port, None if args.ephemeral else state,
                     StreamSettings.from_env({**os.environ, **stream_env}),
                     args.allow_host, args.allow_origin)
    if args.command == "reset":
        return _reset(port, state, args.ephemeral)
    if args.command == "up":
        try:
            status = lifecycle.up(port, state_dir=args.state_dir, ephemeral=args.ephemeral,
                                  env=stream_env, allow_hosts=tuple(args.allow_host),
                                  allow_origins=tuple(args.allow_origin))
        except lifecycle.EndpointStartError as exc:
            print(f"error: {exc}", file=sys.stderr)
            return 1
        wanted = StreamSettings.from_env({**os.environ, **stream_env})
        running = status.get("streams")
        if running is not None and running != {
                "shard_lifetime": wanted.shard_lifetime,
                "stream_retention": wanted.stream_retention, "ttl_sweep": wanted.ttl_sweep}:
            print(f"warning: the endpoint was already running with stream settings {running}; "
                  "run 'down' first to change them", file=sys.stderr)
        wanted_profile = ProfileSettings.from_env({**os.environ, **stream_env}).document()
        if status.get("profile", wanted_profile) != wanted_profile:
            print(f"warning: the endpoint was already running with profile "
                  f"{status['profile']}; run 'down' first to change it", file=sys.stderr)
        print(f"local AWS endpoint running at {status['url']} (pid {status['pid']})")
        print(f"use it with: export AWS_ENDPOINT_URL={status['url']}")
        print(f"state: {_describe_state(status.get('state'))}")
        print(f"profile: {_describe_profile(status.get('profile'))}")
        return 0
    if args.command == "down":
        stopped = lifecycle.down(port)
        print("stopped" if stopped else f"nothing was running on port {port}")
        return 0
    status = lifecycle.health(port)
    if status is None:
        print(f"not running on port {port}")
        print(f"  saved state {state} ({_size(directory_size(state))})")
        return 3
    uptime = time.strftime("%H:%M:%S", time.gmtime(status["uptime_s"]))
    print(f"running at {status['url']}\n  pid {status['pid']}\n  uptime {uptime}\n"
          f"  functions {status['functions']} (warm environments {status['environments']})\n"
          f"  event source mappings {status['mappings']}\n"
          f"  state {_describe_state(status.get('state'))}\n"
          f"  profile {_describe_profile(status.get('profile'))}\n  log {log_file(port)}")
    return 0


def _reset(port: int, state: Path, ephemeral: bool) -> int:
    """Stop the endpoint, delete its saved state, start it again empty."""
    lifecycle.down(port)
    if state.exists():
        shutil.rmtree(state)
        print(f"deleted the saved state in {state}")
    else:
        print(f"no saved state in {state}")
    try:
        status = lifecycle.up(port, state_dir=state, ephemeral=ephemeral)
    except lifecycle.EndpointStartError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    print(f"local AWS endpoint running, empty, at {status['url']}")
    return 0


def _describe_state(state: dict | None) -> str:
    if not state or state.get("ephemeral"):
        return "not saved (--ephemeral): everything is gone when the endpoint stops"
    saved = state.get("saved_at")
    when = time.strftime("%H:%M:%S", time.localtime(saved)) if saved else "not yet"
    return f"{state['dir']} ({_size(state.get('bytes', 0))}, last saved {when})"


def _describe_profile(profile: dict | None) -> str:
    if not profile or profile.get("name") == "default":
        return "default (no delays)"
    cap = f", at most {profile['max_delay_s']} s" if profile.get("max_delay_s") else ""
    return (f"{profile['name']} (AWS's delays x {profile['time_scale']}{cap}, metric period "
            f"{profile['metric_period_s']} s)")


def _size(count: int) -> str:
    for unit in ("bytes", "KB", "MB", "GB"):
        if count < 1024 or unit == "GB":
            return f"{count:.0f} {unit}" if unit == "bytes" else f"{count:.1f} {unit}"
        count /= 1024
    return f"{count} bytes"


if __name__ == "__main__":
    sys.exit(main())
