"""Our own registries as snapshot parts: whole attributes of an object, under its lock.

A component that keeps state worth saving (the event-source-mapping service: its
mappings, where they live, their checkpoints) is registered with the names of the
attributes that hold it. Everything reachable from them is saved as is, so a new
field in a mapping's configuration, or a new registry added to that list, is saved
with no further code.
"""

from __future__ import annotations

import contextlib
from typing import Any


class AttributeState:
    """Saves and restores named attributes of ``owner``.

    Parameters
    ----------
    owner : object
        The component (e.g. the ``MappingService``).
    attributes : tuple of str
        The attributes holding its state.
    lock : context manager, optional
        Held while copying (the component's own lock).
    """

    def __init__(self, owner: Any, attributes: tuple[str, ...], lock: Any = None) -> None:
        self.owner = owner
        self.attributes = attributes
        self.lock = lock if lock is not None else contextlib.nullcontext()

    def export_state(self) -> dict[str, Any]:
        """The attributes' values (the caller pickles them at once, under the gate)."""
        from localaws.state import codec

        with self.lock:
            # Pickled here, under the lock, so that nothing changes half-way.
            return {name: codec.dumps(getattr(self.owner, name)) for name in self.attributes}

    def import_state(self, state: dict[str, Any]) -> None:
        """Set the saved attributes back (names no longer listed are ignored)."""
        from localaws.state import codec

        with self.lock:
            for name in self.attributes:
                if name in state:
                    setattr(self.owner, name, codec.loads(state[name]))


MAPPING_ATTRIBUTES = ("_configs", "_where", "checkpoints", "windows")
"""What of the ``MappingService`` is saved: every mapping's configuration and state,
its account and region, its checkpoints and its open tumbling windows. A new registry of
the service is saved once its attribute name is added here."""
