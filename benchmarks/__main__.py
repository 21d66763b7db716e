"""``python -m benchmarks [--quick] [--skip-workshop]``: run every benchmark, print one table.

Figures go to ``benchmarks/results/latest.json`` together with the machine they came
from. Targets are printed beside the figures; a miss is reported, not raised.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import time
from pathlib import Path
from typing import Any

from benchmarks import scenarios

RESULTS = Path(__file__).with_name("results") / "latest.json"

# (label, path into the results, target text, predicate)
Row = tuple[str, tuple[str, ...], str, Any]


def _at_most(limit: float) -> Any:
    return lambda v: v <= limit


def _latency_rows() -> list[Row]:
    rows: list[Row] = []
    for size in (1, 10, 100):
        batch = f"batch_{size}"
        start = ("latency", batch, "write_to_handler_start_ms")
        rows += [
            (f"write -> handler start p50 (batch {size}), ms", (*start, "p50"), "<= 25",
             _at_most(25)),
            (f"write -> handler start p99 (batch {size}), ms", (*start, "p99"), "<= 100",
             _at_most(100)),
            (f"write -> replica visible p50 (batch {size}), ms",
             ("latency", batch, "write_to_replica_ms", "p50"), "<= 40", _at_most(40)),
        ]
    return rows


ROWS: list[Row] = [
    *_latency_rows(),
    ("baseline 4 polls/s: handler start p50 (batch 10), ms",
     ("baseline", "batch_10", "write_to_handler_start_ms", "p50"), "(AWS base rate)", None),
    ("raw write rate, records/s", ("throughput", "raw_writes_per_s"), "(ceiling)", None),
    ("through the mapping, records/s", ("throughput", "through_mapping_per_s"), "", None),
    ("mapping / raw ratio", ("throughput", "ratio"), ">= 0.8", lambda v: v >= 0.8),
    ("warm invoke round trip p50, ms", ("invocation", "warm_invoke_ms", "p50"), "<= 5",
     _at_most(5)),
    ("warm invoke round trip p99, ms", ("invocation", "warm_invoke_ms", "p99"), "", None),
    ("cold start (first invoke) p50, ms", ("invocation", "cold_start_ms", "p50"), "<= 500",
     _at_most(500)),
    ("cold start max, ms", ("invocation", "cold_start_ms", "max"), "<= 500", _at_most(500)),
    ("cold start of a boto3 handler p50, ms", ("invocation", "boto3_cold_start_ms", "p50"),
     "<= 500", _at_most(500)),
    ("endpoint peak RSS (throughput run), MB", ("throughput", "endpoint_peak_rss_mb"),
     "<= 400", _at_most(400)),
    ("boto3 handler Max Memory Used, MB",
     ("invocation", "boto3_handler_max_memory_used_mb"), "<= 128", _at_most(128)),
    ("all notebooks, s", ("workshop", "total_s"), "<= 120", _at_most(120)),
]


def _get(results: dict[str, Any], path: tuple[str, ...]) -> Any:
    value: Any = results
    for key in path:
        if not isinstance(value, dict) or key not in value:
            return None
        value = value[key]
    return value


def main() -> int:
    """Run the benchmarks and print the table."""
    parser = argparse.ArgumentParser(prog="python -m benchmarks")
    parser.add_argument("--quick", action="store_true", help="fewer writes (a smoke run)")
    parser.add_argument("--skip-workshop", action="store_true")
    args = parser.parse_args()
    writes = 200 if args.quick else 1000
    results: dict[str, Any] = {"machine": {
        "cpus": os.cpu_count(), "python": platform.python_version(),
        "platform": platform.platform(), "processor": platform.processor() or platform.machine(),
    }, "started": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())}
    steps = [
        ("latency", lambda: scenarios.latency(writes=writes)),
        ("baseline", lambda: scenarios.latency(writes=writes // 2, batch_sizes=(10,),
                                               poll_interval=0.25)),
        ("throughput", lambda: scenarios.throughput(n=600 if args.quick else 3000)),
        ("invocation", lambda: scenarios.invocation(warm_calls=100 if args.quick else 300)),
    ]
    if not args.skip_workshop:
        steps.append(("workshop", scenarios.workshop))
    for name, run in steps:
        started = time.perf_counter()
        print(f"running {name} ...", flush=True)
        try:
            results[name] = run()
        except Exception as exc:  # a failed scenario is reported, the others still run
            results[name] = {"error": f"{type(exc).__name__}: {exc}"}
        results[name]["seconds"] = round(time.perf_counter() - started, 1)
    base = _get(results, ("baseline", "batch_10", "write_to_handler_start_ms", "p50"))
    ours = _get(results, ("latency", "batch_10", "write_to_handler_start_ms", "p50"))
    if base and ours:
        results["baseline"]["gap_ratio_p50"] = round(base / max(ours, 0.1), 1)
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    RESULTS.write_text(json.dumps(results, indent=2))
    print(f"\n{'figure':<52} {'value':>10}  {'target':<16} verdict")
    for label, path, target, check in ROWS:
        value = _get(results, path)
        verdict = "" if value is None or check is None else ("ok" if check(value) else "MISSED")
        shown = "n/a" if value is None else value
        print(f"{label:<52} {shown!s:>10}  {target:<16} {verdict}")
    if base and ours:
        print(f"{'gap to the 4 polls/s baseline (p50 ratio)':<52} "
              f"{results['baseline']['gap_ratio_p50']:>10}")
    print(f"\nmachine: {results['machine']}\nresults: {RESULTS}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
