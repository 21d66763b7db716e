"""What the stream data must not hold: the lock, the clock, the listeners, the settings.

The streams themselves (:mod:`localaws.streams.shards`) are plain data attached to
moto's tables; this module keeps the process-wide machinery around them:

* ``LOCK`` serialises every read and change of stream data (engine threads read
  while requests write);
* ``now()`` is the clock;
* listeners (the mapping engine, for the endpoint's lifetime) are told the ARN of a
  stream that has new records;
* ``settings()`` holds the endpoint's shard lifetime, retention and TTL sweep.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable

from localaws.streams.settings import StreamSettings

LOCK = threading.RLock()
Listener = Callable[[str], None]
_listeners: list[Listener] = []
_listeners_lock = threading.Lock()
_settings = StreamSettings()
_clock: Callable[[], float] = time.time


def configure(settings: StreamSettings) -> None:
    """Use these settings from now on."""
    global _settings
    _settings = settings


def settings() -> StreamSettings:
    """The endpoint's stream settings."""
    return _settings


def now() -> float:
    """Epoch seconds, from the registry's clock."""
    return _clock()


def add_listener(listener: Listener) -> None:
    """Call ``listener(stream_arn)`` after every new stream record."""
    with _listeners_lock:
        _listeners.append(listener)


def notify(stream_arn: str) -> None:
    """Tell every listener that ``stream_arn`` has new records."""
    for listener in list(_listeners):
        listener(stream_arn)
