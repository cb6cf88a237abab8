"""JupyterLab in Debian's chromium: open 10.1, clear outputs, run all cells, see the heatmaps,
and move an explorer's slider from the keyboard: its chart (Lab's own Vega renderer) changes.

Starts its own private JupyterLab on a free loopback port (token-less: only this test's server runs
without a token; `make lab` keeps JupyterLab's token), in a temporary
copy of notebooks/ so the repository is not modified, and always stops it. Every wait is bounded.
The screenshot lands in build/e2e/jupyterlab-10.1.png.
"""

import json
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest
from explorer_controls import change_first_control
from playwright.sync_api import TimeoutError as PlaywrightTimeout

pytestmark = pytest.mark.e2e

ROOT = Path(__file__).resolve().parents[2]
NOTEBOOK = "10.1-attention-cues.ipynb"
SCREENSHOT = ROOT / "build" / "e2e" / "jupyterlab-10.1.png"
FAILURE = ROOT / "build" / "e2e" / "jupyterlab-10.1-failure.png"
SERVER_START_S = 60
PAGE_LOAD_S = 60
RUN_ALL_S = 120

# User settings for this server only: every cell attached to the DOM (so the checks see all
# outputs), start the notebook's kernel without asking, no news or update checks (offline).
LAB_SETTINGS = {
    "@jupyterlab/notebook-extension/tracker.jupyterlab-settings": {
        "windowingMode": "none", "autoStartDefaultKernel": True},
    "@jupyterlab/apputils-extension/notification.jupyterlab-settings": {
        "fetchNews": "false", "checkForUpdates": False},
}


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def get(url, timeout=5):
    opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))  # loopback, no proxy
    with opener.open(url, timeout=timeout) as r:
        return r.status, r.read()


@pytest.fixture
def lab(tmp_path):
    """A running JupyterLab on a copy of notebooks/; yields (base URL, notebook folder, log)."""
    nb_dir = tmp_path / "notebooks"
    shutil.copytree(ROOT / "notebooks", nb_dir,
                    ignore=shutil.ignore_patterns(".ipynb_checkpoints", "__pycache__"))
    settings = tmp_path / "lab-settings"
    for name, values in LAB_SETTINGS.items():
        (settings / name).parent.mkdir(parents=True, exist_ok=True)
        (settings / name).write_text(json.dumps(values))
    env = dict(os.environ, JUPYTERLAB_SETTINGS_DIR=str(settings),
               JUPYTERLAB_WORKSPACES_DIR=str(tmp_path / "lab-workspaces"),
               JUPYTER_RUNTIME_DIR=str(tmp_path / "runtime"))
    port = free_port()
    log = open(tmp_path / "jupyterlab.log", "w")
    proc = subprocess.Popen(
        [str(Path(sys.executable).parent / "jupyter"), "lab", f"--notebook-dir={nb_dir}",
         "--ServerApp.ip=127.0.0.1", f"--ServerApp.port={port}", "--IdentityProvider.token=",
         "--ServerApp.password=", "--no-browser", "--ServerApp.port_retries=0"]
        + (["--allow-root"] if os.geteuid() == 0 else []),  # CI containers run as root
        cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + SERVER_START_S
        while True:
            if proc.poll() is not None:
                pytest.fail(f"jupyter lab exited with {proc.returncode}:\n"
                            + (tmp_path / "jupyterlab.log").read_text()[-3000:])
            try:
                if get(f"{base}/api/status")[0] == 200:
                    break
            except OSError:
                pass
            if time.monotonic() > deadline:
                pytest.fail(f"jupyter lab did not answer within {SERVER_START_S} s")
            time.sleep(0.5)
        yield base, nb_dir, tmp_path / "jupyterlab.log"
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGTERM)  # the server and the kernels it started
            try:
                proc.wait(timeout=15)
            except subprocess.TimeoutExpired:
                os.killpg(proc.pid, signal.SIGKILL)
                proc.wait(timeout=15)
        log.close()


