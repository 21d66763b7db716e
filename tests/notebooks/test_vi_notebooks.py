"""The Vietnamese edition runs: 00_setup, 01_lambda_function and 99_cleanup with papermill.

The edition's code cells are the English ones (the drift test checks it); this runs
them from ``notebooks/vi/`` to prove the generated notebooks execute as they are. The
run ends with the cleanup, so the English runs that may share the endpoint find it
as a first run would (every notebook can be run again).
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import nbformat
import pytest

from helpers import notebook_runs, workshop

pytestmark = pytest.mark.notebooks

RUNS = ("00_setup", "01_lambda_function", "99_cleanup")
PARAMETERS = {"backend": "local"}


@pytest.fixture(scope="module")
def executed(endpoint: dict, tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict]:
    """The executed Vietnamese notebooks, by name (a failure stops the run)."""
    out = tmp_path_factory.mktemp("notebooks-vi")
    runs: dict[str, notebook_runs.NotebookRun] = {}
    with notebook_runs.kernel_queue() as kernels, notebook_runs.run_environment():
        kernels.prepare()
        for number, name in enumerate(RUNS, start=1):
            runs[name] = notebook_runs.run_notebook(name, out, PARAMETERS, html=False,
                                                    language="vi", kernels=kernels,
                                                    ahead=number < len(RUNS))
    yield runs


def _outputs_of_errors(path: Path) -> list[str]:
    nb = nbformat.read(path, as_version=4)
    return [f"{o.get('ename')}: {o.get('evalue')}" for c in nb.cells if c.cell_type == "code"
            for o in c.outputs if o.output_type == "error"]


@pytest.mark.slow
@pytest.mark.timeout(900)
def test_vietnamese_notebooks_run_without_errors(executed: dict) -> None:
    # then
    for run in executed.values():
        assert _outputs_of_errors(run.output) == [], run.name


@pytest.mark.slow
@pytest.mark.timeout(900)
def test_vietnamese_notebooks_record_the_english_figures(executed: dict) -> None:
    # when
    setup = executed["00_setup"].figures
    function = executed["01_lambda_function"].figures
    # then
    assert setup["logfile_items"] == 4000 and setup["logfile_servererror"] == 1
    assert function["test_event_processed"] == 3
    assert function["runtime_error_code"] == "InvalidParameterValueException"


@pytest.mark.slow
@pytest.mark.timeout(900)
def test_vietnamese_notebooks_show_vietnamese_prose(executed: dict) -> None:
    # when
    first = nbformat.read(executed["00_setup"].output, as_version=4).cells[0]
    # then
    assert first.source.startswith("# 00 · Thiết lập")


def test_unknown_edition_is_refused() -> None:
    # when
    with pytest.raises(workshop.SetupError) as error:
        notebook_runs.edition_dir("xx")
    # then
    assert "no 'xx' edition" in str(error.value)
    assert notebook_runs.edition_dir("vi") == workshop.NOTEBOOKS_DIR / "vi"
