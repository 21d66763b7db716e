"""The workshop's dress rehearsal: every notebook against AWS's timing, then the cleanup proof.

``make rehearsal`` runs this: a fresh, ephemeral local endpoint in the AWS timing
profile (``--profile aws``, ``--time-scale S``, 0.1 by default), every notebook of
the workshop headlessly with papermill in order (``99_cleanup`` last), then
:mod:`tools.leftover_check`: nothing of the workshop may be left, by tag or by name.
A failing notebook does not stop the run: the next ones run too, and the summary
names each failing cell (its execution count, its exception) and the time of every
notebook::

    python -m tools.rehearsal [--port 4599] [--time-scale 0.1] [--calls boto3|cli]
                              [--out build/rehearsal]

Exits 1 when a notebook failed, a taught call was not made over the CLI, or something
was left.
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

DEFAULT_PORT = 4599
DEFAULT_TIME_SCALE = 0.1
FIRST_REGION = "us-east-1"  # the notebooks' region on the local endpoint


@dataclass
class Outcome:
    """How one notebook went."""

    name: str
    seconds: float
    failure: str = ""


def _failure(exc: BaseException, output: Path) -> str:
    cell = getattr(exc, "exec_count", None)
    where = f"cell [{cell}]" if cell is not None else "a cell"
    evalue = str(getattr(exc, "evalue", exc)).strip().splitlines()
    first = evalue[0] if evalue else ""
    return f"{where}: {getattr(exc, 'ename', type(exc).__name__)}: {first[:300]} ({output})"


def rehearse(port: int, time_scale: float, out: Path, via: str = "boto3") -> int:
    """Run the rehearsal; returns the exit status."""
    from helpers import calls
    from helpers.regions import second_region_of
    from localaws import lifecycle
    from localaws.profile.settings import DELAYS, ProfileSettings
    from tools import leftover_check

    if lifecycle.port_in_use(port):
        print(f"error: port {port} is in use: the rehearsal needs a fresh endpoint "
              f"(--port, or stop what runs there)", file=sys.stderr)
        return 2
    settings = ProfileSettings("aws", time_scale)
    os.environ["WORKSHOP_LOCAL_PORT"] = str(port)  # the kernels find the endpoint there
    os.environ.pop("WORKSHOP_BACKEND", None)
    os.environ.pop("AWS_ENDPOINT_URL", None)
    log = out / "calls.jsonl"
    log.unlink(missing_ok=True)
    os.environ[calls.ENV_CALL_LOG] = str(log)
    if via == "cli":
        os.environ[calls.ENV_VIA_CLI] = "1"
    status = lifecycle.up(port, ephemeral=True, env=settings.to_env())
    print(f"rehearsal: endpoint {status['url']} (pid {status['pid']}), profile "
          f"{status.get('profile')}", flush=True)
    print("delays used: " + ", ".join(
        f"{kind} {DELAYS[kind].seconds * time_scale:g} s" for kind in DELAYS), flush=True)
    try:
        outcomes = _run_all(out)
        print(flush=True)
        second = second_region_of(FIRST_REGION)  # 08 works in two regions
        left = leftover_check.main(["--backend", "local", "--region", FIRST_REGION,
                                    "--region", second])
    finally:
        lifecycle.down(port)
    print()
    print(f"{'notebook':<36} {'time (s)':>8}  result")
    for outcome in outcomes:
        print(f"{outcome.name:<36} {outcome.seconds:>8.1f}  {outcome.failure or 'ok'}")
    total = sum(o.seconds for o in outcomes)
    failed = [o for o in outcomes if o.failure]
    print(f"{'total':<36} {total:>8.1f}  {len(failed)} of {len(outcomes)} notebooks failed; "
          f"leftovers: {'none' if left == 0 else 'some (listed above)'}")
    entries = calls.read_log(log)
    missing = calls.untaught(entries)
    wrong = sorted({e["cli"] for e in entries if e["via"] != via})
    print(f"taught calls: {len(entries)} made via {via}"
          + (f"; not made: {missing}" if missing else "; all ten taught calls among them")
          + (f"; {len(wrong)} not via {via}" if wrong else ""))
    return 1 if failed or left or missing or wrong else 0


def _run_all(out: Path) -> list[Outcome]:
    from helpers.notebook_runs import run_notebook
    from helpers.workshop import NOTEBOOKS

    outcomes = []
    for name in NOTEBOOKS:
        print(f"running {name} ...", flush=True)
        start = time.perf_counter()
        try:
            run_notebook(name, out, {"backend": "local"}, html=False)
            outcome = Outcome(name, time.perf_counter() - start)
        except Exception as exc:  # papermill's execution error names the failing cell
            outcome = Outcome(name, time.perf_counter() - start,
                              _failure(exc, out / f"{name}.ipynb"))
        print(f"  {outcome.failure or 'done'} in {outcome.seconds:.1f} s", flush=True)
        outcomes.append(outcome)
    return outcomes


def main(argv: Sequence[str] | None = None) -> int:
    """Command line of the rehearsal."""
    from helpers.workshop import BUILD_DIR

    parser = argparse.ArgumentParser(prog="python -m tools.rehearsal",
                                     description=__doc__.split("\n", 1)[0])
    parser.add_argument("--port", type=int, default=DEFAULT_PORT)
    parser.add_argument("--time-scale", type=float, default=DEFAULT_TIME_SCALE)
    parser.add_argument("--calls", choices=("boto3", "cli"), default="boto3",
                        help="make the taught calls with boto3, or with the AWS CLI's "
                             "shown lines over the wire")
    parser.add_argument("--out", type=Path, default=BUILD_DIR / "rehearsal")
    args = parser.parse_args(argv)
    args.out.mkdir(parents=True, exist_ok=True)
    return rehearse(args.port, args.time_scale, args.out.resolve(), args.calls)


if __name__ == "__main__":
    sys.exit(main())
