"""The workshop's notebooks: committed clean, and executed top to bottom with papermill.

The executed runs share one local endpoint (the session's ``endpoint`` fixture, on
a free port passed to the kernels through ``WORKSHOP_LOCAL_PORT``) and go in the
workshop's order, 00 and 99 twice each to prove they can be run again; notebooks
that share nothing run at the same time, as ``make workshop`` runs them
(``helpers.notebook_schedule``). Each notebook records its key figures with
``helpers.workshop.record``; the tests read them back from the executed copies.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import nbformat
import pytest

from helpers import calls, cli_requests, notebook_runs, notebook_schedule, workshop

pytestmark = pytest.mark.notebooks

NOTEBOOKS_DIR = workshop.NOTEBOOKS_DIR
RERUN = ("00_setup", "99_cleanup")  # run twice in a row: each can be run again
STAGES = tuple(
    tuple(tuple(run for name in lane for run in (name, *[f"{name}#rerun"] * (name in RERUN)))
          for lane in stage)
    for stage in notebook_schedule.schedule(workshop.NOTEBOOKS))
ORDER = [run for stage in STAGES for lane in stage for run in lane]
PLOTS = {  # notebook -> least number of figures its executed copy must hold
    "00_setup": 1,
    "03_test_processing": 4,
    "04_replication_logfile": 2,
    "05_failures_and_destinations": 1,
    "06_monitoring_and_troubleshooting": 2,
    "08_two_region_replication": 2,
}


# --------------------------------------------------------------------------- committed


def on_the_executed_run(test):
    """Mark ``test`` as reading the executed notebooks: slow, with the whole run's timeout."""
    return pytest.mark.slow(pytest.mark.timeout(1200)(test))


def _committed(name: str) -> nbformat.NotebookNode:
    return nbformat.read(NOTEBOOKS_DIR / f"{name}.ipynb", as_version=4)


def test_every_workshop_notebook_is_listed() -> None:
    on_disk = sorted(p.stem for p in NOTEBOOKS_DIR.glob("*.ipynb"))
    assert on_disk == sorted(workshop.NOTEBOOKS)


@pytest.mark.parametrize("name", workshop.NOTEBOOKS)
def test_committed_notebook_has_no_outputs(name: str) -> None:
    for cell in _committed(name).cells:
        if cell.cell_type == "code":
            assert cell.outputs == [], f"{name}: a cell has outputs:\n{cell.source[:200]}"
            assert cell.execution_count is None, f"{name}: a cell has an execution count"


@pytest.mark.parametrize("name", workshop.NOTEBOOKS)
def test_committed_notebook_has_one_parameters_cell(name: str) -> None:
    tagged = [c for c in _committed(name).cells if "parameters" in c.metadata.get("tags", [])]
    assert len(tagged) == 1
    assert tagged[0].cell_type == "code"
    assert "backend" in tagged[0].source and "name_prefix" in tagged[0].source


@pytest.mark.parametrize("name", workshop.NOTEBOOKS)
def test_committed_notebook_layout(name: str) -> None:
    nb = _committed(name)
    assert nb.cells[0].cell_type == "markdown" and nb.cells[0].source.startswith("# ")
    assert "What you will learn" in nb.cells[0].source and "Time" in nb.cells[0].source
    assert nb.cells[-1].cell_type == "markdown" and "## Recap" in nb.cells[-1].source
    assert ".ipynb" in nb.cells[-1].source, "the recap links to the next notebook"
    assert nb.metadata["kernelspec"]["name"] == "python3"
    for cell in nb.cells:
        if cell.cell_type == "code":
            lines = cell.source.splitlines()
            assert 1 <= len(lines) <= 10, f"{name}: a code cell has {len(lines)} lines"
            assert "input(" not in cell.source and "getpass" not in cell.source


# --------------------------------------------------------------------------- executed


