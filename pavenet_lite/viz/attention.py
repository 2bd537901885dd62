"""Where PAVE-Net looked: pose-aware and encoder attention drawn on the frames, and an interactive explorer.

Everything reads the `outputs["attention"]` dict of `PAVENet.forward(..., return_attention=True)` (format in
`pavenet_lite/model/attention_capture.py`): locations are pixels of the network input, so they are multiplied by
`ClipAttention.scale` (original / input size) to land on the original frames. A pose query q of pose layer d owns
M * F * L * K samples; one head's weights sum to 1 over F * L * K, so the per-frame weight mass says how much of
its attention the query spends on each frame.

`pose_attention_figure` draws a query's attention with plotly (the interactive explorer in `viz/explorer.py` shows
it); the matplotlib functions draw the same content statically.
"""
from __future__ import annotations

import base64
import io
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure
from PIL import Image

from pavenet_lite.joints import MODEL_NAMES
from pavenet_lite.keypoint_ops import normalised_to_pixels
from pavenet_lite.viz.skeleton import color_for, draw_skeleton

LEVEL_COLOURS = ("#e41a1c", "#ff7f00", "#ffd92f", "#4daf4a", "#377eb8", "#984ea3")


@dataclass
class ClipAttention:
    """One clip run through a model with attention capture.

    frames `[F, H, W, 3]` uint8 (original size), outputs = the model's output dict (batch of 1, with "attention"),
    people = the predictor's people of the centre frame, scale `[2]` = original / network-input size (x, y).
    """

    frames: np.ndarray
    outputs: dict[str, Any]
    people: list[dict[str, Any]]
    scale: np.ndarray

    @property
    def num_layers(self) -> int:
        return len(self.outputs["attention"]["pose_decoder"])

    @property
    def num_queries(self) -> int:
        return int(self.outputs["pred_logits"].shape[1])

    @property
    def num_heads(self) -> int:
        return int(self.outputs["attention"]["pose_decoder"][0]["weights"].shape[2])


def capture_clip(predictor, frames: np.ndarray) -> ClipAttention:
    """Run `predictor` (a `pavenet_lite.predict.Predictor`) on frames `[F, H, W, 3]` uint8 with attention capture."""
    people, outputs = predictor.predict_clip(frames, return_attention=True)
    w, h = outputs["attention"]["image_sizes"][0].tolist()
    scale = np.array([frames.shape[2] / w, frames.shape[1] / h])
    return ClipAttention(np.asarray(frames), outputs, people, scale)


def _to_original(xy: np.ndarray, scale: np.ndarray) -> np.ndarray:
    """Pixel-centre coordinates `[..., 2]` of the network input -> the same of the original frame."""
    return (xy + 0.5) * scale - 0.5


def pose_query_attention(clip: ClipAttention, layer: int, query: int) -> tuple[np.ndarray, np.ndarray]:
    """Samples of pose query `query` in pose layer `layer`: locations `[M, F, L, K, 2]` in ORIGINAL-frame pixels
    and weights `[M, F, L, K]` (each head sums to 1)."""
    attn = clip.outputs["attention"]["pose_decoder"][layer]
    loc = _to_original(attn["locations"][0, query].cpu().numpy(), clip.scale)   # [M, F, L, K, 2]
    return loc, attn["weights"][0, query].cpu().numpy()


def select_samples(locations: np.ndarray, weights: np.ndarray, head: int | None = None,
                   keypoint: int | None = None) -> list[dict[str, np.ndarray]]:
    """Per frame the samples of one head / keypoint (None = all): F dicts with "xy" `[S, 2]`, "weight" `[S]`
    and "level" `[S]`, in (head, level, keypoint) order. locations `[M, F, L, K, 2]`, weights `[M, F, L, K]`."""
    M, Fr, L, K = weights.shape
    heads = range(M) if head is None else [head]
    points = range(K) if keypoint is None else [keypoint]
    level = np.broadcast_to(np.arange(L)[None, :, None], (M, L, K))
    out = []
    for f in range(Fr):
        sel = np.ix_(list(heads), range(L), list(points))
        out.append({"xy": locations[:, f][sel].reshape(-1, 2), "weight": weights[:, f][sel].reshape(-1),
                    "level": level[sel].reshape(-1)})
    return out


