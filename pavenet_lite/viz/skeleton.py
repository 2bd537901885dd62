"""Skeletons on frames: matplotlib (`draw_skeleton`, `draw_frame`) for notebooks, PIL (`overlay_people`) for videos.

A "person" is either a `pavenet_lite.data.annotations.Person` (PT18 order, 17 joints, with `annotated`, `visible`
and optional `scores`) or a prediction dict with `keypoints` [K, 2] pixels and optional `keypoint_scores` (or
`scores`) [K], `score`, `track_id` / `query`. Both the model order (K = 15) and PT18 order (17) are understood; the
skeleton edges come from `pavenet_lite.joints`. Joints that are annotated but not visible (occluded) are drawn as
hollow circles.
"""
from __future__ import annotations

from typing import Any, Sequence

import matplotlib
import numpy as np
from matplotlib.collections import LineCollection
from matplotlib.patches import Rectangle
from PIL import Image, ImageDraw

from pavenet_lite.data.annotations import Person
from pavenet_lite.joints import K, MODEL_SKELETON, NUM_PT18, PT18_SKELETON

PALETTE: tuple[tuple[int, int, int], ...] = tuple(
    tuple(int(round(255 * c)) for c in matplotlib.colormaps["tab10"](i)[:3]) for i in range(10))


def color_for(index: int) -> tuple[int, int, int]:
    """A stable RGB colour (0-255) for a track id or query index."""
    return PALETTE[int(index) % len(PALETTE)]


def skeleton_edges(num_joints: int) -> tuple[tuple[int, int], ...]:
    """The limb edges for keypoint arrays of model order (K = 15) or PT18 order (17)."""
    if num_joints == K:
        return MODEL_SKELETON
    if num_joints == NUM_PT18:
        return PT18_SKELETON
    raise ValueError(f"keypoints must have {K} (model order) or {NUM_PT18} (PT18 order) joints, got {num_joints}")


def person_arrays(person: Person | dict[str, Any]) -> dict[str, Any]:
    """Normalise a Person or a prediction dict to keypoints [J, 2], annotated [J], visible [J], scores [J] | None,
    and an id (track id, else query index, else None)."""
    if isinstance(person, Person):
        kp, ann, vis, scores = person.keypoints, person.annotated, person.visible, person.scores
        ident = person.track_id
    else:
        kp = person["keypoints"]
        scores = person.get("keypoint_scores", person.get("scores"))
        ann = person.get("annotated")
        vis = person.get("visible")
        ident = person.get("track_id", person.get("query"))
    kp = np.asarray(kp, dtype=np.float64).reshape(-1, 2)
    ann = np.ones(len(kp), bool) if ann is None else np.asarray(ann, bool)
    vis = ann.copy() if vis is None else np.asarray(vis, bool)
    return {"keypoints": kp, "annotated": ann, "visible": vis,
            "scores": None if scores is None else np.asarray(scores, dtype=np.float64), "id": ident}


def _valid(keypoints: np.ndarray, annotated: np.ndarray | None, scores: np.ndarray | None,
           threshold: float) -> np.ndarray:
    ok = np.isfinite(keypoints).all(1)
    if annotated is not None:
        ok &= np.asarray(annotated, bool)
    if scores is not None:
        ok &= np.asarray(scores) >= threshold
    return ok


