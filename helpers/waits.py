"""Waiting: poll a condition until it holds, and retry what AWS refuses while a change propagates.

Every wait of the helpers goes through :func:`wait_for` (a state, a datapoint, a
message, a log line), with a progress bar and a timeout whose message says what
did not happen. Where botocore has a waiter (``table_exists``,
``function_active_v2``, ...), :func:`run_waiter` runs it with the backend's pacing.

AWS is eventually consistent: a role made a moment ago "cannot be assumed by
Lambda", a function still ``Pending`` refuses calls, a mapping ``Creating``
refuses updates. :func:`retry_while_propagating` retries exactly those errors,
on every backend; only how long and how often comes from the backend's
:class:`~helpers.clients.Pacing`.
"""

from __future__ import annotations

import contextlib
import contextvars
import time
from collections.abc import Callable, Iterator
from typing import Any, TypeVar

from botocore.exceptions import ClientError, WaiterError

from helpers.clients import Backend, error_code
from helpers.progress import tqdm

T = TypeVar("T")

#: Messages AWS gives while a new role, policy or resource is not yet visible everywhere
#: (InvalidParameterValueException while IAM propagates; ResourceConflictException
#: while a function is Pending or being updated; ResourceInUseException while a
#: mapping is Creating or Updating).
PROPAGATION_MESSAGES = {
    "InvalidParameterValueException": (
        "cannot be assumed by Lambda",
        "Cannot access stream",
        "does not have permissions to call",
        "execution role does not have permissions",
    ),
    "ResourceConflictException": (
        "currently in the following state: Pending",
        "An update is in progress for resource",
    ),
    "ResourceInUseException": (
        "in the CREATING state",
        "currently UPDATING",
        "Cannot update the event source mapping because it is in use",
    ),
}

_RETRY = contextvars.ContextVar("retry_while_propagating", default=True)


class WaitTimeoutError(TimeoutError):
    """What was waited for did not happen in time (the message says what, and what was seen)."""


def wait_for(
    poll: Callable[[], T],
    *,
    what: str,
    timeout: float,
    interval: float,
    until: Callable[[T], bool] = bool,
    seen: Callable[[T], str] | None = None,
    total: int | None = None,
    unit: str = "poll",
    progress: bool = True,
    max_interval: float | None = None,
) -> T:
    """Call ``poll`` until ``until(value)`` holds, showing a progress bar.

    Parameters
    ----------
    poll : callable
        No arguments; returns the value looked at (a state, a count, a table).
    what : str
        The condition, as a sentence subject: ``"table X ACTIVE"``.
    timeout : float
        Seconds before :class:`WaitTimeoutError`; with ``total``, seconds without the
        count growing.
    interval : float
        Seconds between polls.
    until : callable
        True when the value is the awaited one (default: truthiness).
    seen : callable, optional
        Describes a value for the bar and the timeout message.
    total : int, optional
        With a count: the bar's total (the value is shown as progress).
    unit : str
        The bar's unit.
    progress : bool
        Show the bar (it appears only after a second, see :mod:`helpers.progress`).
    max_interval : float, optional
        With ``total``: poll less often while the count grows, up to this many seconds
        between polls, at the time its rate says it will be complete (see
        :func:`count_poll_delay`). By default every poll is ``interval`` apart.

    Returns
    -------
    Any
        The first value for which ``until`` held.

    Raises
    ------
    WaitTimeoutError
        Still not there after ``timeout`` seconds; says what was last seen.
    """
    describe = seen or (lambda value: str(value))
    deadline = time.monotonic() + timeout
    best: int | None = None
    first: tuple[float, int] | None = None
    delay = interval
    with tqdm(total=total, desc=what, unit=unit, disable=not progress) as bar:
        while True:
            value = poll()
            if total is not None:
                now = time.monotonic()
                first = first or (now, int(value))
                if max_interval is not None:
                    delay = count_poll_delay(first, (now, int(value)), total,
                                             interval=interval, max_interval=max_interval)
                bar.n = min(int(value), total)  # type: ignore[call-overload]
                bar.refresh()
                if best is None or int(value) > best:
                    # a count that still grows is progress: the timeout counts from
                    # its last step (a slow machine is slow, not stuck)
                    best, deadline = int(value), time.monotonic() + timeout
            else:
                bar.set_postfix_str(describe(value)[:60], refresh=False)
                bar.update()
            if until(value):
                return value
            if time.monotonic() > deadline:
                since = "without progress for" if total is not None else "after"
                raise WaitTimeoutError(
                    f"{what}: not reached {since} {timeout:.0f} s (last seen: {describe(value)})"
                )
            time.sleep(delay)


def count_poll_delay(first: tuple[float, int], last: tuple[float, int], total: int, *,
                     interval: float, max_interval: float) -> float:
    """Seconds until the next poll of a growing count: when its rate says it will be complete.

    A count is often a whole-table ``Scan`` that competes with what it watches (the
    replicator's writes wait for the table while it runs), so while the count grows
    the next poll comes when the rate so far predicts ``total``: never sooner than
    ``interval``, never later than ``max_interval``. A count that has not grown yet
    is polled every ``interval``.

    Parameters
    ----------
    first, last : tuple of (float, int)
        ``(time.monotonic(), count)`` of the first poll and of the latest.
    total : int
        The count awaited.
    interval, max_interval : float
        The shortest and the longest delay, seconds.

    Returns
    -------
    float
        Seconds.

    Examples
    --------
    >>> count_poll_delay((0.0, 0), (2.0, 600), 2000, interval=0.25, max_interval=1.0)
    1.0
    >>> round(count_poll_delay((0.0, 0), (6.0, 1800), 2000, interval=0.25, max_interval=1.0), 2)
    0.67
    """
    (t0, n0), (t1, n1) = first, last
    if n1 <= n0 or t1 <= t0:
        return interval
    eta = (total - n1) / ((n1 - n0) / (t1 - t0))
    return min(max_interval, max(interval, eta))


