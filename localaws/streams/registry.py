"""What the stream data must not hold: the lock, the clock, the listeners, the settings.

The streams themselves (:mod:`localaws.streams.shards`) are plain data attached to
moto's tables; this module keeps the process-wide machinery around them:

* ``LOCK`` serialises every read and change of stream data (engine threads read
  while requests write);
* ``now()`` is the clock: the wall clock, plus what :func:`advance` added (the admin
  route ``POST /_workshop/streams/clock?advance=S`` ages every stream record at once,
  so that retention and rollover are seen without waiting for them);
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
_offset = 0.0
_offset_lock = threading.Lock()


def configure(settings: StreamSettings) -> None:
    """Use these settings from now on."""
    global _settings
    _settings = settings


def settings() -> StreamSettings:
    """The endpoint's stream settings."""
    return _settings


def now() -> float:
    """Epoch seconds, from the registry's clock (moved on by :func:`advance`)."""
    return _clock() + _offset


def advance(seconds: float) -> float:
    """Move the stream clock ``seconds`` forward, for the rest of the process's life.

    Every record, shard and mapping reads its age from :func:`now`, so records
    get older at once: the next read trims what is past the retention, rolls
    shards over and gives up retries past the record age. Only the streams'
    engine sees it (TTL compares with this clock too); requests' signatures,
    metrics and logs stay on the wall clock.

    Parameters
    ----------
    seconds : float
        How far; zero or more.

    Returns
    -------
    float
        The clock's whole offset from the wall clock now (seconds).

    Raises
    ------
    ValueError
        ``seconds`` is negative or not a finite number (the clock never goes back).
    """
    global _offset
    if not isinstance(seconds, int | float) or not 0 <= seconds < float("inf"):
        raise ValueError(f"the stream clock only moves forward: got {seconds!r} seconds")
    with _offset_lock:
        _offset += seconds
        return _offset


def add_listener(listener: Listener) -> None:
    """Call ``listener(stream_arn)`` after every new stream record."""
    with _listeners_lock:
        _listeners.append(listener)


def notify(stream_arn: str) -> None:
    """Tell every listener that ``stream_arn`` has new records."""
    for listener in list(_listeners):
        listener(stream_arn)
