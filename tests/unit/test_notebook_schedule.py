"""Which notebooks a headless run overlaps (helpers.notebook_schedule), and its runner."""

from __future__ import annotations

import re
import threading

import nbformat
import pytest

from helpers import workshop
from helpers.notebook_schedule import STAGES, run_stages, schedule

REQUIRE = re.compile(r"workshop\.require\(\s*\w+\s*,\s*\w+\s*,(?P<needs>[^)]*)\)", re.S)
NAMES = re.compile(r"\bnames\w*\.(\w+)")


def _code(name: str) -> str:
    nb = nbformat.read(workshop.NOTEBOOKS_DIR / f"{name}.ipynb", as_version=4)
    return "\n".join(c.source for c in nb.cells if c.cell_type == "code")


def _before(stages, name: str) -> set[str]:
    """The notebooks certainly finished when ``name`` starts."""
    done: set[str] = set()
    for stage in stages:
        for lane in stage:
            if name in lane:
                return done | set(lane[:lane.index(name)])
        done |= {n for lane in stage for n in lane}
    raise AssertionError(f"{name} is in no stage")


def test_the_schedule_runs_every_notebook_once():
    # when
    placed = [name for stage in STAGES for lane in stage for name in lane]
    # then
    assert sorted(placed) == sorted(workshop.NOTEBOOKS)
    assert STAGES[0] == (("00_setup",),) and STAGES[-1] == (("99_cleanup",),)


@pytest.mark.parametrize("name", workshop.NOTEBOOKS)
def test_what_a_notebook_requires_is_made_before_it_starts(name: str):
    # given: the needs its require cell names, and the notebook that makes each
    needs = [n.strip().strip("\"'") for m in REQUIRE.finditer(_code(name))
             for n in m["needs"].split(",") if n.strip()]
    makers = ({workshop._NEEDS[need][2] for need in needs} | {"00_setup"}) - {name}
    # then
    assert makers <= _before(STAGES, name)


def test_notebooks_that_run_at_the_same_time_share_no_resource():
    # given: the workshop's resource names each notebook's code uses
    for stage in STAGES:
        used = [{lane_name: set(NAMES.findall(_code(lane_name))) for lane_name in lane}
                for lane in stage]
        # then: no name is used by two lanes of one stage
        for i, lane in enumerate(used):
            mine = set().union(*lane.values())
            for other in used[i + 1:]:
                theirs = set().union(*other.values())
                assert not mine & theirs, (stage, mine & theirs)


def test_a_subset_keeps_its_overlaps_and_an_unplaced_notebook_makes_the_run_sequential():
    # when
    some = schedule(["00_setup", "03_test_processing", "04_replication_logfile", "99_cleanup"])
    unknown = schedule(["00_setup", "04_replication_logfile", "10_new"])
    # then
    assert some == ((("00_setup",),), (("03_test_processing",), ("04_replication_logfile",)),
                    (("99_cleanup",),))
    assert unknown == ((("00_setup",),), (("04_replication_logfile",),), (("10_new",),))


def test_the_lanes_of_a_stage_run_at_the_same_time_and_stages_one_after_another():
    # given: a run that waits until both lanes of the stage are in it
    both_in = threading.Barrier(2, timeout=10)
    seen: list[tuple[str, int, bool]] = []

    def run(name: str, lane: int, ahead: bool) -> str:
        seen.append((name, lane, ahead))
        if name in ("b", "x"):
            both_in.wait()  # a BrokenBarrierError if "x" ran alone
        return name.upper()

    # when
    results = run_stages(((("a",),), (("b", "c"), ("x",)), (("z",),)), run)
    # then: results in schedule order; "ahead" where the same lane index runs later
    assert results == ["A", "B", "C", "X", "Z"]
    assert seen[0] == ("a", 0, True) and seen[-1] == ("z", 0, False)
    assert {s for s in seen if s[0] in "bcx"} == {("b", 0, True), ("c", 0, True), ("x", 1, False)}


def test_a_failing_lane_stops_and_no_later_stage_starts():
    # given
    ran: list[str] = []

    def run(name: str, lane: int, ahead: bool) -> str:
        ran.append(name)
        if name == "b":
            raise RuntimeError("cell failed")
        return name

    # when
    with pytest.raises(RuntimeError, match="cell failed"):
        run_stages(((("a",),), (("b", "c"), ("x",)), (("z",),)), run)
    # then: the other lane finished its notebook; nothing after the failure ran
    assert sorted(ran) == ["a", "b", "x"]
