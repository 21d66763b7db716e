"""Installing the stream emulation into moto, with the endpoint's settings."""

from __future__ import annotations

from localaws.streams import backend, registry, ttl
from localaws.streams.settings import StreamSettings


def install(settings: StreamSettings | None = None) -> None:
    """Patch moto's DynamoDB and Streams (idempotent) and apply ``settings``.

    Parameters
    ----------
    settings : StreamSettings, optional
        Shard lifetime, retention and TTL sweep; the environment's by default.
    """
    registry.configure(settings or StreamSettings.from_env())
    backend.install()
    ttl.install()
