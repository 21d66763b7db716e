"""Lambda functions of the workshop: deploy, wait, invoke, concurrency, logs.

:func:`deploy_function` is safe to run again and again: it creates the function
when it is missing, uploads the code only when the package's ``CodeSha256``
differs from the deployed one, and changes the configuration only when a setting
differs. Every change is followed by a wait until the function is ``Active`` and
its last update ``Successful``, because Lambda refuses a second update while
the first is in progress.
"""

from __future__ import annotations

import ast
import base64
import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pandas as pd

from helpers.clients import Backend, existed, unless_missing
from helpers.display import settings_table
from helpers.naming import workshop_tag_map
from helpers.packaging import function_source_dir, package_function, workshop_function
from helpers.waits import WaitTimeoutError, retry_while_propagating, run_waiter

DEFAULT_RUNTIME = "python3.12"
EVENTS_DIR = Path(__file__).resolve().parent.parent / "tests" / "events"


class FunctionNotReadyError(RuntimeError):
    """The function did not become ``Active``/``Successful`` in time, or failed to."""


@dataclass(frozen=True)
class Deployment:
    """What :func:`deploy_function` did.

    Attributes
    ----------
    name, arn : str
        The function.
    action : str
        ``created``, ``updated code``, ``updated configuration``,
        ``updated code and configuration`` or ``unchanged``.
    code_sha256 : str
        The deployed package's hash.
    changed_settings : tuple of str
        Configuration keys that were changed.
    """

    name: str
    arn: str
    action: str
    code_sha256: str
    changed_settings: tuple[str, ...] = ()


def get_configuration(backend: Backend, name: str) -> dict[str, Any] | None:
    """``GetFunctionConfiguration``, or ``None`` when the function does not exist."""
    client = backend.client("lambda")
    return unless_missing(lambda: client.get_function_configuration(FunctionName=name))


def deploy_function(
    backend: Backend,
    name: str,
    *,
    role_arn: str,
    source: str | None = None,
    handler: str | None = None,
    runtime: str = DEFAULT_RUNTIME,
    memory_mb: int = 128,
    timeout_s: int = 30,
    environment: Mapping[str, str] | None = None,
    description: str = "",
    tags: Mapping[str, str] | None = None,
) -> Deployment:
    """Create or update a function from its folder under ``lambda_src/``.

    Parameters
    ----------
    backend : Backend
        Where to deploy.
    name : str
        Function name.
    role_arn : str
        Execution role.
    source : str, optional
        Folder under ``lambda_src/`` or a name of
        :data:`~helpers.packaging.WORKSHOP_FUNCTIONS`; defaults to ``name``.
    handler : str, optional
        ``module.function``; defaults to the one listed in ``WORKSHOP_FUNCTIONS``.
    runtime : str
        E.g. ``python3.12`` (``python3.7`` and ``python3.9`` from the source pages
        are deprecated).
    memory_mb, timeout_s : int
        Memory size and timeout.
    environment : mapping, optional
        Environment variables (replaces the current set).
    description : str
        Free text.
    tags : mapping, optional
        Tags added to the workshop tag (set on creation only).

    Returns
    -------
    Deployment

    Raises
    ------
    FunctionNotReadyError
        The function did not become ready after a change.
    botocore.exceptions.ClientError
        The service refused a setting (e.g. a deprecated runtime).
    """
    key = source or name
    if handler is None:
        known = workshop_function(key)
        if known is None:
            raise ValueError(f"no handler known for {key!r}: pass handler='module.function'")
        handler = known[1]
    package = package_function(key)
    client = backend.client("lambda")
    wanted = {
        "Runtime": runtime,
        "Handler": handler,
        "Role": role_arn,
        "MemorySize": memory_mb,
        "Timeout": timeout_s,
        "Description": description,
        "Environment": {"Variables": dict(environment or {})},
    }
    current = get_configuration(backend, name)
    if current is None:
        retry_while_propagating(
            backend,
            lambda: client.create_function(
                FunctionName=name,
                Code={"ZipFile": package.zip_bytes},
                Architectures=["x86_64"],
                Tags=workshop_tag_map(tags),
                Publish=False,
                **wanted,
            ),
            what="the new execution role",
        )
        config = wait_until_ready(backend, name)
        return Deployment(name, config["FunctionArn"], "created", config["CodeSha256"])

    wait_until_ready(backend, name)
    actions = []
    if current.get("CodeSha256") != package.code_sha256:
        client.update_function_code(FunctionName=name, ZipFile=package.zip_bytes)
        wait_until_ready(backend, name)
        actions.append("code")
    changed = tuple(k for k, v in wanted.items() if _current_value(current, k) != v)
    if changed:
        retry_while_propagating(
            backend,
            lambda: client.update_function_configuration(
                FunctionName=name, **{k: wanted[k] for k in changed}
            ),
            what="the execution role",
        )
        wait_until_ready(backend, name)
        actions.append("configuration")
    config = wait_until_ready(backend, name)
    action = "updated " + " and ".join(actions) if actions else "unchanged"
    return Deployment(name, config["FunctionArn"], action, config["CodeSha256"], changed)


