"""Visualisation: skeleton segments and markers, PIL overlays, clip grids, GIF / MP4 writing, data-set preview."""
from __future__ import annotations

import matplotlib
import numpy as np
import pytest
from matplotlib.figure import Figure
from PIL import Image

from pavenet_lite.data.annotations import Person
from pavenet_lite.data.synthtrack import generate_synthtrack, preset_with
from pavenet_lite.data.video_files import load_frames
from pavenet_lite.viz import (clip_grid, color_for, draw_frame, draw_skeleton, figure_to_array, overlay_people,
                              render_preview_gif, write_gif, write_mp4)


def _axes():
    return Figure().subplots()


def _kp(n: int) -> np.ndarray:
    return np.stack([np.arange(n) * 5.0 + 10, np.arange(n) * 3.0 + 20], axis=1)


def test_draw_skeleton_segment_counts():
    # Model order: 15 edges; PT18 order with the ears unannotated: still 15 (no edge touches an ear).
    lines, dots = draw_skeleton(_axes(), _kp(15))
    assert len(lines.get_segments()) == 15 and len(dots.get_offsets()) == 15
    ann = np.ones(17, bool)
    ann[[3, 4]] = False
    lines, dots = draw_skeleton(_axes(), _kp(17), annotated=ann)
    assert len(lines.get_segments()) == 15 and len(dots.get_offsets()) == 15
    # Model joint 5 = left_elbow ends two limbs (upper arm, forearm): both disappear.
    ann = np.ones(15, bool)
    ann[5] = False
    lines, _ = draw_skeleton(_axes(), _kp(15), annotated=ann)
    assert len(lines.get_segments()) == 13
    segs = {tuple(map(tuple, s)) for s in lines.get_segments()}
    kp = _kp(15)
    assert (tuple(kp[0]), tuple(kp[1])) in segs  # nose - head_bottom drawn between the right points
    # Scores below the threshold hide joints: nose (0) and head_top (2) -> edges (0,1) and (1,2) go.
    scores = np.full(15, 0.9)
    scores[[0, 2]] = 0.1
    lines, dots = draw_skeleton(_axes(), kp, scores=scores, threshold=0.5)
    assert len(lines.get_segments()) == 13 and len(dots.get_offsets()) == 13
    with pytest.raises(ValueError, match="15 .* or 17"):
        draw_skeleton(_axes(), _kp(16))


def test_occluded_joints_are_hollow():
    vis = np.ones(15, bool)
    vis[[4, 9]] = False
    _, dots = draw_skeleton(_axes(), _kp(15), visible=vis, color=(0, 0, 255))
    alpha = dots.get_facecolors()[:, 3]
    assert np.flatnonzero(alpha == 0).tolist() == [4, 9]


def test_draw_frame_colours_by_track():
    image = np.zeros((60, 80, 3), np.uint8)
    ann = np.ones(17, bool)
    people = [Person(_kp(17) * 0.5, ann, ann, track_id=7), {"keypoints": _kp(15) * 0.4, "query": 2}]
    ax = draw_frame(_axes(), image, people)
    colours = [tuple(np.round(c.get_colors()[0][:3] * 255).astype(int)) for c in ax.collections[::2]]
    assert colours == [color_for(7), color_for(2)]
    assert [t.get_text() for t in ax.texts] == ["7", "2"]


def test_overlay_people_draws_at_keypoints():
    image = np.full((50, 60, 3), 40, np.uint8)
    kp = np.zeros((15, 2))
    kp[:, 0], kp[:, 1] = 30.0, 25.0
    kp[0] = [10.0, 10.0]  # the nose alone, far from everything else
    out = overlay_people(image, [{"keypoints": kp, "keypoint_scores": np.ones(15), "query": 3}], scale=2)
    assert out.shape == (100, 120, 3)
    assert tuple(out[20, 20]) == color_for(3)      # nose at (10, 10) x 2
    assert tuple(out[95, 5]) == (40, 40, 40)       # far corner untouched
    low = overlay_people(image, [{"keypoints": kp, "keypoint_scores": np.zeros(15)}], threshold=0.5)
    assert (low == image).all()


@pytest.mark.parametrize("num_frames", [1, 3, 5])
def test_clip_grid_panels_and_centre(num_frames):
    clip = np.random.default_rng(0).random((num_frames, 3, 24, 32))  # [F, 3, H, W] floats in [0, 1]
    people = [[{"keypoints": _kp(15), "track_id": 0}] for _ in range(num_frames)]
    fig = clip_grid(clip, people)
    axes = fig.axes
    assert len(axes) == num_frames
    centre = axes[num_frames // 2]
    assert centre.get_title() == "t" and matplotlib.colors.to_hex(centre.spines["top"].get_edgecolor()) == "#ff0000"
    if num_frames > 1:
        assert axes[0].get_title() == f"t-{num_frames // 2}"
    assert all(len(ax.collections[0].get_segments()) == 15 for ax in axes)
    array = figure_to_array(fig)
    assert array.dtype == np.uint8 and array.ndim == 3 and array.shape[2] == 3
    with pytest.raises(ValueError, match="people_per_frame"):
        clip_grid(clip, people[:-1] if num_frames > 1 else [[], []])


def test_write_gif_frame_count_and_errors(tmp_path):
    frames = [np.full((16, 20, 3), 30 * i, np.uint8) for i in range(5)]
    path = write_gif(frames, tmp_path / "a.gif", fps=10)
    with Image.open(path) as im:
        assert im.n_frames == 5 and im.size == (20, 16) and im.info["duration"] == 100
        im.seek(3)
        assert np.asarray(im.convert("RGB"))[0, 0].tolist() == [90, 90, 90]
    with pytest.raises(ValueError, match="frame 1"):
        write_gif([frames[0], np.zeros((8, 8, 3), np.uint8)], tmp_path / "b.gif")
    with pytest.raises(ValueError, match="no frames"):
        write_gif([], tmp_path / "c.gif")


def test_mp4_round_trip_keeps_frames_size_and_colours(tmp_path):
    # Flat colours survive H.264 up to a few grey levels away from the edge (colour is stored at half resolution, so
    # the black padding row, added because the height is odd, bleeds into the last rows).
    colours = [(200, 30, 30), (30, 200, 30), (30, 30, 200), (128, 128, 128)]
    frames = [np.full((15, 20, 3), c, np.uint8) for c in colours]
    path = write_mp4(frames, tmp_path / "a.mp4", fps=4)
    back = load_frames(path)                                     # [T, H, W, 3]
    assert back.shape == (4, 16, 20, 3) and back.dtype == np.uint8
    for got, c in zip(back, colours):
        assert np.abs(got[:12].astype(int) - c).max() <= 8
        assert got[15].mean() < got[:12].mean() / 2              # the padding row is dark
    with pytest.raises(ValueError, match="no frames"):
        write_mp4([], tmp_path / "b.mp4")


def test_render_preview_gif(tmp_path):
    root = generate_synthtrack(tmp_path / "st", preset_with("mini", n_train=1, n_val=1, frames=6), seed=1,
                               progress=False, workers=1)
    path = render_preview_gif(root, "val", tmp_path / "p.gif", max_frames=4, scale=2)
    with Image.open(path) as im:
        assert im.n_frames == 4 and im.size == (768, 432)
    with pytest.raises(ValueError, match="no annotation files"):
        render_preview_gif(root, "test", tmp_path / "q.gif")
