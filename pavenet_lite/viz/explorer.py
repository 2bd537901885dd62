"""The attention explorer: ipywidgets controls around `pose_attention_figure`, for a notebook.

Its `update(**values)` sets widget values and returns the figure it drew, so a notebook cell or a test can drive it
without a browser. The figure goes to the notebook through the synced state of an `Output` widget (see `_render`).
"""
from __future__ import annotations

import io
import json
from typing import Any, Mapping

import numpy as np
from PIL import Image

from pavenet_lite.joints import MODEL_NAMES
from pavenet_lite.viz.attention import ClipAttention, capture_clip, nearest_query, pose_attention_figure
from pavenet_lite.viz.skeleton import overlay_people

ALL = -1   # the explorer's "all heads" / "all keypoints" choice
PICKER_MAX_SIDE = 640   # the clickable centre frame is shown at most this large (pixels of the image)


def _or_none(choice: int) -> int | None:
    return None if choice == ALL else choice


class AttentionExplorer:
    """ipywidgets + plotly explorer of the pose-aware attention of a predictor on a few clips.

    Widgets: clip, query (sorted by score), pose layer, head ("all" or one), keypoint ("all" or one), the centre
    frame with every predicted person drawn (click on a person to pick their query; ipyevents reports the click in
    the image's own pixels), and a point (x, y) with a button that picks the predicted person nearest to it (for
    the keyboard; hovering over a frame of the figure shows its pixel coordinates). `update(**values)` sets any of
    clip / query / layer / head / keypoint (head, keypoint: None = all) and returns the plotly figure it drew;
    `select_point(x, y)` does the same for the nearest person. Display `explorer.widget` in a notebook.
    """

    def __init__(self, predictor, clips: Mapping[str, np.ndarray]):
        import ipywidgets as W
        from ipyevents import Event

        if not clips:
            raise ValueError("AttentionExplorer: expected at least one clip")
        self.predictor = predictor
        self.clips = dict(clips)
        self._cache: dict[str, ClipAttention] = {}
        self._busy = False
        first = self.capture(next(iter(self.clips)))
        # "all" is ALL (-1), not None: a Dropdown whose value is None shows an empty box.
        wide = W.Layout(width="max-content", min_width="14em")
        self.clip = W.Dropdown(options=list(self.clips), description="clip", layout=wide)
        self.query = W.Dropdown(description="query", layout=wide)
        self.layer = W.IntSlider(value=first.num_layers - 1, min=0, max=first.num_layers - 1, description="layer")
        self.head = W.Dropdown(options=[("all", ALL)] + [(f"head {m}", m) for m in range(first.num_heads)],
                               value=ALL, description="head")
        self.keypoint = W.Dropdown(options=[("all", ALL)] + [(n, k) for k, n in enumerate(MODEL_NAMES)],
                                   value=ALL, description="keypoint")
        point = W.Layout(width="14em")
        self.x = W.FloatText(value=float(first.frames.shape[2] / 2), description="x (px)", layout=point)
        self.y = W.FloatText(value=float(first.frames.shape[1] / 2), description="y (px)", layout=point)
        self.pick = W.Button(description="nearest person")
        self.picker = W.Image(format="jpeg", layout=W.Layout(width="100%", max_width="480px", height="auto"))
        self._picker_scale = 1.0
        self._picker_shows: tuple[str, int] | None = None   # (clip, query) the picker image was drawn for
        self._clicks = Event(source=self.picker, watched_events=["click"])
        self._clicks.on_dom_event(self._on_click)
        self.output = W.Output()
        self.figure = None
        self._set_query_options(first)
        for w in (self.clip, self.query, self.layer, self.head, self.keypoint):
            w.observe(self._on_change, names="value")
        self.pick.on_click(lambda _: self.select_point(self.x.value, self.y.value))
        hint = W.HTML("<b>Click on a person</b> in this frame (the centre frame t) to pick their query; the selected "
                      "person is drawn thick. Or type a pixel position:")
        self.widget = W.VBox([W.HBox([self.clip, self.query, self.layer]), W.HBox([self.head, self.keypoint]),
                              W.HBox([self.picker, W.VBox([hint, self.x, self.y, self.pick],
                                                          layout=W.Layout(max_width="22em"))]),
                              self.output])
        self.update()

    def capture(self, name: str) -> ClipAttention:
        """The attention capture of clip `name` (computed once, then cached)."""
        if name not in self._cache:
            self._cache[name] = capture_clip(self.predictor, self.clips[name])
        return self._cache[name]

    def _set_query_options(self, clip: ClipAttention) -> None:
        scores = clip.outputs["pred_logits"][0].sigmoid()
        order = scores.argsort(descending=True).tolist()
        self.query.options = [(f"{q} (score {scores[q]:.3f})", q) for q in order]
        self.query.value = order[0]

    def _on_change(self, change: dict[str, Any]) -> None:
        if self._busy:
            return
        if change["owner"] is self.clip:   # a new clip has its own queries and scores
            self._busy = True
            try:
                self._set_query_options(self.capture(self.clip.value))
            finally:
                self._busy = False
        self.update()

    def update(self, **values: Any) -> Any:
        """Set widget values (clip, query, layer, head, keypoint), redraw, and return the plotly figure."""
        unknown = set(values) - {"clip", "query", "layer", "head", "keypoint"}
        if unknown:
            raise ValueError(f"AttentionExplorer.update: unknown widget(s) {sorted(unknown)}")
        self._busy = True
        try:
            if "clip" in values and values["clip"] != self.clip.value:
                self.clip.value = values["clip"]
                self._set_query_options(self.capture(self.clip.value))
            for name in ("query", "layer", "head", "keypoint"):
                if name in values:
                    getattr(self, name).value = ALL if values[name] is None else values[name]
        finally:
            self._busy = False
        clip = self.capture(self.clip.value)
        self.figure = pose_attention_figure(clip, self.layer.value, self.query.value, _or_none(self.head.value),
                                            _or_none(self.keypoint.value))
        self._render()
        self._draw_picker(clip)
        return self.figure

    def select_point(self, x: float, y: float) -> Any:
        """Pick the predicted person nearest to pixel (x, y) of the centre frame; returns the new figure."""
        self.x.value, self.y.value = float(x), float(y)
        return self.update(query=nearest_query(self.capture(self.clip.value), x, y))

    def _on_click(self, event: dict[str, Any]) -> None:
        """An ipyevents click on the picker image: `dataX`, `dataY` are pixels of the image it shows."""
        if self.capture(self.clip.value).people:
            self.select_point(event["dataX"] / self._picker_scale, event["dataY"] / self._picker_scale)

    def _draw_picker(self, clip: ClipAttention) -> None:
        """The centre frame with every predicted person; the selected query's person thick and drawn last.
        Redrawn only when the clip or the query changes (layer, head and keypoint do not change it)."""
        if self._picker_shows == (self.clip.value, self.query.value):
            return
        self._picker_shows = (self.clip.value, self.query.value)
        frame = clip.frames[len(clip.frames) // 2]                                   # [H, W, 3]
        chosen = [p for p in clip.people if p["query"] == self.query.value]
        others = [p for p in clip.people if p["query"] != self.query.value]
        image = overlay_people(overlay_people(frame, others, width=1, radius=2), chosen, width=3, radius=3)
        picture = Image.fromarray(image)
        self._picker_scale = min(1.0, PICKER_MAX_SIDE / max(picture.size))
        if self._picker_scale < 1.0:
            picture = picture.resize((round(picture.width * self._picker_scale),
                                      round(picture.height * self._picker_scale)), Image.Resampling.BILINEAR)
        buf = io.BytesIO()
        picture.save(buf, format="JPEG", quality=85)
        self.picker.value = buf.getvalue()

    def _render(self) -> None:
        # Setting the Output widget's synced `outputs` trait (instead of `with output: display(...)`) sends the
        # figure through the widget state, never as a display message of whichever cell called `update`: the
        # calling cell's outputs stay clean and the saved widget state shows the current figure.
        import plotly.io as pio

        bundle = {"application/vnd.plotly.v1+json": json.loads(pio.to_json(self.figure, validate=False)),
                  "text/plain": f"<plotly figure: {self.figure.layout.title.text}>"}
        self.output.outputs = ({"output_type": "display_data", "data": bundle, "metadata": {}},)