def _current_value(config: Mapping[str, Any], key: str) -> Any:
    if key == "Environment":
        return {"Variables": dict((config.get("Environment") or {}).get("Variables") or {})}
    if key == "Description":
        return config.get("Description") or ""
    return config.get(key)


def wait_until_ready(backend: Backend, name: str, *, timeout: float = 300.0) -> dict[str, Any]:
    """Wait until the function is ``Active`` and its last update ``Successful``.

    Parameters
    ----------
    backend : Backend
        Where the function lives.
    name : str
        Function name.
    timeout : float
        Seconds.

    Returns
    -------
    dict
        The function's configuration.

    Raises
    ------
    FunctionNotReadyError
        State ``Failed``, last update ``Failed``, or still pending at the timeout.
    """
    client = backend.client("lambda")
    config = client.get_function_configuration(FunctionName=name)
    _raise_if_failed(config, name)
    if config.get("State", "Active") == "Active" and config.get(
            "LastUpdateStatus", "Successful") == "Successful":
        return config
    for waiter, what in (("function_active_v2", "Active"), ("function_updated_v2", "updated")):
        try:
            run_waiter(backend, client, waiter, what=f"function {name!r} {what}",
                       timeout=timeout, FunctionName=name)
        except WaitTimeoutError as exc:
            _raise_if_failed(client.get_function_configuration(FunctionName=name), name)
            raise FunctionNotReadyError(str(exc)) from exc
    config = client.get_function_configuration(FunctionName=name)
    _raise_if_failed(config, name)
    return config


def _raise_if_failed(config: Mapping[str, Any], name: str) -> None:
    if config.get("State") == "Failed" or config.get("LastUpdateStatus") == "Failed":
        reason = config.get("StateReason") or config.get("LastUpdateStatusReason") or ""
        raise FunctionNotReadyError(f"function {name!r} failed: {reason}")


def configuration_table(backend: Backend, name: str) -> pd.DataFrame:
    """The settings a learner checks in the console, as a two-column table."""
    config = wait_until_ready(backend, name)
    env = (config.get("Environment") or {}).get("Variables") or {}
    rows = {
        "FunctionName": config["FunctionName"],
        "Runtime": config.get("Runtime"),
        "Handler": config.get("Handler"),
        "Architectures": ", ".join(config.get("Architectures", ["x86_64"])),
        "MemorySize (MB)": config.get("MemorySize"),
        "Timeout (s)": config.get("Timeout"),
        "Role": config.get("Role"),
        "CodeSha256": config.get("CodeSha256"),
        "CodeSize (bytes)": config.get("CodeSize"),
        "Environment": ", ".join(f"{k}={v}" for k, v in sorted(env.items())) or "(none)",
        "Reserved concurrency": reserved_concurrency(backend, name),
        "State": config.get("State"),
        "LastUpdateStatus": config.get("LastUpdateStatus"),
    }
    return settings_table(rows)


def delete_function(backend: Backend, name: str) -> bool:
    """Delete a function; False when it did not exist."""
    client = backend.client("lambda")
    return existed(lambda: client.delete_function(FunctionName=name))


# --------------------------------------------------------------------------- invoke


@dataclass(frozen=True)
class InvokeResult:
    """The answer of a synchronous invocation.

    Attributes
    ----------
    status_code : int
        HTTP status of the Invoke call (200 even when the function failed).
    payload : Any
        The function's response, parsed from JSON when possible.
    function_error : str or None
        ``Unhandled`` when the function raised, timed out or crashed.
    log_tail : str
        The last 4 KB of the invocation's log (``LogType=Tail``).
    """

    status_code: int
    payload: Any
    function_error: str | None
    log_tail: str
    extra: dict[str, Any] = field(default_factory=dict)

    @property
    def log_lines(self) -> list[str]:
        """The log tail, one line per entry, without empty lines."""
        return [line for line in self.log_tail.splitlines() if line.strip()]

    @property
    def succeeded(self) -> bool:
        """True when the function returned normally."""
        return self.function_error is None


