"""The rendered course in a real browser: headless Chromium draws the plots and shows the widget snapshots.

Skipped when ``/usr/bin/chromium`` is absent (Debian package ``chromium``; not a project dependency). Each page is
shot twice, once as rendered and once with an empty ``plotly.min.js``: the pixels that differ are what plotly.js drew
from the local file, so a blank or unplotted figure fails without knowing the figure's colours or position.
"""
from __future__ import annotations

import re
import shutil
import subprocess
import tempfile
from pathlib import Path

import nbformat
import numpy as np
import pytest
from PIL import Image

from pavenet_lite.docs_site import PLOTLY_MIME, WIDGET_VIEW_MIME, render_site
from tests.test_docs_site import _tiny_notebook, course_site  # noqa: F401 (a fixture)

CHROMIUM = Path("/usr/bin/chromium")
NOTEBOOKS = Path(__file__).resolve().parents[1] / "notebooks"
EXPLORER = NOTEBOOKS / "02_pose_aware_attention.ipynb"
WINDOW = (1600, 1400)

pytestmark = pytest.mark.skipif(not CHROMIUM.exists(), reason="headless check needs /usr/bin/chromium")


def _chromium(*args: str) -> str:
    with tempfile.TemporaryDirectory() as profile:
        run = subprocess.run(
            [str(CHROMIUM), "--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
             "--disable-component-update", "--disable-sync", "--no-first-run", f"--user-data-dir={profile}", *args],
            capture_output=True, text=True, timeout=120)
    assert run.returncode == 0, run.stderr[-2000:]
    return run.stdout


def _screenshot(url: str, png: Path) -> np.ndarray:
    _chromium(f"--screenshot={png}", f"--window-size={WINDOW[0]},{WINDOW[1]}", url)
    return np.asarray(Image.open(png).convert("RGB")).astype(np.int16)  # [H, W, 3]


def _check_page(site: Path, page: str, anchor: str, shots: Path) -> dict[str, float]:
    """Screenshot the cell holding element ``anchor`` with and without plotly.js; assert plot and widget are there.

    Headless screenshots come out blank after scrolling to a #fragment, so a copy of the page hides the other cells.
    """
    html = (site / page).read_text()
    style = f"<style>.jp-Cell:not(:has([id=\"{anchor}\"])) {{ display: none; }}</style></head>"
    check = site / f"{Path(page).stem}_check.html"
    check.write_text(html.replace("</head>", style, 1))
    url = check.as_uri()
    dom = _chromium("--dump-dom", "--virtual-time-budget=5000", url)
    n_divs = len(re.findall(r'class="[^"]*plotly-graph-div', dom))
    n_plotted = len(re.findall(r'class="[^"]*js-plotly-plot', dom))
    assert n_divs > 0 and n_plotted == n_divs, (n_divs, n_plotted)
    assert f'id="{anchor}"' in dom
    if "-widget-" in anchor:
        assert "<select" in dom or 'type="range"' in dom, "no widget control in the snapshot"

    drawn = _screenshot(url, shots / f"{Path(page).stem}.png")
    (site / "plotly.min.js").rename(site / "plotly.min.js.bak")
    (site / "plotly.min.js").write_text("")
    try:
        bare = _screenshot(url, shots / f"{Path(page).stem}_without_plotly.png")
    finally:
        (site / "plotly.min.js.bak").replace(site / "plotly.min.js")
    inked = float((np.abs(drawn - 255).sum(-1) > 30).mean())  # share of pixels far from white
    plotted = float((np.abs(drawn - bare).sum(-1) > 30).mean())  # share of pixels plotly.js changed
    assert inked > 0.05, f"page looks blank: {inked:.3f} of the pixels are not white"
    assert plotted > 0.02, f"plotly drew almost nothing: {plotted:.4f} of the pixels changed"
    return {"inked": inked, "plotted": plotted}


def test_tiny_explorer_page_draws(tmp_path: Path) -> None:
    src = tmp_path / "notebooks"
    src.mkdir()
    nbformat.write(_tiny_notebook(), src / "02_tiny.ipynb")
    render_site(src, tmp_path / "site")
    _check_page(tmp_path / "site", "02_tiny.html", "02_tiny-widget-1", tmp_path)


def _explorer_page() -> tuple[Path, str] | None:
    """The attention explorer notebook, or until it exists the first notebook with a plotly figure; its anchor."""
    candidates = [EXPLORER] if EXPLORER.exists() else sorted(NOTEBOOKS.glob("*.ipynb"))
    for path in candidates:
        cells = nbformat.read(path, as_version=4).cells
        mimes = {mime for cell in cells for out in cell.get("outputs", []) for mime in out.get("data", {})}
        if WIDGET_VIEW_MIME in mimes:
            return path, f"{path.stem}-widget-1"
        if PLOTLY_MIME in mimes:
            return path, f"{path.stem}-plot-1"
    return None


@pytest.mark.skipif(_explorer_page() is None,
                    reason="the explorer notebook (before it exists: any notebook) has no widget or plotly output")
def test_attention_explorer_page_draws(tmp_path: Path) -> None:
    notebook, anchor = _explorer_page()
    src = tmp_path / "notebooks"
    src.mkdir()
    shutil.copy(notebook, src / notebook.name)
    render_site(src, tmp_path / "site")
    _check_page(tmp_path / "site", f"{notebook.stem}.html", anchor, tmp_path)


def test_every_course_page_renders_its_math(course_site: Path, tmp_path: Path) -> None:
    """Each page of the real course in Chromium: not blank, and no raw LaTeX in the text the browser shows."""
    for page in sorted(course_site.glob("*.html")):
        dom = _chromium("--dump-dom", "--virtual-time-budget=3000", page.as_uri())
        shown = re.sub(r"<(pre|code|script|style|textarea)\b.*?</\1>", "", dom, flags=re.S)
        assert "$$" not in shown, f"{page.name}: raw display math in the browser"
        assert not re.search(r"\$[^$<\n]*\\(frac|Delta|cdot|sum|tfrac)", shown), f"{page.name}: raw LaTeX"
        png = tmp_path / f"{page.stem}.png"
        shot = _screenshot(page.as_uri(), png)
        assert float((np.abs(shot - 255).sum(-1) > 30).mean()) > 0.01, f"{page.name}: blank screenshot"
