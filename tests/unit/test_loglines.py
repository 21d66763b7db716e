"""Every function writes the log lines ``helpers/loglines.py`` defines, and nothing else.

Each of the four functions runs on the sample events; a changed wording either loses an
expected line or produces a line no definition knows, and the test fails.
"""

from __future__ import annotations

import boto3
import pandas as pd
import pytest
from moto import mock_aws

from helpers import invocation_log, loglines

STREAM_EVENTS = [
    "dynamodb_update",
    "lambda_test_item",
    "ecommerce_insert",
    "ecommerce_modify",
    "ecommerce_remove",
]
REPLICA_EVENTS = ["new_image", "new_and_old_images"]


def function_lines(caplog) -> list[str]:
    """The function's own lines (the root logger), without boto3's."""
    return [record.getMessage() for record in caplog.records if record.name == "root"]


def unknown(lines: list[str]) -> list[str]:
    return [line for line in lines if loglines.parse_function_line(line) is None]


@pytest.fixture
def replica_table(monkeypatch):
    monkeypatch.delenv("AWS_ENDPOINT_URL", raising=False)
    monkeypatch.setenv("AWS_DEFAULT_REGION", "us-east-1")
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")
    with mock_aws():
        boto3.client("dynamodb").create_table(
            TableName="logfile_replica",
            KeySchema=[{"AttributeName": "PK", "KeyType": "HASH"}],
            AttributeDefinitions=[{"AttributeName": "PK", "AttributeType": "S"}],
            BillingMode="PAY_PER_REQUEST",
        )
        yield "logfile_replica"


@pytest.fixture
def production_processor(load_lambda_module):
    return load_lambda_module("stream_processor_production", "app")


@pytest.fixture
def production_replicator(load_lambda_module):
    return load_lambda_module("replicator_production", "ddbreplica_lambda")


# --- the stream processor --------------------------------------------------------------


def test_teaching_processor_writes_the_lines_page_4_2_lists(
    stream_processor, load_event, caplog
):
    # given
    event = load_event("lambda_test_item")

    # when
    stream_processor.lambda_handler(event, None)

    # then
    assert function_lines(caplog) == [
        loglines.RECORD.format(event="INSERT", item="LAMBDA#test-processing#EVENT#001"),
        loglines.EVENT.format(event="INSERT"),
        loglines.PROCESSED.format(count=1),
    ]


@pytest.mark.parametrize("variant", ["teaching", "production"])
def test_processor_logs_status_and_price_changes_as_defined(
    variant, stream_processor, production_processor, load_event, caplog
):
    # given
    module = stream_processor if variant == "teaching" else production_processor

    # when
    module.lambda_handler(load_event("ecommerce_modify"), None)

    # then
    lines = function_lines(caplog)
    assert loglines.STATUS_CHANGED.format(old="pending", new="processing") in lines
    assert loglines.PRICE_CHANGED.format(old="299", new="279.99") in lines
    assert loglines.PROCESSED.format(count=2) in lines


@pytest.mark.parametrize("event_name", STREAM_EVENTS)
@pytest.mark.parametrize("variant", ["teaching", "production"])
def test_processor_writes_only_defined_lines(
    variant, event_name, stream_processor, production_processor, load_event, caplog
):
    # given
    module = stream_processor if variant == "teaching" else production_processor

    # when
    module.lambda_handler(load_event(event_name), None)

    # then
    lines = function_lines(caplog)
    assert lines and unknown(lines) == []


@pytest.mark.parametrize("event_name", STREAM_EVENTS)
def test_production_processor_logs_the_teaching_versions_lines(
    event_name, stream_processor, production_processor, load_event, caplog
):
    # given
    event = load_event(event_name)
    stream_processor.lambda_handler(event, None)
    teaching = function_lines(caplog)
    caplog.clear()

    # when
    production_processor.lambda_handler(load_event(event_name), None)

    # then: the same lines, after the batch size as delivered
    production = function_lines(caplog)
    assert production[0] == loglines.RECEIVED.format(count=len(event["Records"]))
    assert production[1:] == teaching


