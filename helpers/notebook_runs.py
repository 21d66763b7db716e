"""Running the whole workshop headlessly (papermill), and opening it in JupyterLab.

From a shell (``python -m helpers.workshop`` is the same command)::

    python -m helpers.notebook_runs run [--out build/notebooks] [--backend local] [--lang vi]
    python -m helpers.notebook_runs lab [--port 4566] [--lab-port 8888] [--lang vi]

``run`` executes every notebook in order with papermill into ``build/notebooks/``
(plus HTML copies when nbconvert is installed) and prints a summary with the
figures each notebook recorded. ``lab`` starts the local endpoint if needed,
opens JupyterLab on ``notebooks/`` and stops the endpoint on exit if it started it.
"""

from __future__ import annotations

import argparse
import ast
import contextlib
import json
import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from helpers import notebook_schedule
from helpers.clients import local_port
from helpers.kernels import KernelQueue
from helpers.workshop import (
    BUILD_DIR,
    KERNEL_NAME,
    NOTEBOOKS,
    NOTEBOOKS_DIR,
    ROOT,
    SetupError,
    figures,
)

# jsonschema, which nbformat and papermill import, imports ``rfc3987_syntax`` when it is
# installed (JupyterLab's jupyter-events asks for it) for one format checker, "iri". That
# module builds about thirty Earley parsers as it is imported: 2.1 s of CPU in every
# process that imports papermill, against 0.6 s for the rest of papermill
# (python-jsonschema/jsonschema#1428). A headless run validates no IRI.
IRI_GRAMMAR = "rfc3987_syntax"


def without_iri_grammar() -> None:
    """Keep ``rfc3987_syntax`` out of this process: jsonschema then has no "iri" checker.

    Call it before anything imports jsonschema (``None`` in :data:`sys.modules` makes
    the import fail, and jsonschema skips that checker, as when the package is absent).
    A process that has imported it already keeps it.
    """
    sys.modules.setdefault(IRI_GRAMMAR, None)


without_iri_grammar()


@dataclass
class NotebookRun:
    """One executed notebook."""

    name: str
    output: Path
    seconds: float
    figures: dict[str, Any] = field(default_factory=dict)
    html: Path | None = None


def write_kernelspec(build_dir: Path = BUILD_DIR) -> Path:
    """Write a kernelspec running this interpreter (the project's venv) with ``helpers`` importable.

    Returns
    -------
    Path
        The folder to put on ``JUPYTER_PATH`` (it holds ``kernels/<KERNEL_NAME>``).
    """
    share = build_dir / "jupyter"
    folder = share / "kernels" / KERNEL_NAME
    folder.mkdir(parents=True, exist_ok=True)
    python_path = os.pathsep.join(p for p in (str(ROOT), os.environ.get("PYTHONPATH", "")) if p)
    spec = {
        "argv": [
            sys.executable,
            "-m",
            "ipykernel_launcher",
            "-f",
            "{connection_file}",
            "--IPKernelApp.log_level=ERROR",
        ],
        "display_name": "DynamoDB Streams workshop (.venv)",
        "language": "python",
        "env": {
            "PYTHONPATH": python_path,
            "MPLBACKEND": "module://matplotlib_inline.backend_inline",
        },
        "metadata": {"debugger": False},
    }
    text = json.dumps(spec, indent=1)
    target = folder / "kernel.json"
    if not target.exists() or target.read_text(encoding="utf-8") != text:
        # Whole or not at all: a kernel starting in another lane reads it meanwhile.
        partial = folder / f".kernel.json.{os.getpid()}.{threading.get_ident()}"
        partial.write_text(text, encoding="utf-8")
        os.replace(partial, target)
    return share


@contextlib.contextmanager
def _jupyter_path(extra: Path) -> Iterator[None]:
    saved = os.environ.get("JUPYTER_PATH")
    if saved is not None and str(extra) in saved.split(os.pathsep):
        yield  # set by an enclosing run (notebooks running at the same time share it)
        return
    os.environ["JUPYTER_PATH"] = os.pathsep.join(p for p in (str(extra), saved) if p)
    try:
        yield
    finally:
        if saved is None:
            os.environ.pop("JUPYTER_PATH", None)
        else:
            os.environ["JUPYTER_PATH"] = saved


def _to_html(notebook: Path) -> Path | None:
    try:
        from nbconvert import HTMLExporter
    except ImportError:
        return None
    body, _ = HTMLExporter().from_filename(str(notebook))
    target = notebook.with_suffix(".html")
    target.write_text(body, encoding="utf-8")
    return target


