"""Durable state for the local endpoint: snapshots of moto's backends and our registries.

See ``localaws/README.md`` ("State across restarts") for the design and its figures.
"""

from localaws.state.gate import GatedApp, RequestGate
from localaws.state.snapshots import Snapshotter
from localaws.state.store import (
    SavedStateCorruptError,
    SavedStateError,
    SavedStateVersionError,
    StateStore,
)

__all__ = [
    "GatedApp",
    "RequestGate",
    "SavedStateCorruptError",
    "SavedStateError",
    "SavedStateVersionError",
    "Snapshotter",
    "StateStore",
]
