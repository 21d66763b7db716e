"""``python -m benchmarks.http_floor``: what one DynamoDB write costs below our code.

A sequential ``put_item`` over HTTP pays for three things: the boto3 client
(serialising, signing, urllib3, parsing the answer), the HTTP server (waitress:
reading and parsing the request, handing it to a task thread, sending the answer)
and the application (routing, checks, moto, the stream record). This benchmark
measures each part's CPU time per call on this machine, in turn:

* **a front's floor**: one HTTP server ("front", :mod:`benchmarks.http_fronts`:
  waitress with the endpoint's settings, granian, cheroot, a stdlib
  ``ThreadingHTTPServer``, uvicorn, hypercorn) in a subprocess, serving an
  application that only reads the body and answers ``{}``. The client thread's
  CPU time is the client; the subprocess's CPU time, read from ``/proc``, is the
  server. A front whose package is not installed is skipped;
* **our endpoint**: the same calls to a real ephemeral endpoint (a subprocess);
* **our application alone** is ``benchmarks.write_profile`` (no HTTP at all).

The rows alternate round by round, so that a busy machine favours none. Wall time
per call is what a sequential caller sees; CPU times are disturbed less by a busy
machine. Prints the figures; asserts nothing.
"""

from __future__ import annotations

import argparse
import json
import os
import socket
import statistics
import subprocess
import sys
import time
from typing import Any

import boto3

from benchmarks.harness import free_port, table
from benchmarks.http_fronts import SERVERS, available
from helpers.clients import get_backend
from localaws import lifecycle

ITEM = {"pk": {"S": "request#1"}, "host": {"S": "64.242.88.10"},
        "bytessent": {"N": "2969"}, "url": {"S": "/twiki/bin/view/Main/WebHome"}}


def _client(url: str) -> Any:
    return boto3.client("dynamodb", endpoint_url=url, region_name="us-east-1",
                        aws_access_key_id="bench", aws_secret_access_key="bench")


def _puts(client: Any, n: int, prefix: str) -> None:
    for i in range(n):
        client.put_item(TableName="floor", Item={**ITEM, "pk": {"S": f"{prefix}{i}"}})


def _process_cpu_s(pid: int) -> float:
    with open(f"/proc/{pid}/stat") as stat:
        fields = stat.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def _wait_listening(port: int, child: subprocess.Popen[bytes], timeout: float = 20) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if child.poll() is not None:
            raise RuntimeError(f"the front exited with {child.returncode}")
        try:
            socket.create_connection(("127.0.0.1", port), timeout=1).close()
            return
        except OSError:
            time.sleep(0.05)
    raise RuntimeError(f"nothing listens on {port} after {timeout} s")


def _measure(url: str, pid: int, n: int) -> dict[str, float]:
    client = _client(url)
    _puts(client, 100, "warm")
    server, thread, wall = _process_cpu_s(pid), time.thread_time(), time.monotonic()
    _puts(client, n, "r")
    return {"wall_us": round((time.monotonic() - wall) / n * 1e6),
            "client_us": round((time.thread_time() - thread) / n * 1e6),
            "server_us": round((_process_cpu_s(pid) - server) / n * 1e6)}


def front_floor(front: str, n: int) -> dict[str, float]:
    """Per-call wall time and CPU (us) of the client and of ``front`` serving a
    do-nothing app in a subprocess."""
    port = free_port()
    child = subprocess.Popen([sys.executable, "-m", "benchmarks.http_fronts", front, str(port)])
    try:
        _wait_listening(port, child)
        return _measure(f"http://127.0.0.1:{port}", child.pid, n)
    finally:
        child.terminate()
        try:
            child.wait(timeout=10)
        except subprocess.TimeoutExpired:
            child.kill()
            child.wait()


def endpoint_puts(n: int, stream: bool) -> dict[str, float]:
    """Per-call CPU (us) of the client and of an ephemeral endpoint, one writer."""
    port = free_port()
    status = lifecycle.up(port, ephemeral=True)
    try:
        table(get_backend("endpoint", endpoint_url=status["url"]), "floor",
              "NEW_IMAGE" if stream else None)
        return _measure(status["url"], status["pid"], n)
    finally:
        lifecycle.down(port)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("-n", type=int, default=2000, help="calls per measurement")
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--fronts", default=",".join(SERVERS),
                        help="comma-separated fronts to measure (default: all installed)")
    parser.add_argument("--no-endpoint", action="store_true",
                        help="measure the fronts only, not our endpoint")
    args = parser.parse_args()
    fronts = [front for front in args.fronts.split(",") if front]
    unknown = sorted(set(fronts) - set(SERVERS))
    if unknown:
        parser.error(f"unknown front(s) {', '.join(unknown)}; known: {', '.join(SERVERS)}")
    missing = [front for front in fronts if not available(front)]
    if missing:
        print(f"skipped (not installed): {', '.join(missing)}")
    rows: dict[str, list[dict[str, float]]] = {}
    for _ in range(args.rounds):  # alternate, so that a busy machine favours none
        for front in fronts:
            if front not in missing:
                rows.setdefault(f"{front} floor (do-nothing app)", []).append(
                    front_floor(front, args.n))
        if not args.no_endpoint:
            rows.setdefault("our endpoint, table without stream", []).append(
                endpoint_puts(args.n, stream=False))
            rows.setdefault("our endpoint, table with stream", []).append(
                endpoint_puts(args.n, stream=True))
    print(f"put_item, {args.n} sequential calls, per call (us): wall time, CPU time of "
          f"the client and of the server; best of {args.rounds} rounds by wall time, "
          f"then each column's median:")
    print(f"{'':38} {'wall':>7} {'client':>7} {'server':>7}   {'median:':>7} {'wall':>7} "
          f"{'client':>7} {'server':>7}")
    best, medians = {}, {}
    for label, runs in rows.items():
        best[label] = min(runs, key=lambda r: r["wall_us"])
        medians[label] = {key: statistics.median(r[key] for r in runs) for key in runs[0]}
        row, median = best[label], medians[label]
        print(f"{label:38} {row['wall_us']:7} {row['client_us']:7} {row['server_us']:7}   "
              f"{'':7} {median['wall_us']:7.0f} {median['client_us']:7.0f} "
              f"{median['server_us']:7.0f}")
    print(json.dumps({"best": best, "median": medians, "rounds": rows}))


if __name__ == "__main__":
    main()
