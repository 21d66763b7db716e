"""The endpoint keeps its state across restarts: a clean stop loses nothing.

Each test runs an endpoint of its own (a free port, a temporary state directory),
stops it and starts it again, and looks at everything through plain boto3.
"""

from __future__ import annotations

import json
import sqlite3
import subprocess
import sys
import time

import pytest

from localaws import lifecycle
from localaws.paths import log_file
from tests.conftest import ROOT, _free_port
from tests.functional.persistence_support import Restartable
from tests.functional.support import (
    deploy,
    journal,
    journaled_function,
    make_role,
    make_table,
    wait_for,
)

pytestmark = [pytest.mark.functional, pytest.mark.slow]


@pytest.fixture
def isolated(tmp_path, monkeypatch):
    """Pid, log and unpacked code of the test's endpoint go to a temporary directory."""
    monkeypatch.setenv("WORKSHOP_STATE_DIR", str(tmp_path))
    return tmp_path


@pytest.fixture
def endpoint_with_state(isolated):
    target = Restartable(_free_port(), isolated / "state")
    target.up()
    yield target
    target.down()


def _stream_sequence_numbers(backend, stream_arn: str) -> list[str]:
    streams = backend.client("dynamodbstreams")
    out: list[str] = []
    for shard in streams.describe_stream(StreamArn=stream_arn)["StreamDescription"]["Shards"]:
        iterator = streams.get_shard_iterator(
            StreamArn=stream_arn, ShardId=shard["ShardId"],
            ShardIteratorType="TRIM_HORIZON")["ShardIterator"]
        while iterator:
            page = streams.get_records(ShardIterator=iterator, Limit=1000)
            out += [r["dynamodb"]["SequenceNumber"] for r in page["Records"]]
            if not page["Records"]:
                break
            iterator = page.get("NextShardIterator")
    return out


