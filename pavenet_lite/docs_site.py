"""The rendered course: every notebook with its stored outputs as static HTML that works offline.

`render_site` converts ``notebooks/*.ipynb`` with nbconvert's ``lab`` template WITHOUT re-executing them, so the
pages show exactly the outputs that CI checked with nbval. Nothing is fetched from the network when a page opens:

* plotly figures (stored as ``application/vnd.plotly.v1+json`` by the ``plotly_mimetype`` renderer) become a
  ``<div>`` plus a ``Plotly.newPlot`` call, served by a ``plotly.min.js`` copied from the installed plotly package;
* ipywidgets outputs become a static snapshot drawn from the widget state the notebook saved (sliders, dropdowns,
  boxes, labels, images and the stored contents of ``Output`` widgets, which is where the explorers draw their
  figures). The controls are disabled: moving them needs a kernel, so the page says "open in Jupyter to interact";
* LaTeX in markdown (``$...$``, ``$$...$$``) is converted to MathML with ``latex2mathml`` when the page is built,
  which browsers draw natively; require.js, MathJax, mermaid and the widget HTML manager, which nbconvert would load
  from CDNs, are left out;
* relative links out of the notebooks folder (``../docs/benchmarks.md``) are rewritten to point at the same file from
  the site's folder.
"""
from __future__ import annotations

import html
import json
import os
import re
import shutil
from pathlib import Path
from typing import Any

PLOTLY_MIME = "application/vnd.plotly.v1+json"
WIDGET_VIEW_MIME = "application/vnd.jupyter.widget-view+json"
WIDGET_STATE_MIME = "application/vnd.jupyter.widget-state+json"
PLOTLY_JS = "plotly.min.js"

_PAGE_TEMPLATE = """{%- extends 'index.html.j2' -%}
{%- block html_head_js_requirejs -%}<script src="plotly.min.js"></script>{%- endblock html_head_js_requirejs -%}
{%- block jupyter_widgets -%}<style type="text/css">STATIC_WIDGET_CSS</style>{%- endblock jupyter_widgets -%}
{%- block html_head_js_mathjax -%}{%- endblock html_head_js_mathjax -%}
{%- block html_head_js_mermaidjs -%}{%- endblock html_head_js_mermaidjs -%}
"""

_WIDGET_CSS = """
.pv-widget { border: 1px solid #d0d7de; border-radius: 4px; padding: 6px; margin: 4px 0; }
.pv-widget-note { font-size: 11px; color: #57606a; margin-bottom: 4px; }
.pv-hbox { display: flex; flex-direction: row; flex-wrap: wrap; gap: 8px; align-items: flex-start; }
.pv-vbox { display: flex; flex-direction: column; gap: 4px; }
.pv-control { display: flex; align-items: center; gap: 6px; font-size: 13px; }
.pv-control label { min-width: 80px; }
"""

_NOTEBOOK_LINK = re.compile(r"(\]\(|href=[\"'])(\./)?([\w.-]+)\.ipynb")
_RELATIVE_LINK = re.compile(r"\]\((\.\./[^)\s#]+)(#[^)\s]*)?\)")
# Display math first, then inline math; neither inside code spans or fenced code (those are split off first).
_DISPLAY_MATH = re.compile(r"\$\$(.+?)\$\$", re.S)
_INLINE_MATH = re.compile(r"(?<![\\$])\$(?!\s)((?:[^$\n]|\n(?!\n))+?)(?<!\s)\$(?!\d)")   # may wrap a line
_CODE = re.compile(r"(```.*?```|`[^`\n]*`)", re.S)


class DocsSiteError(ValueError):
    """A notebook folder, notebook file or missing tool that prevents rendering the course site."""


def _require_nbconvert() -> None:
    try:
        import latex2mathml  # noqa: F401
        import nbconvert  # noqa: F401
        import nbformat  # noqa: F401
    except ImportError as err:
        raise DocsSiteError(
            f"rendering the course needs nbconvert, nbformat and latex2mathml ({err}); install the dev extra: "
            "pip install -e '.[dev]'") from err


