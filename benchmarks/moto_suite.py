"""``python -m benchmarks.moto_suite``: moto's own DynamoDB and Streams tests, as a test double.

A project that uses an emulator as its test double runs its own tests against it.
moto's tests of DynamoDB and DynamoDB Streams are such a suite: in moto's
*server mode* (``TEST_SERVER_MODE=true``) every test talks over HTTP to the
endpoint named by ``TEST_SERVER_MODE_ENDPOINT`` and wipes it with
``POST /moto-api/reset`` before it starts. This runs that suite, from the sdist of
the moto version pinned in ``requirements.lock``, against plain ``moto.server``
and against our endpoint, alternating, and prints for each the wall time, the
counts, the ratio of times, and every test whose outcome differs, with its
first error line.

The tests run from their own virtualenv (``.venv-peers/moto-suite``, made by
``make bench-moto-suite``: moto with the same boto3/botocore pins, pytest,
freezegun); the two servers run from ``.venv`` (:mod:`benchmarks.rivals`).
Results go to ``benchmarks/results/moto-suite-<UTC time>.json``. Nothing here
asserts: a figure that misses its target is printed, not raised.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tarfile
import tempfile
import time
import xml.etree.ElementTree as ET
from importlib.metadata import version
from pathlib import Path
from typing import Any

from benchmarks import rivals

ROOT = Path(__file__).resolve().parents[1]
SUITE_VENV = rivals.PEERS_DIR / "moto-suite"
RESULTS = Path(__file__).with_name("results")
# What moto's DynamoDB tests import besides themselves.
MEMBERS = ("tests/__init__.py", "tests/conftest.py", "tests/markers.py",
           "tests/test_s3/__init__.py", "tests/test_dynamodb/", "tests/test_dynamodbstreams/")
SUITES = ("tests/test_dynamodb", "tests/test_dynamodbstreams")


class SuiteSetupError(RuntimeError):
    """The suite's virtualenv or moto's sdist is missing (our side: the set-up)."""


def test_tree(moto_version: str) -> Path:
    """moto's tests of ``moto_version``, extracted once from its sdist (pip's cache)."""
    tree = SUITE_VENV / f"tests-{moto_version}"
    if (tree / "tests" / "test_dynamodb").is_dir() and (tree / "pytest.ini").exists():
        return tree
    download = SUITE_VENV / "sdist"
    download.mkdir(parents=True, exist_ok=True)
    subprocess.run([sys.executable, "-m", "pip", "download", "--quiet", "--no-deps",
                    "--no-binary", ":all:", "--disable-pip-version-check",
                    f"moto=={moto_version}", "-d", str(download)], check=True)
    sdist = download / f"moto-{moto_version}.tar.gz"
    prefix = f"moto-{moto_version}/"
    with tarfile.open(sdist) as archive:
        wanted = [m for m in archive.getmembers()
                  if m.name.startswith(prefix)
                  and m.name[len(prefix):].startswith(MEMBERS)]
        for member in wanted:
            member.name = member.name[len(prefix):]
        archive.extractall(tree, members=wanted, filter="data")
    # Its own (empty) configuration: pytest must not climb to this repository's.
    (tree / "pytest.ini").write_text("[pytest]\n")
    return tree


def run_suite(tree: Path, url: str, junit: Path) -> dict[str, Any]:
    """Run the suite against ``url``; wall time and each test's outcome."""
    python = SUITE_VENV / "bin" / "python"
    if not python.exists():
        raise SuiteSetupError(f"{python} is missing: run `make bench-moto-suite`, which "
                              "makes the suite's own virtualenv")
    env = {k: v for k, v in os.environ.items()
           if not k.startswith(("AWS_", "WORKSHOP_", "VIRTUAL_ENV", "PYTHONPATH"))}
    env.update({"TEST_SERVER_MODE": "true", "TEST_SERVER_MODE_ENDPOINT": url,
                "AWS_ACCESS_KEY_ID": "testing", "AWS_SECRET_ACCESS_KEY": "testing",
                "AWS_DEFAULT_REGION": "us-east-1"})
    start = time.perf_counter()
    subprocess.run([str(python), "-m", "pytest", *SUITES, "-q", "-p", "no:cacheprovider",
                    "--tb=line", f"--junitxml={junit}"], cwd=tree, env=env,
                   stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, check=False)
    wall = time.perf_counter() - start
    return {"wall_s": round(wall, 2), "outcomes": outcomes(junit)}