def test_every_kind_of_state_survives_a_clean_restart(endpoint_with_state):
    # given: one of everything the workshop creates
    target = endpoint_with_state
    backend = target.backend()
    ddb, lam, iam = backend.client("dynamodb"), backend.client("lambda"), backend.client("iam")
    sqs, sns, cw = backend.client("sqs"), backend.client("sns"), backend.client("cloudwatch")
    logs = backend.client("logs")
    role = make_role(backend, "keeper-role")  # with its "extra" inline policy
    iam.put_role_policy(RoleName="keeper-role", PolicyName="inline", PolicyDocument=json.dumps(
        {"Version": "2012-10-17", "Statement": [
            {"Effect": "Allow", "Action": "sqs:SendMessage", "Resource": "*"}]}))
    stream_arn = make_table(backend, "kept")
    ddb.update_time_to_live(TableName="kept", TimeToLiveSpecification={
        "Enabled": True, "AttributeName": "expires"})
    ddb.put_item(TableName="kept", Item={"pk": {"S": "a"}, "n": {"N": "1"}})
    ddb.update_item(TableName="kept", Key={"pk": {"S": "a"}}, UpdateExpression="SET n = :n",
                    ExpressionAttributeValues={":n": {"N": "2"}})
    deploy(backend, "kept-fn", {"app.py": "def handler(event, context):\n    return 'kept'\n"},
           role=role, Timeout=7, MemorySize=256,
           Environment={"Variables": {"COLOUR": "blue"}})
    lam.put_function_concurrency(FunctionName="kept-fn", ReservedConcurrentExecutions=3)
    mapping = lam.create_event_source_mapping(
        FunctionName="kept-fn", EventSourceArn=stream_arn, StartingPosition="TRIM_HORIZON",
        BatchSize=7, MaximumRetryAttempts=2, BisectBatchOnFunctionError=True)
    queue = sqs.create_queue(QueueName="kept-queue")["QueueUrl"]
    sqs.send_message(QueueUrl=queue, MessageBody="in flight")
    in_flight = sqs.receive_message(QueueUrl=queue, VisibilityTimeout=600)["Messages"]
    sqs.send_message(QueueUrl=queue, MessageBody="visible")
    topic = sns.create_topic(Name="kept-topic")["TopicArn"]
    queue_arn = sqs.get_queue_attributes(QueueUrl=queue, AttributeNames=["QueueArn"])[
        "Attributes"]["QueueArn"]
    subscription = sns.subscribe(TopicArn=topic, Protocol="sqs", Endpoint=queue_arn)[
        "SubscriptionArn"]
    cw.put_metric_data(Namespace="Kept", MetricData=[{"MetricName": "m", "Value": 5.0}])
    cw.put_metric_alarm(AlarmName="kept-alarm", Namespace="Kept", MetricName="other",
                        Statistic="Sum", Period=60, EvaluationPeriods=1, Threshold=1,
                        ComparisonOperator="GreaterThanThreshold", TreatMissingData="ignore")
    cw.set_alarm_state(AlarmName="kept-alarm", StateValue="ALARM", StateReason="by hand")
    cw.put_dashboard(DashboardName="kept-board", DashboardBody=json.dumps({"widgets": []}))
    logs.create_log_group(logGroupName="kept-group")
    logs.create_log_stream(logGroupName="kept-group", logStreamName="s")
    logs.put_log_events(logGroupName="kept-group", logStreamName="s", logEvents=[
        {"timestamp": int(time.time() * 1000), "message": "kept line"}])
    wait_for(lambda: lam.get_event_source_mapping(UUID=mapping["UUID"])[
        "LastProcessingResult"] == "OK", message="the mapping to deliver")
    sequence_numbers = _stream_sequence_numbers(backend, stream_arn)
    history = cw.describe_alarm_history(AlarmName="kept-alarm")["AlarmHistoryItems"]

    # when
    target.down()
    target.up()
    backend = target.backend()
    ddb, lam, iam = backend.client("dynamodb"), backend.client("lambda"), backend.client("iam")
    sqs, sns, cw = backend.client("sqs"), backend.client("sns"), backend.client("cloudwatch")
    logs = backend.client("logs")

    # then: DynamoDB, its stream and TTL
    assert ddb.get_item(TableName="kept", Key={"pk": {"S": "a"}})["Item"]["n"] == {"N": "2"}
    assert ddb.describe_time_to_live(TableName="kept")["TimeToLiveDescription"][
        "AttributeName"] == "expires"
    assert ddb.describe_table(TableName="kept")["Table"]["LatestStreamArn"] == stream_arn
    assert _stream_sequence_numbers(backend, stream_arn) == sequence_numbers
    # the function, its code and configuration
    config = lam.get_function(FunctionName="kept-fn")
    assert config["Configuration"]["Timeout"] == 7
    assert config["Configuration"]["MemorySize"] == 256
    assert config["Configuration"]["Environment"]["Variables"] == {"COLOUR": "blue"}
    assert config["Concurrency"]["ReservedConcurrentExecutions"] == 3
    assert json.loads(lam.invoke(FunctionName="kept-fn")["Payload"].read()) == "kept"
    # the mapping, with its configuration and state
    kept = lam.get_event_source_mapping(UUID=mapping["UUID"])
    assert (kept["State"], kept["BatchSize"], kept["MaximumRetryAttempts"],
            kept["BisectBatchOnFunctionError"]) == ("Enabled", 7, 2, True)
    # IAM
    assert iam.get_role(RoleName="keeper-role")["Role"]["Arn"] == role
    assert [p["PolicyName"] for p in iam.list_attached_role_policies(
        RoleName="keeper-role")["AttachedPolicies"]] == ["AWSLambdaDynamoDBExecutionRole"]
    assert iam.list_role_policies(RoleName="keeper-role")["PolicyNames"] == ["extra", "inline"]
    # SQS: the visible message is there, the one in flight stays invisible
    bodies = [m["Body"] for m in sqs.receive_message(
        QueueUrl=queue, MaxNumberOfMessages=10, WaitTimeSeconds=0).get("Messages", [])]
    assert bodies == ["visible"]
    sqs.delete_message(QueueUrl=queue, ReceiptHandle=in_flight[0]["ReceiptHandle"])
    # SNS
    assert [s["SubscriptionArn"] for s in sns.list_subscriptions_by_topic(
        TopicArn=topic)["Subscriptions"]] == [subscription]
    # CloudWatch: metrics, alarm state and history, dashboard
    assert [m["MetricName"] for m in cw.list_metrics(Namespace="Kept")["Metrics"]] == ["m"]
    alarm = cw.describe_alarms(AlarmNames=["kept-alarm"])["MetricAlarms"][0]
    assert (alarm["StateValue"], alarm["StateReason"]) == ("ALARM", "by hand")
    assert cw.describe_alarm_history(AlarmName="kept-alarm")["AlarmHistoryItems"] == history
    assert cw.get_dashboard(DashboardName="kept-board")["DashboardName"] == "kept-board"
    # Logs
    events = logs.get_log_events(logGroupName="kept-group", logStreamName="s")["events"]
    assert [e["message"] for e in events] == ["kept line"]


