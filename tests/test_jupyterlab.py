"""Notebook 02's attention explorer as a student meets it: JupyterLab in headless Chromium, at laptop size.

JupyterLab serves a copy of the notebook on 127.0.0.1 (a free port, a random token); Playwright drives the system
Chromium (``/usr/bin/chromium``, Debian package ``chromium``; Playwright never downloads a browser here). The test
opens the notebook with the file browser shown, checks it opens unmodified, runs all cells, then changes every
control of the explorer and clicks on the centre frame, and checks that the figure is redrawn, that the controls
show their values (the click's position in frame pixels included), that the figure fits the window, and that no
widget or console error appeared. Skipped only when Chromium is absent.
"""
from __future__ import annotations

import json
import os
import platform
import secrets
import shutil
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest

CHROMIUM = Path("/usr/bin/chromium")
REPO = Path(__file__).resolve().parents[1]
NOTEBOOK = "02_pose_aware_attention.ipynb"
VIEWPORT = {"width": 1366, "height": 768}

pytestmark = pytest.mark.skipif(not CHROMIUM.exists(), reason="the browser check needs /usr/bin/chromium")


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="module")
def lab(tmp_path_factory: pytest.TempPathFactory):
    """A JupyterLab server on a copy of notebook 02 (the repository's data folder linked beside it); its URL."""
    root = tmp_path_factory.mktemp("lab")
    (root / "notebooks").mkdir()
    shutil.copy(REPO / "notebooks" / NOTEBOOK, root / "notebooks" / NOTEBOOK)
    (root / "data").symlink_to(REPO / "data")
    port, token = _free_port(), secrets.token_hex(16)
    env = {**os.environ, "PAVENET_FAST": "1", "OMP_NUM_THREADS": "1",
           "PYTHONPATH": os.pathsep.join(filter(None, [str(REPO), os.environ.get("PYTHONPATH")])),
           "JUPYTER_CONFIG_DIR": str(root / "config"), "JUPYTERLAB_SETTINGS_DIR": str(root / "settings"),
           "JUPYTERLAB_WORKSPACES_DIR": str(root / "workspaces"), "JUPYTER_RUNTIME_DIR": str(root / "runtime")}
    log = (root / "server.log").open("w")   # a file, not a pipe: a full pipe would block the server
    server = subprocess.Popen(
        [sys.executable, "-m", "jupyterlab", "--no-browser", "--ServerApp.ip=127.0.0.1", f"--ServerApp.port={port}",
         f"--IdentityProvider.token={token}", f"--ServerApp.root_dir={root / 'notebooks'}",
         "--LabApp.expose_app_in_browser=True", "--ServerApp.port_retries=0", "--allow-root"],
        env=env, stdout=log, stderr=subprocess.STDOUT)
    base = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 120
    while True:
        try:
            urllib.request.urlopen(f"{base}/api/status?token={token}", timeout=2)
            break
        except OSError:
            if server.poll() is not None or time.monotonic() > deadline:
                server.kill()
                pytest.fail(f"JupyterLab did not start: {(root / 'server.log').read_text()[-2000:]}")
            time.sleep(0.5)
    yield f"{base}/lab/tree/{NOTEBOOK}?token={token}"
    server.terminate()
    try:
        server.wait(timeout=20)
    except subprocess.TimeoutExpired:
        server.kill()
    log.close()


def _explorer(page):
    """The explorer: the widget box that holds the 'nearest person' button and the dropdowns."""
    return (page.locator(".widget-vbox", has=page.locator("button", has_text="nearest person"))
            .filter(has=page.locator(".widget-dropdown")).last)


def _title(page) -> str:
    return _explorer(page).locator(".js-plotly-plot .gtitle").first.text_content(timeout=60_000)


def _mark(page) -> str:
    """Tag the explorer's current plot element, so that a redraw (a new element) can be told apart; its title."""
    _explorer(page).locator(".js-plotly-plot").first.evaluate("e => { e.dataset.seen = '1'; }")
    return _title(page)


def _wait_redrawn(page, before: str, title_changes: bool = True) -> str:
    """Wait until the Output widget shows a new plot element (and, by default, a new title); its title."""
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        fresh = _explorer(page).locator(".js-plotly-plot:not([data-seen])")
        if fresh.count() and (not title_changes or _title(page) != before):
            return _mark(page)
        page.wait_for_timeout(250)
    raise AssertionError(f"the figure was not redrawn (title still {before!r})")


def test_notebook_opens_unmodified(lab: str) -> None:
    sync_api = pytest.importorskip("playwright.sync_api", reason="Playwright is part of the dev extra")
    # JupyterLab writes the kernel's Python version into the notebook on opening: with another Python than the one
    # the notebook was saved with, "changed" is expected (and harmless).
    saved = json.loads((REPO / "notebooks" / NOTEBOOK).read_text())["metadata"]["language_info"].get("version")
    if saved != platform.python_version():
        pytest.skip(f"the notebook was saved with Python {saved}, this is {platform.python_version()}")
    with sync_api.sync_playwright() as p:
        browser = p.chromium.launch(executable_path=str(CHROMIUM), headless=True, args=["--no-sandbox"])
        page = browser.new_page(viewport=VIEWPORT)
        page.goto(lab)
        page.wait_for_function("() => window.jupyterapp && window.jupyterapp.shell.currentWidget"
                               " && window.jupyterapp.shell.currentWidget.sessionContext"
                               " && window.jupyterapp.shell.currentWidget.sessionContext.isReady", timeout=120_000)
        page.wait_for_timeout(2000)
        dirty = page.evaluate("() => window.jupyterapp.shell.currentWidget.context.model.dirty")
        browser.close()
    assert not dirty, "the notebook opens marked as changed (metadata JupyterLab rewrites on opening)"