def outcomes(junit: Path) -> dict[str, tuple[str, str]]:
    """``{test id: (outcome, first line of its error)}`` from a JUnit XML report."""
    result: dict[str, tuple[str, str]] = {}
    for case in ET.parse(junit).getroot().iter("testcase"):
        name = f"{case.get('classname')}::{case.get('name')}"
        outcome, detail = "passed", ""
        for tag in ("failure", "error", "skipped"):
            found = case.find(tag)
            if found is not None:
                outcome = {"failure": "failed", "error": "error", "skipped": "skipped"}[tag]
                detail = (found.get("message") or "").splitlines()[0][:200] \
                    if found.get("message") else ""
                break
        result[name] = (outcome, detail)
    return result


def counts(results: dict[str, tuple[str, str]]) -> dict[str, int]:
    """How many tests passed, failed, errored and were skipped."""
    out = {"passed": 0, "failed": 0, "error": 0, "skipped": 0}
    for outcome, _ in results.values():
        out[outcome] += 1
    return out


def main(argv: list[str] | None = None) -> int:
    """Run the suite ``--rounds`` times on each server (alternating) and print figures."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=2)
    args = parser.parse_args(argv)
    moto_version = version("moto")
    tree = test_tree(moto_version)
    runs: dict[str, list[dict[str, Any]]] = {"moto": [], "ours": []}
    with tempfile.TemporaryDirectory(prefix="moto-suite-") as tmp:
        workdir = Path(tmp)
        with rivals.running(["moto", "ours"]) as running:
            for round_ in range(args.rounds):
                order = ["moto", "ours"] if round_ % 2 == 0 else ["ours", "moto"]
                for name in order:
                    junit = workdir / f"{name}-{round_}.xml"
                    run = run_suite(tree, running[name].url, junit)
                    runs[name].append(run)
                    print(f"round {round_ + 1}: {name:4} {run['wall_s']:7.1f} s  "
                          f"{counts(run['outcomes'])}", flush=True)
    report = summary(runs, moto_version)
    print_report(report)
    RESULTS.mkdir(exist_ok=True)
    stamp = time.strftime("%Y%m%dT%H%M%SZ", time.gmtime())
    (RESULTS / f"moto-suite-{stamp}.json").write_text(json.dumps(report, indent=2))
    return 0


def summary(runs: dict[str, list[dict[str, Any]]], moto_version: str) -> dict[str, Any]:
    """Median times, counts of the last round, and the tests whose outcome differs."""
    theirs, ours = runs["moto"][-1]["outcomes"], runs["ours"][-1]["outcomes"]
    differ = {name: {"moto": theirs.get(name, ("absent", ""))[0],
                     "ours": ours.get(name, ("absent", ""))[0],
                     "ours_error": ours.get(name, ("", ""))[1]}
              for name in sorted(set(theirs) | set(ours))
              if theirs.get(name, ("absent",))[0] != ours.get(name, ("absent",))[0]}
    times = {name: statistics.median(r["wall_s"] for r in rounds)
             for name, rounds in runs.items()}
    return {"moto_version": moto_version, "tests": len(theirs),
            "wall_s": times, "wall_s_rounds": {n: [r["wall_s"] for r in rounds]
                                              for n, rounds in runs.items()},
            "ratio_ours_to_moto": round(times["ours"] / times["moto"], 2),
            "counts": {"moto": counts(theirs), "ours": counts(ours)}, "differ": differ}


def print_report(report: dict[str, Any]) -> None:
    """The figures, then the tests whose outcome differs."""
    print(f"\nmoto {report['moto_version']}'s DynamoDB + Streams tests ({report['tests']}), "
          "server mode")
    for name in ("moto", "ours"):
        print(f"  {name:4}: {report['wall_s'][name]:6.1f} s (median of "
              f"{report['wall_s_rounds'][name]})  {report['counts'][name]}")
    print(f"  ours / plain moto: {report['ratio_ours_to_moto']}  (target <= 1.5)")
    print(f"\n{len(report['differ'])} tests differ (plain moto -> ours):")
    for name, row in report["differ"].items():
        print(f"  {row['moto']:>7} -> {row['ours']:<7} {name}\n{'':20}{row['ours_error'][:150]}")


if __name__ == "__main__":
    raise SystemExit(main())
