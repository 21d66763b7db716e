"""The endpoint's timing profile: ``default`` (fast) or ``aws`` (AWS's delays, scaled).

``python -m localaws up --profile aws --time-scale S`` (or ``WORKSHOP_LOCAL_PROFILE``,
``WORKSHOP_LOCAL_TIME_SCALE``) makes the endpoint show AWS's intermediate states and
eventual consistency, every delay multiplied by ``S``, each window at least
:data:`~localaws.profile.settings.MIN_DELAY_S` long, with seeded jitter.

Most behaviours live here, in the request pipeline: :meth:`Profile.check` is one of
the router's checks (it refuses what AWS refuses meanwhile, or rewrites a request to
what AWS serves by now) and :meth:`Profile.respond` its response step (it opens the
windows a change starts and shows the intermediate states). The rest are small hooks
in the engine that ask :func:`current`: the mapping service (Creating -> Enabled,
polling starting later, ``LATEST`` resolved when polling starts), the worker's
polling rate, the alarm evaluator's cadence and the IAM view of a role's policies
(:meth:`Profile.role_view`).

Modules: ``settings`` (the values at S = 1 and their sources), ``timeline`` (the
clock of windows), ``propagation`` (IAM), ``tables``, ``functions``,
``observability`` (CloudWatch, Logs), ``queues`` (SQS).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from localaws.profile.propagation import Propagation
from localaws.profile.settings import (
    DELAYS,
    ENV_PROFILE,
    ENV_TIME_SCALE,
    ProfileSettings,
    ProfileSettingsError,
)
from localaws.profile.timeline import Timeline
from localaws.protocols import Call, Response

__all__ = ["DELAYS", "ENV_PROFILE", "ENV_TIME_SCALE", "Profile", "ProfileSettings",
           "ProfileSettingsError", "Timeline", "current", "install", "uninstall"]

_current: Profile | None = None


def _account_id() -> str:
    from moto.core import DEFAULT_ACCOUNT_ID

    return DEFAULT_ACCOUNT_ID


def _stored_role_documents(account_id: str, role_arn: str) -> list[Any]:
    from localaws import authz

    return authz.stored_role_documents(account_id, role_arn)


def _queue_size(region: str, name: str) -> tuple[int, int] | None:
    from localaws import backends

    return backends.queue_size(_account_id(), region, name)


class Profile:
    """The ``aws`` profile's rules, on one timeline.

    Parameters
    ----------
    settings : ProfileSettings
        Name, time scale and seed.
    clock : callable, optional
        Seconds since the epoch (``time.time`` by default; tests inject their own).
    account_id, role_documents, queue_size : callable, optional
        How the rules read moto (seams for tests).
    """

    def __init__(self, settings: ProfileSettings, clock: Callable[[], float] | None = None,
                 *, account_id: Callable[[], str] = _account_id,
                 role_documents: Callable[[str, str], list[Any]] = _stored_role_documents,
                 queue_size: Callable[[str, str], Any] = _queue_size) -> None:
        from localaws.profile.functions import FunctionRules
        from localaws.profile.observability import ObservabilityRules
        from localaws.profile.queues import QueueRules
        from localaws.profile.tables import TableRules

        self.settings = settings
        self.timeline = Timeline(settings, clock)
        self.propagation = Propagation(self.timeline)
        self.tables = TableRules(self.timeline)
        self.functions = FunctionRules(self.timeline, self.propagation, account_id,
                                       role_documents)
        self.observability = ObservabilityRules(self.timeline)
        self.queues = QueueRules(self.timeline, queue_size)
        self._rules: dict[str, Any] = {
            "dynamodb": self.tables, "dynamodbstreams": self.tables,
            "lambda": self.functions, "iam": self.functions,
            "cloudwatch": self.observability, "logs": self.observability,
            "sqs": self.queues}

    def check(self, call: Call) -> Response | None:
        """The router check: refuse or rewrite a request as AWS would treat it now.

        Raises
        ------
        ServiceError
            AWS's error for a resource in an intermediate state.
        """
        if not call.service or call.path.startswith("/_workshop"):
            return None
        rules = self._rules.get(call.service)
        return None if rules is None else rules.check(call)

    def respond(self, call: Call, response: Response) -> Response:
        """The router's response step: open windows, show intermediate states."""
        if not call.service or call.path.startswith("/_workshop"):
            return response
        rules = self._rules.get(call.service)
        respond = getattr(rules, "respond", None)
        return response if respond is None else respond(call, response)

    def role_view(self, account_id: str, role_arn: str, current: list[Any]) -> list[Any]:
        """A role's policy documents as the other services see them now."""
        return self.propagation.view(account_id, role_arn.rsplit("/", 1)[-1], current)

    # -- the engine's hooks ---------------------------------------------------------------
    def mapping_delays(self) -> tuple[float, float]:
        """Seconds from CreateEventSourceMapping to Enabled, and to its first poll."""
        enabled = self.timeline.delay("mapping_enabled")
        return enabled, enabled + self.timeline.delay("mapping_polling")

    def poll_interval(self) -> float:
        """Seconds between two polls of a shard."""
        return self.timeline.delay("poll_interval")

    def alarm_evaluator(self) -> Any:
        """CloudWatch's cadence: every ``alarm_interval`` seconds, complete periods only."""
        from localaws.alarms import AlarmEvaluator

        return AlarmEvaluator(self.timeline.delay("alarm_interval"), complete_periods=True)


def install(settings: ProfileSettings, router: Any = None, **seams: Any) -> Profile | None:
    """Make ``settings`` the endpoint's profile; hook the ``aws`` one into ``router``.

    Returns
    -------
    Profile or None
        The active profile, ``None`` for ``default`` (which changes nothing).
    """
    global _current
    if not settings.active:
        _current = None
        return None
    _current = Profile(settings, **seams)
    if router is not None:
        router.checks.append(_current.check)
        router.responses.append(_current.respond)
    return _current


def uninstall() -> None:
    """Back to the default profile (tests)."""
    global _current
    _current = None


def current() -> Profile | None:
    """The active ``aws`` profile, or ``None`` in the default one."""
    return _current