def _plotly_js_source() -> Path:
    import plotly
    path = Path(plotly.__file__).parent / "package_data" / PLOTLY_JS
    if not path.is_file():
        raise DocsSiteError(f"{path}: plotly.min.js not found in the installed plotly package "
                            f"(plotly {plotly.__version__}); expected plotly >= 5 with its package_data")
    return path


def plotly_div(figure: dict[str, Any], div_id: str) -> str:
    """HTML for one stored plotly figure: a sized div and a ``Plotly.newPlot`` call (plotly.js loaded by the page)."""
    import plotly.io as pio
    height = figure.get("layout", {}).get("height")
    return pio.to_html(figure, include_plotlyjs=False, full_html=False, validate=False, div_id=div_id,
                       default_height=f"{height}px" if height else "480px", default_width="100%")


class _WidgetSnapshot:
    """Static HTML for a widget tree, read from a notebook's saved widget state (models keyed by id)."""

    def __init__(self, state: dict[str, Any], page_id: str) -> None:
        self.models = state.get("state", {})
        self.page_id = page_id
        self.n_plots = 0
        self.n_widgets = 0

    def render(self, model_id: str) -> str:
        """The widget ``model_id`` and its children in a frame with an anchor ``<page_id>-widget-<n>``."""
        inner = self._model(model_id, depth=0)
        self.n_widgets += 1
        anchor = f"{self.page_id}-widget-{self.n_widgets}"
        return (f'<div class="pv-widget" id="{anchor}"><div class="pv-widget-note">Interactive widget: static '
                'snapshot of its saved state. Open the notebook in Jupyter to interact.</div>' + inner + "</div>")

    def _model(self, model_id: str, depth: int) -> str:
        model = self.models.get(model_id)
        if model is None or depth > 32:
            return '<div class="pv-control"><em>(widget not saved with the notebook)</em></div>'
        name = model.get("model_name", "")
        state = model.get("state", {})
        desc = html.escape(str(state.get("description", "")))
        label = f"<label>{desc}</label>" if desc else ""
        if "children" in state:
            kind = "pv-hbox" if name.startswith(("HBox", "GridBox")) else "pv-vbox"
            children = "".join(self._model(c.removeprefix("IPY_MODEL_"), depth + 1) for c in state["children"])
            return f'<div class="{kind}">{children}</div>'
        if name == "OutputModel":
            return '<div class="pv-vbox">' + "".join(self.output(o) for o in state.get("outputs", [])) + "</div>"
        if name.endswith("SliderModel"):
            value = state.get("value")
            shown = value if not isinstance(value, list) else f"{value[0]} – {value[-1]}"
            first = value[0] if isinstance(value, list) else value
            return (f'<div class="pv-control">{label}<input type="range" disabled min="{state.get("min", 0)}" '
                    f'max="{state.get("max", 100)}" step="{state.get("step", 1)}" value="{first}">'
                    f"<span>{html.escape(str(shown))}</span></div>")
        if "_options_labels" in state:
            index = state.get("index")
            chosen = {index} if isinstance(index, int) else set(index or [])
            options = "".join(f'<option{" selected" if i in chosen else ""}>{html.escape(str(o))}</option>'
                              for i, o in enumerate(state["_options_labels"]))
            return f'<div class="pv-control">{label}<select disabled>{options}</select></div>'
        if name in ("CheckboxModel", "ToggleButtonModel"):
            checked = " checked" if state.get("value") else ""
            return f'<div class="pv-control"><input type="checkbox" disabled{checked}>{label}</div>'
        if name == "ButtonModel":
            return f'<div class="pv-control"><button disabled>{desc}</button></div>'
        if name in ("HTMLModel", "HTMLMathModel"):
            return f'<div class="pv-control">{label}<div>{state.get("value", "")}</div></div>'
        if name == "ImageModel":
            return self._image(model, state)
        if "value" in state:
            return f'<div class="pv-control">{label}<span>{html.escape(str(state["value"]))}</span></div>'
        return f'<div class="pv-control"><em>({html.escape(name)}: shown only in Jupyter)</em></div>'

    def _image(self, model: dict[str, Any], state: dict[str, Any]) -> str:
        for buffer in model.get("buffers", []):
            if buffer.get("path") == ["value"] and buffer.get("encoding") == "base64":
                fmt = html.escape(str(state.get("format", "png")))
                return f'<img src="data:image/{fmt};base64,{buffer["data"]}">'
        return '<div class="pv-control"><em>(image not saved with the notebook)</em></div>'

    def output(self, output: dict[str, Any]) -> str:
        """HTML for one stored output inside an ``Output`` widget, richest mime type first."""
        if output.get("output_type") == "stream":
            return f"<pre>{html.escape(output.get('text', ''))}</pre>"
        data = output.get("data", {})
        if PLOTLY_MIME in data:
            self.n_plots += 1
            return plotly_div(data[PLOTLY_MIME], f"{self.page_id}-widget-plot-{self.n_plots}")
        if WIDGET_VIEW_MIME in data:
            return self._model(data[WIDGET_VIEW_MIME]["model_id"], depth=1)
        if "text/html" in data:
            return data["text/html"]
        for mime in ("image/png", "image/jpeg", "image/gif"):
            if mime in data:
                return f'<img src="data:{mime};base64,{data[mime].strip()}">'
        if "image/svg+xml" in data:
            return data["image/svg+xml"]
        return f"<pre>{html.escape(data.get('text/plain', ''))}</pre>"