def frame_weight_mass(weights: np.ndarray, head: int | None = None, keypoint: int | None = None) -> np.ndarray:
    """weights `[M, F, L, K]` -> `[F]`: the share of the chosen heads' attention (mean over heads when None)
    that falls on each frame, restricted to one keypoint's samples when `keypoint` is given."""
    w = weights if head is None else weights[head:head + 1]
    if keypoint is not None:
        w = w[..., keypoint:keypoint + 1]
    return w.sum((2, 3)).mean(0)


def query_keypoints(clip: ClipAttention) -> dict[str, Any]:
    """The keypoints of every query in original pixels: "frames" `[F, Q, K, 2]` (after the last pose layer) and
    "centre" = list of (stage name, `[Q, K, 2]`) for the proposal and every pose layer (centre frame only), plus
    "refined" {query: `[K, 2]`} for the people the joint decoder refined."""
    out = clip.outputs
    h, w = clip.frames.shape[1:3]                                                # of the original frame
    px = lambda k: normalised_to_pixels(k.float(), w, h).numpy()
    enc = out["enc_outputs"]
    top = enc["query_index"][0]                                                 # [Q] tokens the model chose
    stages = [("proposal", enc["pred_keypoints"][0, top])]
    stages += [(f"pose layer {d}", o["pred_keypoints"][0]) for d, o in enumerate(out["aux_outputs"])]
    stages.append((f"pose layer {clip.num_layers - 1}", out["pred_keypoints"][0]))
    refined = {}
    if out["refine_outputs"]:
        for row, q in enumerate(out["refine_query_index"].tolist()):
            refined[q] = px(out["refine_outputs"][-1]["pred_keypoints"][row])
    return {"frames": px(out["frame_keypoints"][0]), "centre": [(name, px(k)) for name, k in stages],
            "refined": refined}


def nearest_query(clip: ClipAttention, x: float, y: float) -> int:
    """The query of the predicted person (centre frame) with a keypoint nearest to the pixel (x, y)."""
    if not clip.people:
        raise ValueError("nearest_query: the clip has no predicted people")
    dist = [np.hypot(*(p["keypoints"] - [x, y]).T).min() for p in clip.people]
    return int(clip.people[int(np.argmin(dist))]["query"])


def _marker_sizes(weight: np.ndarray, largest: float) -> np.ndarray:
    """Marker AREA proportional to weight (relative to the largest shown), with a floor so every sample shows."""
    return 2.0 + largest * weight / max(float(weight.max()), 1e-12)


def plot_pose_attention(clip: ClipAttention, layer: int, query: int, head: int | None = None,
                        keypoint: int | None = None, panel_width: float = 3.0) -> Figure:
    """Static twin of the explorer: F frames with the query's samples (colour = level, size = weight), its
    keypoints (last layer, per frame; centre frame also the proposal as a dashed skeleton), and the per-frame mass."""
    loc, w = pose_query_attention(clip, layer, query)
    samples = select_samples(loc, w, head, keypoint)
    mass = frame_weight_mass(w, head, keypoint)
    kps = query_keypoints(clip)
    Fr, (h, wd) = len(clip.frames), clip.frames.shape[1:3]
    fig = Figure(figsize=(panel_width * (Fr + 0.6), panel_width * h / wd + 0.5), layout="constrained")
    FigureCanvasAgg(fig)
    axes = fig.subplots(1, Fr + 1, width_ratios=[1.0] * Fr + [0.6])
    c = Fr // 2
    for f, ax in enumerate(axes[:Fr]):
        ax.imshow(clip.frames[f])
        draw_skeleton(ax, kps["frames"][f, query], color=color_for(query), linewidth=1.0, markersize=6)
        if f == c:
            lines, _ = draw_skeleton(ax, kps["centre"][0][1][query], color=(1.0, 1.0, 1.0), linewidth=0.8,
                                     markersize=3)
            lines.set_linestyle("--")
        s = samples[f]
        ax.scatter(s["xy"][:, 0], s["xy"][:, 1], s=_marker_sizes(s["weight"], 60.0),
                   c=[LEVEL_COLOURS[lv % len(LEVEL_COLOURS)] for lv in s["level"]], alpha=0.8,
                   edgecolors="black", linewidths=0.3, zorder=4)
        ax.set_xlim(-0.5, wd - 0.5)
        ax.set_ylim(h - 0.5, -0.5)
        ax.set_axis_off()
        ax.set_title(f"frame t{f - c:+d}" if f != c else "frame t (centre)", fontsize=9)
    axes[-1].bar([f"t{f - c:+d}" if f != c else "t" for f in range(Fr)], mass, color="#377eb8")
    axes[-1].set_title("weight mass per frame", fontsize=9)
    axes[-1].tick_params(labelsize=8)
    what = ("all heads" if head is None else f"head {head}") + (
        ", all keypoints" if keypoint is None else f", {MODEL_NAMES[keypoint]}")
    fig.suptitle(f"pose layer {layer}, query {query}: {what}", fontsize=10)
    return fig


