"""The workshop in a notebook: connecting, prerequisites, recorded figures.

In a notebook::

    cloud, names = workshop.connect(backend, region, name_prefix)
    workshop.require(cloud, names, "stream_processor_function")
    workshop.record("replica_items", 2000)

From a shell::

    python -m helpers.workshop run [--out build/notebooks] [--backend local] [-p key value ...]
    python -m helpers.workshop lab [--port 4566] [--lab-port 8888]

(see :mod:`helpers.notebook_runs`, which these commands run).

Recorded figures are display outputs of the MIME type :data:`FIGURES_MIME`
(with a plain-text fallback), so they travel inside the executed notebook;
:func:`figures` reads them back.
"""

from __future__ import annotations

import json
import sys
import urllib.parse
from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

from botocore.exceptions import BotoCoreError, ClientError, EndpointConnectionError

from helpers.clients import Backend, BackendConfigError, get_backend, local_port
from helpers.naming import NamePrefixError, Names

if TYPE_CHECKING:
    import pandas as pd

ROOT = Path(__file__).resolve().parent.parent
NOTEBOOKS_DIR = ROOT / "notebooks"
BUILD_DIR = ROOT / "build"
# The workshop's notebooks, in order: every ``NN_name.ipynb`` of notebooks/ (one more
# file is one more notebook: the runner, the tests and the navigation find it).
NOTEBOOKS = tuple(sorted(p.stem for p in NOTEBOOKS_DIR.glob("[0-9][0-9]_*.ipynb")))
FIGURES_MIME = "application/vnd.workshop.figures+json"
KERNEL_NAME = "ddb-streams-workshop"


class SetupError(Exception):
    """A setting or a prerequisite is wrong; the message says what to change.

    In a notebook the error shows as one line, without a traceback.
    """

    def _render_traceback_(self) -> list[str]:
        return [f"{type(self).__name__}: {self}"]


class PrerequisiteError(SetupError):
    """Something an earlier notebook creates is missing."""


# --------------------------------------------------------------------------- in notebooks


def connect(
    backend: str = "local", region: str | None = None, name_prefix: str = ""
) -> tuple[Backend, Names]:
    """Resolve the backend and the resource names, failing with a one-line message.

    Parameters
    ----------
    backend : {"local", "aws", "endpoint"}
        Where the workshop runs.
    region : str, optional
        AWS region (``us-east-1`` locally by default).
    name_prefix : str
        Put in front of every resource name, e.g. ``"alice-"``.

    Returns
    -------
    tuple
        ``(Backend, Names)``.

    Raises
    ------
    SetupError
        Unknown backend, bad region, no credentials, bad prefix, or the endpoint
        does not answer.
    """
    try:
        names = Names.with_prefix(name_prefix)
        cloud = get_backend(backend, region)
        if not cloud.is_local:
            cloud.account_id()  # fail here, before anything is created
    except (BackendConfigError, NamePrefixError) as exc:
        raise SetupError(str(exc)) from None
    except (ClientError, BotoCoreError) as exc:
        raise SetupError(f"cannot reach {backend!r}: {exc}") from None
    except RuntimeError as exc:  # the local endpoint did not start
        first = str(exc).splitlines()[0]
        raise SetupError(f"{first} (see `python -m localaws status`)") from None
    return cloud, names


def check_parameters(
    *, billing: str | None = None, logfile_data_dir: str | Path | None = None
) -> None:
    """Check a notebook's other parameters, failing with a one-line message.

    Parameters
    ----------
    billing : str, optional
        ``PAY_PER_REQUEST`` or ``PROVISIONED``.
    logfile_data_dir : path, optional
        A folder with the lab's original ``logfile_*.csv`` files.

    Raises
    ------
    SetupError
        Says which parameter to change.
    """
    if billing is not None and billing not in ("PAY_PER_REQUEST", "PROVISIONED"):
        raise SetupError(
            f"billing={billing!r} is unknown: use 'PAY_PER_REQUEST' (on-demand) or 'PROVISIONED'"
        )
    if logfile_data_dir is not None:
        folder = Path(logfile_data_dir).expanduser()
        if not folder.is_dir():
            raise SetupError(
                f"logfile_data_dir={str(logfile_data_dir)!r} is not a folder: set it to the "
                "folder holding logfile_small1.csv ... logfile_stream.csv, or to None to "
                "generate the data"
            )
        missing = [
            f"logfile_{n}.csv"
            for n in ("small1", "medium1", "medium2", "stream")
            if not (folder / f"logfile_{n}.csv").is_file()
        ]
        if missing:
            raise SetupError(
                f"logfile_data_dir={str(logfile_data_dir)!r} lacks {', '.join(missing)}: "
                "copy them there, or set logfile_data_dir=None to generate the data"
            )


def where(backend: Backend) -> pd.DataFrame:
    """Where the calls go: backend, region, endpoint and account, as a table."""
    from helpers.display import settings_table  # pandas: not for the runner, which imports us

    info = backend.describe()
    if backend.is_local:
        from localaws import lifecycle

        health = lifecycle.health(local_port()) or {}
        info["endpoint process"] = (
            f"pid {health.get('pid', '?')}, up {health.get('uptime_s', 0):.0f} s"
        )
    return settings_table(info)


