"""A crash (SIGKILL) loses at most the writes since the last snapshot, and never half of one.

The figures (how much was lost, how far back) are printed, not asserted: the
machine is shared and a snapshot's timing depends on its load. What is asserted
is consistency: the writes that survive are exactly the oldest ones acknowledged,
every surviving item has its stream record and no record lacks its item, and the
replica catches up with the source from the mapping's saved checkpoint.
"""

from __future__ import annotations

import threading
import time
from typing import Any

import pytest

from tests.conftest import _free_port
from tests.functional.persistence_support import Restartable
from tests.functional.support import deploy, make_role, make_table, wait_for

pytestmark = [pytest.mark.functional, pytest.mark.slow]

REPLICATOR = '''
import os
import boto3

_ddb = boto3.client("dynamodb")


def handler(event, context):
    for record in event["Records"]:
        change = record["dynamodb"]
        if record["eventName"] == "REMOVE":
            _ddb.delete_item(TableName=os.environ["REPLICA"], Key=change["Keys"])
        else:
            _ddb.put_item(TableName=os.environ["REPLICA"], Item=change["NewImage"])
'''


@pytest.fixture
def target(tmp_path, monkeypatch):
    monkeypatch.setenv("WORKSHOP_STATE_DIR", str(tmp_path))
    endpoint = Restartable(_free_port(), tmp_path / "state")
    endpoint.up()
    yield endpoint
    endpoint.down()


def _scan_keys(backend: Any, table: str) -> set[str]:
    pages = backend.client("dynamodb").get_paginator("scan").paginate(TableName=table)
    return {item["pk"]["S"] for page in pages for item in page["Items"]}


def _stream_records(backend: Any, stream_arn: str) -> list[dict[str, Any]]:
    streams = backend.client("dynamodbstreams")
    shard = streams.describe_stream(StreamArn=stream_arn)["StreamDescription"]["Shards"][0]
    iterator = streams.get_shard_iterator(StreamArn=stream_arn, ShardId=shard["ShardId"],
                                          ShardIteratorType="TRIM_HORIZON")["ShardIterator"]
    out: list[dict[str, Any]] = []
    while iterator:
        page = streams.get_records(ShardIterator=iterator, Limit=1000)
        if not page["Records"]:
            return out
        out += page["Records"]
        iterator = page.get("NextShardIterator")
    return out


class Writer(threading.Thread):
    """Puts k000000, k000001, ... one after the other; notes when each was acknowledged."""

    def __init__(self, backend: Any, table: str, pause_s: float = 0.002) -> None:
        super().__init__(daemon=True)
        self.ddb = backend.client("dynamodb")
        self.table = table
        self.pause_s = pause_s
        self.acked: list[tuple[str, float]] = []
        self.stop = threading.Event()

    def run(self) -> None:
        i = 0
        while not self.stop.is_set():
            key = f"k{i:06d}"
            try:
                self.ddb.put_item(TableName=self.table, Item={"pk": {"S": key},
                                                             "n": {"N": str(i)}})
            except Exception:  # the endpoint is gone
                return
            self.acked.append((key, time.time()))
            i += 1
            time.sleep(self.pause_s)


def test_sigkill_under_write_load_keeps_a_consistent_prefix_and_the_replica_catches_up(target):
    # given: a source table replicated through a mapping, under a steady write load
    backend = target.backend()
    role = make_role(backend, "crash-role")
    stream_arn = make_table(backend, "crash-src")
    make_table(backend, "crash-replica", view_type=None)
    deploy(backend, "crash-replicator", {"app.py": REPLICATOR}, role=role, Timeout=30,
           Environment={"Variables": {"REPLICA": "crash-replica"}})
    backend.client("lambda").create_event_source_mapping(
        FunctionName="crash-replicator", EventSourceArn=stream_arn,
        StartingPosition="TRIM_HORIZON", BatchSize=10)
    writer = Writer(backend, "crash-src")
    writer.start()
    wait_for(lambda: len(writer.acked) >= 300, timeout=120, message="300 acknowledged writes")

    # when: the endpoint is killed in the middle of it, then started again
    print("\nlast snapshot before the kill:", (target.health() or {}).get("state"))
    killed_at = target.kill()
    writer.stop.set()
    writer.join(timeout=30)
    target.up()
    backend = target.backend()
    survived = _scan_keys(backend, "crash-src")
    replica_at_start = _scan_keys(backend, "crash-replica")

    # then: what survived is exactly the oldest acknowledged writes (no hole)
    acked = [key for key, _ in writer.acked]
    kept = len(survived & set(acked))
    assert survived <= set(acked) | {f"k{len(acked):06d}"}  # the write in flight may be there
    assert set(acked[:kept]) == survived & set(acked)
    lost = writer.acked[kept:]
    window_ms = (killed_at - lost[0][1]) * 1000 if lost else 0.0
    print(f"\nSIGKILL: {len(acked)} writes acknowledged, {kept} survived, {len(lost)} lost; "
          f"loss window {window_ms:.0f} ms")
    # every surviving item has exactly its one INSERT record, and no record lacks its item
    records = _stream_records(backend, stream_arn)
    assert sorted(r["dynamodb"]["Keys"]["pk"]["S"] for r in records) == sorted(survived)
    assert {r["eventName"] for r in records} == {"INSERT"}
    # the replica never holds a change the source lost, and catches up
    assert replica_at_start <= survived
    wait_for(lambda: _scan_keys(backend, "crash-replica") == survived, timeout=120,
             message="the replica to catch up with the source")


def test_concurrent_writers_during_snapshots_keep_items_and_their_stream_consistent(target):
    # given: several writers putting, updating and deleting while snapshots are taken
    backend = target.backend()
    stream_arn = make_table(backend, "busy")
    stop = threading.Event()

    def churn(worker: int) -> None:
        ddb = target.backend().client("dynamodb")
        i = 0
        while not stop.is_set():
            key = {"pk": {"S": f"w{worker}-{i % 20}"}}
            try:
                if i % 3 == 2:
                    ddb.delete_item(TableName="busy", Key=key)
                else:
                    ddb.update_item(TableName="busy", Key=key, UpdateExpression="ADD n :one",
                                    ExpressionAttributeValues={":one": {"N": "1"}})
            except Exception:  # the endpoint is gone
                return
            i += 1

    workers = [threading.Thread(target=churn, args=(w,), daemon=True) for w in range(4)]
    for worker in workers:
        worker.start()
    wait_for(lambda: (target.health() or {}).get("state", {}).get("snapshots", 0) >= 3,
             timeout=120, message="three snapshots under load")

    # when: killed while they write
    target.kill()
    stop.set()
    for worker in workers:
        worker.join(timeout=30)
    target.up()
    backend = target.backend()

    # then: replaying the saved stream gives exactly the saved table
    replayed: dict[str, dict[str, Any]] = {}
    for record in _stream_records(backend, stream_arn):
        key = record["dynamodb"]["Keys"]["pk"]["S"]
        if record["eventName"] == "REMOVE":
            replayed.pop(key, None)
        else:
            replayed[key] = record["dynamodb"]["NewImage"]
    ddb = backend.client("dynamodb")
    items = {i["pk"]["S"]: i for i in ddb.scan(TableName="busy")["Items"]}
    assert replayed
    assert replayed == items
