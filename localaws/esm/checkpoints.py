"""Where each mapping has got to in each shard.

A checkpoint is the sequence number of the last record of a shard that is done
(processed, filtered out, sent to the failure destination or dropped). The engine
resumes after it, so stopping and restarting the engine skips nothing; only a batch
that was in flight may be delivered twice (at-least-once, as on AWS). Like the
mappings themselves, checkpoints are saved in the endpoint's snapshots
(:mod:`localaws.state`): a checkpoint is only ever saved after the effects of the
batch it covers, so after a crash a mapping resumes at or before where it was.
"""

from __future__ import annotations

import threading
from typing import Any


class CheckpointStore:
    """Checkpoints of every mapping, by shard."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._data: dict[str, dict[str, str]] = {}

    def get(self, mapping_uuid: str, shard_id: str) -> str | None:
        """The checkpoint of a mapping in a shard, if any."""
        with self._lock:
            return self._data.get(mapping_uuid, {}).get(shard_id)

    def set(self, mapping_uuid: str, shard_id: str, sequence_number: str) -> None:
        """Move a checkpoint forward (never backwards)."""
        with self._lock:
            shards = self._data.setdefault(mapping_uuid, {})
            current = shards.get(shard_id)
            if current is None or int(current) < int(sequence_number):
                shards[shard_id] = sequence_number

    def __getstate__(self) -> dict[str, Any]:
        with self._lock:  # a consistent copy while workers move checkpoints
            return {"data": {uuid: dict(shards) for uuid, shards in self._data.items()}}

    def __setstate__(self, state: dict[str, Any]) -> None:
        self._lock = threading.Lock()
        self._data = state["data"]

    def forget(self, mapping_uuid: str) -> None:
        """Drop a deleted mapping's checkpoints."""
        with self._lock:
            self._data.pop(mapping_uuid, None)