@dataclass
class Execution:
    """Executed copies of the notebooks, keyed by run name (``00_setup#rerun`` ...)."""

    paths: dict[str, Path] = field(default_factory=dict)
    seconds: dict[str, float] = field(default_factory=dict)
    failures: dict[str, str] = field(default_factory=dict)
    # role name -> {"inline": {policy name: document}, "managed": [policy ARNs]},
    # read from IAM just before the first cleanup run
    policies: dict[str, dict[str, Any]] = field(default_factory=dict)
    roles_before: set[str] = field(default_factory=set)  # roles on the endpoint before the run
    # role name -> {"allowed": [actions], "denied": [actions]} the endpoint evaluated
    usage: dict[str, dict[str, list[str]]] = field(default_factory=dict)
    call_log: Path | None = None

    def notebook(self, run: str) -> nbformat.NotebookNode:
        if run in self.failures:
            pytest.fail(f"{run} failed:\n{self.failures[run]}")
        if run not in self.paths:
            pytest.fail(f"{run} did not run")
        return nbformat.read(self.paths[run], as_version=4)

    def figures(self, run: str) -> dict[str, Any]:
        return workshop.figures(self.notebook(run))


@pytest.fixture(scope="module")
def executed(endpoint: dict, backend: Any,
             tmp_path_factory: pytest.TempPathFactory) -> Iterator[Execution]:
    """Run every notebook once in order (00 and 99 twice) against the session endpoint."""
    out = tmp_path_factory.mktemp("notebooks")
    result = Execution(call_log=out / "calls.jsonl")
    result.roles_before = _role_names(backend)  # other test modules share the endpoint
    with pytest.MonkeyPatch.context() as env:
        # every taught call's CLI line is parsed by the AWS CLI into the request it
        # would send, which must be the boto3 call's; each call is logged
        env.setenv(cli_requests.ENV_CHECK, "1")
        env.setenv(calls.ENV_CALL_LOG, str(result.call_log))
        _run_in_order(out, result, backend)
    result.usage = _authorization_usage(endpoint["port"])
    yield result


def _run_in_order(out: Path, result: Execution, backend: Any) -> None:
    import papermill as pm

    queues = [notebook_runs.kernel_queue() for _ in range(max(map(len, STAGES)))]

    def run_one(run: str, lane: int, ahead: bool) -> None:
        name, _, suffix = run.partition("#")
        folder = out / (suffix or "first")
        if run == "99_cleanup":
            result.policies = _role_policies(backend, result.roles_before)
        try:
            done = notebook_runs.run_notebook(name, folder, {"backend": "local"}, html=False,
                                              kernels=queues[lane], ahead=ahead)
        except pm.PapermillExecutionError as exc:
            result.failures[run] = f"{exc.ename}: {exc.evalue}\n" + "".join(exc.traceback[-3:])
            result.paths[run] = folder / f"{name}.ipynb"
            return
        result.paths[run] = done.output
        result.seconds[run] = done.seconds

    try:
        with notebook_runs.run_environment():
            for queue in queues:
                queue.prepare()
            notebook_schedule.run_stages(STAGES, run_one)
    finally:
        for queue in queues:
            queue.close()


def _authorization_usage(port: int) -> dict[str, dict[str, list[str]]]:
    from localaws import lifecycle

    return lifecycle.admin_request(port, "/_workshop/authorization", timeout=10)


def _role_names(backend: Any) -> set[str]:
    return {role["RoleName"] for page in backend.client("iam").get_paginator("list_roles")
            .paginate() for role in page["Roles"]}


def _role_policies(backend: Any, before: set[str]) -> dict[str, dict[str, Any]]:
    iam = backend.client("iam")
    roles: dict[str, dict[str, Any]] = {}
    for page in iam.get_paginator("list_roles").paginate():
        for role in page["Roles"]:
            name = role["RoleName"]
            if name in before:
                continue  # made by another test module on this endpoint, not the notebooks
            inline = {p: iam.get_role_policy(RoleName=name, PolicyName=p)["PolicyDocument"]
                      for p in iam.list_role_policies(RoleName=name)["PolicyNames"]}
            managed = [p["PolicyArn"] for p in
                       iam.list_attached_role_policies(RoleName=name)["AttachedPolicies"]]
            roles[name] = {"inline": inline, "managed": managed}
    return roles


def _error_outputs(nb: nbformat.NotebookNode) -> list[str]:
    return [
        f"{o.get('ename')}: {o.get('evalue')}"
        for cell in nb.cells
        if cell.cell_type == "code"
        for o in cell.outputs
        if o.output_type == "error"
    ]


