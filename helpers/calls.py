"""Taught calls: a boto3 client that shows each call as its AWS CLI line and console path.

A notebook cell makes the call it teaches with a plain boto3 client wrapped by
:func:`client`; the call and its parameters stay in the cell::

    lam = calls.client(cloud, "lambda")
    mapping = lam.create_event_source_mapping(
        FunctionName=function, EventSourceArn=stream_arn, BatchSize=10,
        StartingPosition="TRIM_HORIZON")

Below the cell the learner reads the same call as an AWS CLI line, and where to
click in the console. The response is boto3's, unchanged.

**Re-runs.** Run a notebook twice and its create calls meet what the first run
created: AWS answers ``ResourceConflictException`` (or ``ResourceInUseException``,
``EntityAlreadyExists``). For those calls the client catches exactly that error,
says so, and brings the resource in line with the call's parameters with the
update calls AWS offers, each shown with its own CLI line
(:mod:`helpers.reruns`). So the cell means "create this, or make the existing one
look like this", and the learner sees which calls that took.

**Through the CLI.** With ``WORKSHOP_CALLS_VIA_CLI=1`` the taught calls are not
made with boto3 but by running the shown line with the real AWS CLI (the one in
this environment), against the same backend; its JSON output becomes the
response and its error a ``ClientError`` with the same code. A notebook run in
that mode proves that every line it shows works as printed. With
``WORKSHOP_CHECK_CLI_LINES=1`` the calls are made with boto3 and each line is first
parsed by the AWS CLI, in-process, into the request it would send, which must be the
boto3 call's (:mod:`helpers.cli_requests`).

**Record.** When ``WORKSHOP_CALL_LOG`` names a file, every taught call is appended
to it as one JSON line (service, method, parameters, CLI line, the error code if it
failed, the response): the notebook tests replay those lines with the real AWS CLI.
"""

from __future__ import annotations

import base64
import datetime as dt
import io
import json
import os
import re
import shlex
import string
import subprocess
import sys
import tempfile
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

from botocore.exceptions import ClientError
from botocore.response import StreamingBody

from helpers import cli, cli_requests
from helpers.clients import Backend, error_code
from helpers.display import markdown
from helpers.waits import retry_while_propagating

ENV_CALL_LOG = "WORKSHOP_CALL_LOG"

#: The steps the workshop teaches, each as (service, boto3 method): a run of the whole
#: workshop makes each of them at least once.
TAUGHT = frozenset({
    ("dynamodb", "update_table"),  # enable a stream
    ("lambda", "create_function"),
    ("lambda", "put_function_concurrency"),
    ("lambda", "invoke"),
    ("lambda", "create_event_source_mapping"),
    ("lambda", "update_event_source_mapping"),  # the trigger's advanced settings
    ("iam", "put_role_policy"),  # grant the role
    ("cloudwatch", "put_metric_alarm"),
    ("cloudwatch", "put_dashboard"),
    ("dynamodb", "put_item"),  # write test items
})
ENV_VIA_CLI = "WORKSHOP_CALLS_VIA_CLI"
_CLI_ERROR = re.compile(r"An error occurred \((?P<code>[^)]+)\) when calling the (?P<op>\w+) "
                        r"operation(?: \(reached max retries: \d+\))?: (?P<message>.*)", re.S)