def test_a_mapping_mid_stream_resumes_with_no_duplicate_and_no_gap(endpoint_with_state):
    # given: a mapping busy with slow batches
    target = endpoint_with_state
    backend = target.backend()
    role = make_role(backend, "resume-role")
    resume = journaled_function(backend, "resume", role=role, Timeout=30)
    stream_arn = resume.stream
    lam, ddb = backend.client("lambda"), backend.client("dynamodb")
    mapping = lam.create_event_source_mapping(
        FunctionName=resume.name, EventSourceArn=stream_arn, StartingPosition="TRIM_HORIZON",
        BatchSize=5)
    for i in range(60):  # 3 s of work in all: the stop comes after the first 0.5 s
        ddb.put_item(TableName=resume.table, Item={"pk": {"S": f"k{i:03d}"},
                                                   "mode": {"S": "pause:0.05"}})
    wait_for(lambda: len(journal(backend, resume.journal_table)) >= 2,
             message="the first batches")

    # when: a clean stop in the middle of the stream, then a start
    target.down()
    target.up()
    backend = target.backend()
    wanted = _stream_sequence_numbers(backend, stream_arn)
    delivered = wait_for(
        lambda: (seqs := [s for i in journal(backend, resume.journal_table) for s in i["seqs"]])
        and len(seqs) >= len(wanted) and seqs, timeout=60, message="every record")

    # then: each record exactly once, in order
    assert len(wanted) == 60
    assert delivered == wanted
    assert backend.client("lambda").get_event_source_mapping(UUID=mapping["UUID"])[
        "State"] == "Enabled"


def test_a_corrupt_state_file_is_refused_with_how_to_start_empty(isolated):
    # given: a state directory whose database is garbage
    target = Restartable(_free_port(), isolated / "state")
    target.state_dir.mkdir()
    (target.state_dir / "state.sqlite3").write_bytes(b"not a database at all" * 100)

    # when
    with pytest.raises(lifecycle.EndpointStartError) as refused:
        target.up()

    # then: a clear message, no traceback, nothing listening, nothing deleted
    message = str(refused.value)
    assert "is damaged" in message and "python -m localaws reset" in message
    assert "--ephemeral" in message
    assert "Traceback" not in log_file(target.port).read_text()
    assert not lifecycle.port_in_use(target.port)
    assert (target.state_dir / "state.sqlite3").read_bytes().startswith(b"not a database")


def test_a_state_from_another_version_is_refused(endpoint_with_state):
    # given: a state saved by a (pretended) other moto version
    target = endpoint_with_state
    make_table(target.backend(), "versioned")
    target.down()
    with sqlite3.connect(target.state_dir / "state.sqlite3") as db:
        db.execute("UPDATE meta SET value = '0.0.1' WHERE key = 'moto'")

    # when
    with pytest.raises(lifecycle.EndpointStartError) as refused:
        target.up()

    # then
    assert "written by another version" in str(refused.value)
    assert "moto 0.0.1" in str(refused.value)
    assert "python -m localaws reset" in str(refused.value)


