"""When does a change become visible: one clock for every delay of the profile.

A :class:`Timeline` starts a *window* when something changes (a table is created,
a function updated) and answers whether it is still open. Each window lasts the
profile's delay for its kind, times the time scale, with seeded jitter, and never
less than :data:`~localaws.profile.settings.MIN_DELAY_S`, so the intermediate
state is always there to be seen. The clock is injected (tests pass their own).
"""

from __future__ import annotations

import random
import threading
import time
from collections.abc import Callable, Hashable

from localaws.profile.settings import DELAYS, JITTER, MIN_DELAY_S, ProfileSettings


class Timeline:
    """Open windows, by kind and key, on one (injectable) clock.

    Parameters
    ----------
    settings : ProfileSettings
        The profile, its time scale and its seed.
    clock : callable, optional
        Seconds since the epoch; ``time.time`` by default.
    """

    def __init__(self, settings: ProfileSettings,
                 clock: Callable[[], float] | None = None) -> None:
        self.settings = settings
        self.clock = clock or time.time
        self._random = random.Random(settings.seed)
        self._lock = threading.Lock()
        self._until: dict[tuple[str, Hashable], float] = {}

    def delay(self, kind: str) -> float:
        """One draw of the delay of ``kind`` (seconds; 0 in the default profile)."""
        base = self.settings.seconds(kind)
        if base <= 0:
            return 0.0
        if DELAYS[kind].jitter:
            with self._lock:
                base *= 1 + self._random.uniform(-JITTER, JITTER)
        return max(MIN_DELAY_S, base)

    def start(self, kind: str, key: Hashable) -> float:
        """Open (or re-open) the window of ``kind`` for ``key``; returns when it closes."""
        until = self.clock() + self.delay(kind)
        with self._lock:
            self._until[(kind, key)] = until
        return until

    def remaining(self, kind: str, key: Hashable) -> float:
        """Seconds until the window closes (0 when closed or never opened)."""
        with self._lock:
            until = self._until.get((kind, key))
            if until is None:
                return 0.0
            left = until - self.clock()
            if left <= 0:
                del self._until[(kind, key)]
                return 0.0
            return left

    def pending(self, kind: str, key: Hashable) -> bool:
        """True while the window of ``kind`` for ``key`` is open."""
        return self.remaining(kind, key) > 0

    def open_keys(self, kind: str) -> list[Hashable]:
        """The keys whose window of ``kind`` is open."""
        now = self.clock()
        with self._lock:
            return [key for (k, key), until in self._until.items() if k == kind and until > now]

    def forget(self, kind: str, key: Hashable) -> None:
        """Close a window at once (its resource was deleted)."""
        with self._lock:
            self._until.pop((kind, key), None)

    def chance(self, probability: float) -> bool:
        """A seeded coin: True with ``probability``."""
        with self._lock:
            return self._random.random() < probability