def test_explorer_in_jupyterlab(lab: str, tmp_path: Path) -> None:
    sync_api = pytest.importorskip("playwright.sync_api", reason="Playwright is part of the dev extra")
    errors: list[str] = []
    with sync_api.sync_playwright() as p:
        browser = p.chromium.launch(executable_path=str(CHROMIUM), headless=True, args=["--no-sandbox"])
        page = browser.new_page(viewport=VIEWPORT)
        page.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
        page.on("pageerror", lambda e: errors.append(str(e)))
        page.goto(lab)
        page.wait_for_selector(".jp-Notebook .jp-Cell", timeout=120_000)
        page.wait_for_function("() => window.jupyterapp && window.jupyterapp.shell.currentWidget"
                               " && window.jupyterapp.shell.currentWidget.sessionContext"
                               " && window.jupyterapp.shell.currentWidget.sessionContext.isReady", timeout=120_000)
        page.evaluate("() => window.jupyterapp.commands.execute('filebrowser:activate')")   # file browser open
        page.wait_for_timeout(2000)

        page.evaluate("() => window.jupyterapp.commands.execute('notebook:run-all-cells')")
        page.wait_for_function(
            "() => { const w = window.jupyterapp.shell.currentWidget;"
            " return w.sessionContext.session.kernel.status === 'idle'"
            " && ![...document.querySelectorAll('.jp-InputPrompt')].some(e => e.textContent.includes('*')); }",
            timeout=900_000, polling=1000)
        page.screenshot(path=str(tmp_path / "after_run_all.png"))
        during_run_all = list(errors)
        assert not page.locator("text=Error displaying widget").count()
        explorer = _explorer(page)
        explorer.scroll_into_view_if_needed()
        selects = {name: explorer.locator(".widget-dropdown", has_text=name).locator("select").first
                   for name in ("clip", "query", "head", "keypoint")}
        for name, select in selects.items():   # every dropdown shows a value after Run All
            assert select.evaluate("s => s.selectedIndex") >= 0, f"the {name} dropdown is blank"
        assert selects["head"].evaluate("s => s.options[s.selectedIndex].text") == "all"

        # The figure fits the notebook column at laptop width with the file browser open.
        plot = explorer.locator(".js-plotly-plot").first.bounding_box()
        cell = page.locator(".jp-Cell", has=explorer).first.bounding_box()
        assert plot["x"] + plot["width"] <= cell["x"] + cell["width"] + 1, (plot, cell)
        assert plot["x"] + plot["width"] <= VIEWPORT["width"]

        # Every control redraws the figure.
        title = _mark(page)
        selects["head"].select_option(label="head 1")
        title = _wait_redrawn(page, title)
        assert "head 1" in title
        selects["keypoint"].select_option(label="head_top")
        title = _wait_redrawn(page, title)
        assert "head_top" in title
        selects["query"].select_option(index=2)
        title = _wait_redrawn(page, title)
        slider = explorer.locator(".widget-slider", has_text="layer").locator(".noUi-handle").first
        slider.focus()
        page.keyboard.press("Home")
        title = _wait_redrawn(page, title)
        assert "pose layer 0" in title
        selects["clip"].select_option(index=1)
        title = _wait_redrawn(page, title)
        xs = explorer.locator(".widget-text", has_text="x (px)").locator("input").first
        ys = explorer.locator(".widget-text", has_text="y (px)").locator("input").first
        xs.fill("10")
        ys.fill("10")
        ys.press("Enter")
        explorer.locator("button", has_text="nearest person").click()
        title = _wait_redrawn(page, title, title_changes=False)   # the nearest person may be the one shown

        # A click on the centre frame picks the person there: the point fields show where, in frame pixels.
        picker = explorer.locator(".widget-image").first
        picker.scroll_into_view_if_needed()
        natural = picker.evaluate("e => [e.naturalWidth, e.naturalHeight]")
        box = picker.bounding_box()
        picker.click(position={"x": box["width"] * 0.25, "y": box["height"] * 0.5})
        deadline = time.monotonic() + 60
        while float(xs.input_value()) == 10.0 and time.monotonic() < deadline:
            page.wait_for_timeout(250)
        assert float(xs.input_value()) == pytest.approx(natural[0] * 0.25, abs=2)
        assert float(ys.input_value()) == pytest.approx(natural[1] * 0.5, abs=2)
        # The figure shows the query the click selected (the same figure is not re-sent if it was already shown).
        chosen = selects["query"].evaluate("s => s.options[s.selectedIndex].text").split()[0]
        while f"query {chosen}:" not in _title(page) and time.monotonic() < deadline:
            page.wait_for_timeout(250)
        assert f"query {chosen}:" in _title(page)
        page.screenshot(path=str(tmp_path / "after_controls.png"))
        browser.close()
    # Known, harmless, upstream: during Run All the notebook's own cells redraw the explorer several times in quick
    # succession, and JupyterLab's plotly renderer chains Plots.resize after a redraw of a plot that the Output widget
    # has just replaced; the detached old plot rejects the resize. Nothing else may appear, and a student using the
    # controls afterwards must see no console error at all.
    others = [e for e in during_run_all if "Resize must be passed a displayed plot div element" not in e]
    assert not others, f"browser console errors during Run All: {others[:5]}"
    assert errors == during_run_all, f"browser console errors from the controls: {errors[len(during_run_all):][:5]}"
