"""The rendered course: offline HTML from stored outputs (plotly from a local file, widget snapshots, no CDN)."""
from __future__ import annotations

import base64
import json
import re
import shutil
import sys
from html.parser import HTMLParser
from pathlib import Path

import nbformat
import plotly
import pytest

from pavenet_lite.docs_site import DocsSiteError, render_site

PLOTLY_MIME = "application/vnd.plotly.v1+json"
VIEW_MIME = "application/vnd.jupyter.widget-view+json"
NOTEBOOKS = Path(__file__).resolve().parents[1] / "notebooks"
STATE_MIME = "application/vnd.jupyter.widget-state+json"
# A 1x1 GIF, enough to check that GIF outputs (the lab template has no GIF block) become an <img>.
GIF_1PX = base64.b64encode(b"GIF89a\x01\x00\x01\x00\x80\x00\x00\x00\x00\x00\xff\xff\xff!\xf9\x04\x01\x00\x00\x00\x00"
                           b",\x00\x00\x00\x00\x01\x00\x01\x00\x00\x02\x02D\x01\x00;").decode()


def _model(name: str, state: dict) -> dict:
    return {"model_name": name, "model_module": "@jupyter-widgets/controls", "model_module_version": "2.0.0",
            "state": state}


def _tiny_notebook() -> nbformat.NotebookNode:
    """A notebook as nbclient saves it: a plotly output, a VBox(HBox(slider, dropdown), Output(plotly)) widget."""
    line = {"data": [{"type": "scatter", "x": [0, 1, 2], "y": [2.5, 0.25, 1.75]}], "layout": {"height": 300}}
    bars = {"data": [{"type": "bar", "y": [1.5, 3.5, 2.5]}], "layout": {}}
    state = {
        "slider": _model("IntSliderModel", {"description": "layer", "min": 0, "max": 9, "step": 1, "value": 3}),
        "drop": _model("DropdownModel", {"description": "head", "_options_labels": ["head 0", "head 1"], "index": 1}),
        "out": {"model_name": "OutputModel", "model_module": "@jupyter-widgets/output", "model_module_version": "1.0.0",
                "state": {"outputs": [{"output_type": "display_data", "metadata": {}, "data": {PLOTLY_MIME: bars}}]}},
        "row": _model("HBoxModel", {"children": ["IPY_MODEL_slider", "IPY_MODEL_drop"]}),
        "root": _model("VBoxModel", {"children": ["IPY_MODEL_row", "IPY_MODEL_out"]}),
    }
    nb = nbformat.v4.new_notebook()
    nb.metadata["widgets"] = {STATE_MIME: {"version_major": 2, "version_minor": 0, "state": state}}
    view = {"version_major": 2, "version_minor": 0, "model_id": "root"}
    nb.cells = [
        nbformat.v4.new_markdown_cell(
            "# Tiny explorer\n\nSee [the map](index.ipynb) and [elsewhere](../x/other.ipynb).\n\n"
            "$$p = r + \\Delta \\cdot \\tfrac12 w$$\n\nwith $x_{f,k}$, not `$code$`, and prices $5 and $6."),
        nbformat.v4.new_code_cell("fig.show()", outputs=[
            nbformat.v4.new_output("display_data", data={PLOTLY_MIME: line})]),
        nbformat.v4.new_code_cell("explorer", outputs=[
            nbformat.v4.new_output("execute_result", data={VIEW_MIME: view, "text/plain": "VBox(...)"},
                                   execution_count=2)]),
        # The stored output must be shown as is: rendering never re-executes (this source would raise).
        nbformat.v4.new_code_cell("1 / 0", outputs=[
            nbformat.v4.new_output("execute_result", data={"text/plain": "stored-answer-42"}, execution_count=3)]),
        nbformat.v4.new_code_cell("gif", outputs=[
            nbformat.v4.new_output("display_data", data={"image/gif": GIF_1PX, "text/plain": "<Image>"})]),
    ]
    return nb


