"""The timing profile's settings: its name, its time scale, and AWS's delays at S = 1.

``default`` is the fast endpoint (no delays); ``aws`` reproduces AWS's intermediate
states and eventual consistency, every delay multiplied by ``time_scale``. The
values come from ``/work/shared/reference/aws-timing.md`` (collected from AWS's
documentation and measurements users published); :data:`DELAYS` keeps the source
of each, and FIDELITY.md shows the same table. Nothing here imports moto.
"""

from __future__ import annotations

import os
from dataclasses import dataclass

ENV_PROFILE = "WORKSHOP_LOCAL_PROFILE"
ENV_TIME_SCALE = "WORKSHOP_LOCAL_TIME_SCALE"
ENV_SEED = "WORKSHOP_LOCAL_PROFILE_SEED"
ENV_MAX_DELAY = "WORKSHOP_LOCAL_PROFILE_MAX_DELAY"
PROFILES = ("default", "aws")
# Even compressed, an intermediate state lasts at least this long (seconds), so a
# waiter or a retry loop always meets it.
MIN_DELAY_S = 0.05
# Every delay varies by up to this fraction either way (seeded).
JITTER = 0.25


@dataclass(frozen=True)
class Delay:
    """One behaviour of the profile: its value at S = 1 and where the value comes from."""

    seconds: float
    what: str
    source: str
    jitter: bool = True


DELAYS: dict[str, Delay] = {
    "iam": Delay(8.0, "IAM change (create role, put/attach/detach/delete policy) in effect",
                 "[O] 2-15 s (boto/boto3#1466, pulumi/pulumi-aws#2411, aws/aws-sdk-js#850)"),
    "function_pending": Delay(2.0, "function Pending -> Active",
                              "[D] 'after a few seconds' (lambda/latest/dg/functions-states.html)"
                              "; [O] ~1 s (flock-lab/flock#350)"),
    "function_update": Delay(1.0, "LastUpdateStatus InProgress -> Successful",
                             "[O] ~1 s for a zip function (aws/aws-cdk#18536)"),
    "mapping_enabled": Delay(5.0, "mapping Creating -> Enabled",
                             "[O] Enabled within 60 s (localstack lambda_utils.py)"),
    "mapping_polling": Delay(30.0, "mapping Enabled -> first poll (LATEST resolved then)",
                             "[D] 'may take several minutes to start polling' (with-ddb.html)"),
    "table_creating": Delay(6.0, "table CREATING -> ACTIVE",
                            "[O] 5-10 s (aws/aws-sdk-java-v2#5996)"),
    "stream_enabling": Delay(2.0, "stream ENABLING -> ENABLED (table UPDATING)",
                             "[D] StreamStatus ENABLING (botocore dynamodbstreams)"),
    "gsi_backfill": Delay(30.0, "new GSI CREATING/Backfilling -> ACTIVE",
                          "[O] minutes and more (terraform-provider-aws#38721)"),
    "poll_interval": Delay(0.25, "a mapping polls each shard 4 times a second",
                           "[D] 'base rate of 4 times per second' (with-ddb.html)", False),
    "metric_lag": Delay(90.0, "a Lambda metric's minute queryable after its end",
                        "[O] 1-10+ min (localstack#9653, powertools-lambda-java#2440)", False),
    "alarm_interval": Delay(60.0, "alarms evaluated, on complete periods",
                            "[D] once a minute for periods >= 60 s (AlarmThatSendsEmail.html)",
                            False),
    "logs_visible": Delay(3.0, "a log event readable after it was written",
                          "[D] 'may take 5 to 10 minutes'; [O] seconds (aws/copilot-cli#679)"),
    "queue_deleted": Delay(60.0, "a deleted queue's name reusable",
                           "[D] 'wait 60 seconds' (botocore sqs DeleteQueue)", False),
}
# A short poll of a queue holding fewer messages than this may come back empty
# ("If the number of messages in the queue is extremely small, you might not receive
# any messages", botocore sqs ReceiveMessage), with this probability (seeded).
SHORT_POLL_SMALL_QUEUE = 10
SHORT_POLL_EMPTY_CHANCE = 0.5


class ProfileSettingsError(ValueError):
    """An unknown profile name or a time scale that is not a positive number."""


