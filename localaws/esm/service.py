"""The event-source-mapping API of the local endpoint, and the workers behind it.

``MappingService`` serves Create/Get/List/Update/DeleteEventSourceMapping with
AWS's validation (:mod:`localaws.esm.config`) and lifecycle, and runs one
:class:`~localaws.esm.worker.MappingWorker` per mapping. moto never sees a
mapping (it would push stream records to Docker and empty the stream).

Lifecycle as observed on AWS: ``Creating`` -> ``Enabled``; an update returns
``Updating`` (``Disabling`` -> ``Disabled`` or ``Enabling`` -> ``Enabled`` when
``Enabled`` changes); a delete returns ``Deleting`` and the mapping disappears
once its worker has stopped.
"""

from __future__ import annotations

import dataclasses
import json
import logging
import threading
import time
from collections.abc import Callable, Sequence
from typing import Any

from botocore.exceptions import ClientError

from localaws import backends, profile, streams
from localaws.errors import ServiceError, not_found
from localaws.esm.checkpoints import CheckpointStore
from localaws.esm.config import MappingConfig, create_config, to_response, update_config
from localaws.esm.processor import DeliveryStoppedError
from localaws.esm.windows import WindowStore
from localaws.esm.worker import MappingWorker
from localaws.executor.function import parse_function_name
from localaws.iam_check import missing_permissions

log = logging.getLogger("localaws.esm")

_SETTLED = ("Creating", "Enabling", "Updating", "Disabling")
_UPDATE_ATTEMPTS = 5  # an update re-applied after the engine changed the mapping meanwhile
DESTINATION_RETRY_S = (0.1, 0.5, 1.0, 2.0, 5.0)