class _Scripts(HTMLParser):
    """Collects every <script> tag's attributes and inline text, and every element id."""

    def __init__(self) -> None:
        super().__init__()
        self.scripts: list[tuple[dict, str]] = []
        self.ids: set[str] = set()
        self._in_script = False

    def handle_starttag(self, tag: str, attrs: list) -> None:
        attrs = dict(attrs)
        if "id" in attrs:
            self.ids.add(attrs["id"])
        if tag == "script":
            self.scripts.append((attrs, ""))
            self._in_script = True

    def handle_endtag(self, tag: str) -> None:
        if tag == "script":
            self._in_script = False

    def handle_data(self, data: str) -> None:
        if self._in_script:
            attrs, text = self.scripts[-1]
            self.scripts[-1] = (attrs, text + data)


@pytest.fixture(scope="module")
def site(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, list[Path], Path]:
    src = tmp_path_factory.mktemp("notebooks")
    nbformat.write(_tiny_notebook(), src / "02_tiny.ipynb")
    course_map = nbformat.v4.new_notebook()
    course_map.cells = [nbformat.v4.new_markdown_cell("# Course map\n\nStart with [the tiny one](02_tiny.ipynb).")]
    nbformat.write(course_map, src / "index.ipynb")
    out = tmp_path_factory.mktemp("site")
    return out, render_site(src, out), src


def test_pages_index_and_local_plotly(site: tuple[Path, list[Path], Path]) -> None:
    out, pages, _ = site
    assert [p.name for p in pages] == ["course_map.html", "02_tiny.html", "index.html"]
    index = (out / "index.html").read_text()
    # Course map first, then the notebooks, titled by their first heading.
    assert index.index('href="course_map.html"') < index.index('href="02_tiny.html"')
    assert ">Course map<" in index and ">Tiny explorer<" in index
    shipped = Path(plotly.__file__).parent / "package_data" / "plotly.min.js"
    assert (out / "plotly.min.js").read_bytes() == shipped.read_bytes()


@pytest.mark.parametrize("page", ["02_tiny.html", "course_map.html", "index.html"])
def test_no_script_from_the_network(site: tuple[Path, list[Path], Path], page: str) -> None:
    parser = _Scripts()
    parser.feed((site[0] / page).read_text())
    for attrs, text in parser.scripts:
        assert "://" not in attrs.get("src", ""), attrs
        assert not re.search(r"https?://", text), text[:200]
    if page == "02_tiny.html":
        assert [a.get("src") for a, _ in parser.scripts if "src" in a] == ["plotly.min.js"]


def test_plotly_figures_drawn_from_stored_json(site: tuple[Path, list[Path], Path]) -> None:
    parser = _Scripts()
    parser.feed((site[0] / "02_tiny.html").read_text())
    calls = [text for _, text in parser.scripts if "Plotly.newPlot(" in text]
    assert len(calls) == 2  # the cell output and the figure inside the Output widget
    for text in calls:
        div_id = re.search(r'Plotly\.newPlot\(\s*"([^"]+)"', text).group(1)
        assert div_id in parser.ids
    # The y values of the stored traces reach the page unchanged.
    assert "[2.5,0.25,1.75]" in calls[0].replace(" ", "")
    assert "[1.5,3.5,2.5]" in calls[1].replace(" ", "")


def test_widget_snapshot_shows_saved_values(site: tuple[Path, list[Path], Path]) -> None:
    page = (site[0] / "02_tiny.html").read_text()
    assert 'id="02_tiny-widget-1"' in page and "Open the notebook in Jupyter" in page
    slider = re.search(r"<label>layer</label><input ([^>]*)><span>([^<]*)</span>", page)
    assert slider is not None and 'value="3"' in slider.group(1) and "disabled" in slider.group(1)
    assert 'max="9"' in slider.group(1) and slider.group(2) == "3"
    assert re.search(r'<option>head 0</option><option selected(="")?>head 1</option>', page)
    assert "VBox(...)" not in page  # the widget's text/plain fallback is replaced by the snapshot
    # The saved state itself is embedded too, as inert JSON.
    embedded = re.search(rf'<script type="{re.escape(STATE_MIME)}">(.*?)</script>', page, re.S)
    assert json.loads(embedded.group(1))["state"]["slider"]["state"]["value"] == 3