def plot_encoder_attention(frame: np.ndarray, clip: ClipAttention, layer: int, frame_index: int,
                           tokens: list[int], centres: np.ndarray, panel_width: float = 5.0) -> Figure:
    """Encoder samples of `tokens` (indices into the N tokens) of frame `frame_index`, layer `layer`, on `frame`
    (original size): a star at each token's cell centre (`centres` `[T, 2]` original pixels), its M * L * P samples
    coloured by level, size by weight, joined to the token by thin lines."""
    attn = clip.outputs["attention"]["encoder"][layer]
    loc = _to_original(attn["locations"][0, frame_index, tokens].cpu().numpy(), clip.scale)   # [T, M, L, P, 2]
    wts = attn["weights"][0, frame_index, tokens].cpu().numpy()                 # [T, M, L, P]
    h, w = frame.shape[:2]
    fig = Figure(figsize=(panel_width, panel_width * h / w + 0.3), layout="constrained")
    FigureCanvasAgg(fig)
    ax = fig.subplots()
    ax.imshow(frame)
    L = loc.shape[2]
    for t, (centre, xy, weight) in enumerate(zip(centres, loc, wts)):
        level = np.broadcast_to(np.arange(L)[None, :, None], weight.shape).reshape(-1)
        xy, weight = xy.reshape(-1, 2), weight.reshape(-1)
        for p in xy:
            ax.plot([centre[0], p[0]], [centre[1], p[1]], color="white", linewidth=0.3, alpha=0.5)
        ax.scatter(xy[:, 0], xy[:, 1], s=_marker_sizes(weight, 50.0), alpha=0.85, edgecolors="black",
                   linewidths=0.3, c=[LEVEL_COLOURS[lv % len(LEVEL_COLOURS)] for lv in level], zorder=3)
        ax.scatter([centre[0]], [centre[1]], marker="*", s=160, c="white", edgecolors="black", zorder=4)
    ax.set_xlim(-0.5, w - 0.5)
    ax.set_ylim(h - 0.5, -0.5)
    ax.set_axis_off()
    ax.set_title(f"encoder layer {layer}: {len(tokens)} tokens, colour = level (red 0, orange 1, yellow 2), "
                 "size = weight", fontsize=8)
    return fig


def _image_uri(image: np.ndarray) -> str:
    buf = io.BytesIO()
    Image.fromarray(image).save(buf, format="JPEG", quality=80)
    return "data:image/jpeg;base64," + base64.b64encode(buf.getvalue()).decode("ascii")


