"""What the real AWS CLI would send for a shown line, found without sending it.

Every taught call shows its AWS CLI line (:mod:`helpers.cli`). With
``WORKSHOP_CHECK_CLI_LINES=1`` each line is also handed to the AWS CLI of this
environment (``awscli``, in the same process): it parses the options, reads the
``file://`` and ``fileb://`` files, applies its customisations and builds the API
parameters, exactly as ``aws …`` typed in a shell would. Two botocore events stop
it there: ``before-parameter-build`` records the operation and its parameters, and
``before-call`` answers the call with an empty response, so nothing reaches the
endpoint. :func:`check_line` then compares them with what boto3 sends: a line with
a wrong option, a value the CLI reads differently or a broken quote fails the call
with :class:`CliLineError`.

Running every line over the wire (``WORKSHOP_CALLS_VIA_CLI=1``, :mod:`helpers.calls`)
proves the same and more (the CLI's output), at the cost of a process per call; the
rehearsal runs the workshop that way.
"""

from __future__ import annotations

import contextlib
import io
import re
import shlex
import threading
from collections.abc import Mapping
from pathlib import Path
from typing import Any, ClassVar

from helpers import cli

ENV_CHECK = "WORKSHOP_CHECK_CLI_LINES"

_lock = threading.Lock()
_FILE_PATH = re.compile(r"^(?P<scheme>fileb?://)(?P<path>[^/].*)$")
_driver: Any = None
_seen: dict[str, Any] = {}


class CliLineError(RuntimeError):
    """A shown CLI line does not send what the notebook's call sends (ours: a bug in
    :mod:`helpers.cli`)."""


class _Answered:
    status_code = 200
    headers: ClassVar[dict[str, str]] = {}
    content = b""
    raw = None


def _capture(params: Mapping[str, Any], model: Any, **_: Any) -> None:
    if "operation" not in _seen:  # the first page of a paginated call is the call shown
        _seen["operation"] = model.name
        _seen["params"] = dict(params)


def _answer(**_: Any) -> tuple[_Answered, dict[str, Any]]:
    return _Answered(), {}


def _cli_driver() -> Any:
    global _driver
    if _driver is None:
        from awscli.clidriver import create_clidriver

        _driver = create_clidriver()
        _driver.session.register("before-parameter-build", _capture)
        _driver.session.register("before-call", _answer)
    return _driver


def sent_by_cli(line: str, *, region: str, cwd: Path = cli.ROOT) -> tuple[str, dict[str, Any]]:
    """The operation and API parameters the AWS CLI builds for ``line``.

    Parameters
    ----------
    line : str
        The shown command, starting with ``aws``.
    region : str
        Passed as ``--region`` (the notebook's region).
    cwd : Path
        Where relative ``file://`` paths are read from (the repository, as shown).

    Returns
    -------
    tuple
        The operation name (``PutItem``) and its parameters.

    Raises
    ------
    CliLineError
        The CLI refused the line (its message is included).
    """
    # A relative file:// path is read from ``cwd`` (as from a shell there), without
    # changing the kernel's working directory under its other threads.
    words = [_FILE_PATH.sub(lambda m: m["scheme"] + str(cwd / m["path"]), word)
             for word in shlex.split(line)[1:]]
    words += ["--region", region, "--output", "json"]
    out, err = io.StringIO(), io.StringIO()
    with _lock:
        _seen.clear()
        with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
            try:
                status = _cli_driver().main(words)
            except SystemExit as exc:  # argparse's usage errors
                status = exc.code if isinstance(exc.code, int) else 2
        seen = dict(_seen)
    if status != 0 or "operation" not in seen:
        raise CliLineError(f"the AWS CLI refused `{line}` (exit {status}):\n"
                           f"{err.getvalue().strip()[-1500:]}")
    return seen["operation"], seen["params"]


def comparable(value: Any) -> Any:
    """``value`` with mappings as plain dicts, sequences as lists and blobs as text."""
    if isinstance(value, Mapping):
        return {str(k): comparable(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [comparable(v) for v in value]
    if isinstance(value, bytes | bytearray):
        try:
            return bytes(value).decode()
        except UnicodeDecodeError:
            return bytes(value)
    return value


def check_line(line: str, operation: str, params: Mapping[str, Any], *, region: str) -> None:
    """Fail unless the AWS CLI sends ``operation(**params)`` for ``line``.

    Parameters
    ----------
    line : str
        The shown command.
    operation : str
        The API operation boto3 calls (``PutItem``).
    params : Mapping
        The parameters boto3 sends.
    region : str
        The notebook's region.

    Raises
    ------
    CliLineError
        The CLI refused the line, or would send another operation or other values.
    """
    sent_operation, sent = sent_by_cli(line, region=region)
    if sent_operation != operation or comparable(sent) != comparable(params):
        raise CliLineError(f"`{line}` makes the AWS CLI send {sent_operation} {sent!r}, "
                           f"where the call sends {operation} {dict(params)!r}")