class MappingService:
    """Event source mappings for DynamoDB streams.

    Parameters
    ----------
    executor : Executor
        Runs the functions. Streams and destinations are reached in-process, through
        :mod:`localaws.backends`.
    """

    def __init__(self, executor: Any) -> None:
        self.executor = executor
        self.checkpoints = CheckpointStore()
        self.windows = WindowStore()  # open tumbling windows, kept like checkpoints
        self._lock = threading.RLock()
        self._configs: dict[str, MappingConfig] = {}
        self._where: dict[str, tuple[str, str]] = {}
        self._workers: dict[str, MappingWorker] = {}
        self._stopping: dict[str, threading.Thread] = {}  # still finishing an invocation
        # AWS timing profile: uuid -> (Enabled at, first poll at, resolve LATEST then)
        self._starts: dict[str, tuple[float, float, bool]] = {}
        self._running = False
        streams.add_listener(self._on_stream_record)

    # -- engine ---------------------------------------------------------------------------
    def start(self) -> None:
        """Start (or restart) a worker for every mapping; they resume from checkpoints."""
        with self._lock:
            self._running = True
            for uuid in self._configs:
                if uuid not in self._workers:
                    self._spawn(uuid)

    def stop(self) -> None:
        """Stop every worker (mappings and checkpoints are kept).

        A worker in the middle of an invocation finishes it; a restarted worker
        waits for it (:meth:`start`), so two never deliver the same records.
        """
        with self._lock:
            self._running = False
            workers = dict(self._workers)
            self._workers.clear()
        for worker in workers.values():
            worker.stop()
        for uuid, worker in workers.items():
            worker.thread.join(timeout=30)
            if worker.thread.is_alive():
                self._stopping[uuid] = worker.thread

    def count(self) -> int:
        """Number of mappings."""
        with self._lock:
            return len(self._configs)

    def idle(self, account_id: str, regions: Sequence[str],
             function_name: str) -> dict[str, Any]:
        """Which mappings of a function still have work (``GET /_workshop/mappings/idle``).

        A mapping is busy while it changes state (Creating, Enabling, Updating, ...)
        or, enabled, until its worker rests with the stream read to its end and
        nothing in flight (:meth:`MappingWorker.idle`). The mappings are looked at
        twice: a worker woken in between (by a record another one's invocation wrote,
        say from one region's replicator into the other's table) is busy too, so an
        answer with none busy means that nothing was left to deliver at one moment.

        Parameters
        ----------
        account_id : str
            The account.
        regions : sequence of str
            The function's regions (a replicator of two regions has a mapping in each).
        function_name : str
            Its name (or ARN).

        Returns
        -------
        dict
            ``{"function": name, "mappings": n, "busy": [uuid, ...]}``.
        """
        wanted = parse_function_name(function_name)[0]
        with self._lock:
            mine = {u: c for u, c in self._configs.items()
                    if self._where.get(u) in {(account_id, r) for r in regions}
                    and c.function_name == wanted}
            workers = {u: self._workers.get(u) for u in mine}

        def looked() -> dict[str, int | None]:  # uuid -> wakes so far, None when busy
            return {u: w.wakes if w is not None and w.idle() else None
                    for u, w in workers.items() if mine[u].enabled}

        first, second = looked(), looked()
        busy = [u for u, c in mine.items() if c.state not in ("Enabled", "Disabled")
                or (c.enabled and (first[u] is None or first[u] != second[u]))]
        return {"function": wanted, "mappings": len(mine), "busy": sorted(busy)}

    def _spawn(self, uuid: str) -> None:
        worker = MappingWorker(self, uuid, predecessor=self._stopping.pop(uuid, None))
        self._workers[uuid] = worker
        worker.start()

    def _on_stream_record(self, stream_arn: str) -> None:
        with self._lock:
            workers = [self._workers.get(u) for u, c in self._configs.items()
                       if c.event_source_arn == stream_arn]
        for worker in workers:
            if worker is not None:
                worker.notify()

    # -- used by workers ------------------------------------------------------------------
    def config_of(self, uuid: str) -> MappingConfig | None:
        """Current configuration of a mapping (``None`` once deleted)."""
        with self._lock:
            return self._configs.get(uuid)

    def location_of(self, uuid: str) -> tuple[str, str]:
        """``(account_id, region)`` of a mapping."""
        with self._lock:
            return self._where[uuid]

    def settle(self, uuid: str) -> MappingConfig | None:
        """Finish a pending state transition; remove a deleted mapping.

        Returns the configuration to run with, or ``None`` when the worker must exit.
        """
        with self._lock:
            cfg = self._configs.get(uuid)
            if cfg is None:
                return None
            if cfg.state == "Deleting":
                del self._configs[uuid]
                self._where.pop(uuid, None)
                self._workers.pop(uuid, None)
                self.checkpoints.forget(uuid)
                self.windows.forget(uuid)
                self._starts.pop(uuid, None)
                return None
            start = self._starts.get(uuid)
            if cfg.state == "Creating" and start is not None and time.time() < start[0]:
                return cfg  # the AWS profile: still Creating
            if cfg.state in _SETTLED:
                cfg = dataclasses.replace(cfg, state="Enabled" if cfg.enabled else "Disabled")
                self._configs[uuid] = cfg
            return cfg

    def polling_wait(self, uuid: str) -> float:
        """Seconds until the mapping's first poll (AWS profile; 0 otherwise).

        On AWS polling starts some time after the mapping is created, and a ``LATEST``
        mapping starts at the stream's position *then* (it "could miss events",
        with-ddb.html): the position is pinned when the wait is over.
        """
        with self._lock:
            start = self._starts.get(uuid)
            if start is None:
                return 0.0
            left = start[1] - time.time()
            if left > 0:
                return left
            del self._starts[uuid]
            cfg = self._configs.get(uuid)
        if cfg is not None and start[2]:
            self._resolve_latest(cfg)
        return 0.0

    def set_result(self, uuid: str, text: str) -> None:
        """Record ``LastProcessingResult``."""
        with self._lock:
            cfg = self._configs.get(uuid)
            if cfg is not None and cfg.last_processing_result != text:
                self._configs[uuid] = dataclasses.replace(cfg, last_processing_result=text)

    def streams_client(self, uuid: str) -> backends.StreamReader:
        """The DynamoDB Streams API of the mapping's account and region (in-process)."""
        return backends.StreamReader(*self.location_of(uuid))

    def send_failure(self, uuid: str, message: dict[str, Any],
                     wait: Callable[[float], bool]) -> None:
        """Send an on-failure record to the mapping's SQS queue or SNS topic.

        Retries until the destination accepts it or the mapping stops, so no
        failure record is lost to a transient error.
        """
        cfg = self.config_of(uuid)
        if cfg is None or not cfg.on_failure_destination:
            return
        arn = cfg.on_failure_destination
        body = json.dumps(message)
        attempt = 0
        while True:
            try:
                if ":sqs:" in arn:
                    backends.sqs_send(arn, body)
                else:
                    backends.sns_publish(arn, body)
                return
            except ClientError as err:
                log.warning("mapping %s: cannot deliver failure record to %s: %s", uuid, arn, err)
                if wait(DESTINATION_RETRY_S[min(attempt, len(DESTINATION_RETRY_S) - 1)]):
                    # The mapping stops: the batch is re-read (and the record
                    # retried) when it runs again, so nothing is lost.
                    raise DeliveryStoppedError from err
                attempt += 1

    # -- API ------------------------------------------------------------------------------
    def create(self, account_id: str, region: str, params: dict[str, Any]) -> dict[str, Any]:
        """CreateEventSourceMapping."""
        function_arn = self._function_arn(account_id, region, params.get("FunctionName"))
        source = params.get("EventSourceArn")
        stream_ok = bool(isinstance(source, str) and self._stream_exists(account_id, source))
        with self._lock:
            existing = [c for u, c in self._configs.items()
                        if self._where.get(u) == (account_id, region)]
            cfg = create_config(params, function_arn=function_arn, stream_exists=stream_ok,
                                existing=existing, region=region, account_id=account_id)
        self._check_role(account_id, region, cfg)
        active = profile.current()
        if active is None and cfg.starting_position == "LATEST":
            self._resolve_latest(cfg)
        with self._lock:
            if active is not None:
                enabled, polling = active.mapping_delays()
                now = time.time()
                self._starts[cfg.uuid] = (now + enabled, now + polling,
                                          cfg.starting_position == "LATEST")
            self._configs[cfg.uuid] = cfg
            self._where[cfg.uuid] = (account_id, region)
            if self._running:
                self._spawn(cfg.uuid)
        log.info("mapping %s created: %s -> %s", cfg.uuid, cfg.event_source_arn,
                 cfg.function_arn)
        return to_response(cfg)

    def get(self, account_id: str, region: str, uuid: str) -> dict[str, Any]:
        """GetEventSourceMapping."""
        return to_response(self._find(account_id, region, uuid))

    def list(self, account_id: str, region: str, *, function_name: str | None = None,
             event_source_arn: str | None = None, marker: str | None = None,
             max_items: str | None = None) -> dict[str, Any]:
        """ListEventSourceMappings, with ``Marker`` / ``MaxItems`` paging."""
        wanted = parse_function_name(function_name)[0] if function_name else None
        with self._lock:
            items = [c for u, c in self._configs.items()
                     if self._where.get(u) == (account_id, region)
                     and (wanted is None or c.function_name == wanted)
                     and (event_source_arn is None or c.event_source_arn == event_source_arn)]
        items.sort(key=lambda c: (c.last_modified, c.uuid))
        start = int(marker) if marker and marker.isdigit() else 0
        size = int(max_items) if max_items and max_items.isdigit() else 100
        page = items[start:start + size]
        body: dict[str, Any] = {"EventSourceMappings": [to_response(c) for c in page]}
        if start + size < len(items):
            body["NextMarker"] = str(start + size)
        return body

    def update(self, account_id: str, region: str, uuid: str,
               params: dict[str, Any]) -> dict[str, Any]:
        """UpdateEventSourceMapping.

        Applied to the mapping as it is when the update is saved: what the engine
        notes meanwhile (``LastProcessingResult``, a settled state) is not a conflict;
        another update, or a state in transition, is (``ResourceInUseException``).
        """
        for _attempt in range(_UPDATE_ATTEMPTS):
            current = self._find(account_id, region, uuid)
            if current.state in (*_SETTLED, "Deleting"):
                break
            function_arn = None
            if "FunctionName" in params:
                function_arn = self._function_arn(account_id, region, params["FunctionName"])
            with self._lock:
                others = [c for u, c in self._configs.items()
                          if u != uuid and self._where.get(u) == (account_id, region)]
                cfg = update_config(current, params, function_arn=function_arn, existing=others)
            self._check_role(account_id, region, cfg)
            with self._lock:
                if self._configs.get(uuid) is not current:
                    continue  # changed meanwhile: apply the update to what it is now
                self._configs[uuid] = cfg
                worker = self._workers.get(uuid)
            if worker is not None:
                worker.notify()
            return to_response(cfg)
        raise ServiceError(
            "ResourceInUseException",
            f"Cannot update the event source mapping because it is in use. UUID: {uuid}",
            status=400)

    def delete(self, account_id: str, region: str, uuid: str) -> dict[str, Any]:
        """DeleteEventSourceMapping: returns ``Deleting``; the worker stops at once."""
        with self._lock:
            cfg = self._find(account_id, region, uuid)
            cfg = dataclasses.replace(cfg, state="Deleting", last_modified=time.time())
            self._configs[uuid] = cfg
            worker = self._workers.get(uuid)
            if worker is None:
                self.settle(uuid)
        if worker is not None:
            worker.notify()
        return to_response(cfg)

    # -- helpers ----------------------------------------------------------------------------
    def _find(self, account_id: str, region: str, uuid: str) -> MappingConfig:
        with self._lock:
            cfg = self._configs.get(uuid)
            if cfg is None or self._where.get(uuid) != (account_id, region):
                raise not_found()
            return cfg

    def _function_arn(self, account_id: str, region: str, name: Any) -> str | None:
        if not isinstance(name, str) or not name:
            return None
        try:
            spec = self.executor.validate(account_id, region, name)
        except ServiceError:
            return None
        qualifier = parse_function_name(name)[2]
        return f"{spec.arn}:{qualifier}" if qualifier else spec.arn

    def _stream_exists(self, account_id: str, arn: str) -> bool:
        if ":dynamodb:" not in arn or "/stream/" not in arn:
            return False
        try:
            backends.StreamReader(account_id, arn.split(":")[3]).describe_stream(StreamArn=arn)
            return True
        except ClientError:
            return False

    def _resolve_latest(self, cfg: MappingConfig) -> None:
        """Pin ``LATEST`` to the stream's position now, as checkpoints.

        Every shard's last sequence number becomes the mapping's checkpoint, so a
        restart, a disable/enable or a rewind before the first batch never asks for
        ``LATEST`` again (which would skip what was written meanwhile). Shards with
        no record yet are then read from their start.
        """
        for shard_id, last in streams.last_sequence_numbers(cfg.event_source_arn).items():
            if last is not None:
                self.checkpoints.set(cfg.uuid, shard_id, last)

    def _check_role(self, account_id: str, region: str, cfg: MappingConfig) -> None:
        """AWS refuses a mapping whose function's role cannot read the stream."""
        problem = missing_permissions(account_id, region, cfg)
        if problem:
            raise ServiceError("InvalidParameterValueException", problem)
