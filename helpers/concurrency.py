"""Reserved concurrency: can this account reserve what the page asks for?

Lambda keeps part of an account's concurrency *unreserved*, for the functions
that have no reservation: a ``PutFunctionConcurrency`` that would leave less than
that minimum is refused ("... decreases account's UnreservedConcurrentExecution
below its minimum value of [N]"). The minimum is 100, or the whole quota on
accounts whose quota is smaller: new and free-tier accounts often start with a
quota of **10**, where the page's "reserved concurrency 10" cannot work at all.

:func:`plan_reservation` reads the account's settings (``GetAccountSettings``,
shown as a taught call) and says, before the call is made, whether the
reservation fits and what to do when it does not.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import pandas as pd
from botocore.exceptions import ClientError

from helpers.clients import error_code

#: Unreserved concurrency Lambda keeps for an account (or the whole quota if smaller).
MIN_UNRESERVED = 100
QUOTA_ADVICE = (
    "Ask for more: Service Quotas → AWS services → AWS Lambda → Concurrent executions → "
    "Request increase (new accounts are often raised to 1,000 within a day). Meanwhile "
    "the workshop works without a reservation: skip this step (the function then shares "
    "the account's unreserved pool)."
)


@dataclass(frozen=True)
class ReservationPlan:
    """Whether ``wanted`` reserved executions fit the account's quota.

    Attributes
    ----------
    possible : bool
        ``PutFunctionConcurrency`` with ``wanted`` would be accepted.
    table : pandas.DataFrame
        The figures the decision is made from, to show.
    advice : str
        What to do (empty when it fits).
    """

    possible: bool
    table: pd.DataFrame
    advice: str


def plan_reservation(lam: Any, function: str, wanted: int) -> ReservationPlan:
    """Read the account's concurrency and decide whether ``wanted`` can be reserved.

    Parameters
    ----------
    lam : helpers.calls.TaughtClient or botocore client
        A Lambda client (its ``GetAccountSettings`` and ``GetFunctionConcurrency``).
    function : str
        The function to reserve for (its current reservation is given back first).
    wanted : int
        Reserved concurrent executions asked for.

    Returns
    -------
    ReservationPlan
    """
    try:
        limit = lam.get_account_settings()["AccountLimit"]
    except ClientError as exc:
        table = pd.DataFrame([{"account quota": "unknown", "error": error_code(exc)}])
        return ReservationPlan(True, table, "This endpoint does not answer GetAccountSettings "
                               "(see FIDELITY.md, 'Account settings'): reserving as asked.")
    current = lam.raw.get_function_concurrency(FunctionName=function) if hasattr(
        lam, "raw") else lam.get_function_concurrency(FunctionName=function)
    return decide(limit, current.get("ReservedConcurrentExecutions") or 0, wanted)


def decide(limit: dict[str, Any], current: int, wanted: int) -> ReservationPlan:
    """The decision of :func:`plan_reservation`, from ``AccountLimit`` (a pure function).

    Parameters
    ----------
    limit : dict
        ``AccountLimit`` of ``GetAccountSettings`` (``ConcurrentExecutions``,
        ``UnreservedConcurrentExecutions``).
    current : int
        What the function has reserved now (0: nothing).
    wanted : int
        What it should reserve.

    Returns
    -------
    ReservationPlan
    """
    quota = int(limit["ConcurrentExecutions"])
    unreserved = int(limit["UnreservedConcurrentExecutions"])
    floor = min(MIN_UNRESERVED, quota)
    after = unreserved + current - wanted
    possible = after >= floor
    table = pd.DataFrame([{
        "account quota": quota, "unreserved now": unreserved,
        "this function has": current, "asked": wanted,
        "unreserved after": after, "minimum Lambda keeps": floor,
        "fits": "yes" if possible else "no",
    }])
    advice = "" if possible else (
        f"Reserving {wanted} would leave {after} unreserved, below the {floor} Lambda keeps. "
        + QUOTA_ADVICE)
    return ReservationPlan(possible, table, advice)
