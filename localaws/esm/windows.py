"""Tumbling windows: the state Lambda carries between the invocations of a window.

With ``TumblingWindowInSeconds`` W > 0, every record belongs to the window
``[k·W, (k+1)·W)`` that holds its ``ApproximateCreationDateTime`` (AWS: "Lambda
determines tumbling window boundaries based on the time when records were inserted
into the stream"). A batch never mixes windows. Each invocation receives the
window's current ``state`` and must answer with a new one (``{"state": {...}}``);
an answer without ``state`` is a failed invocation. Once the window is over, the
function is invoked one last time with ``isFinalInvokeForWindow: true`` and no
records; after that invocation succeeds the state is dropped. A state larger than
1 MB ends the window early (``isWindowTerminatedEarly: true``); the end of a shard
ends its window too. Source: the Lambda developer guide, "Implementing stateful
DynamoDB stream processing" (esm-semantics §1.7).

Pure pieces only: the window a record falls in, the event the function receives,
reading the state from a response, and the store of open windows per mapping and
shard (kept by the mapping service, like checkpoints, so an engine restart resumes
a window).
"""

from __future__ import annotations

import copy
import json
import math
import threading
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

MAX_STATE_BYTES = 1024 * 1024
"""AWS: "Your state can be a maximum of 1 MB per shard." (JSON size of ``state``)."""


@dataclass
class Window:
    """One open tumbling window of one shard.

    Attributes
    ----------
    start, end : int
        Epoch seconds; ``end - start`` is ``TumblingWindowInSeconds``.
    state : dict
        What the last successful invocation of the window returned as ``state``.
    """

    start: int
    end: int
    state: dict[str, Any] = field(default_factory=dict)

    def contains(self, created: float) -> bool:
        """Whether a record created at ``created`` (epoch seconds) falls in this window."""
        return self.start <= created < self.end

    def copy(self) -> Window:
        """A deep copy (a round works on a copy and commits it when it is done)."""
        return Window(self.start, self.end, copy.deepcopy(self.state))


def window_of(created: float, seconds: int) -> Window:
    """The window of ``seconds`` holding a record created at ``created``; empty state.

    Windows are aligned to multiples of ``seconds`` since the epoch (AWS's examples
    show aligned windows; the alignment is not documented).

    Examples
    --------
    >>> window_of(125.0, 60)
    Window(start=120, end=180, state={})
    """
    start = math.floor(created / seconds) * seconds
    return Window(start, start + seconds)


def window_event(records: list[dict[str, Any]], window: Window, *, shard_id: str,
                 stream_arn: str, final: bool, terminated_early: bool = False
                 ) -> dict[str, Any]:
    """The event a function receives for one invocation of a window.

    Returns
    -------
    dict
        ``Records``, ``window`` (ISO-8601 ``start``/``end``), ``state``, ``shardId``,
        ``eventSourceARN``, ``isFinalInvokeForWindow``, ``isWindowTerminatedEarly``,
        in the order of AWS's ``DynamodbTimeWindowEvent`` example.
    """
    return {
        "Records": records,
        "window": {"start": _iso(window.start), "end": _iso(window.end)},
        "state": window.state,
        "shardId": shard_id,
        "eventSourceARN": stream_arn,
        "isFinalInvokeForWindow": final,
        "isWindowTerminatedEarly": terminated_early,
    }


def returned_state(payload: bytes | None) -> dict[str, Any] | None:
    """The ``state`` a window invocation answered with, or ``None`` when it has none.

    ``None`` (no JSON object, no ``state`` key, or a ``state`` that is not an
    object) makes the invocation a failure, as on AWS.

    Examples
    --------
    >>> returned_state(b'{"state": {"total": 3}}')
    {'total': 3}
    >>> returned_state(b'{"batchItemFailures": []}') is None
    True
    """
    try:
        response = json.loads(payload) if payload else None
    except ValueError:
        return None
    if not isinstance(response, dict):
        return None
    state = response.get("state")
    return state if isinstance(state, dict) else None


def state_size(state: dict[str, Any]) -> int:
    """The JSON size of a state in bytes (compared with :data:`MAX_STATE_BYTES`)."""
    return len(json.dumps(state, separators=(",", ":")).encode())


def _iso(epoch: int) -> str:
    return datetime.fromtimestamp(epoch, UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


class WindowStore:
    """The open window of every mapping in every shard."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._data: dict[str, dict[str, Window]] = {}

    def get(self, mapping_uuid: str, shard_id: str) -> Window | None:
        """A copy of the open window of a mapping in a shard, if any."""
        with self._lock:
            window = self._data.get(mapping_uuid, {}).get(shard_id)
            return window.copy() if window is not None else None

    def set(self, mapping_uuid: str, shard_id: str, window: Window | None) -> None:
        """Store (a copy of) the open window, or close it with ``None``."""
        with self._lock:
            shards = self._data.setdefault(mapping_uuid, {})
            if window is None:
                shards.pop(shard_id, None)
            else:
                shards[shard_id] = window.copy()

    def open_shards(self, mapping_uuid: str) -> list[str]:
        """Shards in which a mapping has an open window."""
        with self._lock:
            return list(self._data.get(mapping_uuid, {}))

    def forget(self, mapping_uuid: str) -> None:
        """Drop a deleted mapping's windows."""
        with self._lock:
            self._data.pop(mapping_uuid, None)
