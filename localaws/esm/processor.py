"""Delivering one batch to the function, with AWS's error handling.

:class:`BatchDelivery.deliver` takes the records of one batch (one shard, in
order) and does not return until every record is done:

* success -> done;
* ``ReportBatchItemFailures`` response (only when enabled) -> the records before
  the lowest failed sequence number are done, the rest is retried; with
  ``BisectBatchOnFunctionError`` the batch is split there instead (the rest starts
  a fresh retry count: "Splitting a batch does not count towards the retry quota");
* function error (exception, timeout, out of memory, bad response) or a response
  that counts as a complete failure -> the whole batch is retried; with
  ``BisectBatchOnFunctionError`` a failed batch of more than one record is split in
  two halves first, which does not consume the retry quota;
* after ``MaximumRetryAttempts`` retries (N + 1 invocations in all) the records go
  to the on-failure destination with condition ``RetryAttemptsExhausted``;
* records older than ``MaximumRecordAgeInSeconds`` are not sent again: they go to
  the destination with condition ``RecordAgeExceeded``;
* throttles and errors before the function runs (function missing) never consume
  retries: the batch waits and is tried again.

With a tumbling window (:mod:`localaws.esm.windows`) each invocation carries the
window's state and must answer with a new one; :meth:`BatchDelivery.finish_window`
makes the window's final invocation.

It is synchronous, sleeps only through the ``wait`` callable and reads the time
only through ``clock``, so the driving loop can stop it at once and tests can run
it in microseconds.
"""

from __future__ import annotations

import json
import logging
import time
import uuid
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from localaws.errors import ServiceError
from localaws.esm.config import MappingConfig
from localaws.esm.records import sequence_number
from localaws.esm.responses import (
    RECORD_AGE_EXCEEDED,
    RETRY_ATTEMPTS_EXHAUSTED,
    failure_record,
    parse_batch_item_failures,
)
from localaws.esm.windows import Window, returned_state, window_event
from localaws.lambda_api import MAX_PAYLOAD

log = logging.getLogger("localaws.esm")

OK = "OK"
FUNCTION_CALL_FAILED = "PROBLEM: Function call failed"
RETRY_BACKOFF_S = (0.02, 0.05, 0.1, 0.2, 0.5, 1.0)


class DeliveryStoppedError(Exception):
    """The mapping was disabled, updated or deleted while a batch was in flight."""


@dataclass
class _Part:
    records: list[dict[str, Any]]
    invocations: int = 0
    last_response: dict[str, Any] | None = None


@dataclass
class DeliveryReport:
    """What happened to one batch (record counts feed the ``EventCount`` metrics)."""

    invocations: int = 0
    throttles: int = 0  # 429s: the function was at its concurrency limit
    not_invoked: int = 0  # refusals before the function ran (missing function, bad name)
    processed: int = 0
    failed_to_destination: int = 0
    dropped: int = 0
    invoked_events: int = 0  # records sent in invocations, retries included
    failed_invoke_events: int = 0  # records of attempts that did not succeed


def _backoff(report: DeliveryReport) -> float:
    """The wait before trying a batch again that did not reach the function."""
    return RETRY_BACKOFF_S[min(report.throttles + report.not_invoked, 5)]


@dataclass
class DeliveryHooks:
    """The side effects a delivery needs, injected by the worker (or a test)."""

    invoke: Callable[[bytes], Any]
    send_failure: Callable[[dict[str, Any]], None]
    config: Callable[[], MappingConfig]
    wait: Callable[[float], bool]  # sleeps; True means "stop now"
    set_result: Callable[[str], None]
    arrival: Callable[[dict[str, Any]], float]
    clock: Callable[[], float] = time.time