def run_notebook(
    name: str,
    out_dir: Path,
    parameters: Mapping[str, Any] | None = None,
    *,
    html: bool = True,
    timeout: int = 600,
    language: str = "en",
    kernels: KernelQueue | None = None,
    ahead: bool = False,
) -> NotebookRun:
    """Execute one notebook of :data:`NOTEBOOKS_DIR` with papermill.

    Parameters
    ----------
    name : str
        Notebook name without ``.ipynb``.
    out_dir : Path
        Where the executed copy goes.
    parameters : mapping, optional
        Injected after the ``parameters`` cell.
    html : bool
        Also write an HTML copy (needs nbconvert).
    timeout : int
        Seconds per cell.
    language : str
        ``"en"``, or an edition's folder of ``notebooks/`` (``"vi"``); the code is the same
        and runs from ``notebooks/`` either way.
    kernels : KernelQueue, optional
        Run in the kernel it started ahead (see :func:`kernel_queue`), if it has one.
    ahead : bool
        With ``kernels``: start the next notebook's kernel while this one runs.

    Returns
    -------
    NotebookRun

    Raises
    ------
    papermill.PapermillExecutionError
        A cell failed; the executed copy shows where.
    """
    import papermill as pm

    from helpers.papermill_engine import ENGINE_NAME

    out_dir.mkdir(parents=True, exist_ok=True)
    share = write_kernelspec()
    output = out_dir / f"{name}.ipynb"
    start = time.perf_counter()
    with _jupyter_path(share), _headless():
        kernel = kernels.take() if kernels else None
        if kernels and ahead:
            kernels.prepare()
        try:
            pm.execute_notebook(
                str(edition_dir(language) / f"{name}.ipynb"),
                str(output),
                parameters=dict(parameters or {}),
                kernel_name=KERNEL_NAME,
                cwd=str(NOTEBOOKS_DIR),
                progress_bar=False,
                execution_timeout=timeout,
                km=kernel,
                engine_name=ENGINE_NAME,
            )
        finally:
            if kernels:
                kernels.release(kernel)
    seconds = time.perf_counter() - start
    return NotebookRun(name, output, seconds, figures(output), _to_html(output) if html else None)


@contextlib.contextmanager
def run_environment() -> Iterator[None]:
    """What a headless run sets in the environment, set once around several runs.

    The workshop's kernelspec on ``JUPYTER_PATH`` and silent progress bars; each
    :func:`run_notebook` sets them too, but notebooks running at the same time (in
    threads) must find them set and leave them alone.
    """
    with _jupyter_path(write_kernelspec()), _headless():
        yield


def kernel_queue() -> KernelQueue:
    """A :class:`~helpers.kernels.KernelQueue` of the workshop's kernel, for :func:`run_notebook`.

    Use it as a context manager: leaving it shuts down every kernel it started.
    """
    return KernelQueue(KERNEL_NAME, NOTEBOOKS_DIR)


def edition_dir(language: str = "en") -> Path:
    """The folder of an edition's notebooks: ``notebooks/`` for English, ``notebooks/<lang>/``."""
    folder = NOTEBOOKS_DIR if language == "en" else NOTEBOOKS_DIR / language
    if not folder.is_dir():
        raise SetupError(f"there is no {language!r} edition of the workshop ({folder})")
    return folder


@contextlib.contextmanager
def _headless() -> Iterator[None]:
    """Tell the kernels they run headless: progress bars stay silent (see helpers.progress)."""
    from helpers.progress import ENV_HEADLESS

    saved = os.environ.get(ENV_HEADLESS)
    if saved == "1":
        yield
        return
    os.environ[ENV_HEADLESS] = "1"
    try:
        yield
    finally:
        if saved is None:
            os.environ.pop(ENV_HEADLESS, None)
        else:
            os.environ[ENV_HEADLESS] = saved


