"""``python -m localaws up | down | status | serve [--port N]``.

``python -m helpers.local`` is an alias kept for older notes.
"""

from __future__ import annotations

import argparse
import sys
import time

from localaws import lifecycle
from localaws.gate import Gate, GateConfigError
from localaws.paths import default_port, log_file


def main(argv: list[str] | None = None) -> int:
    """Run the command line; returns the exit status."""
    parser = argparse.ArgumentParser(
        prog="python -m localaws",
        description="The workshop's embedded local AWS endpoint (127.0.0.1 only).")
    parser.add_argument("command", choices=["up", "down", "status", "serve"])
    parser.add_argument("--port", type=int, default=None,
                        help="TCP port (default: WORKSHOP_LOCAL_PORT or 4566)")
    parser.add_argument("--allow-host", action="append", default=[], metavar="HOST",
                        help="also answer requests with this Host header (name or name:port; "
                             "repeatable); default: 127.0.0.1, localhost and [::1] only")
    parser.add_argument("--allow-origin", action="append", default=[], metavar="ORIGIN",
                        help="let a browser page from this origin call the endpoint, e.g. "
                             "http://localhost:8080 (repeatable); default: none")
    args = parser.parse_args(argv)
    port = args.port or default_port()
    try:
        Gate(port, "", args.allow_host, args.allow_origin)
    except GateConfigError as exc:
        parser.error(str(exc))

    if args.command == "serve":
        from localaws.server import serve

        serve(port, args.allow_host, args.allow_origin)
        return 0
    if args.command == "up":
        try:
            status = lifecycle.up(port, tuple(args.allow_host), tuple(args.allow_origin))
        except lifecycle.EndpointStartError as exc:
            print(f"error: {exc}", file=sys.stderr)
            return 1
        print(f"local AWS endpoint running at {status['url']} (pid {status['pid']})")
        print(f"use it with: export AWS_ENDPOINT_URL={status['url']}")
        return 0
    if args.command == "down":
        stopped = lifecycle.down(port)
        print("stopped" if stopped else f"nothing was running on port {port}")
        return 0
    status = lifecycle.health(port)
    if status is None:
        print(f"not running on port {port}")
        return 3
    uptime = time.strftime("%H:%M:%S", time.gmtime(status["uptime_s"]))
    print(f"running at {status['url']}\n  pid {status['pid']}\n  uptime {uptime}\n"
          f"  functions {status['functions']} (warm environments {status['environments']})\n"
          f"  event source mappings {status['mappings']}\n  log {log_file(port)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
