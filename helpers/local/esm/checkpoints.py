"""Where each mapping has got to in each shard, persisted to disk.

A checkpoint is the sequence number of the last record of a shard that is done
(processed, filtered out, sent to the failure destination or dropped). The engine
resumes after it, so stopping and restarting the engine skips nothing; only a batch
that was in flight may be delivered twice (at-least-once, as on AWS).
"""

from __future__ import annotations

import json
import os
import threading
from pathlib import Path


class CheckpointStore:
    """Checkpoints of every mapping, saved as one JSON file.

    Parameters
    ----------
    path : Path
        The JSON file (created on first save).
    """

    def __init__(self, path: Path) -> None:
        self.path = path
        self._lock = threading.Lock()
        self._data: dict[str, dict[str, str]] = {}
        if path.exists():
            try:
                self._data = json.loads(path.read_text())
            except (OSError, ValueError):
                self._data = {}

    def get(self, mapping_uuid: str, shard_id: str) -> str | None:
        """The checkpoint of a mapping in a shard, if any."""
        with self._lock:
            return self._data.get(mapping_uuid, {}).get(shard_id)

    def shards(self, mapping_uuid: str) -> dict[str, str]:
        """Every shard checkpoint of a mapping."""
        with self._lock:
            return dict(self._data.get(mapping_uuid, {}))

    def set(self, mapping_uuid: str, shard_id: str, sequence_number: str) -> None:
        """Move a checkpoint forward (never backwards) and save."""
        with self._lock:
            shards = self._data.setdefault(mapping_uuid, {})
            current = shards.get(shard_id)
            if current is not None and int(current) >= int(sequence_number):
                return
            shards[shard_id] = sequence_number
            self._save()

    def forget(self, mapping_uuid: str) -> None:
        """Drop a deleted mapping's checkpoints."""
        with self._lock:
            if self._data.pop(mapping_uuid, None) is not None:
                self._save()

    def _save(self) -> None:
        tmp = self.path.with_suffix(".tmp")
        tmp.write_text(json.dumps(self._data))
        os.replace(tmp, self.path)