# Where the same step is in the AWS console, per (service, method). Placeholders
# are the call's parameters.
CONSOLE: dict[tuple[str, str], str] = {
    ("dynamodb", "create_table"): "DynamoDB → Tables → Create table",
    ("dynamodb", "update_table"):
        "DynamoDB → Tables → {TableName} → Exports and streams → DynamoDB stream details → Turn on",
    ("dynamodb", "describe_table"): "DynamoDB → Tables → {TableName} → Overview",
    ("dynamodb", "put_item"): "DynamoDB → Tables → {TableName} → Explore table items → Create item",
    ("dynamodb", "update_item"): "DynamoDB → Tables → {TableName} → Explore table items → (item) → Edit",  # noqa: E501
    ("dynamodb", "delete_item"): "DynamoDB → Tables → {TableName} → Explore table items → (item) → Actions → Delete items",  # noqa: E501
    ("dynamodb", "batch_write_item"): "DynamoDB → PartiQL editor (one INSERT per item); no batch button",  # noqa: E501
    ("iam", "create_role"): "IAM → Roles → Create role → AWS service → Lambda",
    ("iam", "update_assume_role_policy"): "IAM → Roles → {RoleName} → Trust relationships → Edit trust policy",  # noqa: E501
    ("iam", "put_role_policy"): "IAM → Roles → {RoleName} → Add permissions → Create inline policy → JSON",  # noqa: E501
    ("iam", "attach_role_policy"): "IAM → Roles → {RoleName} → Add permissions → Attach policies",
    ("iam", "delete_role_policy"): "IAM → Roles → {RoleName} → Permissions → (policy) → Remove",
    ("iam", "detach_role_policy"): "IAM → Roles → {RoleName} → Permissions → (policy) → Remove",
    ("lambda", "create_function"): "Lambda → Functions → Create function → Author from scratch",
    ("lambda", "update_function_code"): "Lambda → Functions → {FunctionName} → Code → Upload from → .zip file",  # noqa: E501
    ("lambda", "update_function_configuration"):
        "Lambda → Functions → {FunctionName} → Configuration → General configuration → Edit",
    ("lambda", "put_function_concurrency"):
        "Lambda → Functions → {FunctionName} → Configuration → Concurrency → Edit → Reserve concurrency",  # noqa: E501
    ("lambda", "get_account_settings"): "Lambda → Dashboard → Account-level concurrency",
    ("lambda", "invoke"): "Lambda → Functions → {FunctionName} → Test → Test",
    ("lambda", "create_event_source_mapping"):
        "Lambda → Functions → {FunctionName} → Add trigger → DynamoDB",
    ("lambda", "update_event_source_mapping"):
        "Lambda → Functions → (function) → Configuration → Triggers → (trigger) → Edit",
    ("lambda", "delete_event_source_mapping"):
        "Lambda → Functions → (function) → Configuration → Triggers → (trigger) → Delete",
    ("lambda", "get_event_source_mapping"):
        "Lambda → Functions → (function) → Configuration → Triggers",
    ("sqs", "create_queue"): "SQS → Queues → Create queue",
    ("sqs", "get_queue_attributes"): "SQS → Queues → {QueueUrl} → Details (ARN)",
    ("sns", "create_topic"): "SNS → Topics → Create topic",
    ("sns", "subscribe"): "SNS → Topics → (topic) → Create subscription → Amazon SQS",
    ("cloudwatch", "put_metric_alarm"): "CloudWatch → Alarms → All alarms → Create alarm",
    ("cloudwatch", "put_dashboard"): "CloudWatch → Dashboards → Create dashboard",
    ("logs", "filter_log_events"): "CloudWatch → Log groups → {logGroupName} → Search all log streams",  # noqa: E501
}


class Response(dict):
    """boto3's response, as a dict; a cell that ends with the call does not echo it.

    The cell's output already shows the call (CLI line, console path); read what
    you need from the response (``response["UUID"]``) or show it explicitly.
    """

    def _ipython_display_(self) -> None:
        return None


