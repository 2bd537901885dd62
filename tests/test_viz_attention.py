"""Attention plots and the explorer, checked against the captured attention tensors of a tiny untrained model.

An untrained PAVE-Net has zero sampling offsets and zero attention logits in its pose-aware attention, so pose layer
0 samples exactly at the proposal keypoints with uniform weights: that gives references independent of the code
under test.
"""
from __future__ import annotations

import io

import numpy as np
import pytest
import torch
from matplotlib.collections import PathCollection
from PIL import Image

from pavenet_lite.config import get_config
from pavenet_lite.joints import K, MODEL_NAMES
from pavenet_lite.model import build_model
from pavenet_lite.predict import Predictor
from pavenet_lite.viz.attention import (capture_clip, frame_weight_mass, nearest_query,
                                        plot_encoder_attention, plot_pose_attention, pose_query_attention,
                                        query_keypoints, select_samples)
from pavenet_lite.viz.explorer import AttentionExplorer

FR = 3


def _clip(seed: int) -> np.ndarray:
    """A synthetic clip [F, 108, 192, 3] uint8: smooth colour blobs that move a little between frames."""
    rng = np.random.default_rng(seed)
    yy, xx = np.mgrid[0:108, 0:192]
    centres = rng.uniform([0, 0], [192, 108], size=(6, 2))
    colours = rng.uniform(0, 255, size=(6, 3))
    frames = []
    for f in range(FR):
        img = np.zeros((108, 192, 3))
        for (cx, cy), col in zip(centres + 4.0 * f, colours):
            img += np.exp(-((xx - cx) ** 2 + (yy - cy) ** 2) / 300.0)[..., None] * col
        frames.append(np.clip(img, 0, 255).astype(np.uint8))
    return np.stack(frames)


@pytest.fixture(scope="module")
def predictor() -> Predictor:
    torch.manual_seed(0)
    cfg = get_config("tiny", max_size=96, num_queries=12, num_refine=4, num_frames=FR)
    return Predictor(build_model(cfg), cfg)


@pytest.fixture(scope="module")
def clip(predictor):
    return capture_clip(predictor, _clip(0))


def _naive_samples(loc, w, head, keypoint, frame):
    """Brute-force loop in (head, level, keypoint) order."""
    M, _, L, Kp = w.shape
    xy, wt = [], []
    for m in range(M):
        for lv in range(L):
            for k in range(Kp):
                if (head is None or m == head) and (keypoint is None or k == keypoint):
                    xy.append(loc[m, frame, lv, k])
                    wt.append(w[m, frame, lv, k])
    return np.array(xy), np.array(wt)


def test_capture_scale_and_locations(clip):
    # network input 96 x 54 for a 192 x 108 frame: everything is drawn at twice the captured pixel positions
    np.testing.assert_allclose(clip.scale, [2.0, 2.0])
    loc, w = pose_query_attention(clip, 1, 5)
    raw = clip.outputs["attention"]["pose_decoder"][1]
    np.testing.assert_allclose(loc, (raw["locations"][0, 5].numpy() + 0.5) * 2.0 - 0.5, rtol=1e-6)  # pixel centres
    np.testing.assert_allclose(w.sum((1, 2, 3)), np.ones(w.shape[0]), rtol=1e-5)   # one softmax per head


def test_untrained_layer0_samples_on_proposal_keypoints(clip):
    kps = query_keypoints(clip)
    name, proposal = kps["centre"][0]
    assert name == "proposal" and proposal.shape == (clip.num_queries, K, 2)
    for q in (0, 7):
        loc, w = pose_query_attention(clip, 0, q)                      # [M, F, L, K, 2]
        expected = np.broadcast_to(proposal[q], loc.shape)            # every head / frame / level on keypoint k
        np.testing.assert_allclose(loc, expected, atol=1e-3)
        np.testing.assert_allclose(frame_weight_mass(w), np.full(FR, 1.0 / FR), rtol=1e-5)
    # layer 1 is anchored on the centre-frame output of layer 0 and, for D = 2, on the final non-centre keypoints
    loc1, _ = pose_query_attention(clip, 1, 3)
    centre_l0 = dict(kps["centre"])["pose layer 0"][3]
    # (its offsets are zero at initialisation too, so its samples sit exactly on those anchors)
    np.testing.assert_allclose(loc1[:, 1], np.broadcast_to(centre_l0, loc1[:, 1].shape), atol=1e-3)
    for f in (0, 2):
        np.testing.assert_allclose(loc1[:, f], np.broadcast_to(kps["frames"][f, 3], loc1[:, f].shape), atol=1e-3)