@on_the_executed_run
@pytest.mark.parametrize("run", ORDER)
def test_notebook_runs_without_error_outputs(executed: Execution, run: str) -> None:
    nb = executed.notebook(run)
    assert _error_outputs(nb) == []
    assert all(c.execution_count for c in nb.cells if c.cell_type == "code"), "a cell did not run"


@on_the_executed_run
def test_every_shown_cli_line_sends_the_call_the_cell_makes(executed: Execution) -> None:
    # given: the runs above, each line parsed by the AWS CLI (a line that would send
    # another request fails its cell with CliLineError, and the test above)
    entries = calls.read_log(executed.call_log)
    # then: every taught call was made, and every line checked
    assert entries and all(e["line_checked"] for e in entries)
    assert calls.untaught(entries) == []
    assert all(e["cli"].startswith(f"aws {e['service']} ") for e in entries)


@on_the_executed_run
@pytest.mark.parametrize(("name", "least"), sorted(PLOTS.items()))
def test_notebook_draws_its_plots(executed: Execution, name: str, least: int) -> None:
    images = [
        o
        for cell in executed.notebook(name).cells
        if cell.cell_type == "code"
        for o in cell.outputs
        if "image/png" in o.get("data", {})
    ]
    assert len(images) >= least


@on_the_executed_run
def test_setup_loads_exercise_one(executed: Execution) -> None:
    for run in ("00_setup", "00_setup#rerun"):
        figures = executed.figures(run)
        assert figures["logfile_items"] == 4000
        assert figures["logfile_servererror"] == 1
        assert figures["ecommerce_items"] > 0


@on_the_executed_run
def test_function_notebook(executed: Execution) -> None:
    figures = executed.figures("01_lambda_function")
    assert figures["code_sha256_stable"] is True
    assert figures["test_event_processed"] == 3
    assert figures["reserved_concurrency"] == 10
    assert figures["runtime_error_code"] == "InvalidParameterValueException"
    assert figures["function_lines"] <= 150


@on_the_executed_run
def test_trigger_notebook(executed: Execution) -> None:
    figures = executed.figures("02_trigger")
    assert figures["missing_permission_error"] == "InvalidParameterValueException"
    assert figures["mapping_state"] == "Enabled"
    assert figures["mapping_batch_size"] == 10
    # TRIM_HORIZON: every item written in 00 reaches the function.
    assert figures["initial_records_processed"] == executed.figures("00_setup")["ecommerce_items"]
    assert figures["largest_batch"] == 10


@on_the_executed_run
def test_processing_notebook(executed: Execution) -> None:
    figures = executed.figures("03_test_processing")
    assert figures["errors"] == 0
    assert figures["records_processed"] >= 27
    assert 1 <= figures["burst_invocations"] < figures["burst_records"] == 20
    assert figures["latency_p50_ms"] > 0


@on_the_executed_run
def test_failures_notebook(executed: Execution) -> None:
    figures = executed.figures("05_failures_and_destinations")
    assert figures["destination_permission_error"] == "InvalidParameterValueException"
    assert figures["dead_letter_messages"] == 1
    assert figures["dead_letter_records"] == 1
    assert figures["dead_letter_invocations"] == 4  # 1 + 3 retries
    assert figures["poison_invocations"] == 8  # whole, 2 halves, 2 quarters, 3 retries
    # the batches Lambda delivered (not what the function logged before failing)
    assert figures["poison_delivered"] == [5, 2, 3, 1, 1, 1, 1, 2]
    assert figures["partial_dead_letter_records"] == 3
    assert figures["ignored_partial_diagnosis"] == "partial-responses-ignored"
    assert figures["filter_processed"] == 1
    # the trigger 05 leaves to 06 delivers each write at once (no batching window)
    assert figures["batching_window_left"] == 0


@on_the_executed_run
def test_monitoring_notebook(executed: Execution) -> None:
    figures = executed.figures("06_monitoring_and_troubleshooting")
    assert figures["errors_alarm"] == "ALARM"
    assert figures["alarm_notifications"] >= 1
    assert figures["dashboard_problems"] == 0
    assert figures["timeout_errors"] == ["Sandbox.Timedout"]
    assert figures["access_denied_lines"] >= 1  # the production replicator before its grant
    assert figures["out_of_memory_reports"] >= 1  # REPORT ... Error Type: Runtime.OutOfMemory
    assert figures["diagnoses"] == [
        "healthy",
        "trigger-disabled",
        "missing-permission",
        "function-failing",
        "stream-off",
        "old-stream",
        "healthy",
    ]


