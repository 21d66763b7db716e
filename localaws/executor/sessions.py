"""Role sessions of execution environments: the credentials a handler runs with.

On AWS, Lambda assumes the function's execution role for every execution
environment and hands the session's credentials to the runtime as
``AWS_ACCESS_KEY_ID`` / ``AWS_SECRET_ACCESS_KEY`` / ``AWS_SESSION_TOKEN``; the
session is named after the function, so ``sts:GetCallerIdentity`` inside the
handler answers ``arn:aws:sts::<account>:assumed-role/<role>/<function>``.

Sessions are issued through moto's STS backend (so moto's own STS and IAM
answers know them) and registered here by access key id: the endpoint's
authorization (:mod:`localaws.authz`) looks every request's key up in this
registry, and only keys found here are restricted to their role's policies.
"""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass

#: Lifetime of an environment's session (12 hours, the longest a role allows);
#: an environment is recycled before its session expires (see :meth:`Session.expires_within`).
SESSION_SECONDS = 12 * 3600
#: Expired sessions stay known this long, so their keys are still restricted.
_FORGET_AFTER_SECONDS = 3600


@dataclass(frozen=True)
class Session:
    """An assumed-role session of a function's execution role."""

    access_key_id: str
    secret_access_key: str
    session_token: str
    account_id: str
    role_arn: str
    session_name: str
    expires_at: float  # time.time()

    @property
    def role_name(self) -> str:
        """The role's name (the last segment of its ARN, after any path)."""
        return self.role_arn.rsplit("/", 1)[-1]

    @property
    def arn(self) -> str:
        """``arn:aws:sts::<account>:assumed-role/<role>/<session>``, as AWS names the caller."""
        partition = self.role_arn.split(":")[1] if self.role_arn.startswith("arn:") else "aws"
        return (f"arn:{partition}:sts::{self.account_id}:assumed-role/{self.role_name}/"
                f"{self.session_name}")

    def expires_within(self, seconds: float) -> bool:
        """True when the session ends less than ``seconds`` from now."""
        return self.expires_at - time.time() < seconds

    def environ(self) -> dict[str, str]:
        """The three variables the Lambda runtime sets."""
        return {"AWS_ACCESS_KEY_ID": self.access_key_id,
                "AWS_SECRET_ACCESS_KEY": self.secret_access_key,
                "AWS_SESSION_TOKEN": self.session_token}


_sessions: dict[str, Session] = {}
_lock = threading.Lock()


def issue(account_id: str, region: str, role_arn: str, session_name: str) -> Session:
    """Assume ``role_arn`` for an execution environment and register the session.

    Parameters
    ----------
    account_id, region : str
        The function's account and region.
    role_arn : str
        The function's execution role.
    session_name : str
        The function's name (AWS names the session after it).

    Returns
    -------
    Session
    """
    from localaws import backends

    assumed = backends.assume_role(account_id, region, role_arn, session_name[:64],
                                   SESSION_SECONDS)
    session = Session(
        access_key_id=assumed.access_key_id,
        secret_access_key=assumed.secret_access_key,
        session_token=assumed.session_token,
        account_id=account_id,
        role_arn=role_arn,
        session_name=session_name[:64],
        expires_at=time.time() + SESSION_SECONDS,
    )
    now = time.time()
    with _lock:
        for key in [k for k, s in _sessions.items()
                    if s.expires_at + _FORGET_AFTER_SECONDS < now]:
            del _sessions[key]
        _sessions[session.access_key_id] = session
    return session


def lookup(access_key_id: str) -> Session | None:
    """The function session of an access key id, or None for any other credentials."""
    return _sessions.get(access_key_id)
