"""``python -m benchmarks.peers``: the same scenarios against ours, MiniStack and plain moto.

Every scenario runs ``--rounds`` times on every rival, the rivals alternating
(the order rotates each round), so that load from the other users of a shared
machine falls on all of them alike. Each figure is printed as ours / theirs with
the ratio, as the median over the rounds with the spread (min-max) beside it.
Results go to ``benchmarks/results/peers-<UTC time>.json`` (and ``peers-latest.json``).
Nothing here asserts: a figure that misses its target is printed, not raised.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import time
from pathlib import Path
from typing import Any

from benchmarks import peer_scenarios, rivals

RESULTS = Path(__file__).with_name("results")

# (scenario, figure, label, higher is better, target text)
ROWS = [
    ("put_item_sequential", "per_s", "put_item 1 KB sequential, per s", True, ">= 2x MiniStack"),
    ("put_item_4_threads", "per_s", "put_item 1 KB, 4 threads, per s", True, ">= 2x MiniStack"),
    ("write_to_handler", "p50_ms", "write -> handler start p50, ms", False, "<= 5"),
    ("write_to_handler", "p99_ms", "write -> handler start p99, ms", False, "<= 20"),
    ("write_to_handler", "mean_batch", "  mean records per invocation", None, ""),
    ("mapping_throughput", "raw_per_s", "raw writes (4 threads), per s", True, ""),
    ("mapping_throughput", "mapped_per_s", "through a mapping, records/s", True, ""),
    ("mapping_throughput", "ratio", "through a mapping / raw", True, ">= 0.95"),
    ("create_then_describe", "create_ms", "CreateTable, ms", False, ""),
    ("create_then_describe", "describe_ms", "first DescribeTable after it, ms", False,
     "<= 1.5x moto"),
    ("reset", "reset_ms", "reset (moto-api / _ministack), ms", False, "<= 1.5x moto"),
]

# Published poll intervals, for reference beside write -> handler start.
# - AWS: "base rate of 4 times per second" (docs.aws.amazon.com/lambda/latest/dg/with-ddb.html).
# - LocalStack: LAMBDA_EVENT_SOURCE_MAPPING_POLL_INTERVAL_SEC defaults to 1 s, and an empty
#   poll backs off from 1 s up to LAMBDA_EVENT_SOURCE_MAPPING_MAX_BACKOFF_ON_EMPTY_POLL_SEC
#   = 10 s (localstack/localstack, localstack-core/localstack/config.py and
#   services/lambda_/event_source_mapping/esm_worker.py, 2026-03).
# - moto 5.2.5: no poller; StreamShard.add invokes every mapped function inside the write
#   itself, through Docker only (moto/dynamodb/models/table.py).
# - MiniStack 1.5.33: one poll thread woken by each stream write (esm_wake), else an idle
#   wait of 1 s while any mapping exists (ministack/services/lambda_svc.py, _poll_loop).
REFERENCE_LINES = [
    ("AWS Lambda (4 polls/s)", "poll every 250 ms -> handler start p50 ~125 ms + invoke"),
    ("LocalStack", "poll every 1 s (10 s after empty polls) -> p50 >= ~500 ms"),
    ("moto", "no poller: invokes inside the write, Docker only -> n/a here"),
    ("MiniStack", "woken on each write; idle wait 1 s"),
]


def _summary(values: list[float]) -> dict[str, Any]:
    return {"median": round(statistics.median(values), 2), "min": min(values),
            "max": max(values), "rounds": values}


def run(names: list[str], scenarios: list[str], rounds: int, quick: bool) -> dict[str, Any]:
    """Run every scenario ``rounds`` times on every rival, alternating; return the results."""
    results: dict[str, Any] = {
        "machine": {"cpus": os.cpu_count(), "python": platform.python_version(),
                    "platform": platform.platform(), "loadavg_start": os.getloadavg()},
        "started": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        "rounds": rounds, "quick": quick, "figures": {}, "errors": {}}
    raw: dict[str, dict[str, dict[str, list[float]]]] = {}
    print("starting the endpoints ...", flush=True)
    with rivals.running(names) as running:
        results["versions"] = {"ministack": "1.5.33", "moto": "5.2.5"}
        for scenario in scenarios:
            run_one = peer_scenarios.SCENARIOS[scenario]
            for k in range(rounds):
                order = names[k % len(names):] + names[:k % len(names)]
                for name in order:
                    rival = running[name]
                    label = f"{scenario} round {k + 1}/{rounds} on {name}"
                    started = time.perf_counter()
                    try:
                        figures = run_one(rival, quick)
                    except peer_scenarios.NotApplicableError as exc:
                        results["errors"].setdefault(scenario, {})[name] = f"n/a: {exc}"
                        print(f"  {label}: n/a", flush=True)
                        continue
                    except Exception as exc:  # a failure is reported; the others still run
                        results["errors"].setdefault(scenario, {})[name] = \
                            f"{type(exc).__name__}: {exc}"
                        print(f"  {label}: FAILED {type(exc).__name__}: {exc}", flush=True)
                        continue
                    took = time.perf_counter() - started
                    print(f"  {label}: {figures} ({took:.1f} s)", flush=True)
                    for figure, value in figures.items():
                        raw.setdefault(scenario, {}).setdefault(name, {}).setdefault(
                            figure, []).append(value)
                    # Kept as it goes: a run cut short still leaves its figures.
                    RESULTS.mkdir(parents=True, exist_ok=True)
                    (RESULTS / "peers-partial.json").write_text(json.dumps(
                        {"rounds_so_far": raw, "errors": results["errors"]}, indent=2))
        results["rss_mb_end"] = {name: running[name].rss_mb() for name in names}
    for scenario, by_rival in raw.items():
        results["figures"][scenario] = {
            name: {figure: _summary(values) for figure, values in figures.items()}
            for name, figures in by_rival.items()}
    results["machine"]["loadavg_end"] = os.getloadavg()
    results["reference_poll_intervals"] = dict(REFERENCE_LINES)
    return results


def _cell(results: dict[str, Any], scenario: str, name: str, figure: str) -> Any:
    found = results["figures"].get(scenario, {}).get(name, {}).get(figure)
    if found is not None:
        return found
    error = results["errors"].get(scenario, {}).get(name)
    return "n/a" if error and error.startswith("n/a") else ("failed" if error else None)


def _fmt(cell: Any) -> str:
    if cell is None:
        return "-"
    if isinstance(cell, str):
        return cell
    spread = f" ({cell['min']:g}-{cell['max']:g})" if len(cell["rounds"]) > 1 else ""
    return f"{cell['median']:g}{spread}"


def _ratio(ours: Any, theirs: Any) -> str:
    if not isinstance(ours, dict) or not isinstance(theirs, dict) or not theirs["median"]:
        return "-"
    return f"{ours['median'] / theirs['median']:.2f}"


def report(results: dict[str, Any], names: list[str]) -> str:
    """The table: each figure ours / each rival, and the ratio ours / theirs."""
    rivals_shown = [n for n in names if n != "ours"]
    head = f"{'figure (median over rounds, min-max)':<38}{'ours':>24}"
    for name in rivals_shown:
        head += f"{name:>24}{'  ours/' + name:>17}"
    head += "  better  target"
    lines = [head, "-" * len(head)]
    for scenario, figure, label, higher, target in ROWS:
        ours = _cell(results, scenario, "ours", figure)
        line = f"{label:<38}{_fmt(ours):>24}"
        for name in rivals_shown:
            theirs = _cell(results, scenario, name, figure)
            line += f"{_fmt(theirs):>24}{_ratio(ours, theirs):>17}"
        better = "" if higher is None else ("higher" if higher else "lower")
        lines.append(f"{line}  {better:<6}  {target}")
    lines.append("")
    lines.append("reference poll intervals (published; not measured here):")
    lines += [f"  {who:<24}{what}" for who, what in REFERENCE_LINES]
    lines.append(f"\nserver RSS at the end, MB: {results.get('rss_mb_end')}")
    lines.append(f"load average start {results['machine']['loadavg_start']}, "
                 f"end {results['machine']['loadavg_end']} on {results['machine']['cpus']} "
                 "CPUs (a loaded machine widens the spread)")
    for scenario, errors in results["errors"].items():
        for name, error in errors.items():
            if not error.startswith("n/a"):
                lines.append(f"error: {scenario} on {name}: {error}")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    """Parse the command line, run, print and save."""
    parser = argparse.ArgumentParser(prog="python -m benchmarks.peers", description=__doc__)
    parser.add_argument("--rounds", type=int, default=3, help="runs per scenario and rival")
    parser.add_argument("--quick", action="store_true", help="fewer requests (a smoke run)")
    parser.add_argument("--rivals", default="ours,ministack,moto",
                        help="comma-separated subset of ours,ministack,moto")
    parser.add_argument("--scenarios", default=",".join(peer_scenarios.SCENARIOS),
                        help="comma-separated subset of " + ",".join(peer_scenarios.SCENARIOS))
    args = parser.parse_args(argv)
    names = [n for n in args.rivals.split(",") if n]
    scenarios = [s for s in args.scenarios.split(",") if s]
    unknown = [n for n in names if n not in rivals.STARTERS] + \
        [s for s in scenarios if s not in peer_scenarios.SCENARIOS]
    if unknown:
        parser.error(f"unknown rival or scenario: {', '.join(unknown)}")
    if "reset" in scenarios:  # it wipes everything: run it last
        scenarios = [s for s in scenarios if s != "reset"] + ["reset"]
    for key, value in (("AWS_ACCESS_KEY_ID", "test"), ("AWS_SECRET_ACCESS_KEY", "test"),
                       ("AWS_DEFAULT_REGION", "us-east-1")):
        os.environ.setdefault(key, value)
    results = run(names, scenarios, args.rounds, args.quick)
    text = report(results, names)
    print("\n" + text)
    RESULTS.mkdir(parents=True, exist_ok=True)
    stamp = time.strftime("%Y%m%dT%H%M%SZ", time.gmtime())
    for path in (RESULTS / f"peers-{stamp}.json", RESULTS / "peers-latest.json"):
        path.write_text(json.dumps(results, indent=2))
    print(f"\nresults: {RESULTS / f'peers-{stamp}.json'}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