def offline_notebook(nb: Any, page_id: str, notebook_stems: set[str], notebooks_dir: Path | None = None,
                     out_dir: Path | None = None) -> Any:
    """Rewrite a notebook (in place) so nbconvert's HTML needs no CDN.

    Plotly, widget-view and GIF outputs become ``text/html``; markdown math becomes MathML; markdown links to
    sibling ``.ipynb`` files of the site point to their ``.html`` pages, and with ``notebooks_dir`` and ``out_dir``
    links out of the notebooks folder are made relative to ``out_dir``. Returns ``nb``.
    """
    state = nb.metadata.get("widgets", {}).get(WIDGET_STATE_MIME, {})
    snapshot = _WidgetSnapshot(state, page_id)
    n_plots = 0
    for cell in nb.cells:
        if cell.cell_type == "markdown":
            cell.source = _NOTEBOOK_LINK.sub(
                lambda m: m.group(1) + (m.group(2) or "") + _page_name(m.group(3)) if m.group(3) in notebook_stems
                else m.group(0), cell.source)
            if notebooks_dir is not None and out_dir is not None:
                cell.source = rewrite_relative_links(cell.source, notebooks_dir, out_dir)
            cell.source = markdown_math_to_mathml(cell.source)
        for output in cell.get("outputs", []):
            data = output.get("data", {})
            if PLOTLY_MIME in data:
                n_plots += 1
                data["text/html"] = plotly_div(data.pop(PLOTLY_MIME), f"{page_id}-plot-{n_plots}")
            if WIDGET_VIEW_MIME in data:
                data["text/html"] = snapshot.render(data.pop(WIDGET_VIEW_MIME)["model_id"])
                data.pop("text/plain", None)
            if "image/gif" in data and "text/html" not in data:  # the lab template has no GIF block
                data["text/html"] = snapshot.output(output)
    return nb


def _mathml(latex: str, display: bool) -> str:
    import latex2mathml.converter
    return latex2mathml.converter.convert(latex.strip(), display="block" if display else "inline")


def markdown_math_to_mathml(source: str) -> str:
    """Markdown with ``$$...$$`` and ``$...$`` replaced by MathML elements (code spans and fences left alone)."""
    parts = _CODE.split(source)
    for i in range(0, len(parts), 2):  # even parts are outside code
        text = _DISPLAY_MATH.sub(lambda m: "\n\n" + _mathml(m.group(1), True) + "\n\n", parts[i])
        parts[i] = _INLINE_MATH.sub(lambda m: _mathml(m.group(1), False), text)
    return "".join(parts)


