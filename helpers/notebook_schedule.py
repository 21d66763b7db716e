"""Which notebooks a headless run may execute at the same time, and the runner that does.

A learner runs the notebooks one after another. A headless run (``make workshop``,
the notebook tests) spends much of each notebook waiting on the lesson itself: a
function's timeout, a retry's backoff, a window closing. Two notebooks that touch
nothing in common can wait at the same time. :data:`STAGES` says which:

* the stages run one after another;
* the lanes of one stage run at the same time, each lane's notebooks in order;
* two notebooks in lanes of one stage share no table, stream, function, mapping,
  role, queue or alarm, and a notebook's prerequisites (``workshop.require``) are
  created by a notebook of an earlier stage or earlier in its lane (a unit test
  reads the notebooks' ``require`` cells and checks it).

01-03, 05 and 06 all write to the ``ecommerce`` table or count what its stream
processor does, so they stay in one lane; 04 (the ``logfile`` table and its
replicator), 07 (a table of orders of its own) and 08 (two tables of its own in two
regions) run beside them. 06 reads 04's replicator's log, so it comes after 04.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from typing import TypeVar

Lane = tuple[str, ...]
Stage = tuple[Lane, ...]
T = TypeVar("T")

STAGES: tuple[Stage, ...] = (
    (("00_setup",),),
    (
        ("01_lambda_function", "02_trigger", "03_test_processing",
         "05_failures_and_destinations"),
        ("04_replication_logfile",),
    ),
    (
        ("06_monitoring_and_troubleshooting",),
        ("07_tumbling_windows",),
        ("08_two_region_replication",),
    ),
    (("99_cleanup",),),
)


def schedule(names: Sequence[str], stages: Sequence[Stage] = STAGES) -> tuple[Stage, ...]:
    """The stages that run ``names``: ``stages`` keeping only those names.

    A name that no stage holds (a notebook added without a place in :data:`STAGES`)
    makes the whole run sequential, in the order given: never an overlap nobody
    checked.

    >>> schedule(["00_setup", "04_replication_logfile", "08_two_region_replication"])
    ((('00_setup',),), (('04_replication_logfile',),), (('08_two_region_replication',),))
    >>> schedule(["00_setup", "10_new"])
    ((('00_setup',),), (('10_new',),))
    """
    wanted = set(names)
    placed = {name for stage in stages for lane in stage for name in lane}
    if not wanted <= placed:
        return tuple(((name,),) for name in names)
    kept = (tuple(tuple(n for n in lane if n in wanted) for lane in stage) for stage in stages)
    return tuple(stage for stage in (tuple(lane for lane in s if lane) for s in kept) if stage)


def run_stages(stages: Sequence[Stage], run: Callable[[str, int, bool], T]) -> list[T]:
    """Run ``run(name, lane, ahead)`` for every name, lanes of a stage in threads.

    Parameters
    ----------
    stages : sequence of stages
        As :data:`STAGES` (see :func:`schedule`).
    run : callable
        Runs one notebook. ``lane`` is the lane's index in its stage (a runner keeps
        one kernel queue per index); ``ahead`` is true when a later notebook will
        run on the same index, so that its kernel may be started now.

    Returns
    -------
    list
        What ``run`` returned, in the order of ``stages`` (a stage's lanes in turn).

    Raises
    ------
    Exception
        The first failure of a stage (in lane order), once its other lanes have
        finished; a lane stops at its failure and no later stage starts.
    """
    results: list[T] = []
    for number, stage in enumerate(stages):
        later = {index for s in stages[number + 1:] for index in range(len(s))}

        def lane_run(index: int, lane: Lane = (), later: set[int] = later) -> list[T]:
            return [run(name, index, position < len(lane) - 1 or index in later)
                    for position, name in enumerate(lane)]

        if len(stage) == 1:
            results.extend(lane_run(0, stage[0]))
            continue
        with ThreadPoolExecutor(max_workers=len(stage), thread_name_prefix="lane") as pool:
            futures = [pool.submit(lane_run, index, lane) for index, lane in enumerate(stage)]
        for future in futures:
            if future.exception() is not None:
                raise future.exception()  # type: ignore[misc]
        for future in futures:
            results.extend(future.result())
    return results