@on_the_executed_run
def test_tumbling_windows_notebook(executed: Execution) -> None:
    figures = executed.figures("07_tumbling_windows")
    # then: each window's final state counts its own orders only (3 = 19.99 + 5.00 + 17.11)
    assert figures["tumbling_windows_closed"] == 2
    assert figures["tumbling_window_orders"] == [3, 2]
    assert figures["tumbling_window_revenue"] == ["42.10", "10.50"]


@on_the_executed_run
def test_replication_notebook(executed: Execution) -> None:
    figures = executed.figures("04_replication_logfile")
    assert figures["logfile_items"] == 6000
    assert figures["replica_items"] == 2000
    assert figures["replica_servererror"] == 13
    assert figures["replica_matches"] is True
    assert figures["replicator_errors"] == 0
    assert figures["replication_lag_p50_ms"] > 0
    assert figures["replicator_lines"] <= 150


@on_the_executed_run
def test_two_region_notebook(executed: Execution) -> None:
    figures = executed.figures("08_two_region_replication")
    # the naive loop stopped by itself, at the hop limit (20 copies, then one refusal)
    assert figures["loop_stopped_by"] == "hop limit"
    assert figures["loop_invocations"] == 21
    assert figures["invocations_with_prevention"] == 2  # one copy, one skip
    assert figures["naive_diverged"] is True
    assert figures["lww_converged"] is True
    assert figures["hard_delete_resurrected"] is True
    assert figures["tombstone_converged"] is True
    assert figures["regions_converged"] is True
    assert sorted(figures["replication_lag_ms"]) == ["eu-west-1 → us-east-1",
                                                     "us-east-1 → eu-west-1"]
    assert all(lag["p95"] >= lag["p50"] > 0 for lag in figures["replication_lag_ms"].values())
    assert figures["replicator_lines"] <= 150
    assert executed.figures("99_cleanup")["deleted_second_region"] == 4
    assert executed.figures("99_cleanup")["leftovers"] == 0


# Granted by a notebook although no step uses it: 04 grants sns:Publish on the alerts
# topic "too", only to show the document, and never makes the topic a destination.
# The notebook should drop that grant; then this set becomes empty.
KNOWN_UNUSED_GRANTS = {"demo-stream-processor-role/publish-failures-to-topic: sns:Publish"}


@on_the_executed_run
def test_every_action_the_notebooks_granted_is_used_by_some_step(executed: Execution) -> None:
    # given: the actions of every inline policy on the workshop's roles, and the actions the
    # endpoint evaluated and allowed for each role while the notebooks ran (requests signed
    # with the role's session, log delivery, the checks made when a mapping is saved)
    from localaws.policy import action_matches, granted_actions

    assert executed.policies, "the notebooks created no role"
    unused = []
    for role, policies in executed.policies.items():
        used = executed.usage.get(role, {}).get("allowed", [])
        for name, document in policies["inline"].items():
            for action in granted_actions(document):
                if not any(action_matches(action, u) for u in used):
                    unused.append(f"{role}/{name}: {action}")
    # then: least privilege also means no action that no step needs
    assert set(unused) <= KNOWN_UNUSED_GRANTS, unused


@on_the_executed_run
@pytest.mark.parametrize("run", ORDER)
def test_executed_pages_hold_no_bare_values_or_empty_bars(executed: Execution, run: str) -> None:
    # given: what a reader sees under the cells of the executed notebook
    outputs = [o for cell in executed.notebook(run).cells if cell.cell_type == "code"
               for o in cell.outputs]
    # then: no echoed return value or response, no printed figure, no progress bar text
    for o in outputs:
        data = o.get("data", {})
        text = "".join(data.get("text/plain", "")) + "".join(o.get("text", ""))
        assert not (o.get("output_type") == "execute_result" and set(data) <= {"text/plain"}), text
        assert "ResponseMetadata" not in text, text[:200]
        assert not text.startswith("recorded "), text[:200]
        assert not re.search(r"\d%\|", text), text[:200]