def _cli(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "localaws", *args], cwd=ROOT,
                          capture_output=True, text=True, timeout=180)


def test_status_shows_the_state_and_reset_starts_empty(endpoint_with_state):
    # given
    target = endpoint_with_state
    make_table(target.backend(), "to-forget")
    saved = wait_for(lambda: (state := (target.health() or {})["state"])["snapshots"] >= 1
                     and state, message="a snapshot")

    # when
    status = _cli("status", "--port", str(target.port))
    done = _cli("reset", "--port", str(target.port), "--state-dir", str(target.state_dir))

    # then: snapshots while serving are pickled by a forked writer
    assert saved["forked"] == saved["snapshots"]
    assert f"state {target.state_dir} (" in status.stdout and "last saved" in status.stdout
    assert done.returncode == 0, done.stderr
    assert "deleted the saved state" in done.stdout
    assert target.backend().client("dynamodb").list_tables()["TableNames"] == []


def _rows(state_dir) -> dict[str, int]:
    """Each stored part's version (the commit that wrote it), read beside the endpoint."""
    with sqlite3.connect(f"file:{state_dir / 'state.sqlite3'}?mode=ro", uri=True) as db:
        return dict(db.execute("SELECT name, version FROM parts"))


def _scan(backend, table: str) -> list[dict]:
    pages = backend.client("dynamodb").get_paginator("scan").paginate(TableName=table)
    return sorted((item for page in pages for item in page["Items"]),
                  key=lambda item: item["pk"]["S"])


def test_snapshots_rewrite_only_the_table_that_changed_and_restore_the_live_state(
        endpoint_with_state):
    # given: a big table and a small one, saved once
    target = endpoint_with_state
    backend = target.backend()
    for name in ("logfile", "orders"):
        make_table(backend, name)
    ddb = backend.client("dynamodb")
    for start in range(0, 500, 25):
        ddb.batch_write_item(RequestItems={"logfile": [
            {"PutRequest": {"Item": {"pk": {"S": f"line-{i:04d}"}, "msg": {"S": "x" * 80}}}}
            for i in range(start, start + 25)]})
    saved = wait_for(lambda: (target.health() or {})["state"]["snapshots"], message="a snapshot")
    wait_for(lambda: target.health()["state"]["snapshots"] > saved, message="a snapshot")
    # That snapshot may have been taken while the last writes were on their way (and
    # committed after them); the first one begun after it has all of logfile.
    count = target.health()["state"]["snapshots"]
    ddb.put_item(TableName="orders", Item={"pk": {"S": "o-first"}, "n": {"N": "-1"}})
    wait_for(lambda: target.health()["state"]["snapshots"] > count, message="a snapshot")
    before = _rows(target.state_dir)

    # when: only orders changes, over several snapshots
    for i in range(8):
        count = target.health()["state"]["snapshots"]
        ddb.put_item(TableName="orders", Item={"pk": {"S": f"o{i}"}, "n": {"N": str(i)}})
        wait_for(lambda c=count: target.health()["state"]["snapshots"] > c, message="a snapshot")
    after = _rows(target.state_dir)
    live = {name: _scan(backend, name) for name in ("logfile", "orders")}
    stream = ddb.describe_table(TableName="orders")["Table"]["LatestStreamArn"]
    live_stream = _stream_sequence_numbers(backend, stream)
    target.down()
    target.up()

    # then: logfile's row was written once, orders' by later commits; all is back
    logfile = next(name for name in after if name.endswith("/table/logfile"))
    orders = next(name for name in after if name.endswith("/table/orders"))
    assert after[logfile] == before[logfile]
    assert after[orders] > before[orders]
    backend = target.backend()
    assert {name: _scan(backend, name) for name in ("logfile", "orders")} == live
    assert _stream_sequence_numbers(backend, stream) == live_stream
    assert len(live["orders"]) == 9 and len(live["logfile"]) == 500
