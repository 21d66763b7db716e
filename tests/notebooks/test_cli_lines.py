"""Every AWS CLI line the notebooks show works as printed.

The whole workshop runs once with ``WORKSHOP_CALLS_VIA_CLI=1``: each taught call is
made by running its shown line with the real AWS CLI (``.venv/bin/aws``) against the
session's endpoint, and the notebook carries on with the CLI's output. A line with a
wrong option, value or quoting fails its cell, and so this test. The call log says
which lines ran and checks that the ten calls the workshop teaches are among them.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from helpers import calls, notebook_runs, workshop

pytestmark = [pytest.mark.notebooks, pytest.mark.slow]

#: The steps the workshop teaches, each as (service, boto3 method).
TAUGHT = {
    ("dynamodb", "update_table"),  # enable a stream
    ("lambda", "create_function"),
    ("lambda", "put_function_concurrency"),
    ("lambda", "invoke"),
    ("lambda", "create_event_source_mapping"),
    ("lambda", "update_event_source_mapping"),  # the trigger's advanced settings
    ("iam", "put_role_policy"),  # grant the role
    ("cloudwatch", "put_metric_alarm"),
    ("cloudwatch", "put_dashboard"),
    ("dynamodb", "put_item"),  # write test items
}


@pytest.mark.timeout(2400)
def test_every_cli_line_of_every_notebook_runs(endpoint: dict, tmp_path: Path,
                                               monkeypatch: pytest.MonkeyPatch) -> None:
    # given: the taught calls go through the AWS CLI, and are logged
    log = tmp_path / "calls.jsonl"
    monkeypatch.setenv(calls.ENV_VIA_CLI, "1")
    monkeypatch.setenv(calls.ENV_CALL_LOG, str(log))
    # when: every notebook runs in order (a failing line fails its cell, and the run)
    for name in workshop.NOTEBOOKS:
        notebook_runs.run_notebook(name, tmp_path / "out", {"backend": "local"}, html=False)
    # then
    entries = [json.loads(line) for line in log.read_text().splitlines()]
    assert entries and {e["via"] for e in entries} == {"cli"}
    made = {(e["service"], e["method"]) for e in entries}
    assert sorted(TAUGHT - made) == []
    assert all(e["cli"].startswith(f"aws {e['service']} ") for e in entries)
