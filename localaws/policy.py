"""IAM policy evaluation for identity-based policies: pure, fast, cached.

One evaluator serves the whole project: the endpoint's authorization of requests
signed with a function's role session (:mod:`localaws.authz`), the permission
checks Lambda makes when a mapping is saved (:mod:`localaws.iam_check`), and the
notebook helpers' diagnosis (:mod:`helpers.iam`). It imports no moto.

The rules are those of the IAM User Guide ("Policy evaluation logic", "IAM JSON
policy elements"), for identity-based policies of one principal in one account:

* a request is allowed only if some statement allows it, and no statement denies
  it: an explicit ``Deny`` beats any ``Allow``; without either it is implicitly
  denied;
* a statement applies when its ``Action`` matches (or ``NotAction`` does not) and
  its ``Resource`` matches (or ``NotResource`` does not);
* ``*`` matches any run of characters (``/`` and ``:`` included), ``?`` one
  character; action names match case-insensitively, resources case-sensitively.

Not evaluated (see FIDELITY.md): ``Condition`` blocks (an ``Allow`` with a
condition never grants, a ``Deny`` with a condition always applies: never kinder
than AWS), policy variables (``${aws:username}`` is matched literally), permission
boundaries, session policies, SCPs and resource-based policies.

Compiled documents are cached by their text, so a changed policy is compiled
again the first time it is seen and an unchanged one costs a dictionary lookup.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from functools import lru_cache
from typing import Any
from urllib.parse import unquote

ALLOW = "Allow"
DENY = "Deny"


class PolicyDocumentError(ValueError):
    """A policy document is not valid JSON or not a policy (the caller's fault)."""


@dataclass(frozen=True)
class Decision:
    """The outcome of evaluating one request (action on resource).

    Attributes
    ----------
    allowed : bool
        True when a statement allows it and none denies it.
    explicit_deny : bool
        True when a ``Deny`` statement applies (AWS words its message differently).
    """

    allowed: bool
    explicit_deny: bool = False

    @property
    def reason(self) -> str:
        """The tail of AWS's AccessDenied message for this decision."""
        if self.explicit_deny:
            return "with an explicit deny in an identity-based policy"
        return "because no identity-based policy allows the {action} action"


ALLOWED = Decision(True)
IMPLICIT_DENY = Decision(False)
EXPLICIT_DENY = Decision(False, explicit_deny=True)


def _as_list(value: Any) -> list[str]:
    if value is None:
        return []
    return [value] if isinstance(value, str) else [str(v) for v in value]


def _pattern(globs: list[str], *, ignore_case: bool) -> re.Pattern[str] | None:
    if not globs:
        return None
    parts = []
    for glob in globs:
        parts.append("".join(".*" if c == "*" else "." if c == "?" else re.escape(c)
                             for c in glob))
    return re.compile("(?:" + "|".join(parts) + r")\Z", re.DOTALL | (re.I if ignore_case else 0))


@dataclass(frozen=True)
class Statement:
    """One compiled statement of an identity-based policy."""

    effect: str
    actions: re.Pattern[str] | None
    not_actions: re.Pattern[str] | None
    resources: re.Pattern[str] | None
    not_resources: re.Pattern[str] | None
    conditional: bool

    @classmethod
    def compile(cls, raw: Mapping[str, Any]) -> Statement:
        """Compile one statement of a parsed document."""
        effect = raw.get("Effect")
        if effect not in (ALLOW, DENY):
            raise PolicyDocumentError(f"a statement has Effect {effect!r}")
        return cls(
            effect=effect,
            actions=_pattern(_as_list(raw.get("Action")), ignore_case=True),
            not_actions=_pattern(_as_list(raw.get("NotAction")), ignore_case=True),
            resources=_pattern(_as_list(raw.get("Resource")), ignore_case=False),
            not_resources=_pattern(_as_list(raw.get("NotResource")), ignore_case=False),
            conditional=bool(raw.get("Condition")),
        )

    def matches(self, action: str, resource: str) -> bool:
        """Whether the statement's action and resource elements cover the request."""
        if self.actions is not None:
            if not self.actions.match(action):
                return False
        elif self.not_actions is None or self.not_actions.match(action):
            return False
        if self.resources is not None:
            return self.resources.match(resource) is not None
        return self.not_resources is not None and not self.not_resources.match(resource)


@dataclass(frozen=True)
class Policy:
    """A compiled policy document: its statements in order."""

    statements: tuple[Statement, ...]

    def effects(self, action: str, resource: str) -> tuple[bool, bool]:
        """``(allows, denies)`` for one request, conditions treated as described above."""
        allows = denies = False
        for statement in self.statements:
            if not statement.matches(action, resource):
                continue
            if statement.effect == DENY:
                denies = True
            elif not statement.conditional:
                allows = True
        return allows, denies


def parse(document: str | Mapping[str, Any]) -> dict[str, Any]:
    """A policy document as a dict (JSON text, URL-encoded JSON as IAM returns it, or a dict).

    Raises
    ------
    PolicyDocumentError
        When it is not JSON or not an object with ``Statement``.
    """
    if isinstance(document, Mapping):
        parsed: Any = document
    else:
        text = unquote(document) if document.lstrip().startswith("%") else document
        try:
            parsed = json.loads(text)
        except ValueError as exc:
            raise PolicyDocumentError(f"a policy document is not JSON: {exc}") from None
    if not isinstance(parsed, Mapping) or "Statement" not in parsed:
        raise PolicyDocumentError("a policy document has no Statement")
    return dict(parsed)


@lru_cache(maxsize=4096)
def _compile_text(text: str) -> Policy:
    return _compile_parsed(parse(text))


def _compile_parsed(document: Mapping[str, Any]) -> Policy:
    raw = document["Statement"]
    raw = [raw] if isinstance(raw, Mapping) else list(raw)
    return Policy(tuple(Statement.compile(s) for s in raw))


def compile_policy(document: str | Mapping[str, Any] | Policy) -> Policy:
    """Compile a document (cached by its text when given as text).

    Raises
    ------
    PolicyDocumentError
        When the document is not a policy.
    """
    if isinstance(document, Policy):
        return document
    if isinstance(document, str):
        return _compile_text(document)
    return _compile_parsed(parse(document))


def evaluate(policies: Iterable[str | Mapping[str, Any] | Policy], action: str,
             resource: str) -> Decision:
    """Evaluate one request against a principal's identity-based policies.

    Parameters
    ----------
    policies : iterable
        Policy documents (text, dicts or compiled :class:`Policy`).
    action : str
        E.g. ``"dynamodb:PutItem"``.
    resource : str
        The ARN the action is authorized on (``"*"`` for actions without one).

    Returns
    -------
    Decision
        :data:`ALLOWED`, :data:`IMPLICIT_DENY` or :data:`EXPLICIT_DENY`.
    """
    allowed = False
    for document in policies:
        allows, denies = compile_policy(document).effects(action, resource)
        if denies:
            return EXPLICIT_DENY
        allowed = allowed or allows
    return ALLOWED if allowed else IMPLICIT_DENY


def evaluate_all(policies: Iterable[str | Mapping[str, Any] | Policy],
                 requests: Iterable[tuple[str, str]]) -> tuple[tuple[str, str], Decision] | None:
    """The first denied ``(action, resource)`` of ``requests`` with its decision, else None."""
    compiled = [compile_policy(p) for p in policies]
    for action, resource in requests:
        decision = evaluate(compiled, action, resource)
        if not decision.allowed:
            return (action, resource), decision
    return None


def statements(document: str | Mapping[str, Any]) -> list[dict[str, Any]]:
    """The raw statements of a document, always as a list."""
    raw = parse(document)["Statement"]
    return [dict(raw)] if isinstance(raw, Mapping) else [dict(s) for s in raw]


def granted_actions(document: str | Mapping[str, Any]) -> list[str]:
    """Every action pattern an ``Allow`` statement of the document names (``Action`` only)."""
    out: list[str] = []
    for statement in statements(document):
        if statement.get("Effect") == ALLOW:
            out.extend(_as_list(statement.get("Action")))
    return out


def action_matches(pattern: str, action: str) -> bool:
    """Whether an action pattern such as ``dynamodb:Get*`` covers ``action``."""
    compiled = _pattern([pattern], ignore_case=True)
    return compiled is not None and compiled.match(action) is not None
