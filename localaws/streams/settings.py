"""How long shards live, how long records are kept and how often TTL sweeps run.

The three settings come from ``python -m localaws up|serve`` flags or from the
environment (``WORKSHOP_LOCAL_SHARD_LIFETIME``, ``WORKSHOP_LOCAL_STREAM_RETENTION``,
``WORKSHOP_LOCAL_TTL_SWEEP``); ``up`` passes them to the ``serve`` process through
the environment. Nothing here imports moto.
"""

from __future__ import annotations

import os
from dataclasses import asdict, dataclass

ENV_SHARD_LIFETIME = "WORKSHOP_LOCAL_SHARD_LIFETIME"
ENV_STREAM_RETENTION = "WORKSHOP_LOCAL_STREAM_RETENTION"
ENV_TTL_SWEEP = "WORKSHOP_LOCAL_TTL_SWEEP"

# AWS: shards roll over about every 4 hours (aws-timing.md §5), records are kept
# 24 hours (esm-semantics.md §5); the TTL sweep is ours (AWS: within two days).
DEFAULT_SHARD_LIFETIME_S = 14400.0
DEFAULT_STREAM_RETENTION_S = 86400.0
DEFAULT_TTL_SWEEP_S = 5.0


class StreamSettingsError(ValueError):
    """A stream setting is not a positive number of seconds (the caller's fault)."""


@dataclass(frozen=True)
class StreamSettings:
    """The stream timing of one endpoint.

    Parameters
    ----------
    shard_lifetime : float
        Seconds a shard stays open before it is closed and a child opened.
    stream_retention : float
        Seconds a record stays readable before it is trimmed.
    ttl_sweep : float
        Seconds between two sweeps that delete expired TTL items.
    """

    shard_lifetime: float = DEFAULT_SHARD_LIFETIME_S
    stream_retention: float = DEFAULT_STREAM_RETENTION_S
    ttl_sweep: float = DEFAULT_TTL_SWEEP_S

    def __post_init__(self) -> None:
        for name, value in asdict(self).items():
            if not isinstance(value, int | float) or not value > 0:
                raise StreamSettingsError(
                    f"{name.replace('_', '-')} must be a positive number of seconds, "
                    f"got {value!r}")

    @classmethod
    def from_env(cls, environ: dict[str, str] | None = None) -> StreamSettings:
        """Read the settings from the environment (defaults for unset variables).

        Raises
        ------
        StreamSettingsError
            A variable is set to something that is not a positive number.
        """
        env = os.environ if environ is None else environ
        values = {}
        for field, var, default in (
                ("shard_lifetime", ENV_SHARD_LIFETIME, DEFAULT_SHARD_LIFETIME_S),
                ("stream_retention", ENV_STREAM_RETENTION, DEFAULT_STREAM_RETENTION_S),
                ("ttl_sweep", ENV_TTL_SWEEP, DEFAULT_TTL_SWEEP_S)):
            raw = env.get(var)
            values[field] = default if raw in (None, "") else _seconds(var, raw)
        return cls(**values)

    def to_env(self) -> dict[str, str]:
        """The environment variables that carry these settings to ``serve``."""
        return {ENV_SHARD_LIFETIME: repr(self.shard_lifetime),
                ENV_STREAM_RETENTION: repr(self.stream_retention),
                ENV_TTL_SWEEP: repr(self.ttl_sweep)}


def _seconds(var: str, raw: str) -> float:
    try:
        value = float(raw)
    except ValueError:
        raise StreamSettingsError(f"{var}={raw!r} is not a number of seconds: "
                                  "set it to e.g. 60") from None
    if not value > 0 or value == float("inf"):
        raise StreamSettingsError(f"{var}={raw!r} must be a positive number of seconds")
    return value