class TaughtClient:
    """A boto3 client whose API calls are shown as CLI lines (see the module's text).

    Parameters
    ----------
    backend : Backend
        Where the calls go (the client comes from :meth:`Backend.client`).
    service : str
        boto3 service name.
    show : callable, optional
        Shows one block of Markdown; default :func:`helpers.display.markdown`.
    raw : botocore.client.BaseClient, optional
        The client to wrap (a ``Stubber``'s client in tests).
    listener : callable, optional
        Called after each successful call as ``listener(method, params, response,
        sent)``, ``sent`` being the UTC time just before the request left (e.g.
        :meth:`helpers.write_latency.WriteRecorder.observe`, for latencies).
    """

    def __init__(self, backend: Backend, service: str, *,
                 show: Callable[[str], None] | None = None, raw: Any = None,
                 listener: Callable[[str, Mapping[str, Any], Any, dt.datetime], None] | None = None,
                 ) -> None:
        self.backend = backend
        self.listener = listener
        self.service = service
        self.raw = raw if raw is not None else backend.client(service)
        self.show = show or markdown
        self.exceptions = self.raw.exceptions
        self.meta = self.raw.meta

    def __getattr__(self, name: str) -> Any:
        attribute = getattr(self.raw, name)
        if name not in self.raw.meta.method_to_api_mapping:
            return attribute  # paginators, waiters, ... pass through

        def taught(**params: Any) -> Any:
            return self.call(name, params)

        taught.__name__ = taught.__qualname__ = name
        taught.__doc__ = attribute.__doc__
        return taught

    def call(self, method: str, params: Mapping[str, Any], *, note: str = "") -> Any:
        """Show ``method(**params)`` as CLI line and console path, then make the call.

        Parameters
        ----------
        method : str
            The boto3 method name.
        params : Mapping
            Its keyword arguments.
        note : str
            A line shown above the command (used by :mod:`helpers.reruns`).

        Returns
        -------
        Any
            boto3's response; for a create call that met its resource, what the
            matching re-run step returned (see :mod:`helpers.reruns`).

        Raises
        ------
        botocore.exceptions.ClientError
            Whatever AWS answered, except the "already exists" of a create call
            that :mod:`helpers.reruns` knows how to bring in line.
        """
        from helpers import reruns

        line = cli.command(self.raw, method, params)
        self.show(render(line, console_path(self.service, method, params), note))
        if os.environ.get(cli_requests.ENV_CHECK) == "1":
            cli_requests.check_line(line, self.raw.meta.method_to_api_mapping[method], params,
                                    region=self.backend.region)
        sent = dt.datetime.now(dt.UTC)
        try:
            # A role or policy made a moment ago may not have reached Lambda yet, a
            # function may still be Pending: retry while the service says so (with a
            # progress bar), on every backend.
            response = retry_while_propagating(
                self.backend, lambda: self._send(method, params, line))
        except ClientError as exc:
            code = error_code(exc)
            _log(self.service, method, params, line, error=code, response=None)
            rerun = reruns.handler(self.service, method, code, exc)
            if rerun is None:
                raise
            self.show(f"*`{code}`: it exists already (this notebook ran before). "
                      "Bringing it in line with the call above:*")
            again = rerun(self, params)
            return Response(again) if isinstance(again, dict) else again
        _log(self.service, method, params, line, error=None, response=response)
        if self.listener is not None:
            self.listener(method, params, response, sent)
        return Response(response) if isinstance(response, dict) else response


    def _send(self, method: str, params: Mapping[str, Any], line: str) -> Any:
        if os.environ.get(ENV_VIA_CLI) == "1":
            return run_cli(self.backend, line)
        return getattr(self.raw, method)(**params)