def invoke(backend: Backend, name: str, event: Any) -> InvokeResult:
    """Invoke a function synchronously with ``event`` and return its answer and log tail.

    Parameters
    ----------
    backend : Backend
        Where the function lives.
    name : str
        Function name.
    event : Any
        The event (made JSON).

    Returns
    -------
    InvokeResult
    """
    response = backend.client("lambda").invoke(
        FunctionName=name,
        InvocationType="RequestResponse",
        LogType="Tail",
        Payload=json.dumps(event).encode(),
    )
    return read_invocation(response)


def read_invocation(response: Mapping[str, Any]) -> InvokeResult:
    """Read an ``Invoke`` response: the function's answer and the log tail, decoded.

    Parameters
    ----------
    response : Mapping
        What ``lambda.invoke(..., LogType="Tail")`` returned.

    Returns
    -------
    InvokeResult
    """
    raw = response["Payload"].read().decode("utf-8", errors="replace")
    try:
        payload: Any = json.loads(raw) if raw else None
    except ValueError:
        payload = raw
    tail = response.get("LogResult")
    return InvokeResult(
        status_code=response["StatusCode"],
        payload=payload,
        function_error=response.get("FunctionError"),
        log_tail=base64.b64decode(tail).decode("utf-8", errors="replace") if tail else "",
        extra={"ExecutedVersion": response.get("ExecutedVersion")},
    )


def console_test_event(name: str = "dynamodb_update") -> dict[str, Any]:
    """A sample event as the Lambda console offers it (``tests/events/<name>.json``).

    ``"dynamodb_update"`` is the console's "DynamoDB Update" template: an INSERT,
    a MODIFY and a REMOVE on a table with a numeric key ``Id``.
    """
    path = EVENTS_DIR / f"{name}.json"
    if not path.exists():
        known = sorted(p.stem for p in EVENTS_DIR.glob("*.json"))
        raise FileNotFoundError(f"no sample event {name!r}: use one of {known}")
    return json.loads(path.read_text(encoding="utf-8"))


def handler_source(name: str, *definitions: str) -> tuple[Path, str]:
    """Path and text of a workshop function's handler module, or of some of its definitions.

    Parameters
    ----------
    name : str
        A function name of :data:`~helpers.packaging.WORKSHOP_FUNCTIONS` or a folder.
    *definitions : str
        Names of top-level functions or classes to keep (all the module when none).

    Returns
    -------
    tuple
        ``(path, source text)``.

    Raises
    ------
    LookupError
        A requested definition is not in the module.
    """
    folder = function_source_dir(name)
    known = workshop_function(name)
    handler = known[1] if known else "app.lambda_handler"
    path = folder / f"{handler.rsplit('.', 1)[0]}.py"
    text = path.read_text(encoding="utf-8")
    if not definitions:
        return path, text
    nodes = {
        node.name: node
        for node in ast.parse(text).body
        if isinstance(node, ast.FunctionDef | ast.ClassDef | ast.AsyncFunctionDef)
    }
    parts = []
    for wanted in definitions:
        if wanted not in nodes:
            raise LookupError(
                f"{path.name} has no top-level {wanted!r}: use one of {sorted(nodes)}"
            )
        node = nodes[wanted]
        start = min([node.lineno, *(d.lineno for d in node.decorator_list)])
        parts.append("\n".join(text.splitlines()[start - 1 : node.end_lineno]))
    return path, "\n\n\n".join(parts)


# --------------------------------------------------------------------------- concurrency


def set_reserved_concurrency(backend: Backend, name: str, limit: int | None) -> int | None:
    """Reserve ``limit`` concurrent executions for a function (``None`` removes the limit).

    The limit is both a guarantee and a ceiling: at most ``limit`` copies of the
    function run at once; ``0`` stops every invocation (throttles).
    """
    client = backend.client("lambda")
    if limit is None:
        client.delete_function_concurrency(FunctionName=name)
        return None
    client.put_function_concurrency(FunctionName=name, ReservedConcurrentExecutions=limit)
    return reserved_concurrency(backend, name)


def reserved_concurrency(backend: Backend, name: str) -> int | None:
    """The function's reserved concurrency, or ``None`` when it has none."""
    response = backend.client("lambda").get_function_concurrency(FunctionName=name)
    return response.get("ReservedConcurrentExecutions")