def pose_attention_figure(clip: ClipAttention, layer: int, query: int, head: int | None = None,
                          keypoint: int | None = None, decimals: int = 2):
    """Plotly figure: one subplot per frame (image, samples, the query's keypoints; in the centre frame its
    keypoints after every stage) and a bar chart of the per-frame weight mass. Coordinates are rounded to
    `decimals` so that saved notebook outputs are identical between runs.

    Trace order: per frame f: image, samples "samples t{f}", keypoints "keypoints t{f}"; then the centre-frame
    stages "stage: <name>" (proposal, pose layers, joint decoder if refined); last the "weight mass" bar.
    """
    import plotly.graph_objects as go
    from plotly.subplots import make_subplots

    loc, w = pose_query_attention(clip, layer, query)
    samples = select_samples(loc, w, head, keypoint)
    mass = frame_weight_mass(w, head, keypoint)
    kps = query_keypoints(clip)
    Fr, (h, wd) = len(clip.frames), clip.frames.shape[1:3]
    c = Fr // 2
    names = [f"t{f - c:+d}" if f != c else "t" for f in range(Fr)]
    fig = make_subplots(rows=1, cols=Fr + 1, column_widths=[1.0] * Fr + [0.45], horizontal_spacing=0.02,
                        subplot_titles=[f"frame {n}" for n in names] + ["weight mass per frame"])
    r = lambda a: np.round(np.asarray(a, dtype=np.float64), decimals)  # noqa: E731
    for f in range(Fr):
        col = f + 1
        fig.add_trace(go.Image(source=_image_uri(clip.frames[f]), name=f"image {names[f]}",
                               hovertemplate="pixel x %{x}, y %{y}<extra></extra>"), 1, col)
        s = samples[f]
        fig.add_trace(go.Scatter(
            x=r(s["xy"][:, 0]), y=r(s["xy"][:, 1]), mode="markers", name=f"samples {names[f]}",
            marker={"size": r(np.sqrt(_marker_sizes(s["weight"], 196.0))), "opacity": 0.85,
                    "color": [LEVEL_COLOURS[lv % len(LEVEL_COLOURS)] for lv in s["level"]],
                    "line": {"width": 0.5, "color": "black"}},
            customdata=np.round(s["weight"][:, None], 4),
            hovertemplate="(%{x:.1f}, %{y:.1f}) weight %{customdata[0]:.4f}<extra></extra>", showlegend=False),
            1, col)
        k = kps["frames"][f, query]
        fig.add_trace(go.Scatter(x=r(k[:, 0]), y=r(k[:, 1]), mode="markers", name=f"keypoints {names[f]}",
                                 marker={"symbol": "x", "size": 6, "color": "white"}, text=list(MODEL_NAMES),
                                 hovertemplate="%{text}<extra></extra>", showlegend=False), 1, col)
    stages = [(name, k[query]) for name, k in kps["centre"]]
    if query in kps["refined"]:
        stages.append(("joint decoder", kps["refined"][query]))
    for i, (name, k) in enumerate(stages):
        fig.add_trace(go.Scatter(x=r(k[:, 0]), y=r(k[:, 1]), mode="lines+markers",
                                 name=f"stage: {name}", line={"width": 1}, marker={"size": 4},
                                 opacity=0.35 + 0.65 * (i + 1) / len(stages), text=list(MODEL_NAMES),
                                 hovertemplate=f"{name}: %{{text}}<extra></extra>"), 1, c + 1)
    fig.add_trace(go.Bar(x=names, y=np.round(mass, 4), name="weight mass", showlegend=False,
                         marker_color="#377eb8"), 1, Fr + 1)
    for f in range(Fr):
        fig.update_xaxes(range=[0, wd], visible=False, row=1, col=f + 1)
        fig.update_yaxes(range=[h, 0], visible=False, scaleanchor=f"x{f + 1 if f else ''}", row=1, col=f + 1)
    # One head or keypoint holds a few percent of the weight: scale the bars to their data, not to 0-1.
    fig.update_yaxes(range=[0, 1.15 * max(float(np.max(mass)), 1e-6)], tickformat=".2~f", row=1, col=Fr + 1)
    what = ("all heads" if head is None else f"head {head}") + (
        ", all keypoints" if keypoint is None else f", {MODEL_NAMES[keypoint]}")
    levels = " ".join(f'<span style="color:{LEVEL_COLOURS[lv % len(LEVEL_COLOURS)]}">\u25cf</span> {lv}'
                      for lv in range(loc.shape[2]))
    fig.add_annotation(text=f"sample colour = level: {levels}", xref="paper", yref="paper", x=1, y=1.16,
                       xanchor="right", yanchor="bottom", showarrow=False, font={"size": 11, "color": "white"},
                       bgcolor="#555")
    # No fixed width: the figure fills the notebook's column (a laptop with the file browser open included).
    fig.update_layout(title=f"pose layer {layer}, query {query}: {what}", height=300, autosize=True,
                      margin={"l": 10, "r": 10, "t": 80, "b": 10}, legend={"orientation": "h", "y": -0.05})
    return fig