def run_notebooks(
    out_dir: Path = BUILD_DIR / "notebooks",
    parameters: Mapping[str, Any] | None = None,
    notebooks: Sequence[str] = NOTEBOOKS,
    *,
    html: bool = True,
    echo: bool = True,
    language: str = "en",
    ready: Callable[[], object] | None = None,
) -> list[NotebookRun]:
    """Execute notebooks in the workshop's order; stops at the first failure (papermill raises).

    Notebooks that share nothing run at the same time (the lanes of
    :data:`helpers.notebook_schedule.STAGES`); the others one after another. Every
    lane's first kernel starts at once, each next one while the lane's notebook
    runs (see :mod:`helpers.kernels`), and the HTML copies are
    written in the background while the next notebooks run.

    ``ready``, if given, is called once the kernels are starting and papermill is
    imported, before the first notebook: the wait for an endpoint launched
    alongside (see :func:`_local_endpoint`).

    Returns
    -------
    list of NotebookRun
        In the order of ``notebooks``.
    """
    runs: dict[str, NotebookRun] = {}
    pages: dict[str, Future[Path | None]] = {}
    stages = notebook_schedule.schedule(notebooks)
    lanes = max(len(stage) for stage in stages) if stages else 1
    queues = [kernel_queue() for _ in range(lanes)]

    def run_one(name: str, lane: int, ahead: bool) -> NotebookRun:
        if echo:
            print(f"running {name} ...", flush=True)
        run = run_notebook(name, out_dir, parameters, html=False, language=language,
                           kernels=queues[lane], ahead=ahead)
        if echo:
            print(f"  {name} done in {run.seconds:.1f} s", flush=True)
        runs[name] = run
        if html:
            pages[name] = converter.submit(_to_html, run.output)
        return run

    with contextlib.ExitStack() as stack:
        for queue in queues:
            stack.enter_context(queue)
        converter = stack.enter_context(ThreadPoolExecutor(max_workers=1))
        stack.enter_context(run_environment())
        for queue in queues:  # forked from one warm parent, an idle kernel costs no CPU
            queue.prepare()
        import papermill  # noqa: F401  (while the kernels and the endpoint start)

        if ready is not None:
            ready()
        try:
            notebook_schedule.run_stages(stages, run_one)
        finally:
            for name, page in pages.items():
                runs[name].html = page.result()
    return [runs[name] for name in notebooks if name in runs]


def summary(runs: Sequence[NotebookRun], wall_s: float | None = None) -> str:
    """A text table: notebook, seconds and recorded figures (and the run's wall time)."""
    lines = [f"{'notebook':<24} {'time (s)':>8}  key figures", "-" * 78]
    for run in runs:
        shown = "; ".join(
            f"{k}={v}" for k, v in run.figures.items() if not isinstance(v, dict | list)
        )
        lines.append(f"{run.name:<24} {run.seconds:>8.1f}  {shown}")
    total = sum(run.seconds for run in runs)
    lines.append("-" * 78)
    lines.append(f"{'total':<24} {total:>8.1f}  {len(runs)} notebooks")
    if wall_s is not None:
        lines.append(f"{'wall time':<24} {wall_s:>8.1f}  (some notebooks ran at the same time)"
                     if wall_s < total - 0.5 else f"{'wall time':<24} {wall_s:>8.1f}")
    return "\n".join(lines)


def _value(text: str) -> Any:
    try:
        return ast.literal_eval(text)
    except (ValueError, SyntaxError):
        return text


def _first_line(exc: BaseException) -> str:
    if hasattr(exc, "ename"):  # papermill's execution error: the failing cell's exception
        return f"{exc.ename}: {exc.evalue} (cell In [{getattr(exc, 'exec_count', '?')}])"
    lines = [line for line in str(exc).splitlines() if line.strip() and not line.startswith("-")]
    return lines[0].strip() if lines else ""


@contextlib.contextmanager
def _local_endpoint(backend: str | None) -> Iterator[Callable[[], None]]:
    """Launch the local endpoint for a run if it is not running; stop it afterwards if so.

    Yields the wait for it to be healthy, so that the caller can start its kernels and
    import papermill while the endpoint starts (see :func:`run_notebooks`' ``ready``).
    """
    if backend not in (None, "local"):
        yield lambda: None
        return
    from localaws import lifecycle

    port = local_port()
    starting = lifecycle.start(port) if lifecycle.health(port) is None else None

    def ready() -> None:
        if starting is not None:
            status = starting.wait()
            print(f"local AWS endpoint started at {status['url']}", flush=True)

    try:
        yield ready
    finally:
        if starting is not None:
            lifecycle.down(port)
            print("local AWS endpoint stopped", flush=True)


