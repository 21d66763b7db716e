"""``python -m benchmarks.http_floor``: what one DynamoDB write costs below our code.

A sequential ``put_item`` over HTTP pays for three things: the boto3 client
(serialising, signing, urllib3, parsing the answer), the HTTP server (waitress:
reading and parsing the request, handing it to a task thread, sending the answer)
and the application (routing, checks, moto, the stream record). This benchmark
measures each part's CPU time per call on this machine, in turn:

* **waitress floor**: waitress with the endpoint's settings in this process and an
  application that only reads the body and answers ``{}``. The client thread's CPU
  time is the client; the rest of the process's CPU time is the server;
* **our endpoint**: the same calls to a real ephemeral endpoint (a subprocess),
  whose CPU time is read from ``/proc``;
* **our application alone** is ``benchmarks.write_profile`` (no HTTP at all).

CPU times, not wall times, so a busy machine disturbs the figures less. Prints the
figures; asserts nothing.
"""

from __future__ import annotations

import argparse
import json
import os
import threading
import time
from typing import Any

import boto3

from benchmarks.harness import free_port, table
from helpers.clients import get_backend
from localaws import lifecycle

ITEM = {"pk": {"S": "request#1"}, "host": {"S": "64.242.88.10"},
        "bytessent": {"N": "2969"}, "url": {"S": "/twiki/bin/view/Main/WebHome"}}


def _client(url: str) -> Any:
    return boto3.client("dynamodb", endpoint_url=url, region_name="us-east-1",
                        aws_access_key_id="bench", aws_secret_access_key="bench")


def _answer_empty(environ: dict[str, Any], start_response: Any) -> list[bytes]:
    environ["wsgi.input"].read(int(environ.get("CONTENT_LENGTH") or 0))
    start_response("200 OK", [("Content-Type", "application/x-amz-json-1.0"),
                              ("Content-Length", "2")])
    return [b"{}"]


def _puts(client: Any, n: int, prefix: str) -> None:
    for i in range(n):
        client.put_item(TableName="floor", Item={**ITEM, "pk": {"S": f"{prefix}{i}"}})


def waitress_floor(n: int) -> dict[str, float]:
    """Per-call CPU (us) of the client and of waitress serving a do-nothing app."""
    from waitress.server import create_server

    server = create_server(_answer_empty, host="127.0.0.1", port=0, threads=64,
                           ident="floor")
    port = server.socket.getsockname()[1]
    threading.Thread(target=server.run, daemon=True).start()
    try:
        client = _client(f"http://127.0.0.1:{port}")
        _puts(client, 100, "warm")
        process, thread, wall = time.process_time(), time.thread_time(), time.monotonic()
        _puts(client, n, "r")
        client_us = (time.thread_time() - thread) / n * 1e6
        return {"wall_us": round((time.monotonic() - wall) / n * 1e6),
                "client_us": round(client_us),
                "server_us": round((time.process_time() - process) / n * 1e6 - client_us)}
    finally:
        server.close()


def _process_cpu_s(pid: int) -> float:
    with open(f"/proc/{pid}/stat") as stat:
        fields = stat.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def endpoint_puts(n: int, stream: bool) -> dict[str, float]:
    """Per-call CPU (us) of the client and of an ephemeral endpoint, one writer."""
    port = free_port()
    status = lifecycle.up(port, ephemeral=True)
    try:
        table(get_backend("endpoint", endpoint_url=status["url"]), "floor",
              "NEW_IMAGE" if stream else None)
        client = _client(status["url"])
        _puts(client, 100, "warm")
        server, thread, wall = (_process_cpu_s(status["pid"]), time.thread_time(),
                                time.monotonic())
        _puts(client, n, "r")
        return {"wall_us": round((time.monotonic() - wall) / n * 1e6),
                "client_us": round((time.thread_time() - thread) / n * 1e6),
                "server_us": round((_process_cpu_s(status["pid"]) - server) / n * 1e6)}
    finally:
        lifecycle.down(port)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("-n", type=int, default=2000, help="calls per measurement")
    parser.add_argument("--rounds", type=int, default=2)
    args = parser.parse_args()
    rows: dict[str, list[dict[str, float]]] = {}
    for _ in range(args.rounds):  # alternate, so that a busy machine favours neither
        rows.setdefault("waitress floor (do-nothing app)", []).append(waitress_floor(args.n))
        rows.setdefault("our endpoint, table without stream", []).append(
            endpoint_puts(args.n, stream=False))
        rows.setdefault("our endpoint, table with stream", []).append(
            endpoint_puts(args.n, stream=True))
    print(f"put_item, {args.n} sequential calls, CPU time per call (us), best of "
          f"{args.rounds}:")
    print(f"{'':38} {'wall':>7} {'client':>7} {'server':>7}")
    best = {}
    for label, runs in rows.items():
        best[label] = min(runs, key=lambda r: r["server_us"])
        row = best[label]
        print(f"{label:38} {row['wall_us']:7} {row['client_us']:7} {row['server_us']:7}")
    print(json.dumps(best))


if __name__ == "__main__":
    main()