def run_waiter(backend: Backend, client: Any, name: str, *, what: str, timeout: float,
               **params: Any) -> None:
    """Run botocore's waiter ``name`` with the backend's poll interval, for ``timeout`` seconds.

    Parameters
    ----------
    backend : Backend
        Gives the poll interval.
    client : botocore.client.BaseClient
        The client whose waiter runs.
    name : str
        E.g. ``"table_exists"``, ``"function_active_v2"``.
    what : str
        The condition, for the timeout message.
    timeout : float
        Seconds.
    **params
        The waiter's operation parameters (``TableName=...``).

    Raises
    ------
    WaitTimeoutError
        The waiter gave up (timeout or a failure state); its reason is in the message.
    """
    delay = max(1, round(backend.pacing.poll_s))  # botocore waiters take whole seconds
    config = {"Delay": delay, "MaxAttempts": max(1, int(timeout // delay) + 1)}
    try:
        client.get_waiter(name).wait(**params, WaiterConfig=config)
    except WaiterError as exc:
        raise WaitTimeoutError(f"{what}: not reached after {timeout:.0f} s ({exc})") from exc


def is_propagation_error(exc: BaseException) -> bool:
    """True for the errors AWS gives while a change is still propagating (see the module)."""
    if not isinstance(exc, ClientError):
        return False
    message = exc.response.get("Error", {}).get("Message", "")
    return any(m in message for m in PROPAGATION_MESSAGES.get(error_code(exc), ()))


@contextlib.contextmanager
def first_answer() -> Iterator[None]:
    """Within the block, calls are not retried: a cell showing an error wants AWS's first answer."""
    token = _RETRY.set(False)
    try:
        yield
    finally:
        _RETRY.reset(token)


def retry_while_propagating(
    backend: Backend,
    call: Callable[[], T],
    *,
    what: str = "IAM changes",
    timeout: float | None = None,
    interval: float | None = None,
) -> T:
    """Run ``call``; retry it while AWS answers that a change is still propagating.

    The same on every backend: the local endpoint's AWS timing profile gives these
    errors as AWS does, its default profile never does (its refusals are real and
    are raised after the backend's short propagation window).

    Parameters
    ----------
    backend : Backend
        Gives the default timeout and interval (:class:`~helpers.clients.Pacing`).
    call : callable
        No arguments; its result is returned.
    what : str
        Shown on the progress bar.
    timeout : float, optional
        Seconds before the last error is raised (``pacing.propagation_s``).
    interval : float, optional
        Seconds between attempts (``pacing.poll_s``).

    Returns
    -------
    Any
        What ``call`` returned.

    Raises
    ------
    botocore.exceptions.ClientError
        Any other error, or the propagation error after ``timeout``.
    """
    timeout = backend.pacing.propagation_s if timeout is None else timeout
    interval = backend.pacing.poll_s if interval is None else interval
    if not _RETRY.get():
        return call()
    deadline = time.monotonic() + timeout
    bar = None
    try:
        while True:
            try:
                return call()
            except ClientError as exc:
                if not is_propagation_error(exc) or time.monotonic() > deadline:
                    raise
                if bar is None:
                    bar = tqdm(desc=f"waiting for {what} to propagate", unit="try")
                bar.update()
                time.sleep(interval)
    finally:
        if bar is not None:
            bar.close()


def wait_until(
    backend: Backend,
    check: Callable[[], Any],
    *,
    total: int | None = None,
    desc: str = "waiting",
    unit: str = "item",
    timeout: float | None = None,
    interval: float | None = None,
) -> Any:
    """Poll ``check`` until it returns ``total`` (a count) or a true value, with a progress bar.

    Parameters
    ----------
    backend : Backend
        Gives the poll interval and the default timeout (``pacing.patience_s``).
    check : callable
        Returns a count (compared with ``total``) or a bool (when ``total`` is None).
    total : int, optional
        The count to reach.
    desc, unit : str
        What is awaited and the bar's unit.
    timeout : float, optional
        Seconds.
    interval : float, optional
        Seconds between polls: the backend's pace, at least 0.25 s (a check is
        often a whole-table count, which should not slow down what it watches).
        While a count grows, polls come when its rate predicts ``total``, up to 1 s
        apart (or ``interval``, if longer): :func:`count_poll_delay`.

    Returns
    -------
    Any
        The last value of ``check``.

    Raises
    ------
    WaitTimeoutError
        Not reached in time (the message holds the last value).
    """
    def reached(value: Any) -> bool:
        return value >= total if total is not None else bool(value)

    wanted = f"{total} {unit}s" if total is not None else "True"
    interval = max(0.25, backend.pacing.poll_s) if interval is None else interval
    return wait_for(
        check,
        what=desc,
        timeout=backend.pacing.patience_s if timeout is None else timeout,
        interval=interval,
        until=reached,
        seen=lambda value: f"{value} (wanted {wanted})",
        total=total,
        unit=unit,
        max_interval=max(1.0, interval),
    )
