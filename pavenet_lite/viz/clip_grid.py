"""Clip grids: the F = 2T+1 frames of a clip side by side, the centre frame marked, skeletons drawn on each."""
from __future__ import annotations

from typing import Sequence

import numpy as np
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure

from pavenet_lite.data.annotations import Person
from pavenet_lite.viz.skeleton import draw_frame


def as_images(clip) -> list[np.ndarray]:
    """A clip as F images [H, W, 3]: accepts a list of images, an array [F, H, W, 3] or [F, 3, H, W] (numpy or a
    CPU torch tensor, uint8 or float in [0, 1]; de-normalise ImageNet-normalised clips first)."""
    frames = [np.asarray(f) for f in clip]
    out = []
    for f in frames:
        if f.ndim == 3 and f.shape[0] == 3 and f.shape[-1] != 3:
            f = f.transpose(1, 2, 0)  # [3, H, W] -> [H, W, 3]
        if f.ndim != 3 or f.shape[-1] != 3:
            raise ValueError(f"each frame must be [H, W, 3] or [3, H, W], got shape {f.shape}")
        if f.dtype != np.uint8:
            f = (np.clip(f, 0.0, 1.0) * 255).round().astype(np.uint8)
        out.append(f)
    return out


def clip_grid(clip_images, people_per_frame: Sequence[Sequence[Person | dict]] | None = None,
              titles: Sequence[str] | None = None, threshold: float = 0.0, panel_width: float = 2.6,
              show_ids: bool = False) -> Figure:
    """A figure with the F frames of a clip in one row; the centre frame (index F // 2) gets a red frame.

    clip_images: F images (see `as_images`). people_per_frame: F lists of people (or None for no skeletons).
    Titles default to the offsets from the centre frame: -T, ..., 0, ..., +T.
    The figure is created without pyplot, so it is not shown twice in notebooks; display it or rasterise it with
    `figure_to_array`.
    """
    images = as_images(clip_images)
    n = len(images)
    if people_per_frame is not None and len(people_per_frame) != n:
        raise ValueError(f"people_per_frame has {len(people_per_frame)} entries for a clip of F = {n} frames")
    h, w = images[0].shape[:2]
    fig = Figure(figsize=(panel_width * n, panel_width * h / w + 0.35), layout="constrained")
    FigureCanvasAgg(fig)
    axes = fig.subplots(1, n, squeeze=False)[0]
    centre = n // 2
    for i, (ax, image) in enumerate(zip(axes, images)):
        title = titles[i] if titles is not None else ("t" if i == centre else f"t{i - centre:+d}")
        draw_frame(ax, image, people_per_frame[i] if people_per_frame is not None else (), threshold=threshold,
                   show_ids=show_ids, title=title)
        if i == centre:
            ax.set_axis_on()
            ax.set_xticks([])
            ax.set_yticks([])
            for spine in ax.spines.values():
                spine.set_edgecolor("red")
                spine.set_linewidth(2.0)
    return fig


def figure_to_array(fig: Figure) -> np.ndarray:
    """Rasterise a matplotlib figure with the Agg canvas: [H, W, 3] uint8."""
    canvas = fig.canvas if isinstance(fig.canvas, FigureCanvasAgg) else FigureCanvasAgg(fig)
    canvas.draw()
    return np.asarray(canvas.buffer_rgba())[..., :3].copy()