class BatchDelivery:
    """Delivers batches of one shard of one mapping.

    Parameters
    ----------
    hooks : DeliveryHooks
        Invocation, destination and clock seams.
    shard_id, stream_arn : str
        Where the records come from (for failure records).
    """

    def __init__(self, hooks: DeliveryHooks, shard_id: str, stream_arn: str) -> None:
        self.hooks = hooks
        self.shard_id = shard_id
        self.stream_arn = stream_arn
        self._window: Window | None = None

    def deliver(self, records: list[dict[str, Any]],
                window: Window | None = None) -> DeliveryReport:
        """Deliver ``records`` until every one is done.

        Parameters
        ----------
        records : list of dict
            One batch, in shard order.
        window : Window, optional
            The tumbling window the records belong to; its ``state`` is sent with
            every invocation and replaced by what each successful one returns.

        Raises
        ------
        DeliveryStoppedError
            When the mapping stops; records not yet done must be re-read.
        """
        report = DeliveryReport()
        self._window = window
        parts = deque([_Part(list(records))])
        settings = self.hooks.config().last_modified
        while parts:
            if self.hooks.wait(0):  # disabled, updated or deleted: stop before invoking
                raise DeliveryStoppedError
            part = parts[0]
            cfg = self.hooks.config()
            if cfg.last_modified != settings:  # updated: read the batch again with them
                raise DeliveryStoppedError
            part.records = self._expire(part, cfg, report)
            if not part.records:
                parts.popleft()
                continue
            outcome = self._invoke(part, cfg, report)
            if outcome is None:  # throttled or not invoked: wait, no retry consumed
                report.failed_invoke_events += len(part.records)
                if self.hooks.wait(_backoff(report)):
                    raise DeliveryStoppedError
                continue
            failed = self._failed_records(part, outcome, cfg, report)
            if not failed:
                parts.popleft()
                continue
            report.failed_invoke_events += len(failed)
            if outcome["partial"]:
                if cfg.bisect_on_error and len(failed) < len(part.records):
                    # The batch is "bisected at the returned sequence number"; the
                    # split does not consume the retry quota.
                    parts.popleft()
                    parts.appendleft(_Part(failed))
                    continue
            elif cfg.bisect_on_error and len(failed) > 1:
                half = len(failed) // 2
                parts.popleft()
                parts.appendleft(_Part(failed[half:]))
                parts.appendleft(_Part(failed[:half]))
                continue
            part.records = failed
            retries = cfg.maximum_retry_attempts
            if retries != -1 and part.invocations > retries:
                self._to_destination(part, RETRY_ATTEMPTS_EXHAUSTED, report)
                parts.popleft()
                continue
            delay = RETRY_BACKOFF_S[min(part.invocations - 1, len(RETRY_BACKOFF_S) - 1)]
            if self.hooks.wait(delay):
                raise DeliveryStoppedError
        return report

    # -- steps ------------------------------------------------------------------------
    def _expire(self, part: _Part, cfg: MappingConfig, report: DeliveryReport
                ) -> list[dict[str, Any]]:
        if cfg.maximum_record_age == -1:
            return part.records
        now = self.hooks.clock()
        old = [now - self.hooks.arrival(r) > cfg.maximum_record_age for r in part.records]
        if not any(old):
            return part.records
        expired = [r for r, too_old in zip(part.records, old, strict=True) if too_old]
        keep = [r for r, too_old in zip(part.records, old, strict=True) if not too_old]
        self._send(part, expired, RECORD_AGE_EXCEEDED, report)
        return keep

    def _call(self, payload: bytes, report: DeliveryReport) -> Any | None:
        """The function's answer, or ``None`` when it was throttled or not invoked (counted)."""
        try:
            return self.hooks.invoke(payload)
        except ServiceError as err:
            if err.status == 429:
                report.throttles += 1
            else:
                report.not_invoked += 1
                log.warning("mapping could not invoke its function: %s", err)
                self.hooks.set_result(FUNCTION_CALL_FAILED)
            return None

    def _invoke(self, part: _Part, cfg: MappingConfig, report: DeliveryReport
                ) -> dict[str, Any] | None:
        event: dict[str, Any] = {"Records": part.records}
        if self._window is not None:
            event = window_event(part.records, self._window, shard_id=self.shard_id,
                                 stream_arn=self.stream_arn, final=False)
        payload = json.dumps(event, separators=(",", ":")).encode()
        result = self._call(payload, report)
        if result is None:
            return None
        part.invocations += 1
        report.invocations += 1
        report.invoked_events += len(part.records)
        part.last_response = {
            "statusCode": 200,
            "executedVersion": result.executed_version,
            "functionError": result.function_error,
            "requestId": result.request_id,
        }
        return {"result": result, "partial": False}

    def _failed_records(self, part: _Part, outcome: dict[str, Any], cfg: MappingConfig,
                        report: DeliveryReport) -> list[dict[str, Any]]:
        """The records still to retry after an invocation (none on success)."""
        result = outcome["result"]
        if result.function_error is not None or len(result.payload) > MAX_PAYLOAD:
            # An oversized response is a function error too (Function.ResponseSizeTooLarge).
            self.hooks.set_result(FUNCTION_CALL_FAILED)
            return part.records
        state = None
        if self._window is not None:
            # "If the response does not contain a state property, Lambda considers
            # this a failed invocation."
            state = returned_state(result.payload)
            if state is None:
                self.hooks.set_result(FUNCTION_CALL_FAILED)
                return part.records
        seqs = [sequence_number(r) for r in part.records]
        verdict = parse_batch_item_failures(result.payload, seqs, cfg.report_batch_item_failures)
        start = 0
        if not verdict.success and verdict.partial:
            start = seqs.index(verdict.failed_from)
            outcome["partial"] = True
        if self._window is not None and (verdict.success or start):
            self._window.state = state  # the state of the records that are done
        if verdict.success:
            self.hooks.set_result(OK)
            self._done(part.records, report)
            return []
        self.hooks.set_result(FUNCTION_CALL_FAILED)
        if start:
            self._done(part.records[:start], report)
        return part.records[start:]

    def finish_window(self, window: Window, terminated_early: bool = False) -> DeliveryReport:
        """The final invocation of a window: no records, ``isFinalInvokeForWindow``.

        Retried like a batch (throttles wait, function errors and answers without
        ``state`` count against ``MaximumRetryAttempts``); when the retries are used
        up the window's state is given up (there are no records to send to the
        on-failure destination).

        Raises
        ------
        DeliveryStoppedError
            When the mapping stops; the window stays open and is finished later.
        """
        report = DeliveryReport()
        event = window_event([], window, shard_id=self.shard_id, stream_arn=self.stream_arn,
                             final=True, terminated_early=terminated_early)
        payload = json.dumps(event, separators=(",", ":")).encode()
        attempts = 0
        while True:
            if self.hooks.wait(0):
                raise DeliveryStoppedError
            cfg = self.hooks.config()
            result = self._call(payload, report)
            if result is None:
                if self.hooks.wait(_backoff(report)):
                    raise DeliveryStoppedError
                continue
            attempts += 1
            report.invocations += 1
            if result.function_error is None and returned_state(result.payload) is not None:
                self.hooks.set_result(OK)
                return report
            self.hooks.set_result(FUNCTION_CALL_FAILED)
            retries = cfg.maximum_retry_attempts
            if retries != -1 and attempts > retries:
                log.warning("mapping %s: final invocation of window %s failed %d time(s); "
                            "its state is dropped", cfg.uuid, event["window"], attempts)
                return report
            if self.hooks.wait(RETRY_BACKOFF_S[min(attempts - 1, len(RETRY_BACKOFF_S) - 1)]):
                raise DeliveryStoppedError

    @staticmethod
    def _done(records: list[dict[str, Any]], report: DeliveryReport) -> None:
        report.processed += len(records)

    def _to_destination(self, part: _Part, condition: str, report: DeliveryReport) -> None:
        self._send(part, part.records, condition, report)

    def _send(self, part: _Part, records: list[dict[str, Any]], condition: str,
              report: DeliveryReport) -> None:
        cfg = self.hooks.config()
        response = part.last_response if condition == RETRY_ATTEMPTS_EXHAUSTED else None
        message = failure_record(
            condition=condition,
            request_id=(part.last_response or {}).get("requestId") or str(uuid.uuid4()),
            function_arn=cfg.function_arn,
            # AWS counts one attempt for records that expired before any invocation.
            invoke_count=max(1, part.invocations),
            response=None if response is None else {
                "statusCode": response["statusCode"],
                "executedVersion": response["executedVersion"],
                "functionError": response["functionError"],
            },
            shard_id=self.shard_id,
            stream_arn=self.stream_arn,
            records=records,
            now=self.hooks.clock(),
        )
        if cfg.on_failure_destination:
            self.hooks.send_failure(message)
            report.failed_to_destination += len(records)
            log.info("mapping %s: %d record(s) sent to %s (%s)", cfg.uuid, len(records),
                     cfg.on_failure_destination, condition)
        else:
            report.dropped += len(records)
            log.warning("mapping %s: %d record(s) discarded (%s), no on-failure destination: %s",
                        cfg.uuid, len(records), condition,
                        json.dumps(message["DDBStreamBatchInfo"]))
