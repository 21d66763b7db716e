"""The loop that drives one event source mapping.

One thread per mapping. Each step reads the readable shards (one ``GetRecords``
per shard), assembles a round of records per shard and delivers it: with
``ParallelizationFactor`` N the round is split over N lanes by partition key and
the lanes run concurrently (every change to an item stays in one lane, in order);
the shard's checkpoint moves to the end of the round once every lane is done.

With a tumbling window (ParallelizationFactor 1) a round holds the records of one
window only; the window's state travels with each batch and is stored when the
round is done (next to the checkpoint), and the window's final invocation is made
once the window is over (its end has passed and every record before it was read),
when a record of a later window comes, or when the shard ends.

Between steps the thread sleeps until the stream signals a new record (the local
endpoint wakes it on every write, so the write-to-handler latency is a few
milliseconds) or a short idle timeout passes.
"""

from __future__ import annotations

import dataclasses
import functools
import json
import logging
import os
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from localaws import profile, streams, telemetry
from localaws.esm.config import MappingConfig
from localaws.esm.filters import Pattern, compile_pattern, matches
from localaws.esm.poller import ShardState, StreamGoneError, StreamPoller
from localaws.esm.processor import (
    BatchDelivery,
    DeliveryHooks,
    DeliveryReport,
    DeliveryStoppedError,
)
from localaws.esm.records import created_at, partition_lane, sequence_number
from localaws.esm.windows import MAX_STATE_BYTES, Window, state_size, window_of
from localaws.lambda_api import MAX_PAYLOAD

log = logging.getLogger("localaws.esm")

IDLE_WAIT_S = (0.05, 0.1, 0.25, 0.5, 1.0)
# Set to poll on a fixed schedule instead of waking on writes (AWS polls a shard
# 4 times per second: 0.25); used by the benchmarks' baseline.
POLL_INTERVAL_ENV = "WORKSHOP_ESM_POLL_INTERVAL"
SHARD_REFRESH_S = 10.0


@functools.lru_cache(maxsize=64)
def _patterns(sources: tuple[str, ...]) -> list[Pattern]:
    return [compile_pattern(p) for p in sources]


def _json_size(record: dict[str, Any], batch_so_far: int) -> int:
    """A record's JSON size: exact near the 6 MB cap, a safe upper bound below it."""
    bound = 4 * int(record["dynamodb"].get("SizeBytes", 0)) + 2048
    if batch_so_far + bound < MAX_PAYLOAD // 2:
        return bound
    return len(json.dumps(record, separators=(",", ":"))) + 1


def _expiring(cfg: MappingConfig) -> MappingConfig:
    """The settings a batch is retried with: records expire from the stream.

    With ``MaximumRecordAgeInSeconds`` -1, AWS retries "until the record expires in
    the event source": here, until it is older than the stream's retention.
    """
    retention = int(streams.registry.settings().stream_retention)
    if cfg.maximum_record_age == -1 or cfg.maximum_record_age > retention:
        return dataclasses.replace(cfg, maximum_record_age=retention)
    return cfg


