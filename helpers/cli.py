"""The AWS CLI command for a boto3 call, written from botocore's service model.

A notebook makes the AWS call it teaches with boto3; :func:`command` writes the
same call as the line a learner would type into a shell::

    >>> command(lam, "create_event_source_mapping", {"FunctionName": "f", "BatchSize": 10})
    'aws lambda create-event-source-mapping --function-name f --batch-size 10'

The translation follows the AWS CLI (version 1) rules, read from the same model
that boto3 uses:

- the service is botocore's service name (``aws dynamodbstreams``, ``aws logs``);
- the operation and every member are kebab-cased (``--maximum-retry-attempts``);
- a boolean is ``--flag`` or ``--no-flag``, a list of scalars is space-separated
  values, a structure of plain scalars is the CLI's shorthand (``Key=value,...``),
  anything deeper is JSON;
- a blob is read from a file (``fileb://path``); the Lambda ``Code.ZipFile`` blob is
  the CLI's ``--zip-file``; ``Invoke`` takes the output file as its last word;
- the paginator's limit becomes ``--page-size`` and its token ``--starting-token``.

Blobs are written once to ``build/cli/`` (named by their SHA-256), so that every
line can really be run.
"""

from __future__ import annotations

import base64
import datetime as dt
import hashlib
import json
import shlex
from collections.abc import Mapping
from decimal import Decimal
from pathlib import Path
from typing import Any

from botocore import xform_name
from botocore.model import OperationModel, Shape

ROOT = Path(__file__).resolve().parent.parent
BLOB_DIR = ROOT / "build" / "cli"
INVOKE_OUTFILE = "response.json"
# Characters the CLI's shorthand parser treats as syntax inside a value.
_SHORTHAND_SPECIAL = set(",=[]{}\"' \n\t\\")


class CommandError(ValueError):
    """The call cannot be written as a CLI line (the caller's fault: an unknown member)."""


def command(client: Any, method: str, params: Mapping[str, Any], *,
            blob_dir: Path | None = None) -> str:
    """The AWS CLI line for ``client.<method>(**params)``.

    Parameters
    ----------
    client : botocore.client.BaseClient
        The client the call is made with (its model names the options).
    method : str
        The boto3 method name, e.g. ``"create_event_source_mapping"``.
    params : Mapping
        The call's keyword arguments.
    blob_dir : Path, optional
        Where blobs are written for ``fileb://``; default ``build/cli/``.

    Returns
    -------
    str
        One shell line, its values quoted for a POSIX shell.

    Raises
    ------
    CommandError
        When ``method`` or a member of ``params`` is not in the service model.
    """
    mapping = client.meta.method_to_api_mapping
    if method not in mapping:
        raise CommandError(f"{client.meta.service_model.service_name} has no method {method!r}")
    operation = client.meta.service_model.operation_model(mapping[method])
    words = ["aws", client.meta.service_model.service_name, xform_name(operation.name, "-")]
    words += options(operation, params, paging=_paging(client, method),
                     blob_dir=blob_dir or BLOB_DIR)
    if operation.name == "Invoke" and client.meta.service_model.service_name == "lambda":
        words.append(INVOKE_OUTFILE)
    return " ".join(shlex.quote(w) if i > 2 else w for i, w in enumerate(words))


def _paging(client: Any, method: str) -> dict[str, Any]:
    try:
        if not client.can_paginate(method):
            return {}
        return client.get_paginator(method)._pagination_cfg
    except Exception:
        return {}