@dataclass(frozen=True)
class ProfileSettings:
    """Which profile an endpoint runs and how fast.

    Parameters
    ----------
    name : {"default", "aws"}
        ``aws`` reproduces AWS's delays; ``default`` has none.
    time_scale : float
        Multiplies every delay of the ``aws`` profile (1.0 = AWS's typical values).
    seed : int
        Seeds the jitter and the empty short polls.
    max_delay : float or None
        When given, no delay is longer than this many seconds once scaled (before
        jitter): the long waits (a GSI backfill, a deleted queue's name, the first
        poll) shrink to it while the short windows keep their length, so that a
        check of the *order* of the states takes seconds. ``None``: AWS's ratios.
    """

    name: str = "default"
    time_scale: float = 1.0
    seed: int = 12
    max_delay: float | None = None

    def __post_init__(self) -> None:
        if self.name not in PROFILES:
            raise ProfileSettingsError(
                f"profile must be one of {', '.join(PROFILES)}, got {self.name!r}")
        if not isinstance(self.time_scale, int | float) or not self.time_scale > 0:
            raise ProfileSettingsError(
                f"time-scale must be a positive number, got {self.time_scale!r}")
        if self.max_delay is not None and not (
                isinstance(self.max_delay, int | float) and 0 < self.max_delay < float("inf")):
            raise ProfileSettingsError(
                f"max-delay must be a positive number of seconds, got {self.max_delay!r}")
        if self.max_delay is not None and self.name != "aws":
            raise ProfileSettingsError(
                "max-delay caps the aws profile's delays; the default profile has none "
                "(add --profile aws)")

    @property
    def active(self) -> bool:
        """True for the ``aws`` profile."""
        return self.name == "aws"

    @property
    def metric_period_s(self) -> int:
        """The shortest period ``AWS/Lambda`` metrics are served with."""
        return 60 if self.active else 1

    def seconds(self, kind: str) -> float:
        """The delay of ``kind`` at this time scale, before jitter (0 when inactive)."""
        if not self.active:
            return 0.0
        scaled = DELAYS[kind].seconds * self.time_scale
        return scaled if self.max_delay is None else min(scaled, self.max_delay)

    def document(self) -> dict[str, object]:
        """The ``profile`` entry of the health document."""
        document: dict[str, object] = {"name": self.name, "time_scale": self.time_scale,
                                       "metric_period_s": self.metric_period_s}
        if self.max_delay is not None:
            document["max_delay_s"] = self.max_delay
        return document

    @classmethod
    def from_env(cls, environ: dict[str, str] | None = None) -> ProfileSettings:
        """Read ``WORKSHOP_LOCAL_PROFILE``, ``..._TIME_SCALE``, ``..._PROFILE_SEED`` and
        ``..._PROFILE_MAX_DELAY``.

        Raises
        ------
        ProfileSettingsError
            A value is not one the profile accepts.
        """
        env = os.environ if environ is None else environ
        name = env.get(ENV_PROFILE) or "default"
        raw_scale = env.get(ENV_TIME_SCALE) or "1.0"
        try:
            scale = float(raw_scale)
        except ValueError:
            raise ProfileSettingsError(
                f"{ENV_TIME_SCALE} must be a positive number, got {raw_scale!r}") from None
        raw_seed = env.get(ENV_SEED) or "12"
        try:
            seed = int(raw_seed)
        except ValueError:
            raise ProfileSettingsError(f"{ENV_SEED} must be an integer, got {raw_seed!r}") \
                from None
        raw_cap = env.get(ENV_MAX_DELAY) or ""
        try:
            cap = float(raw_cap) if raw_cap else None
        except ValueError:
            raise ProfileSettingsError(
                f"{ENV_MAX_DELAY} must be a positive number of seconds, got {raw_cap!r}") \
                from None
        return cls(name, scale, seed, cap)

    def to_env(self) -> dict[str, str]:
        """The environment variables that carry these settings to ``serve``."""
        env = {ENV_PROFILE: self.name, ENV_TIME_SCALE: repr(float(self.time_scale)),
               ENV_SEED: str(self.seed)}
        if self.max_delay is not None:
            env[ENV_MAX_DELAY] = repr(float(self.max_delay))
        return env