def rewrite_relative_links(source: str, notebooks_dir: Path, out_dir: Path) -> str:
    """Markdown links that leave the notebooks folder (``../x``) made relative to ``out_dir`` instead."""
    def fix(m: re.Match) -> str:
        target = (notebooks_dir / m.group(1)).resolve()
        return f"]({Path(os.path.relpath(target, out_dir.resolve())).as_posix()}{m.group(2) or ''})"
    return _RELATIVE_LINK.sub(fix, source)


def _page_name(stem: str) -> str:
    # The course map must not overwrite the generated index.html listing.
    return "course_map.html" if stem == "index" else f"{stem}.html"


def _title(nb: Any, stem: str) -> str:
    for cell in nb.cells:
        if cell.cell_type == "markdown":
            for line in cell.source.splitlines():
                if line.startswith("# "):
                    return line[2:].strip()
    return stem


def _index_html(entries: list[tuple[str, str]]) -> str:
    items = "\n".join(f'<li><a href="{html.escape(page)}">{html.escape(title)}</a></li>' for page, title in entries)
    return ("<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n"
            "<title>pavenet_lite course</title>\n"
            "<style>body { font-family: sans-serif; max-width: 760px; margin: 2em auto; line-height: 1.6; }</style>\n"
            "</head>\n<body>\n<h1>pavenet_lite: the course</h1>\n"
            "<p>Notebooks rendered with their stored outputs. Widgets are static snapshots; open the notebooks in "
            "Jupyter to run and interact.</p>\n"
            f"<ul>\n{items}\n</ul>\n</body>\n</html>\n")


def render_site(notebooks_dir: str | Path, out_dir: str | Path = "docs/site", progress: bool = False) -> list[Path]:
    """Render every ``notebooks_dir/*.ipynb`` with its stored outputs to ``out_dir``; return the written pages.

    ``out_dir`` receives one ``<stem>.html`` per notebook (``index.ipynb`` becomes ``course_map.html``), a copy of
    ``plotly.min.js`` and an ``index.html`` linking them (course map first). Raises ``DocsSiteError`` if the folder
    holds no notebooks, a notebook cannot be read, or nbconvert is not installed.
    """
    _require_nbconvert()
    import jinja2
    import nbformat
    from nbconvert import HTMLExporter

    notebooks_dir, out_dir = Path(notebooks_dir), Path(out_dir)
    paths = sorted(notebooks_dir.glob("*.ipynb"), key=lambda p: (p.stem != "index", p.name))
    if not paths:
        raise DocsSiteError(f"{notebooks_dir}: no *.ipynb notebooks found to render")
    out_dir.mkdir(parents=True, exist_ok=True)
    shutil.copyfile(_plotly_js_source(), out_dir / PLOTLY_JS)

    template = _PAGE_TEMPLATE.replace("STATIC_WIDGET_CSS", _WIDGET_CSS)
    exporter = HTMLExporter(template_name="lab", template_file="pavenet_site.html.j2",
                            extra_loaders=[jinja2.DictLoader({"pavenet_site.html.j2": template})])
    stems = {p.stem for p in paths}
    written, entries = [], []
    for i, path in enumerate(paths, 1):
        if progress:
            print(f"[{i}/{len(paths)}] {path.name} -> {out_dir / _page_name(path.stem)}", flush=True)
        try:
            nb = nbformat.read(path, as_version=4)
        except (json.JSONDecodeError, nbformat.reader.NotJSONError, nbformat.ValidationError) as err:
            raise DocsSiteError(f"{path}: not a readable Jupyter notebook (nbformat 4 JSON expected): {err}") from err
        page_id = re.sub(r"[^\w-]", "-", path.stem)
        body, _ = exporter.from_notebook_node(offline_notebook(nb, page_id, stems, notebooks_dir, out_dir),
                                              resources={"metadata": {"name": _title(nb, path.stem)}})
        page = out_dir / _page_name(path.stem)
        page.write_text(body, encoding="utf-8")
        written.append(page)
        entries.append((page.name, _title(nb, path.stem)))
    index = out_dir / "index.html"
    index.write_text(_index_html(entries), encoding="utf-8")
    if progress:
        print(f"wrote {len(written)} pages and {index}", flush=True)
    return [*written, index]