def options(operation: OperationModel, params: Mapping[str, Any], *,
            paging: Mapping[str, Any] | None = None, blob_dir: Path = BLOB_DIR) -> list[str]:
    """The CLI words (options and their values) for an operation's parameters."""
    members = operation.input_shape.members if operation.input_shape else {}
    paging = paging or {}
    tokens = paging.get("input_token", [])
    tokens = [tokens] if isinstance(tokens, str) else list(tokens)
    words: list[str] = []
    for name, value in params.items():
        if name not in members:
            raise CommandError(f"{operation.name} has no parameter {name!r}")
        shape = members[name]
        if name == paging.get("limit_key"):
            words += ["--page-size", str(value)]
        elif name in tokens:
            words += ["--starting-token", str(value)]
        elif operation.name in ("CreateFunction",) and name == "Code" and _zip_only(value):
            words += ["--zip-file", _file_uri(value["ZipFile"], blob_dir)]
        elif shape.type_name == "boolean":
            words.append(f"--{'' if value else 'no-'}{xform_name(name, '-')}")
        else:
            words += [f"--{xform_name(name, '-')}", *_value_words(shape, value, blob_dir)]
    return words


def _zip_only(value: Any) -> bool:
    return isinstance(value, Mapping) and set(value) == {"ZipFile"}


def _value_words(shape: Shape, value: Any, blob_dir: Path) -> list[str]:
    if shape.type_name == "list" and _is_scalar(shape.member) and shape.member.type_name != "blob":
        return [_scalar(shape.member, v, blob_dir) for v in value] or ["[]"]
    if shape.type_name == "structure" and _flat(shape, value):
        return [",".join(f"{k}={_scalar(shape.members[k], v, blob_dir)}"
                         for k, v in value.items())]
    if shape.type_name in ("structure", "list", "map"):
        return [json.dumps(_jsonable(shape, value), separators=(",", ":"))]
    return [_scalar(shape, value, blob_dir)]


def _is_scalar(shape: Shape) -> bool:
    return shape.type_name not in ("structure", "list", "map")


def _flat(shape: Shape, value: Mapping[str, Any]) -> bool:
    """True when the shorthand ``Key=value,...`` says exactly what JSON would."""
    if not value:
        return False
    for key, item in value.items():
        member = shape.members.get(key)
        if member is None or not _is_scalar(member) or member.type_name == "blob":
            return False
        text = _scalar(member, item, BLOB_DIR)
        if not text or _SHORTHAND_SPECIAL & set(text):
            return False
    return True


def _scalar(shape: Shape, value: Any, blob_dir: Path) -> str:
    kind = shape.type_name
    if kind == "boolean":
        return "true" if value else "false"
    if kind == "timestamp":
        return value.isoformat() if isinstance(value, dt.datetime) else str(value)
    if kind == "blob":
        return _blob_text(value, blob_dir)
    return str(value)


def _blob_text(value: Any, blob_dir: Path) -> str:
    """A blob as the CLI v1 takes it: text as is (an Invoke payload), bytes from a file."""
    if isinstance(value, str):
        return value
    try:
        text = bytes(value).decode("utf-8")
    except UnicodeDecodeError:
        return _file_uri(value, blob_dir)
    return text if text.isprintable() else _file_uri(value, blob_dir)


def _file_uri(value: Any, blob_dir: Path) -> str:
    data = value.encode() if isinstance(value, str) else bytes(value)
    digest = hashlib.sha256(data).hexdigest()[:16]
    path = blob_dir / f"{digest}.bin"
    if not path.exists():
        blob_dir.mkdir(parents=True, exist_ok=True)
        path.write_bytes(data)
    try:
        shown = path.relative_to(ROOT)
    except ValueError:
        shown = path
    return f"fileb://{shown}"


def _jsonable(shape: Shape | None, value: Any) -> Any:
    """``value`` as the JSON the CLI parses into ``shape``."""
    kind = shape.type_name if shape is not None else None
    if kind == "structure" and isinstance(value, Mapping):
        return {k: _jsonable(shape.members.get(k), v) for k, v in value.items()}
    if kind == "map" and isinstance(value, Mapping):
        return {k: _jsonable(shape.value, v) for k, v in value.items()}
    if kind == "list":
        return [_jsonable(shape.member, v) for v in value]
    if kind == "blob":
        data = value.encode() if isinstance(value, str) else bytes(value)
        return base64.b64encode(data).decode()
    if kind == "timestamp" and isinstance(value, dt.datetime):
        return value.isoformat()
    if isinstance(value, Decimal):
        return int(value) if value == value.to_integral_value() else float(value)
    return value
