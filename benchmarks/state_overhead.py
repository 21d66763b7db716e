"""What saving the state costs: ephemeral vs durable endpoints, measured alternately.

``python -m benchmarks.state_overhead [--rounds 3]`` starts an endpoint with
``--ephemeral`` and one with a state directory, in turn, ``rounds`` times each, and
measures in each the write -> handler-start latency (batch size 1, steady writes)
and raw ``put_item`` throughput (4 writers). The latency is summarised per round
(median of the rounds' p50 and p99) and over every round's writes together
(``handler_start_pooled``, whose p99 is far steadier). Alternating keeps a busy shared machine
from favouring one side. Prints figures; asserts nothing.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import tempfile
import time
from typing import Any

from benchmarks.harness import (
    count,
    free_port,
    percentiles,
    role,
    table,
    timed_writers,
    wait_until,
)
from benchmarks.scenarios import TIMED_COPY, _deploy, _timings, _write_steady
from helpers.clients import get_backend
from localaws import lifecycle


def _cpu_s(pid: int) -> float:
    """CPU seconds of the endpoint process and its reaped children (snapshot writers)."""
    with open(f"/proc/{pid}/stat") as stat:
        fields = stat.read().rsplit(")", 1)[1].split()
    return sum(int(f) for f in fields[11:15]) / os.sysconf("SC_CLK_TCK")


def _written(health: dict[str, Any]) -> tuple[int, float]:
    """Snapshot bytes written so far and the health document's time (``status``)."""
    state = health.get("state") or {}
    if "written_bytes" in state:
        return state["written_bytes"], time.monotonic()
    # An endpoint that rewrites the whole state: every snapshot writes ``bytes`` of parts.
    return state.get("snapshots", 0) * state.get("stored_bytes", 0), time.monotonic()


def _one_run(durable: bool, writes: int, rate: float, puts: int,
             port: int | None = None) -> dict[str, Any]:
    port = port or free_port()
    state = tempfile.mkdtemp(prefix="bench-state-")
    status = lifecycle.up(port, state_dir=state, ephemeral=not durable)
    pid = status["pid"]
    try:
        backend = get_backend("endpoint", endpoint_url=status["url"])
        role_arn = role(backend, "bench-state", [{
            "Effect": "Allow", "Action": ["dynamodb:BatchWriteItem"], "Resource": "*"}])
        stream = table(backend, "src")
        table(backend, "dst", stream=None)
        _deploy(backend, "copy", TIMED_COPY, role_arn, Timeout=30,
                Environment={"Variables": {"REPLICA": "dst"}})
        lam = backend.client("lambda")
        lam.put_function_concurrency(FunctionName="copy", ReservedConcurrentExecutions=1)
        lam.invoke(FunctionName="copy", Payload=b'{"Records": []}')
        lam.create_event_source_mapping(FunctionName="copy", EventSourceArn=stream,
                                         StartingPosition="LATEST", BatchSize=1)
        time.sleep(0.5)
        cpu_before = _cpu_s(pid)
        written_before = _written(lifecycle.health(port) or {})
        _write_steady(backend, "src", writes, rate, "w")
        wait_until(lambda: count(backend, "dst") >= writes, timeout=300, interval=0.2)
        stream_cpu = _cpu_s(pid) - cpu_before
        written_after = _written(lifecycle.health(port) or {})
        start_lat, _, _ = _timings(backend, "copy")
        table(backend, "raw")

        def write(part: int) -> None:
            ddb = backend.client("dynamodb")
            for i in range(part, puts, 4):
                ddb.put_item(TableName="raw", Item={"pk": {"S": f"r{i}"},
                                                   "payload": {"S": "x" * 100}})

        cpu_before = _cpu_s(pid)
        seconds = timed_writers(write, 4)
        put_cpu = _cpu_s(pid) - cpu_before
        health = lifecycle.health(port) or {}
        return {"durable": durable, "handler_start": percentiles(start_lat),
                "handler_start_ms": [round(x, 3) for x in start_lat],
                "put_item_per_s": round(puts / seconds, 1),
                # Endpoint CPU (its own threads and reaped snapshot writers), per request
                # (ms per write = s per 1,000 writes).
                "cpu_ms_per_streamed_write": round(stream_cpu * 1000 / writes, 2),
                "cpu_ms_per_put": round(put_cpu * 1000 / puts, 2),
                # Snapshot bytes committed per second while the writes streamed.
                "snapshot_bytes_per_s": round(
                    (written_after[0] - written_before[0])
                    / max(written_after[1] - written_before[1], 1e-9)) if durable else None,
                "state": health.get("state")}
    finally:
        lifecycle.down(port)
        shutil.rmtree(state, ignore_errors=True)


def main() -> None:
    """Run the alternating rounds and print the figures as JSON."""
    parser = argparse.ArgumentParser()
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--writes", type=int, default=500)
    parser.add_argument("--rate", type=float, default=100.0)
    parser.add_argument("--puts", type=int, default=2000)
    parser.add_argument("--port", type=int, default=None,
                        help="first port to use (the runs take it and the next ones in turn)")
    args = parser.parse_args()
    runs = []
    for round_ in range(args.rounds):
        for durable in (False, True):
            port = args.port + 2 * round_ + durable if args.port else None
            run = _one_run(durable, args.writes, args.rate, args.puts, port)
            print(json.dumps({k: v for k, v in run.items() if k != "handler_start_ms"}),
                  flush=True)
            runs.append(run)
    summary = {}
    for durable in (False, True):
        mine = [r for r in runs if r["durable"] is durable]
        # Every round's writes together: a p99 of 500 writes is their 5th slowest.
        pooled = percentiles([x for r in mine for x in r["handler_start_ms"]])
        summary["durable" if durable else "ephemeral"] = {
            "handler_start_pooled": pooled,
            "handler_start_p50_ms": statistics.median(r["handler_start"]["p50"] for r in mine),
            "handler_start_p99_ms": statistics.median(r["handler_start"]["p99"] for r in mine),
            "put_item_per_s": statistics.median(r["put_item_per_s"] for r in mine),
            "cpu_ms_per_streamed_write": statistics.median(
                r["cpu_ms_per_streamed_write"] for r in mine),
            "cpu_ms_per_put": statistics.median(r["cpu_ms_per_put"] for r in mine),
        }
        if durable:
            summary["durable"]["snapshot_bytes_per_s"] = statistics.median(
                r["snapshot_bytes_per_s"] for r in mine)
    print(json.dumps(summary, indent=2))


if __name__ == "__main__":
    main()