def _run_command(args: argparse.Namespace) -> int:
    parameters: dict[str, Any] = {key: _value(value) for key, value in args.parameter or []}
    if args.backend:
        parameters["backend"] = args.backend
    out_dir = Path(args.out).resolve()
    names = args.only or list(NOTEBOOKS)
    start = time.perf_counter()
    backend = parameters.get("backend") or os.environ.get("WORKSHOP_BACKEND")
    try:
        with _local_endpoint(backend) as ready:
            runs = run_notebooks(out_dir, parameters, names, html=not args.no_html,
                                 language=args.lang, ready=ready)
            wall_s = time.perf_counter() - start
    except Exception as exc:  # papermill's execution error names the failing cell
        print(f"\nFAILED: {_first_line(exc)}", file=sys.stderr)
        print(f"the executed notebooks are in {out_dir}", file=sys.stderr)
        return 1
    print()
    print(summary(runs, wall_s))
    print(f"\nexecuted notebooks: {out_dir}")
    if not args.no_html and all(run.html is None for run in runs):
        print("(no HTML copies: install nbconvert to get them)")
    return 0


def _lab_command(args: argparse.Namespace) -> int:
    from localaws import lifecycle

    try:
        import jupyterlab  # noqa: F401
    except ImportError:
        print("JupyterLab is not installed: run `make lab`, which installs it", file=sys.stderr)
        return 1
    try:
        folder = Path(args.notebooks_dir) if args.notebooks_dir else edition_dir(args.lang)
    except SetupError as exc:
        print(exc, file=sys.stderr)
        return 1
    port = args.port or local_port()
    started = lifecycle.health(port) is None
    status = lifecycle.up(port)
    print(f"local AWS endpoint at {status['url']}" + (" (started)" if started else ""))
    env = dict(os.environ)
    env["WORKSHOP_LOCAL_PORT"] = str(port)
    env["PYTHONPATH"] = os.pathsep.join(p for p in (str(ROOT), env.get("PYTHONPATH", "")) if p)
    share = write_kernelspec()
    env["JUPYTER_PATH"] = os.pathsep.join(p for p in (str(share), env.get("JUPYTER_PATH", "")) if p)
    command = [
        sys.executable,
        "-m",
        "jupyter",
        "lab",
        f"--ServerApp.root_dir={folder}",
        f"--ServerApp.port={args.lab_port}",
        "--ServerApp.ip=127.0.0.1",
        # the browser (and anyone visiting the server's root) lands on the first notebook
        "--LabApp.default_url=/lab/tree/00_setup.ipynb",
        *[a for a in args.jupyter_args if a != "--"],
    ]
    if hasattr(os, "geteuid") and os.geteuid() == 0:  # containers often run as root
        command.append("--allow-root")
    proc = subprocess.Popen(command, env=env, cwd=str(folder))

    def terminate(signum: int, frame: Any) -> None:
        proc.terminate()

    previous = signal.signal(signal.SIGTERM, terminate)
    try:
        while True:
            try:
                return proc.wait()
            except KeyboardInterrupt:
                continue  # JupyterLab gets Ctrl-C too, asks to confirm and exits by itself
    finally:
        signal.signal(signal.SIGTERM, previous)
        if proc.poll() is None:
            proc.terminate()
            proc.wait(timeout=30)
        if started:
            lifecycle.down(port)
            print("local AWS endpoint stopped")


def main(argv: Sequence[str] | None = None) -> int:
    """Command line: ``run`` or ``lab``."""
    parser = argparse.ArgumentParser(prog="python -m helpers.workshop")
    commands = parser.add_subparsers(dest="command", required=True)
    run = commands.add_parser("run", help="run every notebook headlessly with papermill")
    run.add_argument("--out", default=str(BUILD_DIR / "notebooks"), help="output folder")
    run.add_argument("--backend", default=None, help="local (default), aws or endpoint")
    run.add_argument(
        "-p",
        "--parameter",
        nargs=2,
        action="append",
        metavar=("KEY", "VALUE"),
        help="a notebook parameter (Python literal or text)",
    )
    run.add_argument("--only", nargs="+", choices=NOTEBOOKS, help="run only these notebooks")
    run.add_argument("--no-html", action="store_true", help="skip the HTML copies")
    run.add_argument("--lang", default="en", help="the edition: en (default) or vi")
    lab = commands.add_parser("lab", help="open the workshop in JupyterLab")
    lab.add_argument("--port", type=int, default=None, help="local endpoint port (default 4566)")
    lab.add_argument("--lab-port", type=int, default=8888, help="JupyterLab port")
    lab.add_argument("--lang", default="en", help="the edition to open: en (default) or vi")
    lab.add_argument("--notebooks-dir", default=None,
                     help="folder to open (default: the edition's notebooks/ or notebooks/vi/)")
    lab.add_argument("jupyter_args", nargs=argparse.REMAINDER,
                     help="after --: more options for `jupyter lab`")
    args = parser.parse_args(argv)
    return _run_command(args) if args.command == "run" else _lab_command(args)


if __name__ == "__main__":
    sys.exit(main())
