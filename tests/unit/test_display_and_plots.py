"""Tables, errors, figures and charts the notebooks show (display, plots, workshop, dashboards),
outside IPython (so each returns or prints what a notebook would show)."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from decimal import Decimal

import matplotlib
import pandas as pd
import pytest
from botocore.exceptions import ClientError

from helpers import dashboards, display, invocation_log, plots, workshop
from helpers.naming import Names
from tests.unit.stubs import StubBackend

matplotlib.use("Agg")


@pytest.fixture
def calls() -> pd.DataFrame:
    start = datetime(2026, 1, 1, tzinfo=UTC)
    lines = ["START RequestId: r1 Version: $LATEST",
             "Processing INSERT event for item: ORDER#1",
             "END RequestId: r1",
             "REPORT RequestId: r1\tDuration: 12.50 ms\tBilled Duration: 13 ms\t"
             "Memory Size: 128 MB\tMax Memory Used: 60 MB\tInit Duration: 150.00 ms"]
    events = pd.DataFrame({"time": [start + timedelta(milliseconds=10 * i)
                                    for i in range(len(lines))],
                           "stream": "s", "message": lines})
    return invocation_log.parse_invocations(events)


def test_json_shows_decimals_as_numbers_and_sets_sorted():
    # when
    text = display.to_json({"price": Decimal("9.99"), "qty": Decimal("2"), "tags": {"b", "a"}})
    # then
    assert json.loads(text) == {"price": 9.99, "qty": 2, "tags": ["a", "b"]}


def test_stream_records_become_one_row_each_with_plain_images():
    # given
    record = {"eventName": "MODIFY", "dynamodb": {
        "Keys": {"PK": {"S": "ORDER#1"}}, "SequenceNumber": "100",
        "NewImage": {"PK": {"S": "ORDER#1"}, "status": {"S": "shipped"}},
        "OldImage": {"PK": {"S": "ORDER#1"}, "status": {"S": "pending"}},
        "ApproximateCreationDateTime": 1767225600}}
    # when
    frame = display.records_frame([record])
    # then
    assert frame.loc[0, "keys"] == "PK=ORDER#1"
    assert '"status": "shipped"' in frame.loc[0, "new image"]
    assert frame.loc[0, "created"] == pd.Timestamp(1767225600, unit="s", tz="UTC")


def test_show_error_catches_and_describes_the_service_error(capsys):
    # given
    def refuse():
        raise ClientError({"Error": {"Code": "ValidationException", "Message": "bad key"}}, "Op")

    # when
    caught = display.show_error(refuse)
    # then
    assert (caught.code, caught.message) == ("ValidationException", "bad key")
    assert "failed, as expected" in capsys.readouterr().out


def test_show_error_says_so_when_the_call_succeeds(capsys):
    # when
    caught = display.show_error(lambda: None)
    # then
    assert caught is None
    assert "The call succeeded" in capsys.readouterr().out


def test_table_overview_names_keys_and_stream():
    # given
    description = {"TableName": "orders", "TableStatus": "ACTIVE",
                   "KeySchema": [{"AttributeName": "PK", "KeyType": "HASH"}],
                   "StreamSpecification": {"StreamEnabled": True, "StreamViewType": "NEW_IMAGE"}}
    # when
    table = dict(display.table_overview(description).values.tolist())
    # then
    assert "PK (HASH)" in table.values()


@pytest.mark.parametrize("chart", [plots.invocation_timeline, plots.durations])
def test_invocation_charts_draw_from_the_invocations_table(calls, chart):
    # when
    figure = chart(calls)
    # then
    assert figure is not None and figure.axes


def test_metric_panels_draw_one_chart_per_metric():
    # given
    index = pd.date_range("2026-01-01", periods=3, freq="60s", tz="UTC")
    metrics = pd.DataFrame({"Invocations": [1.0, 0.0, 2.0], "Duration": [10.0, None, 12.0]},
                           index=index)
    # when
    figure = plots.metric_panels(metrics, "f: metrics as the console shows them")
    # then
    assert [ax.get_title() for ax in figure.axes[:2]] == ["Invocations (count)", "Duration (ms)"]


def test_lag_and_latency_charts_accept_their_tables():
    # given
    written = pd.to_datetime(["2026-01-01T00:00:00Z", "2026-01-01T00:00:01Z"], utc=True)
    lag = pd.DataFrame({"written_at": written, "lag_s": [0.2, 0.3]})
    # when / then
    assert plots.lag_over_time(lag) is not None
    assert plots.lag_over_time(lag.iloc[:0]) is not None
    assert plots.latency_histogram(lag["lag_s"]) is not None
    assert plots.dashboard([("Invocations (count)", pd.DataFrame({"f": [1.0]}))], "d") is not None
    assert plots.bar_counts(pd.Series({"200": 5, "404": 1}), "codes", xlabel="code") is not None


def test_a_recorded_figure_is_read_back_from_the_executed_notebook(capsys):
    # given: outside IPython the figure is printed; in a notebook it is an output
    workshop.record("replica_items", 2000)
    notebook = {"cells": [{"outputs": [{"data": {workshop.FIGURES_MIME: {"replica_items": 2000}}}]},
                          {"outputs": [{"data": {workshop.FIGURES_MIME: '{"lag_s": 0.5}'}}]}]}
    # when
    found = workshop.figures(notebook)
    # then
    assert "recorded replica_items = 2000" in capsys.readouterr().out
    assert found == {"replica_items": 2000, "lag_s": 0.5}


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [({"billing": "CHEAP"}, "billing='CHEAP' is unknown"),
     ({"logfile_data_dir": "/nonexistent"}, "is not a folder")],
)
def test_a_bad_notebook_parameter_is_a_one_line_setup_error(kwargs, message):
    # when / then
    with pytest.raises(workshop.SetupError, match=message):
        workshop.check_parameters(**kwargs)


def test_a_missing_prerequisite_says_which_notebook_to_run():
    # given: the endpoint answers, the function does not exist
    backend = StubBackend("sts", "lambda")
    backend.stub("sts").add_response("get_caller_identity", {"Account": "123456789012"})
    backend.stub("lambda").add_client_error("get_function_configuration",
                                            "ResourceNotFoundException", "no", 404)
    # when / then
    with pytest.raises(workshop.PrerequisiteError, match=r"run 01_lambda_function\.ipynb first"):
        workshop.require(backend, Names.with_prefix(""), "stream_processor_function")


def test_a_missing_replicator_sends_the_learner_to_notebook_04():
    # given: the endpoint answers, the replica function does not exist
    backend = StubBackend("sts", "lambda")
    backend.stub("sts").add_response("get_caller_identity", {"Account": "123456789012"})
    backend.stub("lambda").add_client_error("get_function_configuration",
                                            "ResourceNotFoundException", "no", 404)
    # when / then
    with pytest.raises(workshop.PrerequisiteError,
                       match=r"run 04_replication_logfile\.ipynb first"):
        workshop.require(backend, Names.with_prefix(""), "replica_function")


def _backend_with_a_trigger(on_failure: dict) -> StubBackend:
    backend = StubBackend("sts", "lambda")
    backend.stub("sts").add_response("get_caller_identity", {"Account": "123456789012"})
    backend.stub("lambda").add_response("list_event_source_mappings", {"EventSourceMappings": [
        {"UUID": "0" * 36, "DestinationConfig": {"OnFailure": on_failure}}]})
    return backend


def test_a_trigger_without_its_dead_letter_queue_sends_the_learner_to_notebook_05():
    # given: the trigger exists, with 02's settings (02 was run again after 05)
    backend = _backend_with_a_trigger({})
    # when / then
    with pytest.raises(workshop.PrerequisiteError,
                       match=r"on-failure destination .* run 05_failures_and_destinations"):
        workshop.require(backend, Names.with_prefix(""), "stream_processor_dead_letters")


def test_a_trigger_with_its_dead_letter_queue_is_what_06_needs():
    # given: the trigger as 05 leaves it
    backend = _backend_with_a_trigger({"Destination": "arn:aws:sqs:us-east-1:123456789012:q"})
    # when / then: no error
    workshop.require(backend, Names.with_prefix(""), "stream_processor_dead_letters")


def test_the_dashboard_has_the_consoles_six_graphs_one_line_per_function():
    # when
    body = dashboards.dashboard_body(StubBackend(), ["f", "g"])
    # then
    assert len(body["widgets"]) == 6
    assert body["widgets"][0]["properties"]["metrics"] == [
        ["AWS/Lambda", "Invocations", "FunctionName", "f"],
        ["AWS/Lambda", "Invocations", "FunctionName", "g"]]
    assert dashboards.dashboard_name(Names.with_prefix("alice-")).startswith("alice-")


def test_a_long_table_shows_its_first_rows_and_says_how_many_more(capsys):
    # when
    display.show_table([{"n": i} for i in range(35)], "Numbers", max_rows=30)
    # then
    out = capsys.readouterr().out
    assert "**Numbers**" in out and "*... and 5 more rows*" in out


def test_a_long_log_shows_its_last_lines_and_says_how_many_were_left_out(capsys):
    # given
    lines = pd.DataFrame({"time": pd.date_range("2026-01-01", periods=3, freq="s", tz="UTC"),
                          "message": ["one", "two\tthree", "four"]})
    # when
    display.show_log(lines, "Log", limit=2)
    # then
    out = capsys.readouterr().out
    assert "00:00:01.000  two  three" in out and "(1 earlier lines not shown)" in out
    assert "one" not in out


def test_source_and_json_are_shown_as_fenced_blocks(capsys, tmp_path):
    # given
    source = tmp_path / "app.py"
    source.write_text("a = 1\nb = 2\nc = 3\n", encoding="utf-8")
    # when
    display.show_source(source, "App", first_line=2, last_line=2)
    display.show_json({"n": Decimal("1.5")}, "Answer")
    # then
    out = capsys.readouterr().out
    assert "```python\nb = 2\n```" in out
    assert '"n": 1.5' in out