class MappingWorker:
    """Polls the stream and invokes the function for one mapping.

    Parameters
    ----------
    service : MappingService
        Owner: configuration, clients, checkpoints, executor.
    uuid : str
        The mapping.
    """

    def __init__(self, service: Any, uuid: str,
                 predecessor: threading.Thread | None = None) -> None:
        self.service = service
        self.uuid = uuid
        self._predecessor = predecessor
        self.wake = threading.Event()
        self.stopped = threading.Event()
        self._poller: StreamPoller | None = None
        self._last_refresh = 0.0
        self._lanes: ThreadPoolExecutor | None = None
        self._caught_up: dict[str, float] = {}  # shard -> time of its last short read
        # Set while the loop waits for a write after a step that found nothing to deliver;
        # ``wakes`` counts the ends of those waits (see MappingService.idle).
        self._resting = threading.Event()
        self.wakes = 0
        self.thread = threading.Thread(target=self._run, name=f"esm-{uuid[:8]}", daemon=True)

    # -- control ------------------------------------------------------------------------
    def start(self) -> None:
        """Start the thread."""
        self.thread.start()

    def stop(self) -> None:
        """Ask the thread to stop at the next opportunity (in-flight invocations finish)."""
        self.stopped.set()
        self.wake.set()

    def notify(self) -> None:
        """The stream has new records (or the configuration changed)."""
        self.wake.set()

    def wait(self, seconds: float) -> bool:
        """Sleep, waking early on stop; True when the worker must stop delivering."""
        if self.stopped.wait(seconds):
            return True
        return self._interrupted()

    def idle(self) -> bool:
        """True when nothing is in flight and nothing readable waits to be delivered.

        That is: the loop rests after a step that found the stream read to its end
        (every shard's buffer empty, no tumbling window open), or the mapping is
        disabled; and no write has arrived since. A write wakes the worker before
        the write is answered, so a caller that wrote and then sees ``True`` knows
        the write was delivered (or filtered out).
        """
        if not self._resting.is_set() or self.wake.is_set():
            return False
        poller = self._poller
        return poller is None or not any(shard.buffer for shard in poller.shards.values())

    def _interrupted(self) -> bool:
        # An update (or disable/delete) stops the batch in flight; the round is
        # re-read from the checkpoint with the new settings once they are applied.
        cfg = self.service.config_of(self.uuid)
        return cfg is None or not cfg.enabled or cfg.state in (
            "Deleting", "Disabling", "Updating", "Enabling")

    # -- loop ---------------------------------------------------------------------------------
    def _run(self) -> None:
        if self._predecessor is not None:
            # After an engine restart: never two workers delivering the same records.
            self._predecessor.join()
        idle = 0
        active = profile.current()  # the AWS timing profile polls 4 times a second
        fixed = float(os.environ.get(POLL_INTERVAL_ENV) or 0) or (
            active.poll_interval() if active is not None else 0.0)
        while not self.stopped.is_set():
            tick = time.monotonic()
            cfg = self.service.settle(self.uuid)
            if cfg is None:
                break
            before_polling = self.service.polling_wait(self.uuid)
            if before_polling > 0:
                self.stopped.wait(min(before_polling, 0.5))
                continue
            if not cfg.enabled:
                self._poller = None  # re-read from the checkpoints when enabled again
                self._rest(1.0)
                continue
            try:
                worked = self.step(cfg)
            except StreamGoneError:
                log.warning("mapping %s: stream %s not found", self.uuid, cfg.event_source_arn)
                self.service.set_result(self.uuid, "PROBLEM: Stream not found")
                self._poller = None
                worked = False
                self.stopped.wait(1.0)
            except Exception:
                log.exception("mapping %s: polling failed", self.uuid)
                self._poller = None
                worked = False
                self.stopped.wait(1.0)
            if fixed and not worked:
                self.stopped.wait(max(0.0, tick + fixed - time.monotonic()))
                continue
            if worked:
                idle = 0
                continue
            timeout = IDLE_WAIT_S[min(idle, len(IDLE_WAIT_S) - 1)]
            deadline = self.window_deadline()
            if deadline is not None:  # wake up when a tumbling window is over
                timeout = min(timeout, max(0.01, deadline - time.time() + 0.01))
                self.wake.wait(timeout)
                self.wake.clear()
            else:
                self._rest(timeout)
            idle += 1
        if self._lanes is not None:
            self._lanes.shutdown(wait=False)

    def _rest(self, timeout: float) -> None:
        """Wait for a write (or ``timeout``), seen as idle by :meth:`idle` meanwhile."""
        self._resting.set()
        try:
            self.wake.wait(timeout)
        finally:
            self.wakes += 1
            self._resting.clear()
        self.wake.clear()

    def step(self, cfg: MappingConfig) -> bool:
        """One polling step over every readable shard; True if records were handled."""
        poller = self._poller
        if poller is None or poller.needs_refresh \
                or time.monotonic() - self._last_refresh > SHARD_REFRESH_S:
            if poller is None:
                poller = StreamPoller(
                    self.service.streams_client(self.uuid), cfg.event_source_arn,
                    # LATEST was pinned into checkpoints when the mapping was created:
                    # a shard without a checkpoint is read from its start.
                    "TRIM_HORIZON",
                    lambda shard_id: self.service.checkpoints.get(self.uuid, shard_id))
                self._poller = poller
            poller.refresh_shards()
            self._last_refresh = time.monotonic()
        worked = False
        for shard in poller.readable():
            want = cfg.batch_size * cfg.parallelization_factor
            if len(shard.buffer) < want:
                limit = min(1000, max(want - len(shard.buffer), 100))
                before = time.time()
                read = poller.poll(shard, limit)
                if read < limit:
                    self._caught_up[shard.shard_id] = before
                self._count(cfg, PolledEventCount=read)
            if cfg.tumbling_window > 0:
                try:
                    worked = self._close_window(shard, cfg) or worked
                except DeliveryStoppedError:
                    return False
            if not shard.buffer:
                continue
            if not self._window_elapsed(shard, cfg, want):
                continue
            try:
                if cfg.tumbling_window > 0:
                    self._window_round(shard, cfg)
                else:
                    self._round(poller, shard, cfg)
            except DeliveryStoppedError:
                poller.rewind(shard)
                return False
            worked = True
        return worked

    # -- a round --------------------------------------------------------------------------------
    def _window_elapsed(self, shard: ShardState, cfg: MappingConfig, want: int) -> bool:
        if cfg.maximum_batching_window <= 0 or len(shard.buffer) >= want:
            return True
        if shard.window_started is None:
            shard.window_started = time.monotonic()
            return False
        return time.monotonic() - shard.window_started >= cfg.maximum_batching_window

    def _round(self, poller: StreamPoller, shard: ShardState, cfg: MappingConfig) -> None:
        patterns = _patterns(tuple(cfg.filter_patterns))
        lanes: list[list[dict[str, Any]]] = [[] for _ in range(cfg.parallelization_factor)]
        sizes = [0] * cfg.parallelization_factor
        consumed = filtered = 0
        for record in shard.buffer:
            if patterns and not matches(patterns, record):
                consumed += 1
                filtered += 1
                continue
            lane = partition_lane(record, poller.key_names, cfg.parallelization_factor)
            size = _json_size(record, sizes[lane])
            if len(lanes[lane]) >= cfg.batch_size or (
                    lanes[lane] and sizes[lane] + size + 16 > MAX_PAYLOAD):
                break
            lanes[lane].append(record)
            sizes[lane] += size
            consumed += 1
        if consumed == 0:
            return
        if patterns:
            self._count(cfg, FilteredOutEventCount=filtered)
        last = sequence_number(shard.buffer[consumed - 1])
        busy = [records for records in lanes if records]
        if len(busy) == 1:
            self._deliver(shard.shard_id, cfg, busy[0])
        elif busy:
            if self._lanes is None:
                self._lanes = ThreadPoolExecutor(max_workers=10,
                                                 thread_name_prefix=f"esm-{self.uuid[:8]}-lane")
            futures = [self._lanes.submit(self._deliver, shard.shard_id, cfg, records)
                       for records in busy]
            errors = [f.exception() for f in futures]
            for error in errors:
                if error is not None:
                    raise error
        del shard.buffer[:consumed]
        shard.window_started = None
        self.service.checkpoints.set(self.uuid, shard.shard_id, last)

    # -- tumbling windows ---------------------------------------------------------------
    def _window_round(self, shard: ShardState, cfg: MappingConfig) -> None:
        """A round of one window: at most BatchSize records of the shard's open window."""
        patterns = _patterns(tuple(cfg.filter_patterns))
        window = self.service.windows.get(self.uuid, shard.shard_id)
        batch: list[dict[str, Any]] = []
        size = consumed = filtered = 0
        for record in shard.buffer:
            if patterns and not matches(patterns, record):
                consumed += 1
                filtered += 1
                continue
            created = created_at(record)
            if window is not None and not window.contains(created):
                if batch:
                    break  # a batch never spans two windows
                # A record of a later window: the open one is over.
                self._finish(shard.shard_id, cfg, window)
                window = None
            if window is None:
                window = window_of(created, cfg.tumbling_window)
            record_size = _json_size(record, size)
            if len(batch) >= cfg.batch_size or (batch and size + record_size + 4096 > MAX_PAYLOAD):
                break
            batch.append(record)
            size += record_size
            consumed += 1
        if consumed == 0:
            return
        if patterns:
            self._count(cfg, FilteredOutEventCount=filtered)
        last = sequence_number(shard.buffer[consumed - 1])
        if batch and window is not None:
            self._deliver(shard.shard_id, cfg, batch, window)
            if state_size(window.state) > MAX_STATE_BYTES:
                # "Your state can be a maximum of 1 MB per shard. If it exceeds that
                # size, Lambda terminates the window early."
                self._finish(shard.shard_id, cfg, window, terminated_early=True)
                window = Window(window.start, window.end)
            self.service.windows.set(self.uuid, shard.shard_id, window)
        del shard.buffer[:consumed]
        self.service.checkpoints.set(self.uuid, shard.shard_id, last)

    def _close_window(self, shard: ShardState, cfg: MappingConfig) -> bool:
        """Make the final invocation of the shard's open window once it is over."""
        window = self.service.windows.get(self.uuid, shard.shard_id)
        if window is None:
            return False
        if any(window.contains(created_at(r)) for r in shard.buffer):
            return False  # records of the window still to deliver
        ended = shard.exhausted or bool(shard.buffer) or (
            self._caught_up.get(shard.shard_id, 0.0) >= window.end)
        if not ended:
            return False
        self._finish(shard.shard_id, cfg, window)
        return True

    def _finish(self, shard_id: str, cfg: MappingConfig, window: Window,
                terminated_early: bool = False) -> None:
        hooks = self._hooks(cfg)
        BatchDelivery(hooks, shard_id, cfg.event_source_arn).finish_window(
            window, terminated_early=terminated_early)
        if not terminated_early:
            self.service.windows.set(self.uuid, shard_id, None)

    def window_deadline(self) -> float | None:
        """The earliest end of an open window (epoch seconds), to wake up for it."""
        ends = [w.end for shard_id in self.service.windows.open_shards(self.uuid)
                if (w := self.service.windows.get(self.uuid, shard_id)) is not None]
        return min(ends) if ends else None

    # -- delivery -----------------------------------------------------------------------
    def _count(self, cfg: MappingConfig, **values: int) -> None:
        """Emit ``EventCount`` metrics when the mapping's ``MetricsConfig`` asks for them."""
        if "EventCount" not in ((cfg.metrics_config or {}).get("Metrics") or []):
            return
        account, region = self.service.location_of(self.uuid)
        telemetry.put_mapping_metrics(account, region, self.uuid, values)

    def _hooks(self, cfg: MappingConfig) -> DeliveryHooks:
        account, region = self.service.location_of(self.uuid)
        return DeliveryHooks(
            invoke=lambda payload: self.service.executor.invoke(
                account, region, cfg.function_arn, payload),
            send_failure=lambda message: self.service.send_failure(self.uuid, message,
                                                                   self.wait),
            config=lambda: _expiring(self.service.config_of(self.uuid) or cfg),
            wait=self.wait,
            set_result=lambda text: self.service.set_result(self.uuid, text),
            arrival=lambda record: self._arrival(cfg, record),
            clock=streams.registry.now,  # the records' clock (ages, record age limit)
        )

    def _deliver(self, shard_id: str, cfg: MappingConfig, records: list[dict[str, Any]],
                 window: Window | None = None) -> None:
        account, region = self.service.location_of(self.uuid)
        hooks = self._hooks(cfg)
        # IteratorAge: the last record's age when the batch is sent to the function.
        age_ms = max(0.0, (streams.registry.now() - self._arrival(cfg, records[-1])) * 1000)
        report = BatchDelivery(hooks, shard_id, cfg.event_source_arn).deliver(records, window)
        telemetry.put_metrics(account, region, cfg.function_name, {"IteratorAge": age_ms})
        self._count_delivery(cfg, report)

    def _count_delivery(self, cfg: MappingConfig, report: DeliveryReport) -> None:
        self._count(cfg, InvokedEventCount=report.invoked_events,
                    FailedInvokeEventCount=report.failed_invoke_events,
                    DroppedEventCount=report.dropped,
                    OnFailureDestinationDeliveredEventCount=report.failed_to_destination)

    @staticmethod
    def _arrival(cfg: MappingConfig, record: dict[str, Any]) -> float:
        exact = streams.arrival_time(cfg.event_source_arn, sequence_number(record))
        return exact if exact is not None else created_at(record)