def kernel_idle_and_queue_empty(page):
    """True once the kernel is idle and no code cell waits to run (`[*]`)."""
    return page.evaluate("""() => {
        const status = document.querySelector('.jp-Notebook-ExecutionIndicator');
        if (!status || status.getAttribute('data-status') !== 'idle') return false;
        const prompts = [...document.querySelectorAll('.jp-CodeCell .jp-InputPrompt')];
        return prompts.every(p => !p.textContent.includes('*'));
    }""")


def accept_kernel_dialog(page):
    """Answer JupyterLab's "Select Kernel" dialog with its default (the notebook's Python 3).

    Lab shows it when the notebook's kernelspec was not resolved yet as the notebook opened
    (kernelspecs load slowly on a busy machine); a user would click Select.
    """
    dialog = page.locator(".jp-Dialog", has_text="Select Kernel")
    if dialog.count() and dialog.first.is_visible():
        dialog.first.locator("button.jp-mod-accept").click()
        print("answered the Select Kernel dialog")


def wait_for_kernel(page, base, timeout_s):
    """Until the server runs an idle kernel for the notebook and the page shows it idle."""
    deadline = time.monotonic() + timeout_s
    while True:
        accept_kernel_dialog(page)
        sessions = json.loads(get(f"{base}/api/sessions")[1])
        server_idle = any(s["path"].endswith(NOTEBOOK) and s.get("kernel")
                          and s["kernel"].get("execution_state") == "idle" for s in sessions)
        page_idle = page.locator(
            '.jp-Notebook-ExecutionIndicator[data-status="idle"]').count() > 0
        if server_idle and page_idle:
            return
        if time.monotonic() > deadline:
            pytest.fail(f"no idle kernel for {NOTEBOOK} after {timeout_s} s: {sessions}")
        time.sleep(0.5)


def menu_until(page, menu, item, condition, wait_s=15, tries=3):
    """Choose menu > item until the JS `condition` holds; a click can be lost while Lab is busy."""
    for attempt in range(1, tries + 1):
        accept_kernel_dialog(page)
        page.locator(".lm-MenuBar-itemLabel", has_text=menu).first.click()
        page.locator(".lm-Menu-itemLabel", has_text=item).first.click()
        try:
            page.wait_for_function(condition, timeout=wait_s * 1000)
            return
        except PlaywrightTimeout:
            if page.locator(".lm-Menu").count():
                page.keyboard.press("Escape")  # close a menu left open
            print(f"{menu} > {item}: no effect after {wait_s} s (attempt {attempt})")
    pytest.fail(f"{menu} > {item} had no effect after {tries} attempts")