_NEEDS = {
    "ecommerce_table": ("table", "ecommerce_table", "00_setup"),
    "logfile_table": ("table", "logfile_table", "00_setup"),
    "stream_processor_function": ("function", "stream_processor_function", "01_lambda_function"),
    "stream_processor_trigger": ("trigger", "stream_processor_function", "02_trigger"),
    "replica_function": ("function", "replica_function", "04_replication_logfile"),
    # 05 gives the trigger a retry limit and a dead-letter queue; 02 run again removes them
    "stream_processor_dead_letters": ("on-failure destination of the trigger of",
                                      "stream_processor_function",
                                      "05_failures_and_destinations"),
}


def require(backend: Backend, names: Names, *needs: str) -> None:
    """Check that earlier notebooks created what this one needs.

    Parameters
    ----------
    backend : Backend
        Where to look.
    names : Names
        The workshop's names.
    *needs : str
        Among ``ecommerce_table``, ``logfile_table``, ``stream_processor_function``,
        ``stream_processor_trigger``, ``replica_function`` and
        ``stream_processor_dead_letters`` (a trigger of the stream processor with an
        on-failure destination, as 05 leaves it).

    Raises
    ------
    PrerequisiteError
        Says which notebook to run first.
    SetupError
        The endpoint does not answer (and, for the local one, could not be started).
    """
    _reach(backend)
    latest = max((_NEEDS[need][2] for need in needs), default="00_setup")
    again = "00_setup" if latest == "00_setup" else f"00_setup to {latest}"
    for need in needs:
        kind, attr, notebook = _NEEDS[need]
        name = getattr(names, attr)
        if _exists(backend, kind, name):
            continue
        message = f"the {kind} {name!r} does not exist: run {notebook}.ipynb first"
        if backend.is_local:
            message += (
                " (the local endpoint keeps its state across restarts; after `make reset` "
                f"or a start with --ephemeral, run {again} again)"
            )
        raise PrerequisiteError(message)


def _reach(backend: Backend) -> None:
    """Make sure the backend answers; start the local endpoint again if it was stopped."""
    try:
        backend.client("sts").get_caller_identity()
        return
    except EndpointConnectionError as exc:
        if not backend.is_local:
            raise SetupError(f"{backend.endpoint_url or backend.region} does not answer: {exc}") \
                from None
    # ``make down`` (or a crash) stopped the local endpoint while this kernel ran.
    from localaws import lifecycle

    port = urllib.parse.urlsplit(backend.endpoint_url).port or local_port()
    try:
        lifecycle.ensure_running(port)
    except RuntimeError as exc:
        first = str(exc).splitlines()[0]
        raise SetupError(f"the local endpoint on port {port} stopped and did not start again: "
                         f"{first} (see `python -m localaws status`)") from None


def _exists(backend: Backend, kind: str, name: str) -> bool:
    try:
        if kind == "table":
            backend.client("dynamodb").describe_table(TableName=name)
        elif kind == "function":
            backend.client("lambda").get_function_configuration(FunctionName=name)
        else:
            mappings = backend.client("lambda").list_event_source_mappings(
                FunctionName=name)["EventSourceMappings"]
            if kind == "trigger":
                return bool(mappings)
            # the trigger's on-failure destination (stream_processor_dead_letters)
            return any(m.get("DestinationConfig", {}).get("OnFailure", {}).get("Destination")
                       for m in mappings)
    except ClientError:
        return False
    return True


def record(name: str, value: Any) -> None:
    """Record a key figure of the notebook (kept in the executed notebook, not printed in it).

    Parameters
    ----------
    name : str
        Figure name, e.g. ``"replica_items"``.
    value : Any
        A JSON value (numbers, strings, booleans, lists, dicts).
    """
    value = json.loads(json.dumps(value, default=_plain))
    text = f"recorded {name} = {value!r}"
    try:
        from IPython import get_ipython
        from IPython.display import display
    except ImportError:  # pragma: no cover
        print(text)
        return
    if get_ipython() is None:
        print(text)
        return
    # In a notebook the figure travels as data only: nothing is printed into the page.
    display({FIGURES_MIME: {name: value}, "text/plain": ""}, raw=True)


def _plain(value: Any) -> Any:
    if hasattr(value, "item"):  # numpy scalars
        return value.item()
    return str(value)


def figures(notebook: str | Path | Mapping[str, Any]) -> dict[str, Any]:
    """The figures an executed notebook recorded with :func:`record` (later ones win)."""
    if isinstance(notebook, str | Path):
        data = json.loads(Path(notebook).read_text(encoding="utf-8"))
    else:
        data = notebook
    found: dict[str, Any] = {}
    for cell in data.get("cells", []):
        for output in cell.get("outputs", []):
            payload = output.get("data", {}).get(FIGURES_MIME)
            if isinstance(payload, str):
                payload = json.loads(payload)
            if isinstance(payload, dict):
                found.update(payload)
    return found


if __name__ == "__main__":  # the older name of ``python -m helpers.notebook_runs``
    from helpers.notebook_runs import main

    sys.exit(main())
