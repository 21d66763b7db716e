"""The whole-workshop runner (helpers.notebook_runs) through its seams: papermill, the endpoint's
lifecycle and JupyterLab's process are replaced by fakes that record what they were asked to do,
on a tiny notebook in a temporary folder."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
from pathlib import Path
from typing import Any, ClassVar

import papermill
import pytest

from helpers import notebook_runs, workshop
from helpers.progress import ENV_HEADLESS

FIGURES = {"items": 3, "latency_p50_ms": 4.5}


def tiny_notebook(folder: Path, name: str) -> Path:
    cell = {"id": "parameters", "cell_type": "code", "metadata": {"tags": ["parameters"]},
            "execution_count": None, "outputs": [], "source": ["backend = 'local'\n"]}
    path = folder / f"{name}.ipynb"
    path.write_text(json.dumps({"cells": [cell], "metadata": {}, "nbformat": 4,
                                "nbformat_minor": 5}), encoding="utf-8")
    return path


class FakePapermill:
    """Stands for ``papermill.execute_notebook``: writes the copy with a recorded figure."""

    def __init__(self, fail_on: str | None = None) -> None:
        self.calls: list[dict[str, Any]] = []
        self.fail_on = fail_on

    def __call__(self, source: str, output: str, **kwargs: Any) -> None:
        self.calls.append({"source": source, "output": output, **kwargs,
                           "JUPYTER_PATH": os.environ.get("JUPYTER_PATH"),
                           "headless": os.environ.get(ENV_HEADLESS)})
        if self.fail_on and source.endswith(f"{self.fail_on}.ipynb"):
            raise RuntimeError("\n---------\nKeyError: 'x'\nmore")
        data = json.loads(Path(source).read_text(encoding="utf-8"))
        data["cells"][0]["outputs"] = [{"output_type": "display_data", "metadata": {},
                                        "data": {workshop.FIGURES_MIME: FIGURES}}]
        Path(output).write_text(json.dumps(data), encoding="utf-8")


class FakeKernelQueue:
    """Stands for ``helpers.kernels.KernelQueue``: hands out numbered kernels, records the rest."""

    made: ClassVar[list[FakeKernelQueue]] = []

    def __init__(self) -> None:
        self.events: list[str] = []
        self.prepared = 0
        FakeKernelQueue.made.append(self)

    def prepare(self) -> None:
        self.prepared += 1
        self.events.append(f"prepare kernel-{self.prepared}")

    def take(self) -> str | None:
        kernel = f"kernel-{self.prepared}" if self.prepared else None
        self.events.append(f"take {kernel}")
        return kernel

    def release(self, kernel: str | None) -> None:
        self.events.append(f"release {kernel}")

    def __enter__(self) -> FakeKernelQueue:
        return self

    def __exit__(self, *exc: object) -> None:
        self.events.append("close")


@pytest.fixture
def workshop_dir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """``notebooks/`` with two tiny notebooks and a ``vi`` edition; kernelspecs in tmp."""
    folder = tmp_path / "notebooks"
    (folder / "vi").mkdir(parents=True)
    for name in ("00_setup", "01_next"):
        tiny_notebook(folder, name)
        tiny_notebook(folder / "vi", name)
    monkeypatch.setattr(notebook_runs, "NOTEBOOKS_DIR", folder)
    monkeypatch.setattr(notebook_runs, "kernel_queue", FakeKernelQueue)
    real = notebook_runs.write_kernelspec
    monkeypatch.setattr(notebook_runs, "write_kernelspec", lambda: real(tmp_path / "build"))
    monkeypatch.delenv("JUPYTER_PATH", raising=False)
    monkeypatch.delenv(ENV_HEADLESS, raising=False)
    return folder


# the figures are data for the summary: the HTML copy does not draw them, and nbconvert says so
@pytest.mark.filterwarnings("ignore:Your element with mimetype")
def test_a_notebook_runs_headless_with_the_kernelspec_and_its_figures_are_read(
        workshop_dir: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    # given
    fake = FakePapermill()
    monkeypatch.setattr(papermill, "execute_notebook", fake)
    # when
    run = notebook_runs.run_notebook("00_setup", tmp_path / "out", {"backend": "aws"},
                                     language="vi")
    # then
    (call,) = fake.calls
    assert call["source"] == str(workshop_dir / "vi" / "00_setup.ipynb")
    assert call["cwd"] == str(workshop_dir)
    assert call["parameters"] == {"backend": "aws"}
    assert call["kernel_name"] == notebook_runs.KERNEL_NAME
    assert call["JUPYTER_PATH"] == str(tmp_path / "build" / "jupyter")
    assert call["headless"] == "1"
    assert run.figures == FIGURES
    assert run.html is not None and "<html" in run.html.read_text(encoding="utf-8")
    # the run's settings are undone afterwards
    assert "JUPYTER_PATH" not in os.environ and ENV_HEADLESS not in os.environ


def test_the_environment_a_run_found_is_given_back(workshop_dir: Path, tmp_path: Path,
                                                  monkeypatch: pytest.MonkeyPatch):
    # given
    fake = FakePapermill()
    monkeypatch.setattr(papermill, "execute_notebook", fake)
    monkeypatch.setenv("JUPYTER_PATH", "/elsewhere")
    monkeypatch.setenv(ENV_HEADLESS, "0")
    # when
    notebook_runs.run_notebook("00_setup", tmp_path / "out", html=False)
    # then
    assert fake.calls[0]["JUPYTER_PATH"] == os.pathsep.join(
        [str(tmp_path / "build" / "jupyter"), "/elsewhere"])
    assert os.environ["JUPYTER_PATH"] == "/elsewhere" and os.environ[ENV_HEADLESS] == "0"


def test_an_edition_that_does_not_exist_is_a_setup_error(workshop_dir: Path):
    # when / then
    assert notebook_runs.edition_dir() == workshop_dir
    with pytest.raises(workshop.SetupError, match="there is no 'fr' edition"):
        notebook_runs.edition_dir("fr")


def test_notebooks_run_in_order_and_the_first_failure_stops_the_rest(
        workshop_dir: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys):
    # given
    fake = FakePapermill(fail_on="00_setup")
    monkeypatch.setattr(papermill, "execute_notebook", fake)
    # when
    with pytest.raises(RuntimeError):
        notebook_runs.run_notebooks(tmp_path / "out", notebooks=["00_setup", "01_next"],
                                    html=False)
    # then
    assert len(fake.calls) == 1
    assert capsys.readouterr().out == "running 00_setup ...\n"


@pytest.mark.filterwarnings("ignore:Your element with mimetype")
def test_each_notebook_runs_in_the_kernel_started_while_the_one_before_ran(
        workshop_dir: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    # given
    fake = FakePapermill()
    monkeypatch.setattr(papermill, "execute_notebook", fake)
    FakeKernelQueue.made.clear()
    def ready() -> None:  # the wait for an endpoint started with the run
        FakeKernelQueue.made[0].events.append("endpoint ready")

    # when
    runs = notebook_runs.run_notebooks(tmp_path / "out", notebooks=["00_setup", "01_next"],
                                       echo=False, ready=ready)
    # then: the first takes the kernel started with the run, the second the one
    # started while the first ran; the endpoint is waited for once the first kernel starts
    assert [call["km"] for call in fake.calls] == ["kernel-1", "kernel-2"]
    (queue,) = FakeKernelQueue.made
    assert queue.events == ["prepare kernel-1", "endpoint ready", "take kernel-1",
                            "prepare kernel-2", "release kernel-1", "take kernel-2",
                            "release kernel-2", "close"]
    # the HTML copies were written in the background, one per notebook
    assert all(run.html is not None and run.html.exists() for run in runs)


class PapermillError(Exception):
    ename, evalue, exec_count = "KeyError", "'price'", 7


@pytest.mark.parametrize(("exc", "line"), [
    (PapermillError(), "KeyError: 'price' (cell In [7])"),
    (RuntimeError("\n-----\n  Kernel died  \nmore"), "Kernel died"),
    (RuntimeError(""), ""),
])
def test_a_failure_is_told_in_one_line(exc, line):
    # when / then
    assert notebook_runs._first_line(exc) == line


class FakeLifecycle:
    """Stands for :mod:`localaws.lifecycle`: an endpoint that is running or not."""

    def __init__(self, running: bool) -> None:
        self.running = running
        self.calls: list[tuple[str, int]] = []

    def health(self, port: int) -> dict[str, Any] | None:
        return {"status": "running"} if self.running else None

    def up(self, port: int) -> dict[str, Any]:
        self.calls.append(("up", port))
        return {"url": f"http://127.0.0.1:{port}"}

    def start(self, port: int) -> FakeLifecycle:
        self.calls.append(("start", port))
        self.port = port
        return self

    def wait(self) -> dict[str, Any]:
        self.calls.append(("wait", self.port))
        return {"url": f"http://127.0.0.1:{self.port}"}

    def down(self, port: int) -> bool:
        self.calls.append(("down", port))
        return True


@pytest.fixture
def lifecycle(monkeypatch: pytest.MonkeyPatch):
    from localaws import lifecycle as real

    def use(running: bool) -> FakeLifecycle:
        fake = FakeLifecycle(running)
        for name in ("health", "up", "start", "down"):
            monkeypatch.setattr(real, name, getattr(fake, name))
        monkeypatch.setenv("WORKSHOP_LOCAL_PORT", "4621")
        return fake

    return use


@pytest.mark.parametrize(("backend", "running", "calls"), [
    ("local", False, [("start", 4621), ("wait", 4621), ("down", 4621)]),
    (None, True, []),
    ("aws", False, []),
])
def test_a_run_starts_the_endpoint_only_when_it_needs_one_that_is_not_running(
        lifecycle, backend, running, calls):
    # given
    fake = lifecycle(running)
    # when
    with notebook_runs._local_endpoint(backend) as ready:
        launched = list(fake.calls)
        ready()
        during = list(fake.calls)
    # then: launched at once, waited for only when the run is ready for it
    assert fake.calls == calls
    assert launched == calls[:1] and during == calls[:2]


def test_the_run_command_passes_parameters_and_prints_the_summary(
        lifecycle, monkeypatch: pytest.MonkeyPatch, tmp_path: Path, capsys):
    # given
    lifecycle(False)
    asked: list[tuple[Any, ...]] = []

    def run_notebooks(out_dir, parameters, names, *, html, language, ready):
        ready()
        asked.append((out_dir, parameters, names, html, language))
        return [notebook_runs.NotebookRun(names[0], out_dir / "a.ipynb", 2.0, {"items": 3})]

    monkeypatch.setattr(notebook_runs, "run_notebooks", run_notebooks)
    name = notebook_runs.NOTEBOOKS[0]
    # when
    code = notebook_runs.main(["run", "--out", str(tmp_path), "--only", name, "-p", "batch", "10",
                               "-p", "who", "alice-", "--backend", "aws", "--lang", "vi"])
    # then
    assert code == 0
    assert asked == [(tmp_path, {"batch": 10, "who": "alice-", "backend": "aws"}, [name], True,
                      "vi")]
    out = capsys.readouterr().out
    assert "items=3" in out and f"executed notebooks: {tmp_path}" in out
    assert "(no HTML copies: install nbconvert to get them)" in out


def test_a_failed_run_says_which_cell_and_exits_with_one(
        lifecycle, monkeypatch: pytest.MonkeyPatch, tmp_path: Path, capsys):
    # given
    fake = lifecycle(False)

    def run_notebooks(*args, **kwargs):
        raise PapermillError()

    monkeypatch.setattr(notebook_runs, "run_notebooks", run_notebooks)
    # when
    code = notebook_runs.main(["run", "--out", str(tmp_path), "--no-html"])
    # then
    assert code == 1
    assert "FAILED: KeyError: 'price' (cell In [7])" in capsys.readouterr().err
    assert fake.calls == [("start", 4621), ("down", 4621)]  # the endpoint it started is stopped


def test_an_endpoint_that_cannot_start_fails_the_run_in_one_line(
        lifecycle, monkeypatch: pytest.MonkeyPatch, tmp_path: Path, capsys):
    # given: the port is taken by another program
    from localaws import lifecycle as real

    fake = lifecycle(False)

    def start(port: int) -> None:
        raise real.EndpointStartError(f"port {port} is in use by another program: stop it")

    monkeypatch.setattr(real, "start", start)
    # when
    code = notebook_runs.main(["run", "--out", str(tmp_path), "--no-html"])
    # then: no traceback, and nothing to stop
    assert code == 1
    assert "FAILED: port 4621 is in use by another program" in capsys.readouterr().err
    assert fake.calls == []


class FakeLab:
    """Stands for ``subprocess.Popen`` of ``jupyter lab``: Ctrl-C, then a SIGTERM, then done."""

    last: FakeLab

    def __init__(self, command: list[str], env: dict[str, str], cwd: str) -> None:
        self.command, self.env, self.cwd = command, env, cwd
        self.waits = 0
        self.terminated = False
        FakeLab.last = self

    def wait(self, timeout: float | None = None) -> int:
        self.waits += 1
        if self.waits == 1:
            raise KeyboardInterrupt  # JupyterLab asks to confirm: the runner keeps waiting
        signal.getsignal(signal.SIGTERM)(signal.SIGTERM, None)  # the runner is told to stop
        return 0

    def poll(self) -> int | None:
        return 0 if self.terminated else None

    def terminate(self) -> None:
        self.terminated = True


def test_lab_opens_the_edition_with_the_endpoint_port_and_stops_what_it_started(
        workshop_dir: Path, lifecycle, monkeypatch: pytest.MonkeyPatch, capsys):
    # given
    fake = lifecycle(False)
    monkeypatch.setattr(notebook_runs.subprocess, "Popen", FakeLab)
    before = signal.getsignal(signal.SIGTERM)
    # when
    code = notebook_runs.main(["lab", "--port", "4621", "--lab-port", "8899", "--lang", "vi",
                               "--", "--no-browser"])
    # then
    lab = FakeLab.last
    assert code == 0
    assert lab.cwd == str(workshop_dir / "vi")
    assert f"--ServerApp.root_dir={workshop_dir / 'vi'}" in lab.command
    assert "--ServerApp.port=8899" in lab.command and "--no-browser" in lab.command
    assert lab.env["WORKSHOP_LOCAL_PORT"] == "4621"
    assert lab.env["JUPYTER_PATH"].startswith(str(workshop_dir.parent / "build" / "jupyter"))
    assert lab.terminated and lab.waits == 2  # a SIGTERM to the runner ends JupyterLab
    assert signal.getsignal(signal.SIGTERM) == before
    assert fake.calls == [("up", 4621), ("down", 4621)]
    assert capsys.readouterr().out.splitlines() == [
        "local AWS endpoint at http://127.0.0.1:4621 (started)", "local AWS endpoint stopped"]


def test_lab_refuses_an_edition_that_does_not_exist(workshop_dir: Path, lifecycle, capsys):
    # given
    fake = lifecycle(True)
    # when
    code = notebook_runs.main(["lab", "--lang", "fr"])
    # then
    assert code == 1
    assert "no 'fr' edition" in capsys.readouterr().err
    assert fake.calls == []


def test_a_headless_run_never_builds_jsonschemas_iri_grammar():
    # given: a process that imports the runner, then papermill (and so jsonschema)
    script = ("import sys, helpers.notebook_runs, papermill, jsonschema\n"
              "print(sys.modules.get('rfc3987_syntax'),"
              " 'iri' in jsonschema.FormatChecker.checkers)")
    # when
    done = subprocess.run([sys.executable, "-c", script], cwd=workshop.ROOT, capture_output=True,
                          text=True, check=True, timeout=60)
    # then: the import was refused, and jsonschema went on without that one checker
    assert done.stdout.split() == ["None", "False"]
