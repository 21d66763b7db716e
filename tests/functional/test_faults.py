"""Nothing is lost: killed workers, restarted engines, crashing handlers, throttles.

Each test replicates a source table through a stream into a replica with a
handler that journals every delivery, injures the system, and then checks that
every change was processed at least once, the replica equals the source, and the
counts of what was tried and lost (lost must be 0). The counts are also written
to ``build/faults.json``.
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import threading
from pathlib import Path
from typing import Any

import psutil
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests.conftest import ROOT
from tests.functional.support import (
    deploy,
    lambda_metric,
    make_table,
    wait_for,
    wait_until_idle,
)

pytestmark = pytest.mark.functional

# Journals the delivery, applies each change in order to the source table's
# replica, then sleeps DELAY seconds (a window in which a test can kill the worker
# mid-batch). The tables are named after the source table: "<name>-src" is
# replicated into "<name>-dst" and journaled in "<name>-journal", so one function
# can serve several pipelines. The item attribute "mode" injures it: raise (whole
# batch fails) or report (this record fails: reported when PARTIAL=true, raised
# otherwise).
REPLICATOR = '''
import json, os, time
import boto3

_ddb = None


def handler(event, context):
    global _ddb
    if _ddb is None:
        _ddb = boto3.client("dynamodb")
    partial = os.environ.get("PARTIAL") == "true"
    records = event["Records"]
    name = records[0]["eventSourceARN"].split("/")[1].removesuffix("-src")
    replica = name + "-dst"
    _ddb.put_item(TableName=name + "-journal", Item={
        "id": {"S": context.aws_request_id}, "at": {"N": repr(time.time())},
        "seqs": {"S": json.dumps([r["dynamodb"]["SequenceNumber"] for r in records])},
        "keys": {"S": json.dumps([r["dynamodb"]["Keys"]["pk"]["S"] for r in records])}})
    for i, record in enumerate(records):
        image = record["dynamodb"].get("NewImage") or record["dynamodb"].get("OldImage") or {}
        mode = image.get("mode", {}).get("S", "ok")
        if mode == "raise" or (mode == "report" and not partial):
            raise RuntimeError("poison " + record["dynamodb"]["SequenceNumber"])
        if mode == "report":
            return {"batchItemFailures": [{"itemIdentifier": r["dynamodb"]["SequenceNumber"]}
                                          for r in records[i:]]}
        if record["eventName"] == "REMOVE":
            _ddb.delete_item(TableName=replica, Key=record["dynamodb"]["Keys"])
        else:
            _ddb.put_item(TableName=replica, Item=record["dynamodb"]["NewImage"])
    time.sleep(float(os.environ.get("DELAY", "0")))
    return {"batchItemFailures": []}
'''

FIGURES: dict[str, dict[str, Any]] = {}


@pytest.fixture(scope="module", autouse=True)
def write_figures():
    yield
    out = ROOT / "build" / "faults.json"
    out.parent.mkdir(exist_ok=True)
    previous = json.loads(out.read_text()) if out.exists() else {}
    previous.update(FIGURES)
    out.write_text(json.dumps(previous, indent=2))


def deploy_replicator(backend: Any, role: str, name: str, *, delay: float = 0.0,
                      partial: bool = False) -> str:
    """Deploy REPLICATOR as function ``name``; returns the name."""
    deploy(backend, name, {"app.py": REPLICATOR}, role=role, Timeout=10, Environment={
        "Variables": {"DELAY": str(delay), "PARTIAL": "true" if partial else "false"}})
    return name


class Pipeline:
    """source --stream--> mapping --> REPLICATOR --> replica (+ journal, + DLQ).

    ``function`` is a REPLICATOR deployed before (with ``partial`` as it was
    deployed with) that this pipeline's mapping shares; by default the pipeline
    deploys its own, named ``name``.
    """

    def __init__(self, backend: Any, role: str, name: str, *, delay: float = 0.0,
                 partial: bool = False, function: str | None = None, **mapping: Any) -> None:
        self.backend, self.name = backend, name
        self.function = function or deploy_replicator(backend, role, name, delay=delay,
                                                      partial=partial)
        self.ddb = backend.client("dynamodb")
        self.stream = make_table(backend, f"{name}-src", view_type="NEW_AND_OLD_IMAGES")
        make_table(backend, f"{name}-dst", view_type=None)
        make_table(backend, f"{name}-journal", view_type=None, key="id")
        sqs = backend.client("sqs")
        self.queue = sqs.create_queue(QueueName=f"{name}-dlq")["QueueUrl"]
        queue_arn = sqs.get_queue_attributes(QueueUrl=self.queue, AttributeNames=[
            "QueueArn"])["Attributes"]["QueueArn"]
        if partial:
            mapping["FunctionResponseTypes"] = ["ReportBatchItemFailures"]
        self.mapping = backend.client("lambda").create_event_source_mapping(
            FunctionName=self.function, EventSourceArn=self.stream, StartingPosition="TRIM_HORIZON",
            DestinationConfig={"OnFailure": {"Destination": queue_arn}}, **mapping)["UUID"]
        self.dead_letters: list[dict[str, Any]] = []

    def write(self, key: str, kind: str = "put", mode: str = "ok", value: int = 0) -> None:
        item = {"pk": {"S": key}, "v": {"N": str(value)}, "mode": {"S": mode}}
        if kind == "delete":
            self.ddb.delete_item(TableName=f"{self.name}-src", Key={"pk": {"S": key}})
        else:
            self.ddb.put_item(TableName=f"{self.name}-src", Item=item)

    def records(self) -> list[dict[str, Any]]:
        streams = self.backend.client("dynamodbstreams")
        shard = streams.describe_stream(StreamArn=self.stream)["StreamDescription"]["Shards"][0]
        iterator = streams.get_shard_iterator(StreamArn=self.stream, ShardId=shard["ShardId"],
                                              ShardIteratorType="TRIM_HORIZON")["ShardIterator"]
        out: list[dict[str, Any]] = []
        while iterator:
            page = streams.get_records(ShardIterator=iterator, Limit=1000)
            out.extend(page["Records"])
            if not page["Records"]:
                break
            iterator = page.get("NextShardIterator")
        return out

    def journal(self) -> list[dict[str, Any]]:
        items = _scan(self.ddb, f"{self.name}-journal")
        rows = [{"at": float(i["at"]["N"]), "seqs": json.loads(i["seqs"]["S"]),
                 "keys": json.loads(i["keys"]["S"])} for i in items]
        return sorted(rows, key=lambda r: r["at"])

    def drain(self, timeout: float = 60.0) -> None:
        """Wait until the last record was delivered (or dead-lettered) and the engine has
        nothing left in flight for the function: no lane retrying an earlier batch, no
        failure record on its way (:func:`wait_until_idle`)."""
        records = self.records()
        last = records[-1]["dynamodb"]["SequenceNumber"] if records else None
        sqs = self.backend.client("sqs")

        def delivered_or_dead() -> bool:
            self._collect(sqs)
            seen = {s for row in self.journal() for s in row["seqs"]}
            return last is None or last in seen or any(
                int(d["DDBStreamBatchInfo"]["startSequenceNumber"]) <= int(last)
                <= int(d["DDBStreamBatchInfo"]["endSequenceNumber"]) for d in self.dead_letters)

        wait_for(delivered_or_dead, timeout=timeout, interval=0.1, message="the last record")
        wait_until_idle(self.backend, self.function, timeout=timeout)
        self._collect(sqs)

    def close(self) -> None:
        """Delete the mapping (the tables stay, for a look after a failure)."""
        self.backend.client("lambda").delete_event_source_mapping(UUID=self.mapping)

    def _collect(self, sqs: Any) -> None:
        while True:
            messages = sqs.receive_message(QueueUrl=self.queue, MaxNumberOfMessages=10,
                                           WaitTimeSeconds=0).get("Messages", [])
            if not messages:
                return
            for message in messages:
                self.dead_letters.append(json.loads(message["Body"]))
                sqs.delete_message(QueueUrl=self.queue, ReceiptHandle=message["ReceiptHandle"])

    def verdict(self) -> dict[str, Any]:
        """Compare source and replica; count what was tried, delivered, dead-lettered, lost."""
        records = self.records()
        dead = [(int(d["DDBStreamBatchInfo"]["startSequenceNumber"]),
                 int(d["DDBStreamBatchInfo"]["endSequenceNumber"])) for d in self.dead_letters]

        def is_dead(seq: str) -> bool:
            return any(a <= int(seq) <= b for a, b in dead)

        journal = self.journal()
        delivered = {s for row in journal for s in row["seqs"]}
        dead_keys = {r["dynamodb"]["Keys"]["pk"]["S"] for r in records
                     if is_dead(r["dynamodb"]["SequenceNumber"])}
        source = {i["pk"]["S"]: i for i in _scan(self.ddb, f"{self.name}-src")}
        replica = {i["pk"]["S"]: i for i in _scan(self.ddb, f"{self.name}-dst")}
        keys = (set(source) | set(replica)) - dead_keys
        mismatched = sorted(k for k in keys if source.get(k) != replica.get(k))
        undelivered = [r["dynamodb"]["SequenceNumber"] for r in records
                       if r["dynamodb"]["SequenceNumber"] not in delivered
                       and not is_dead(r["dynamodb"]["SequenceNumber"])]
        order_violations = _order_violations(journal)
        poison = {r["dynamodb"]["SequenceNumber"] for r in records
                  if (r["dynamodb"].get("NewImage") or r["dynamodb"].get("OldImage") or {}
                      ).get("mode", {}).get("S", "ok") != "ok"}
        innocent_dead = [(a, b) for a, b in dead if not any(a <= int(p) <= b for p in poison)]
        return {"changes": len(records), "invocations": len(journal),
                "dead_lettered": sum(1 for r in records
                                     if is_dead(r["dynamodb"]["SequenceNumber"])),
                "lost": len(undelivered) + len(mismatched), "mismatched_keys": mismatched,
                "undelivered": undelivered, "order_violations": order_violations,
                "dead_letters_without_a_failing_record": innocent_dead}


def _scan(ddb: Any, table: str) -> list[dict[str, Any]]:
    pages = ddb.get_paginator("scan").paginate(TableName=table, ConsistentRead=True)
    return [item for page in pages for item in page["Items"]]


def _order_violations(journal: list[dict[str, Any]]) -> list[str]:
    """Keys whose changes were first delivered out of sequence-number order."""
    first_seen: dict[str, list[int]] = {}
    done: set[str] = set()
    for row in journal:
        for seq, key in zip(row["seqs"], row["keys"], strict=True):
            if seq not in done:
                done.add(seq)
                first_seen.setdefault(key, []).append(int(seq))
    return sorted(k for k, seqs in first_seen.items() if seqs != sorted(seqs))


def _workers(endpoint: dict[str, Any], function: str) -> list[psutil.Process]:
    """The endpoint's live worker processes for ``function``.

    A worker may exit (recycled, or killed a moment ago) between being listed and
    being read: it is passed over.
    """
    found = []
    for proc in psutil.Process(endpoint["pid"]).children(recursive=True):
        try:
            # Started from scratch (bootstrap.py) or forked warm (by forkserver.py, whose
            # own working directory is /): a worker runs in its function's code
            # directory, .../functions/<account>/<region>/<name>/<code hash>.
            if (any(part.endswith(("bootstrap.py", "forkserver.py")) for part in proc.cmdline())
                    and Path(proc.cwd()).parent.name == function):
                found.append(proc)
        except psutil.NoSuchProcess:
            continue
    return found


def _report(name: str, verdict: dict[str, Any], **extra: Any) -> None:
    FIGURES[name] = {k: v for k, v in verdict.items()
                     if k in ("changes", "invocations", "dead_lettered", "lost")} | extra


KILLS = 3  # workers killed in the middle of a batch


def test_killing_workers_mid_batch_loses_nothing(backend, endpoint, role, unique):
    # given: slow batches, so a kill lands inside an invocation
    pipe = Pipeline(backend, role, f"kill-{unique}", delay=0.15, BatchSize=10)
    kills = 0
    stop = threading.Event()

    def killer() -> None:
        # Each time an invocation has begun (it journals first, then works and
        # sleeps), kill the function's workers: the batch is cut short mid-way.
        nonlocal kills
        begun = 0
        while not stop.is_set() and kills < KILLS:
            if len(pipe.journal()) > begun:
                begun = len(pipe.journal())
                for proc in _workers(endpoint, f"kill-{unique}"):
                    with contextlib.suppress(ProcessLookupError):
                        os.kill(proc.pid, signal.SIGKILL)
                        kills += 1
            stop.wait(0.05)

    thread = threading.Thread(target=killer)
    thread.start()
    # when
    try:
        for i in range(60):
            pipe.write(f"k{i % 20}", value=i)
        thread.join(timeout=60)
    finally:
        stop.set()
        thread.join()
    pipe.drain()
    verdict = pipe.verdict()
    _report("worker_sigkill", verdict, kills=kills)
    # then
    assert kills > 0
    assert verdict["lost"] == 0, verdict
    assert verdict["dead_lettered"] == 0
    assert verdict["order_violations"] == []


def test_restarting_the_engine_mid_batch_loses_nothing(backend, endpoint, role, unique):
    # given
    from localaws import lifecycle

    pipe = Pipeline(backend, role, f"restart-{unique}", delay=0.1, BatchSize=5)
    restarts = 0
    # when: five restarts, each while batches of the last writes are in flight
    for i in range(75):
        pipe.write(f"k{i % 15}", value=i)
        if i % 15 == 14:
            lifecycle.admin_request(endpoint["port"], "/_workshop/engine/restart", "POST",
                                    timeout=60)
            restarts += 1
    pipe.drain()
    verdict = pipe.verdict()
    _report("engine_restart", verdict, restarts=restarts)
    # then
    assert verdict["lost"] == 0, verdict
    assert verdict["order_violations"] == []


BROKEN_RECORDS = 2


@pytest.mark.parametrize(
    ("files", "handler", "settings_"),
    [
        ({"app.py": "import os\n\ndef handler(e, c):\n    os._exit(1)\n"}, "app.handler", {}),
        ({"app.py": "import time\n\ndef handler(e, c):\n    time.sleep(5)\n"}, "app.handler",
         {"Timeout": 1}),
        ({"app.py": "def handler(e, c):\n    return len([bytearray(64 << 20)"
                    " for _ in range(8)])\n"}, "app.handler", {}),
        ({"app.py": "import not_installed_anywhere\n"}, "app.handler", {}),
    ],
    ids=["process_exit", "timeout", "out_of_memory", "import_error"],
)
def test_a_broken_handler_sends_batches_to_the_destination_and_harms_no_one_else(
        backend, role, unique, files, handler, settings_, request):
    # given: a healthy pipeline, and a broken function on another table
    healthy = Pipeline(backend, role, f"healthy-{unique}", BatchSize=10)
    broken_stream = make_table(backend, f"broken-{unique}-src")
    sqs = backend.client("sqs")
    queue = sqs.create_queue(QueueName=f"broken-{unique}-dlq")["QueueUrl"]
    queue_arn = sqs.get_queue_attributes(QueueUrl=queue, AttributeNames=[
        "QueueArn"])["Attributes"]["QueueArn"]
    deploy(backend, f"broken-{unique}", files, role=role, handler=handler, **settings_)
    backend.client("lambda").create_event_source_mapping(
        FunctionName=f"broken-{unique}", EventSourceArn=broken_stream,
        StartingPosition="TRIM_HORIZON", BatchSize=5, MaximumRetryAttempts=1,
        BisectBatchOnFunctionError=True,
        DestinationConfig={"OnFailure": {"Destination": queue_arn}})
    ddb = backend.client("dynamodb")
    # when: two broken records, one batch, bisected into one record each (deeper
    # splits: tests/unit/test_esm_delivery.py and test_esm_engine.py)
    for i in range(BROKEN_RECORDS):
        ddb.put_item(TableName=f"broken-{unique}-src", Item={"pk": {"S": f"b{i}"}})
    for i in range(10):
        healthy.write(f"h{i}", value=i)
    messages: list[dict[str, Any]] = []

    def all_dead_lettered() -> bool:
        for m in sqs.receive_message(QueueUrl=queue, MaxNumberOfMessages=10).get("Messages", []):
            messages.append(json.loads(m["Body"]))
            sqs.delete_message(QueueUrl=queue, ReceiptHandle=m["ReceiptHandle"])
        return sum(m["DDBStreamBatchInfo"]["batchSize"] for m in messages) >= BROKEN_RECORDS

    wait_for(all_dead_lettered, timeout=90, interval=0.2,
             message=f"{BROKEN_RECORDS} dead-lettered records")
    healthy.drain()
    verdict = healthy.verdict()
    # then
    assert {m["requestContext"]["condition"] for m in messages} == {"RetryAttemptsExhausted"}
    assert all(m["DDBStreamBatchInfo"]["batchSize"] == 1 for m in messages)  # bisected
    assert all(m["requestContext"]["approximateInvokeCount"] == 2 for m in messages)
    assert verdict["lost"] == 0, verdict
    assert backend.client("sts").get_caller_identity()
    FIGURES[f"broken_handler_{request.node.callspec.id}"] = {
        "dead_lettered": BROKEN_RECORDS, "healthy_changes": verdict["changes"],
        "lost": verdict["lost"]}


def test_throttled_records_wait_without_using_retries(backend, role, unique):
    # given: reserved concurrency 0, and no retries at all
    name = f"throttle-{unique}"
    lam = backend.client("lambda")
    pipe = Pipeline(backend, role, name, BatchSize=10, MaximumRetryAttempts=0)
    lam.put_function_concurrency(FunctionName=name, ReservedConcurrentExecutions=0)
    # when: the mapping has tried, and been throttled, a few times
    for i in range(25):
        pipe.write(f"k{i}", value=i)
    wait_for(lambda: sum(lambda_metric(backend, name, "Throttles", "Sum")) >= 3,
             message="the mapping to be throttled a few times")
    during = len(pipe.journal())
    lam.delete_function_concurrency(FunctionName=name)
    pipe.drain()
    verdict = pipe.verdict()
    _report("throttled", verdict, invocations_while_throttled=during)
    # then
    assert during == 0
    assert verdict["dead_lettered"] == 0
    assert verdict["lost"] == 0, verdict


OPS = st.lists(
    st.tuples(st.sampled_from(["put", "put", "update", "delete"]),
              st.sampled_from([f"k{i}" for i in range(5)]),
              st.sampled_from(["ok"] * 8 + ["raise", "report"])),
    min_size=5, max_size=40)
MAPPINGS = st.fixed_dictionaries({
    "BatchSize": st.sampled_from([1, 2, 5, 10]),
    "MaximumRetryAttempts": st.integers(0, 2),
    "BisectBatchOnFunctionError": st.booleans(),
    "ParallelizationFactor": st.sampled_from([1, 2, 3]),
})
_counter = iter(range(10_000))


@pytest.fixture(scope="module")
def replicators(backend, role) -> dict[bool, str]:
    """REPLICATOR deployed twice, shared by every example's pipeline: without and with
    partial batch responses (so each example costs a mapping and tables, not a cold start)."""
    return {partial: deploy_replicator(backend, role, f"prop-{os.getpid()}-{tag}",
                                       partial=partial)
            for partial, tag in ((False, "whole"), (True, "partial"))}


@settings(max_examples=12, deadline=None, derandomize=True,
          suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])
@given(ops=OPS, mapping=MAPPINGS, partial=st.booleans())
def test_random_changes_and_failures_keep_the_replica_equal_to_the_source(
        backend, role, replicators, ops, mapping, partial):
    # given
    pipe = Pipeline(backend, role, f"prop-{next(_counter)}-{os.getpid()}", partial=partial,
                    function=replicators[partial], **mapping)
    # when
    try:
        for n, (kind, key, mode) in enumerate(ops):
            pipe.write(key, "delete" if kind == "delete" else "put", mode, value=n)
        pipe.drain()
        verdict = pipe.verdict()
    finally:
        pipe.close()
    totals = FIGURES.setdefault("property", {"examples": 0, "changes": 0, "dead_lettered": 0,
                                             "lost": 0, "invocations": 0})
    totals["examples"] += 1
    for key in ("changes", "dead_lettered", "lost", "invocations"):
        totals[key] += verdict[key]
    # then
    assert verdict["lost"] == 0, verdict
    assert verdict["order_violations"] == [], verdict
    assert verdict["dead_letters_without_a_failing_record"] == [], verdict