def run_notebook(page, base, nb_dir):
    page.goto(f"{base}/lab/tree/{NOTEBOOK}", timeout=PAGE_LOAD_S * 1000)
    page.wait_for_selector(".jp-NotebookPanel .jp-CodeCell", timeout=PAGE_LOAD_S * 1000)
    wait_for_kernel(page, base, PAGE_LOAD_S)

    # Start from no outputs, so every image and error seen below comes from this run.
    page.locator(".jp-NotebookPanel .jp-Notebook").first.click()
    menu_until(page, "Edit", "Clear Outputs of All Cells", """() =>
        document.querySelectorAll('.jp-OutputArea-output').length === 0 &&
        [...document.querySelectorAll('.jp-CodeCell .jp-InputPrompt')]
            .every(p => !/\\[(\\*|\\d+)\\]/.test(p.textContent))""")

    # Started once any cell is queued or done (the prompts were all `[ ]` after clearing).
    menu_until(page, "Run", "Run All Cells", """() =>
        [...document.querySelectorAll('.jp-CodeCell .jp-InputPrompt')]
            .some(p => /\\[(\\*|\\d+)\\]/.test(p.textContent))""")
    deadline = time.monotonic() + RUN_ALL_S
    while not kernel_idle_and_queue_empty(page):
        if time.monotonic() > deadline:
            prompts = page.locator(".jp-CodeCell .jp-InputPrompt").all_inner_texts()
            pytest.fail(f"kernel not idle after {RUN_ALL_S} s; prompts: {prompts}")
        time.sleep(0.5)

    errors = page.eval_on_selector_all(
        '.jp-OutputArea-output[data-mime-type="application/vnd.jupyter.stderr"]',
        "els => els.map(e => e.innerText).filter(t => /Traceback|Error:/.test(t))")
    assert errors == [], "cells raised:\n" + "\n---\n".join(errors)
    # JupyterLab shows the check and solution cells collapsed: their input, prompt included, is
    # hidden (one click opens it). Every other code cell shows the count of its run.
    prompts = page.locator(".jp-CodeCell .jp-InputPrompt").all_inner_texts()
    cells = json.loads((nb_dir / NOTEBOOK).read_text(encoding="utf-8"))["cells"]
    collapsed = [c for c in cells if c["cell_type"] == "code"
                 and c["metadata"].get("jupyter", {}).get("source_hidden")]
    assert collapsed and prompts.count("") == len(collapsed), f"collapsed cells shown: {prompts}"
    unrun = [i for i, t in enumerate(prompts) if t and not re.search(r"\[\d+\]", t)]
    assert prompts and not unrun, f"code cells {unrun} did not run: {prompts}"

    images = page.locator(".jp-OutputArea-output img")
    assert images.count() >= 2, "no heatmap image rendered"  # 10.1 draws heatmaps
    first = images.first
    first.scroll_into_view_if_needed()
    size = first.evaluate("img => [img.complete, img.naturalWidth, img.naturalHeight]")
    assert size[0] and size[1] > 50 and size[2] > 50, f"heatmap not decoded: {size}"

    # The explorers of this run: Lab draws them itself (no extension); a control moves the chart.
    explorers = page.locator(".jp-OutputArea-output.jp-RenderedVegaLite")
    assert explorers.count() >= 1, "no explorer drawn"
    explorers.first.scroll_into_view_if_needed()
    print("explorer:", change_first_control(page, explorers.first))

    SCREENSHOT.parent.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(SCREENSHOT))

    # Cross-check on the server side: save, then read the notebook file back.
    saved = nb_dir / NOTEBOOK
    before = saved.stat().st_mtime_ns
    page.keyboard.press("Control+s")
    deadline = time.monotonic() + 30
    while saved.stat().st_mtime_ns == before:
        assert time.monotonic() < deadline, "notebook was not saved within 30 s"
        time.sleep(0.2)
    time.sleep(0.5)
    nb = json.loads(saved.read_text(encoding="utf-8"))
    counts = [c["execution_count"] for c in nb["cells"] if c["cell_type"] == "code"]
    assert all(isinstance(n, int) for n in counts), f"a code cell did not run: {counts}"
    outputs = [o for c in nb["cells"] for o in c.get("outputs", [])]
    assert not [o for o in outputs if o["output_type"] == "error"]
    assert any("image/png" in o.get("data", {}) or "image/svg+xml" in o.get("data", {})
               for o in outputs)


def test_run_all_cells_of_10_1(lab, browser):
    base, nb_dir, log_path = lab
    page = browser.new_page(viewport={"width": 1400, "height": 1000})
    page.set_default_timeout(30_000)
    try:
        run_notebook(page, base, nb_dir)
    except BaseException:
        # Leave evidence: what the browser showed and what the server said.
        FAILURE.parent.mkdir(parents=True, exist_ok=True)
        page.screenshot(path=str(FAILURE))
        print(f"screenshot of the failure: {FAILURE}")
        print("jupyter lab log (tail):\n" + log_path.read_text()[-4000:])
        raise
    finally:
        page.close()
