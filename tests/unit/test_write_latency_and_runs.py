"""Write times and latencies (write_latency), a pipeline's diagnosis past the trigger
(troubleshooting), and the whole-workshop runner's pure parts (notebook_runs)."""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd
import pytest
from boto3.dynamodb.types import TypeSerializer

from helpers import notebook_runs, troubleshooting, write_latency
from tests.unit.stubs import StubBackend

STREAM = "arn:aws:dynamodb:us-east-1:123456789012:table/orders/stream/2026-01-01T00:00:00.000"
UUID = "a1b2c3d4-0000-0000-0000-000000000000"
dump = TypeSerializer().serialize


def times(*seconds: float) -> pd.Series:
    return pd.to_datetime([1_767_225_600 + s for s in seconds], unit="s", utc=True)


def test_a_put_over_an_existing_item_is_noted_as_a_modify():
    # given
    backend = StubBackend("dynamodb")
    backend.stub("dynamodb").add_response(
        "put_item", {"Attributes": {"PK": dump("a"), "SK": dump("1")}},
        {"TableName": "orders", "Item": {"PK": dump("a"), "SK": dump("1"), "n": dump(2)},
         "ReturnValues": "ALL_OLD"})
    backend.stub("dynamodb").add_response("delete_item", {})
    recorder = write_latency.WriteRecorder(backend, "orders")
    # when
    event = recorder.put({"PK": "a", "SK": "1", "n": 2})
    existed = recorder.delete({"PK": "b", "SK": "1"})
    # then
    assert event == "MODIFY"
    assert existed is False  # a delete of nothing leaves no REMOVE record
    assert recorder.frame()[["item", "event"]].values.tolist() == [["a#1", "MODIFY"]]


def test_each_write_is_paired_with_its_first_processing():
    # given: item a written twice and processed twice, b written but not processed yet
    writes = pd.DataFrame({"item": ["a", "a", "b"], "event": ["INSERT", "MODIFY", "INSERT"],
                           "written_at": times(0, 10, 11)})
    processed = pd.DataFrame({"item": ["a", "a"], "event": ["INSERT", "MODIFY"],
                              "processed_at": times(1, 12)})
    # when
    paired = write_latency.latency(writes, processed)
    # then
    assert paired["latency_s"].tolist() == [1.0, 2.0]


def test_replication_lag_attributes_records_to_the_batches_in_stream_order():
    # given: two batches of 2 and 1 records
    writes = pd.DataFrame({"item": ["a", "b", "c", "d"], "written_at": times(0, 0, 1, 1)})
    batches = pd.DataFrame({"error": [None, None], "end": times(2, 3), "records": [2, 1]})
    # when
    lag = write_latency.replication_lag(writes, batches)
    # then
    assert lag["item"].tolist() == ["a", "b", "c"]
    assert lag["lag_s"].tolist() == [2.0, 2.0, 2.0]


def pipeline(backend: StubBackend, *, state: str = "Enabled") -> None:
    backend.stub("dynamodb").add_response("describe_table", {"Table": {
        "TableName": "orders", "TableStatus": "ACTIVE", "LatestStreamArn": STREAM,
        "StreamSpecification": {"StreamEnabled": True, "StreamViewType": "NEW_IMAGE"}}})
    lam = backend.stub("lambda")
    lam.add_response("get_function_configuration", {
        "FunctionName": "f", "State": "Active",
        "Role": "arn:aws:iam::123456789012:role/r"})
    lam.add_response("list_event_source_mappings", {"EventSourceMappings": [
        {"UUID": UUID, "EventSourceArn": STREAM, "State": state}]})


def test_a_disabled_trigger_is_found():
    # given
    backend = StubBackend("dynamodb", "lambda")
    pipeline(backend, state="Disabled")
    # when
    found = troubleshooting.diagnose(backend, "orders", "f")
    # then
    assert found.problem == "trigger-disabled"
    assert "Enable it" in found.verdict


def test_a_role_that_cannot_read_the_stream_is_found():
    # given: the role has no policy at all
    backend = StubBackend("dynamodb", "lambda", "iam")
    pipeline(backend)
    backend.stub("iam").add_response("list_role_policies", {"PolicyNames": []})
    backend.stub("iam").add_response("list_attached_role_policies", {"AttachedPolicies": []})
    # when
    found = troubleshooting.diagnose(backend, "orders", "f")
    # then
    assert found.problem == "missing-permission"
    assert "dynamodb:GetRecords" in found.details["missing"]


def test_the_summary_lists_each_notebook_with_its_figures(tmp_path: Path):
    # given
    runs = [notebook_runs.NotebookRun("00_setup", tmp_path / "a.ipynb", 12.34,
                                      {"items": 40, "nested": {"x": 1}}),
            notebook_runs.NotebookRun("99_cleanup", tmp_path / "b.ipynb", 1.0, {"deleted": 3})]
    # when
    text = notebook_runs.summary(runs)
    # then
    assert "00_setup" in text and "items=40" in text and "nested" not in text
    assert text.splitlines()[-1].split()[:2] == ["total", "13.3"]


@pytest.mark.parametrize(("text", "value"), [("3", 3), ("True", True), ("'x'", "x"),
                                             ("alice-", "alice-")])
def test_a_parameter_given_on_the_command_line_is_read_as_a_python_value(text, value):
    # when / then
    assert notebook_runs._value(text) == value


def test_the_kernelspec_runs_this_interpreter_with_the_project_importable(tmp_path: Path):
    # when
    share = notebook_runs.write_kernelspec(tmp_path)
    # then
    spec = json.loads((share / "kernels" / notebook_runs.KERNEL_NAME / "kernel.json").read_text())
    assert spec["argv"][1:3] == ["-m", "ipykernel_launcher"]
    assert str(notebook_runs.ROOT) in spec["env"]["PYTHONPATH"]


def test_the_kernelspec_is_replaced_whole_and_only_when_it_changes(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    # given: a kernelspec written once (a kernel of another lane may be reading it)
    spec_file = notebook_runs.write_kernelspec(tmp_path) / "kernels" / notebook_runs.KERNEL_NAME \
        / "kernel.json"
    first = spec_file.stat().st_ino
    # when: written again with the same content, then with another PYTHONPATH
    notebook_runs.write_kernelspec(tmp_path)
    unchanged = spec_file.stat().st_ino
    monkeypatch.setenv("PYTHONPATH", "/elsewhere")
    notebook_runs.write_kernelspec(tmp_path)
    # then: left alone, then a new file put in place at once (never truncated and rewritten)
    assert unchanged == first
    assert spec_file.stat().st_ino != first
    assert "/elsewhere" in json.loads(spec_file.read_text())["env"]["PYTHONPATH"]
    assert [p.name for p in spec_file.parent.iterdir()] == ["kernel.json"]
