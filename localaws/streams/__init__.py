"""DynamoDB Streams as AWS serves them, on top of moto's tables.

| module | what it is |
|---|---|
| ``settings`` | shard lifetime, retention, TTL sweep interval (flags and environment) |
| ``shards`` | a stream's shards and records as plain data: rollover, trimming, reading |
| ``records`` | the wire shape of one record (images per view type, sizes, identity) |
| ``changes`` | one record per item change: write requests collect and merge changes |
| ``backend`` | the moto patches: tables hold our streams; DescribeStream, iterators, GetRecords |
| ``wire`` | GetRecords answered without moto's serializer |
| ``ttl`` | UpdateTimeToLive validation and the sweep that deletes expired items |
| ``registry`` | the lock, clock, listeners and settings (kept out of the data) |

The names the rest of the endpoint uses (``install``, ``add_listener``,
``arrival_time``, ``last_sequence_numbers``, ``serve_get_records``...) are
importable from here; modules that need moto are imported on first use, so
``localaws.streams.settings`` stays cheap for the command line.
"""

from __future__ import annotations

from typing import Any

from localaws.streams.registry import add_listener
from localaws.streams.settings import StreamSettings, StreamSettingsError

__all__ = ["StreamSettings", "StreamSettingsError", "add_listener", "arrival_time",
           "install", "last_sequence_numbers", "serve_get_records"]

_LAZY = {"install": "localaws.streams.setup", "arrival_time": "localaws.streams.backend",
         "last_sequence_numbers": "localaws.streams.backend",
         "serve_get_records": "localaws.streams.wire",
         "attribute_size": "localaws.streams.records", "image_size": "localaws.streams.records"}


def __getattr__(name: str) -> Any:
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module 'localaws.streams' has no attribute {name!r}")
    import importlib

    return getattr(importlib.import_module(module), name)