def test_select_samples_and_mass_against_loops():
    rng = np.random.default_rng(1)
    M, L, Kp = 2, 3, 4
    loc = rng.uniform(0, 100, size=(M, FR, L, Kp, 2))
    w = rng.uniform(size=(M, FR, L, Kp))
    w /= w.sum((1, 2, 3), keepdims=True)
    for head, keypoint in ((None, None), (1, None), (None, 2), (0, 3)):
        got = select_samples(loc, w, head, keypoint)
        mass = frame_weight_mass(w, head, keypoint)
        for f in range(FR):
            xy, wt = _naive_samples(loc, w, head, keypoint, f)
            np.testing.assert_array_equal(got[f]["xy"], xy)
            np.testing.assert_array_equal(got[f]["weight"], wt)
            heads = range(M) if head is None else [head]
            ks = range(Kp) if keypoint is None else [keypoint]
            by_hand = sum(w[m, f, lv, k] for m in heads for lv in range(L) for k in ks) / len(heads)
            assert mass[f] == pytest.approx(by_hand)
    assert frame_weight_mass(w).sum() == pytest.approx(1.0)


def test_explorer_callback_figure_matches_capture(predictor):
    explorer = AttentionExplorer(predictor, {"a": _clip(0), "b": _clip(1)})
    fig = explorer.update(clip="b", query=4, layer=1, head=2, keypoint=6)
    assert (explorer.clip.value, explorer.query.value, explorer.layer.value) == ("b", 4, 1)
    assert (explorer.head.value, explorer.keypoint.value) == (2, 6)
    clip_b = explorer.capture("b")
    stages = 1 + clip_b.num_layers + (4 in query_keypoints(clip_b)["refined"])
    assert len(fig.data) == 3 * FR + stages + 1
    raw = clip_b.outputs["attention"]["pose_decoder"][1]
    loc = (raw["locations"][0, 4].numpy() + 0.5) * clip_b.scale - 0.5
    w = raw["weights"][0, 4].numpy()
    for f in range(FR):
        trace = fig.data[3 * f + 1]
        assert trace.name == ("samples t" if f == FR // 2 else f"samples t{f - FR // 2:+d}")
        xy, _ = _naive_samples(loc, w, 2, 6, f)                       # one head, one keypoint: L samples
        assert len(trace.x) == len(clip_b.outputs["attention"]["level_shapes"])
        np.testing.assert_allclose(np.stack([trace.x, trace.y], 1), xy, atol=0.006)
    bar = fig.data[-1]
    np.testing.assert_allclose(bar.y, w[2, :, :, 6].sum(1), atol=1e-4)
    with pytest.raises(ValueError, match="unknown widget"):
        explorer.update(frame=3)


def test_explorer_controls_show_their_values_and_the_bars_fit_their_data(predictor):
    explorer = AttentionExplorer(predictor, {"a": _clip(0)})
    # "all" must be a real selection: a Dropdown whose value is None shows an empty box in the browser.
    assert (explorer.head.label, explorer.keypoint.label) == ("all", "all")
    assert explorer.head.value is not None and explorer.keypoint.value is not None
    assert "all heads, all keypoints" in explorer.figure.layout.title.text
    fig = explorer.update(head=1, keypoint=3)
    assert (explorer.head.label, explorer.keypoint.label) == ("head 1", MODEL_NAMES[3])
    bars = np.asarray(fig.data[-1].y)
    top = fig.layout[f"yaxis{FR + 1}"].range[1]
    assert bars.max() <= top <= 1.2 * bars.max()               # one head and keypoint: a few percent, still visible
    assert fig.layout.width is None                            # fills the notebook column
    explorer.update(head=None, keypoint=None)
    assert (explorer.head.label, explorer.keypoint.label) == ("all", "all")


def test_explorer_widgets_redraw_and_point_selection(predictor):
    explorer = AttentionExplorer(predictor, {"a": _clip(0), "b": _clip(1)})
    before = explorer.figure
    explorer.head.value = 1                                    # as if the user moved the widget
    assert explorer.figure is not before and "head 1" in explorer.figure.layout.title.text
    shown = explorer.output.outputs[0]["data"]["application/vnd.plotly.v1+json"]   # what the Output widget shows
    assert len(shown["data"]) == len(explorer.figure.data)
    assert shown["layout"]["title"]["text"] == explorer.figure.layout.title.text
    explorer.clip.value = "b"                                  # a new clip gets its own query list
    clip_b = explorer.capture("b")
    best = int(clip_b.outputs["pred_logits"][0].argmax())
    assert explorer.query.value == best
    person = clip_b.people[-1]
    x, y = person["keypoints"][3]
    explorer.select_point(x, y)
    # brute force: the person with a keypoint closest to (x, y)
    dists = [min(np.hypot(kx - x, ky - y) for kx, ky in p["keypoints"]) for p in clip_b.people]
    assert explorer.query.value == clip_b.people[int(np.argmin(dists))]["query"] == nearest_query(clip_b, x, y)


def test_explorer_click_on_the_picker_selects_the_person_there(predictor):
    explorer = AttentionExplorer(predictor, {"a": _clip(0)})
    clip_a = explorer.capture("a")
    picture = np.asarray(Image.open(io.BytesIO(explorer.picker.value)))
    assert picture.shape == clip_a.frames[FR // 2].shape          # small frames are shown at their own size
    person = clip_a.people[-1]
    x, y = person["keypoints"][5]
    # The message ipyevents' browser side sends for a click on an Image widget (the position in the image's own
    # pixels), delivered the way the kernel delivers a widget's custom message.
    explorer._clicks._handle_custom_msg({"type": "click", "dataX": float(x), "dataY": float(y)}, [])
    assert explorer.query.value == nearest_query(clip_a, x, y)
    assert (explorer.x.value, explorer.y.value) == (pytest.approx(x), pytest.approx(y))
    # The selected person is redrawn thick: the picker changes when the selection does.
    shown = explorer.picker.value
    other = next(p["query"] for p in clip_a.people if p["query"] != explorer.query.value)
    explorer.update(query=other)
    assert explorer.picker.value != shown


def test_explorer_picker_of_a_large_frame_maps_clicks_back_to_frame_pixels(predictor):
    big = np.repeat(np.repeat(_clip(0), 4, axis=1), 4, axis=2)        # [F, 432, 768, 3]
    explorer = AttentionExplorer(predictor, {"big": big})
    picture = Image.open(io.BytesIO(explorer.picker.value))
    assert max(picture.size) == 640
    clip_big = explorer.capture("big")
    x, y = clip_big.people[0]["keypoints"][2]
    scale = 640 / 768
    explorer._on_click({"type": "click", "dataX": x * scale, "dataY": y * scale})
    assert (explorer.x.value, explorer.y.value) == (pytest.approx(x), pytest.approx(y))
    assert explorer.query.value == nearest_query(clip_big, x, y)


def test_static_pose_plot_matches_capture(clip):
    fig = plot_pose_attention(clip, layer=1, query=2, head=None, keypoint=0)
    axes = fig.axes
    assert len(axes) == FR + 1
    loc, w = pose_query_attention(clip, 1, 2)
    for f in range(FR):
        scatters = [c for c in axes[f].collections if isinstance(c, PathCollection)]
        xy, _ = _naive_samples(loc, w, None, 0, f)
        np.testing.assert_allclose(scatters[-1].get_offsets(), xy)   # samples are drawn last, on top
    heights = [p.get_height() for p in axes[-1].patches]
    np.testing.assert_allclose(heights, w[..., 0].sum(2).mean(0), rtol=1e-6)


def test_static_encoder_plot_matches_capture(clip):
    tokens = [0, 50]
    centres = np.array([[10.0, 10.0], [100.0, 50.0]])
    fig = plot_encoder_attention(clip.frames[1], clip, layer=0, frame_index=1, tokens=tokens, centres=centres)
    scatters = [c for c in fig.axes[0].collections if isinstance(c, PathCollection)]
    assert len(scatters) == 2 * len(tokens)                        # samples + star per token
    raw = (clip.outputs["attention"]["encoder"][0]["locations"][0, 1].numpy() + 0.5) * clip.scale - 0.5  # [N, M, L, P, 2]
    for i, t in enumerate(tokens):
        np.testing.assert_allclose(scatters[2 * i].get_offsets(), raw[t].reshape(-1, 2), rtol=1e-6)
        np.testing.assert_allclose(scatters[2 * i + 1].get_offsets(), centres[i:i + 1])