def draw_skeleton(ax, keypoints: np.ndarray, annotated: np.ndarray | None = None, scores: np.ndarray | None = None,
                  visible: np.ndarray | None = None, color=(1.0, 0.2, 0.2), threshold: float = 0.0,
                  linewidth: float = 1.5, markersize: float = 10.0) -> tuple[LineCollection, Any]:
    """Draw one skeleton on a matplotlib axes.

    keypoints: [K, 2] (model order) or [17, 2] (PT18 order) pixels. A joint is drawn when it is finite, annotated
    (if `annotated` is given) and its score >= `threshold` (if `scores` is given); an edge when both ends are drawn.
    `visible` False marks occluded joints (hollow markers). `color` is a matplotlib colour or an RGB 0-255 triple.
    Returns the LineCollection of limbs (one segment per drawn edge) and the joints' PathCollection.
    """
    kp = np.asarray(keypoints, dtype=np.float64)
    edges = skeleton_edges(len(kp))
    if isinstance(color, tuple) and max(color) > 1:
        color = tuple(c / 255 for c in color)
    ok = _valid(kp, annotated, scores, threshold)
    segments = [kp[[a, b]] for a, b in edges if ok[a] and ok[b]]
    lines = LineCollection(segments, colors=[color], linewidths=linewidth, capstyle="round")
    ax.add_collection(lines)
    vis = np.ones(len(kp), bool) if visible is None else np.asarray(visible, bool)
    faces = [color if v else "none" for v in vis[ok]]
    dots = ax.scatter(kp[ok, 0], kp[ok, 1], s=markersize, facecolors=faces, edgecolors=[color], linewidths=1.2,
                      zorder=3)
    return lines, dots


def draw_frame(ax, image: np.ndarray, people: Sequence[Person | dict] = (), threshold: float = 0.0,
               show_ids: bool = True, head_boxes: bool = False, title: str | None = None):
    """Show a frame [H, W, 3] with every person's skeleton in the colour of its track id (or query index)."""
    ax.imshow(image)
    for i, person in enumerate(people):
        p = person_arrays(person)
        ident = p["id"] if p["id"] is not None else i
        color = tuple(c / 255 for c in color_for(ident))
        draw_skeleton(ax, p["keypoints"], p["annotated"], p["scores"], p["visible"], color=color,
                      threshold=threshold)
        ok = _valid(p["keypoints"], p["annotated"], p["scores"], threshold)
        if show_ids and ok.any():
            x, y = p["keypoints"][ok].min(0)
            ax.text(x, y - 3, str(ident), color="white", fontsize=7,
                    bbox={"facecolor": color, "edgecolor": "none", "pad": 1})
        if head_boxes and isinstance(person, Person) and person.head_box is not None:
            x1, y1, x2, y2 = person.head_box
            ax.add_patch(Rectangle((x1, y1), x2 - x1, y2 - y1, fill=False, edgecolor=color, linewidth=1.0))
    ax.set_xlim(-0.5, image.shape[1] - 0.5)
    ax.set_ylim(image.shape[0] - 0.5, -0.5)
    ax.set_axis_off()
    if title is not None:
        ax.set_title(title, fontsize=9)
    return ax


def overlay_people(image: np.ndarray, people: Sequence[Person | dict], threshold: float = 0.0, scale: int = 1,
                   width: int = 2, radius: int = 3) -> np.ndarray:
    """The frame [H, W, 3] uint8 with skeletons drawn by PIL (fast, for GIF/MP4), enlarged `scale` times.

    People are coloured by track id (or query index, else list position). Returns [H * scale, W * scale, 3] uint8.
    """
    img = Image.fromarray(np.asarray(image, dtype=np.uint8))
    if scale != 1:
        img = img.resize((img.width * scale, img.height * scale), Image.Resampling.BILINEAR)
    draw = ImageDraw.Draw(img)
    for i, person in enumerate(people):
        p = person_arrays(person)
        color = color_for(p["id"] if p["id"] is not None else i)
        kp = p["keypoints"] * scale
        ok = _valid(p["keypoints"], p["annotated"], p["scores"], threshold)
        for a, b in skeleton_edges(len(kp)):
            if ok[a] and ok[b]:
                draw.line([tuple(kp[a]), tuple(kp[b])], fill=color, width=width)
        for j in np.flatnonzero(ok):
            x, y = kp[j]
            box = [x - radius, y - radius, x + radius, y + radius]
            draw.ellipse(box, fill=color if p["visible"][j] else None, outline=color)
    return np.asarray(img)
