"""Fail when a module's line coverage is under the floor (coverage.py checks only the total).

``make coverage`` runs it after ``coverage combine``::

    python -m tools.coverage_floor                 # every measured module >= 80 %
    python -m tools.coverage_floor --floor 90      # another floor

It reads the combined data (``[tool.coverage.run] data_file``), prints each package's
total and every module under the floor, and exits 1 if there is one.
"""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Iterable, Mapping
from pathlib import Path

import coverage

FLOOR = 80.0
ROOT = Path(__file__).resolve().parents[1]


def percent(covered: int, statements: int) -> float:
    """Covered lines as a percentage; a module with no statements counts as 100 %."""
    return 100.0 if statements == 0 else 100.0 * covered / statements


def below_floor(modules: Mapping[str, tuple[int, int]], floor: float) -> list[tuple[str, float]]:
    """The modules whose ``(statements, covered)`` fall under ``floor`` %, lowest first.

    Examples
    --------
    >>> below_floor({"a.py": (10, 9), "b.py": (10, 7), "c.py": (0, 0)}, 80.0)
    [('b.py', 70.0)]
    """
    low = [(name, percent(covered, statements))
           for name, (statements, covered) in modules.items()]
    return sorted(((n, p) for n, p in low if p < floor), key=lambda row: row[1])


def package_totals(modules: Mapping[str, tuple[int, int]]) -> dict[str, float]:
    """Each top-level package's line coverage (``helpers``, ``localaws``, ``lambda_src``)."""
    sums: dict[str, list[int]] = {}
    for name, (statements, covered) in modules.items():
        total = sums.setdefault(name.split("/", 1)[0], [0, 0])
        total[0] += statements
        total[1] += covered
    return {package: percent(c, s) for package, (s, c) in sorted(sums.items())}


def measured_modules(cov: coverage.Coverage) -> dict[str, tuple[int, int]]:
    """``{relative path: (statements, covered lines)}`` of every measured file."""
    data = cov.get_data()
    modules = {}
    for path in data.measured_files():
        _, statements, _, missing, _ = cov.analysis2(path)
        name = Path(os.path.relpath(path, ROOT)).as_posix()
        modules[name] = (len(statements), len(statements) - len(missing))
    return modules


def main(argv: Iterable[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--floor", type=float, default=FLOOR, help="percent (default 80)")
    args = parser.parse_args(list(argv) if argv is not None else None)
    cov = coverage.Coverage()
    cov.load()
    modules = measured_modules(cov)
    for package, share in package_totals(modules).items():
        print(f"{package:12} {share:5.1f} %")
    low = below_floor(modules, args.floor)
    for name, share in low:
        print(f"under {args.floor:g} %: {name} {share:.1f} %")
    if not low:
        print(f"every module of {len(modules)} is at {args.floor:g} % or more")
    return 1 if low else 0


if __name__ == "__main__":
    sys.exit(main())
