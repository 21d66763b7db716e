"""The workshop as a learner uses it: JupyterLab in a real (headless) Chromium.

Starts JupyterLab on a free loopback port over a scratch copy of the notebooks,
opens ``00_setup`` in Chromium (driven by Playwright with the system browser),
runs every cell from the Run menu, and checks that no cell shows an error and a
plot is rendered. A screenshot is saved under ``build/``. Skipped, with the
reason, where no Chromium is installed (CI installs Debian's ``chromium``).
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import time
import urllib.request
import uuid

import pytest

from tests.conftest import ROOT, _free_port

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
pytestmark = [
    pytest.mark.browser,
    pytest.mark.skipif(CHROMIUM is None, reason="no Chromium installed (apt-get install "
                                                "chromium); CI installs it"),
]
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic",
                 "--no-first-run", "--disable-background-networking",
                 "--disable-component-update", "--disable-sync"]
RUN_TIMEOUT_S = 300


@pytest.fixture
def lab(endpoint, tmp_path):
    """``make lab`` over a scratch copy of notebooks/ (the UI autosaves outputs)."""
    work = tmp_path / "notebooks"
    shutil.copytree(ROOT / "notebooks", work)
    port, token = _free_port(), uuid.uuid4().hex
    env = dict(os.environ)
    env.update(JUPYTER_RUNTIME_DIR=str(tmp_path / "runtime"),
               JUPYTER_CONFIG_DIR=str(tmp_path / "config"),
               JUPYTERLAB_WORKSPACES_DIR=str(tmp_path / "workspaces"))
    log = (tmp_path / "lab.log").open("wb")
    # What `make lab` runs, on the scratch copy and without opening a browser.
    proc = subprocess.Popen(
        [sys.executable, "-m", "helpers.workshop", "lab", "--port", str(endpoint["port"]),
         "--lab-port", str(port), "--notebooks-dir", str(work), "--", "--no-browser",
         f"--IdentityProvider.token={token}", "--LabApp.expose_app_in_browser=True"],
        cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT)
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 120
    while True:
        try:
            urllib.request.urlopen(f"{url}/api/status?token={token}", timeout=2).read()
            break
        except OSError:
            if time.monotonic() > deadline or proc.poll() is not None:
                proc.kill()
                pytest.fail("JupyterLab did not start: "
                            + (tmp_path / "lab.log").read_text()[-2000:])
            time.sleep(0.1)
    yield {"url": url, "token": token}
    proc.terminate()
    try:
        proc.wait(timeout=20)
    except subprocess.TimeoutExpired:
        proc.kill()
    log.close()


def test_setup_notebook_runs_in_jupyterlab_without_errors_and_draws_a_plot(lab):
    # given
    from playwright.sync_api import sync_playwright

    shots = ROOT / "build"
    shots.mkdir(exist_ok=True)
    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        page = browser.new_page(viewport={"width": 1400, "height": 1000})
        page.goto(f"{lab['url']}/?token={lab['token']}")  # where `make lab` sends the browser
        page.wait_for_function("window.jupyterapp && window.jupyterapp.shell.currentWidget"
                               " && window.jupyterapp.shell.currentWidget.sessionContext"
                               " && window.jupyterapp.shell.currentWidget.sessionContext"
                               ".session", timeout=120_000)
        opened = page.evaluate("window.jupyterapp.shell.currentWidget.context.path")
        page.wait_for_function("window.jupyterapp.shell.currentWidget.sessionContext"
                               ".kernelDisplayStatus === 'idle'", timeout=120_000)
        # when: Run > Run All Cells, as a learner would
        page.get_by_role("menuitem", name="Run", exact=True).click()
        page.get_by_role("menuitem", name="Run All Cells", exact=True).click()
        page.wait_for_function(
            """() => {
                const nb = window.jupyterapp.shell.currentWidget;
                const cells = [...nb.content.model.cells].filter(c => c.type === 'code');
                const failed = cells.some(c => c.outputs.toJSON().some(
                    o => o.output_type === 'error'));
                return nb.sessionContext.kernelDisplayStatus === 'idle'
                    && (failed || cells.every(c => c.executionCount !== null));
            }""", timeout=RUN_TIMEOUT_S * 1000, polling=200)
        errors = page.evaluate(
            """() => [...window.jupyterapp.shell.currentWidget.content.model.cells]
                 .flatMap(c => c.type === 'code' ? c.outputs.toJSON() : [])
                 .filter(o => o.output_type === 'error')
                 .map(o => o.ename + ': ' + o.evalue)""")
        images = page.locator(".jp-OutputArea-output img").count()
        page.screenshot(path=str(shots / "lab-00_setup.png"), full_page=False)
        browser.close()
    # then
    assert opened == "00_setup.ipynb"  # make lab opens the first notebook
    assert errors == []
    assert images >= 1