def run_cli(backend: Backend, line: str) -> dict[str, Any]:
    """Run one CLI line (as :func:`helpers.cli.command` wrote it) against ``backend``.

    Parameters
    ----------
    backend : Backend
        Its endpoint, region and credentials are passed to the CLI.
    line : str
        The command, starting with ``aws``.

    Returns
    -------
    dict
        The CLI's JSON output; for ``lambda invoke``, ``Payload`` holds the outfile.

    Raises
    ------
    botocore.exceptions.ClientError
        With the code and message the CLI printed.
    """
    words = shlex.split(line)
    aws = str(Path(sys.executable).with_name("aws"))
    env = dict(os.environ)
    credentials = backend.session.get_credentials() if backend.session else None
    if credentials is not None:
        frozen = credentials.get_frozen_credentials()
        env.update(AWS_ACCESS_KEY_ID=frozen.access_key, AWS_SECRET_ACCESS_KEY=frozen.secret_key)
        if frozen.token:
            env["AWS_SESSION_TOKEN"] = frozen.token
    extra = ["--output", "json", "--region", backend.region]
    if backend.endpoint_url:
        extra += ["--endpoint-url", backend.endpoint_url]
    with tempfile.TemporaryDirectory() as scratch:
        outfile = Path(scratch) / cli.INVOKE_OUTFILE
        if words[1:3] == ["lambda", "invoke"]:
            words[-1] = str(outfile)
        done = subprocess.run([aws, *words[1:], *extra], cwd=cli.ROOT, env=env, text=True,
                              capture_output=True, timeout=600, check=False)
        if done.returncode != 0:
            match = _CLI_ERROR.search(done.stderr)
            code, message = (match["code"], match["message"].strip()) if match else (
                "CLIError", done.stderr.strip())
            operation = match["op"] if match else words[2]
            raise ClientError({"Error": {"Code": code, "Message": message}}, operation)
        response = json.loads(done.stdout) if done.stdout.strip() else {}
        if outfile.exists():
            data = outfile.read_bytes()
            response["Payload"] = StreamingBody(io.BytesIO(data), len(data))
    return response


def client(backend: Backend, service: str, *, listener: Any = None) -> TaughtClient:
    """A :class:`TaughtClient` for ``service`` on ``backend``.

    Parameters
    ----------
    backend : Backend
        From :func:`helpers.workshop.connect`.
    service : str
        boto3 service name: ``"lambda"``, ``"dynamodb"``, ``"iam"``...
    listener : callable, optional
        See :class:`TaughtClient`.

    Returns
    -------
    TaughtClient
    """
    return TaughtClient(backend, service, listener=listener)


def console_path(service: str, method: str, params: Mapping[str, Any]) -> str | None:
    """The console path of a call, its placeholders filled from ``params``."""
    template = CONSOLE.get((service, method))
    if template is None:
        return None
    fields = {f for _, f, _, _ in string.Formatter().parse(template) if f}
    return template.format(**{f: params.get(f, f"({f})") for f in fields})


def read_log(path: Path) -> list[dict[str, Any]]:
    """The entries of a call log (``WORKSHOP_CALL_LOG``), oldest first."""
    if not path.exists():
        return []
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line]


def untaught(entries: list[dict[str, Any]]) -> list[tuple[str, str]]:
    """The taught calls a run's log lacks (empty when the run made every one)."""
    return sorted(TAUGHT - {(e["service"], e["method"]) for e in entries})


def render(line: str, console: str | None, note: str = "") -> str:
    """The Markdown shown under a taught call."""
    parts = [note] if note else []
    parts.append(f"```bash\n{line}\n```")
    if console:
        parts.append(f"Console: {console}")
    return "\n\n".join(parts)


def _log(service: str, method: str, params: Mapping[str, Any], line: str, *,
         error: str | None, response: Any) -> None:
    target = os.environ.get(ENV_CALL_LOG)
    if not target:
        return
    entry = {"service": service, "method": method, "params": _plain(params), "cli": line,
             "via": "cli" if os.environ.get(ENV_VIA_CLI) == "1" else "boto3",
             "line_checked": os.environ.get(cli_requests.ENV_CHECK) == "1",
             "error": error, "response": _plain(response) if response is not None else None}
    with Path(target).open("a", encoding="utf-8") as out:
        out.write(json.dumps(entry) + "\n")


def _plain(value: Any) -> Any:
    """``value`` made JSON-safe (bytes as base64, datetimes as ISO text, streams dropped)."""
    if isinstance(value, Mapping):
        return {str(k): _plain(v) for k, v in value.items() if k != "ResponseMetadata"}
    if isinstance(value, list | tuple):
        return [_plain(v) for v in value]
    if isinstance(value, bytes | bytearray):
        return {"__bytes__": base64.b64encode(bytes(value)).decode()}
    if isinstance(value, dt.datetime):
        return value.isoformat()
    if isinstance(value, str | int | float | bool) or value is None:
        return value
    return repr(value)