def test_stored_outputs_links_and_gif(site: tuple[Path, list[Path], Path]) -> None:
    page = (site[0] / "02_tiny.html").read_text()
    assert "stored-answer-42" in page and "ZeroDivisionError" not in page
    assert 'href="course_map.html"' in page  # sibling notebook links point to their pages
    # A link out of the notebooks folder points at the same file from the site's folder.
    src = next(Path(a) for a in re.findall(r'href="([^"]*other\.ipynb)"', page))
    assert (site[0] / src).resolve() == (site[2] / ".." / "x" / "other.ipynb").resolve()
    assert f'src="data:image/gif;base64,{GIF_1PX}"' in page
    assert 'href="02_tiny.html"' in (site[0] / "course_map.html").read_text()


def test_math_becomes_mathml_without_touching_code_or_prices(site: tuple[Path, list[Path], Path]) -> None:
    page = (site[0] / "02_tiny.html").read_text()
    assert page.count('<math display="block"') == 1 and page.count('<math display="inline"') == 1
    assert "$$" not in page and "\\Delta" not in page and "<mi>Δ</mi>" in page
    assert "<code>$code$</code>" in page and "prices $5 and $6" in page


def test_errors_name_the_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    with pytest.raises(DocsSiteError, match=re.escape(str(tmp_path))):
        render_site(tmp_path, tmp_path / "site")
    bad = tmp_path / "01_bad.ipynb"
    bad.write_text("{not json")
    with pytest.raises(DocsSiteError, match="01_bad.ipynb"):
        render_site(tmp_path, tmp_path / "site")
    monkeypatch.setitem(sys.modules, "nbconvert", None)
    with pytest.raises(DocsSiteError, match=r"\[dev\]"):
        render_site(tmp_path, tmp_path / "site")


def test_progress_names_each_notebook(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    for stem in ("01_a", "00_b"):
        nbformat.write(nbformat.v4.new_notebook(cells=[nbformat.v4.new_markdown_cell(f"# {stem}")]),
                       tmp_path / f"{stem}.ipynb")
    render_site(tmp_path, tmp_path / "site", progress=True)
    lines = capsys.readouterr().out.splitlines()
    assert lines[0].startswith("[1/2] 00_b.ipynb") and lines[1].startswith("[2/2] 01_a.ipynb")
    assert lines[2].endswith("index.html") and len(lines) == 3
    render_site(tmp_path, tmp_path / "site")
    assert capsys.readouterr().out == ""


@pytest.fixture(scope="module")
def course_site(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The real course, rendered as `pavenet docs` does (into a folder beside the notebooks, like docs/site)."""
    root = tmp_path_factory.mktemp("repo")
    shutil.copytree(NOTEBOOKS, root / "notebooks")
    shutil.copytree(NOTEBOOKS.parent / "docs", root / "docs", ignore=shutil.ignore_patterns("site"))
    render_site(root / "notebooks", root / "docs" / "site")
    return root / "docs" / "site"


class _Links(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.targets: list[str] = []

    def handle_starttag(self, tag: str, attrs: list) -> None:
        attrs = dict(attrs)
        if tag == "a" and attrs.get("href"):
            self.targets.append(attrs["href"])


def test_course_site_has_no_broken_links_and_no_raw_latex(course_site: Path) -> None:
    pages = sorted(course_site.glob("*.html"))
    assert len(pages) == len(list(NOTEBOOKS.glob("*.ipynb"))) + 1
    for page in pages:
        text = page.read_text()
        parser = _Links()
        parser.feed(text)
        for href in parser.targets:
            if re.match(r"^(#|[a-z]+:)", href):   # anchors, http(s), mailto, data
                continue
            target = (page.parent / href.split("#")[0]).resolve()
            assert target.exists(), f"{page.name}: broken link {href!r}"
        prose = re.sub(r"<(pre|code|script|style)\b.*?</\1>", "", text, flags=re.S)
        assert "$$" not in prose, f"{page.name}: raw display math"
    assert "<math" in (course_site / "02_pose_aware_attention.html").read_text()