def test_production_processor_failure_lines_are_defined(
    production_processor, load_event, caplog
):
    # given: the second of three records has fail_mode=report
    event = load_event("ecommerce_poison_batch")
    failed = event["Records"][1]["dynamodb"]["SequenceNumber"]

    # when
    production_processor.lambda_handler(event, None)

    # then
    lines = function_lines(caplog)
    assert unknown(lines) == []
    record_failed = [m for m in map(loglines.RECORD_FAILED.search, lines) if m]
    assert [(m["sequence_number"], m["error"]) for m in record_failed] == [
        (failed, "RecordFailedError")
    ]
    assert loglines.PROCESSED.format(count=2) in lines
    assert (
        loglines.REPORTED.format(failed=1, count=3, sequence_numbers=failed) in lines
    )


# --- the replicator ---------------------------------------------------------------------


@pytest.mark.parametrize("event_name", REPLICA_EVENTS)
@pytest.mark.parametrize(("variant", "received"), [
    ("teaching", []),
    # the production version first logs the batch size as delivered
    ("production", [loglines.RECEIVED.format(count=3)]),
])
def test_replicator_lines_are_defined(
    variant, received, event_name, replicator, production_replicator, replica_table, load_event,
    caplog
):
    # given
    module = replicator if variant == "teaching" else production_replicator
    event = load_event(event_name)

    # when
    module.lambda_handler(event, None)

    # then
    assert function_lines(caplog) == [
        *received,
        loglines.REPLICATED.format(count=3, table=replica_table, puts=2, deletes=1),
    ]


# --- the definitions and the parsers that use them -------------------------------------


@pytest.mark.parametrize(
    "line",
    [
        loglines.PROCESSED.format(count=7),
        loglines.REPLICATED.format(count=7, table="logfile_replica", puts=6, deletes=1),
    ],
)
def test_summary_reads_the_count_of_both_summary_lines(line):
    # given / when
    match = loglines.SUMMARY.search(line)

    # then
    assert match is not None and match["count"] == "7"


def test_each_template_reads_back_the_values_it_was_formatted_with():
    # given
    values = {"event": "MODIFY", "item": "ORDER#o1#ITEM#p 1"}

    # when
    match = loglines.RECORD.search(loglines.RECORD.format(**values))

    # then
    assert match.groupdict() == values


def test_the_invocation_log_parses_with_the_definitions():
    # given / when / then
    assert invocation_log.RECORD_LINE is loglines.RECORD.pattern
    assert invocation_log.SUMMARY is loglines.SUMMARY


def test_invocation_table_reads_what_the_functions_write():
    # given: one invocation as CloudWatch Logs holds it (runtime lines around the function's)
    request_id = "8f5e4c2a-1b3d-4e6f-9a0b-1c2d3e4f5a6b"

    def tagged(text: str) -> str:
        return f"[INFO]\t2026-01-15T10:00:00.000Z\t{request_id}\t{text}\n"

    messages = [
        f"START RequestId: {request_id} Version: $LATEST\n",
        tagged(loglines.RECORD.format(event="INSERT", item="USER#u1#PROFILE")),
        tagged(loglines.EVENT.format(event="INSERT")),
        tagged(loglines.RECORD.format(event="REMOVE", item="USER#u2#PROFILE")),
        tagged(loglines.EVENT.format(event="REMOVE")),
        tagged(loglines.PROCESSED.format(count=2)),
        f"END RequestId: {request_id}\n",
        f"REPORT RequestId: {request_id}\tDuration: 2.50 ms\tBilled Duration: 3 ms\t"
        "Memory Size: 128 MB\tMax Memory Used: 40 MB\t\n",
    ]
    times = pd.date_range("2026-01-15 10:00:00", periods=len(messages), freq="ms", tz="UTC")
    events = pd.DataFrame({"stream": "s", "time": times, "message": messages})

    # when
    frame = invocation_log.parse_invocations(events)

    # then
    assert frame["records"].tolist() == [2]
    assert frame["items"].tolist() == [["USER#u1#PROFILE", "USER#u2#PROFILE"]]
