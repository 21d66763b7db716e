"""Where each mapping has got to in each shard.

A checkpoint is the sequence number of the last record of a shard that is done
(processed, filtered out, sent to the failure destination or dropped). The engine
resumes after it, so stopping and restarting the engine skips nothing; only a batch
that was in flight may be delivered twice (at-least-once, as on AWS). Like the
mappings themselves, checkpoints live in the endpoint's memory.
"""

from __future__ import annotations

import threading


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

    def forget(self, mapping_uuid: str) -> None:
        """Drop a deleted mapping's checkpoints."""
        with self._lock:
            self._data.pop(mapping_uuid, None)
