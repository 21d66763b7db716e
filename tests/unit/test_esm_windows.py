"""The worker's tumbling-window rounds, with a fake service and a scripted function.

No endpoint and no thread: the worker's round and window-closing steps are called
directly on a shard buffer (esm-semantics §1.7).
"""

from __future__ import annotations

import json
import time
from dataclasses import dataclass, field
from typing import Any

from localaws.esm.checkpoints import CheckpointStore
from localaws.esm.config import MappingConfig
from localaws.esm.poller import ShardState
from localaws.esm.windows import WindowStore
from localaws.esm.worker import MappingWorker
from tests.unit.stubs import Result

STREAM = "arn:aws:dynamodb:us-east-1:123456789012:table/orders/stream/2025-11-25T10:00:00.000"
FUNCTION = "arn:aws:lambda:us-east-1:123456789012:function:f"
# A multiple of 10 a minute ago: records older than the stream's retention expire
# before delivery (FIDELITY.md, "Records expiring from the stream").
START = (int(time.time()) - 60) // 10 * 10


def record(n: int, created: float, size: int = 1) -> dict[str, Any]:
    return {"eventID": str(n), "eventName": "INSERT", "dynamodb": {
        "ApproximateCreationDateTime": float(created), "Keys": {"pk": {"S": f"r{n}"}},
        "NewImage": {"pk": {"S": f"r{n}"}, "size": {"N": str(size)}},
        "SequenceNumber": f"{100000000000000000000 + n}", "SizeBytes": 10}}


@dataclass
class FakeExecutor:
    events: list[dict[str, Any]] = field(default_factory=list)

    def invoke(self, account: str, region: str, arn: str, payload: bytes) -> Result:
        event = json.loads(payload)
        self.events.append(event)
        state = dict(event["state"])
        for rec in event["Records"]:
            state["n"] = state.get("n", 0) + 1
            blob = "x" * int(rec["dynamodb"]["NewImage"]["size"]["N"])
            state["blob"] = state.get("blob", "") + blob
        return Result(json.dumps({"state": state}).encode())


@dataclass
class FakeService:
    config: MappingConfig
    executor: FakeExecutor = field(default_factory=FakeExecutor)
    windows: WindowStore = field(default_factory=WindowStore)
    checkpoints: CheckpointStore = field(default_factory=CheckpointStore)

    def location_of(self, uuid: str) -> tuple[str, str]:
        return "123456789012", "us-east-1"

    def config_of(self, uuid: str) -> MappingConfig:
        return self.config

    def set_result(self, uuid: str, text: str) -> None:
        pass

    def send_failure(self, uuid: str, message: dict[str, Any], wait: Any) -> None:
        pass


def setup(**settings: Any) -> tuple[MappingWorker, FakeService, MappingConfig]:
    cfg = MappingConfig(uuid="u", function_arn=FUNCTION, event_source_arn=STREAM,
                        starting_position="TRIM_HORIZON", event_source_mapping_arn="arn",
                        state="Enabled", tumbling_window=10, **settings)
    service = FakeService(cfg)
    return MappingWorker(service, "u"), service, cfg


def kinds(service: FakeService) -> list[tuple[str, list[str], dict[str, Any]]]:
    return [("final" if e["isFinalInvokeForWindow"] else "batch",
             [r["dynamodb"]["Keys"]["pk"]["S"] for r in e["Records"]],
             {k: v for k, v in e["state"].items() if k == "n"})
            for e in service.executor.events]


def test_a_batch_stops_at_the_window_boundary_and_the_next_record_closes_the_window():
    # given: two records in one window, one in the next
    worker, service, cfg = setup()
    shard = ShardState("shard-1", None, buffer=[record(1, START + 1), record(2, START + 9),
                                                 record(3, START + 10)])
    # when
    worker._window_round(shard, cfg)
    worker._window_round(shard, cfg)
    # then
    assert kinds(service) == [("batch", ["r1", "r2"], {}), ("final", [], {"n": 2}),
                              ("batch", ["r3"], {})]
    assert service.windows.get("u", "shard-1").state["n"] == 1
    assert service.checkpoints.get("u", "shard-1") == "100000000000000000003"


def test_state_is_stored_between_rounds_of_the_same_window():
    # given
    worker, service, cfg = setup(batch_size=1)
    shard = ShardState("shard-1", None, buffer=[record(1, START), record(2, START + 1)])
    # when
    worker._window_round(shard, cfg)
    worker._window_round(shard, cfg)
    # then
    assert kinds(service) == [("batch", ["r1"], {}), ("batch", ["r2"], {"n": 1})]


def test_a_window_closes_once_the_shard_was_read_past_its_end():
    # given: an open window and an empty buffer
    worker, service, cfg = setup()
    shard = ShardState("shard-1", None, buffer=[record(1, START)])
    worker._window_round(shard, cfg)
    # when: no read after the end yet, then a read after it
    early = worker._close_window(shard, cfg)
    worker._caught_up["shard-1"] = START + 10
    late = worker._close_window(shard, cfg)
    # then
    assert (early, late) == (False, True)
    assert kinds(service)[-1] == ("final", [], {"n": 1})
    assert service.windows.get("u", "shard-1") is None


def test_the_end_of_a_shard_closes_its_window():
    # given
    worker, service, cfg = setup()
    shard = ShardState("shard-1", None, buffer=[record(1, START)])
    worker._window_round(shard, cfg)
    # when
    shard.ended = True  # read to its end, every record handed on: exhausted
    closed = worker._close_window(shard, cfg)
    # then
    assert closed and kinds(service)[-1][0] == "final"


def test_a_state_over_1_mb_terminates_the_window_early_and_starts_afresh():
    # given: a record that makes the state larger than 1 MB
    worker, service, cfg = setup()
    shard = ShardState("shard-1", None, buffer=[record(1, START, size=1024 * 1024 + 1),
                                                 record(2, START + 1)])
    # when
    worker._window_round(shard, cfg)
    # then
    final = service.executor.events[-1]
    assert (final["isFinalInvokeForWindow"], final["isWindowTerminatedEarly"]) == (True, True)
    assert service.windows.get("u", "shard-1").state == {}
