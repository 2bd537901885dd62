"""SynthTrack: PoseTrack18 layout and format (docs/posetrack_eval.md), annotation rules, determinism, round trip."""
from __future__ import annotations

import json
import re
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from pavenet_lite.data.posetrack import read_video
from pavenet_lite.data.posetrack_writer import video_to_pt18
from pavenet_lite.data.synthtrack import PRESETS, generate_synthtrack, preset_with
from pavenet_lite.data.synthtrack.generate import VERSION
from pavenet_lite.data.synthtrack.motion import sample_track
from pavenet_lite.data.synthtrack.skeleton import Angles, joints_3d, sample_body

# Written out from the spec (§1), not imported, so the test checks the package's tables too.
SPEC_NAMES = ["nose", "head_bottom", "head_top", "left_ear", "right_ear", "left_shoulder", "right_shoulder",
              "left_elbow", "right_elbow", "left_wrist", "right_wrist", "left_hip", "right_hip", "left_knee",
              "right_knee", "left_ankle", "right_ankle"]
TINY = preset_with("mini", n_train=2, n_val=1, frames=12, people=(3, 4), ignore_p=1.0, degrade_p=0.2,
                   occluders=2.0)


@pytest.fixture(scope="module")
def data(tmp_path_factory) -> Path:
    return generate_synthtrack(tmp_path_factory.mktemp("st") / "a", TINY, seed=3, progress=False, workers=1)


def _files(root: Path) -> dict[str, bytes]:
    return {str(p.relative_to(root)): p.read_bytes() for p in sorted(root.rglob("*")) if p.is_file()}


def _ann_files(root: Path) -> list[Path]:
    files = sorted((root / "annotations").rglob("*.json"))
    assert files, f"no annotation files under {root}"  # a loop over no files would pass anything
    return files


def test_layout_and_naming(data):
    files = _ann_files(data)
    assert [p.relative_to(data).as_posix() for p in files] == [
        "annotations/train/000001_mpii_train.json", "annotations/train/000002_mpii_train.json",
        "annotations/val/000003_mpii_test.json"]
    for p in files:
        d = json.loads(p.read_text())
        split = p.parent.name
        for t, im in enumerate(d["images"]):
            # poseval: the parent folder is NNNNNN_{mpii|bonn|mpiinew}_..., the basename <int>.jpg with int < 10^4.
            m = re.fullmatch(rf"images/{split}/(\d{{6}})_mpii_(train|test)/(\d{{6}})\.jpg", im["file_name"])
            assert m and m.group(2) == ("train" if split == "train" else "test") and int(m.group(3)) == t < 10**4
            assert im["id"] == 1 * 10**10 + int(m.group(1)) * 10**4 + t == im["frame_id"]
            assert im["vid_id"] == m.group(1) and im["nframes"] == TINY.frames
            with Image.open(data / im["file_name"]) as img:
                assert img.format == "JPEG" and img.size == (384, 216)
    manifest = json.loads((data / "synthtrack.json").read_text())
    assert manifest["seed"] == 3 and manifest["preset"]["name"] == "mini" and manifest["version"] == VERSION


def test_format_conformance(data):
    occluded = ignore_frames = 0
    for p in _ann_files(data):
        d = json.loads(p.read_text())
        assert set(d) == {"images", "annotations", "categories"}
        cat = d["categories"][0]
        assert cat["keypoints"] == SPEC_NAMES and cat["id"] == 1 and cat["name"] == "person"
        images = {im["id"]: im for im in d["images"]}
        for im in d["images"]:
            assert {"id", "file_name", "vid_id", "frame_id", "nframes", "is_labeled", "ignore_regions_x",
                    "ignore_regions_y"} <= set(im)
            assert [len(x) for x in im["ignore_regions_x"]] == [len(y) for y in im["ignore_regions_y"]]
            ignore_frames += bool(im["ignore_regions_x"])
        per_frame: dict[int, list[int]] = {}
        for a in d["annotations"]:
            assert a["category_id"] == 1 and a["image_id"] in images and images[a["image_id"]]["is_labeled"]
            per_frame.setdefault(a["image_id"], []).append(a["track_id"])
            kp = np.array(a["keypoints"], dtype=float).reshape(17, 3)
            assert kp[3].tolist() == [0, 0, 0] and kp[4].tolist() == [0, 0, 0]  # ears never annotated
            annotated = ~(kp == 0).all(1)
            assert annotated.sum() >= 3
            assert set(kp[annotated, 2].tolist()) <= {0.0, 1.0}
            xy = kp[annotated, :2]
            assert ((xy > 0) & (xy < [384, 216])).all()
            occluded += int((kp[annotated, 2] == 0).sum())
            x, y, w, h = a["bbox_head"]
            assert w > 0 and h > 0
            head = kp[[0, 1, 2]][annotated[[0, 1, 2]], :2]  # nose, head_bottom, head_top lie in the head box
            assert ((head >= [x - 0.2 * w, y - 0.2 * h]) & (head <= [x + 1.2 * w, y + 1.2 * h])).all()
            bx, by, bw, bh = a["bbox"]
            assert bw > 0 and bh > 0 and 0 <= bx and bx + bw <= 384 + 1e-6 and 0 <= by and by + bh <= 216 + 1e-6
        for ids in per_frame.values():
            assert len(ids) == len(set(ids)) and all(0 <= k < 10**4 for k in ids)
    assert occluded > 0 and ignore_frames > 0


def test_is_labeled_pattern(data):
    for p in _ann_files(data):
        labeled = [im["is_labeled"] for im in json.loads(p.read_text())["images"]]
        n = len(labeled)
        if p.parent.name == "train":
            runs = re.findall("1+", "".join("1" if v else "0" for v in labeled))
            assert len(runs) == 1 and len(runs[0]) == round(TINY.train_labeled * n)
        else:  # PT17-val style: the central half densely, every 4th frame elsewhere
            block = set(range((n - n // 2) // 2, (n - n // 2) // 2 + n // 2))
            assert labeled == [t in block or t % 4 == 0 for t in range(n)]


def test_round_trip_through_reader(data):
    for p in _ann_files(data):
        assert video_to_pt18(read_video(p)) == json.loads(p.read_text())


def test_manifest_counts_match_files(data):
    manifest = json.loads((data / "synthtrack.json").read_text())
    for split in ("train", "val"):
        ds = [json.loads(p.read_text()) for p in sorted((data / "annotations" / split).glob("*.json"))]
        counts = manifest["splits"][split]
        assert counts["videos"] == len(ds)
        assert counts["frames"] == sum(len(d["images"]) for d in ds)
        assert counts["labeled_frames"] == sum(im["is_labeled"] for d in ds for im in d["images"])
        assert counts["people"] == sum(len(d["annotations"]) for d in ds)


def test_deterministic_across_workers_and_seeds(data, tmp_path):
    again = generate_synthtrack(tmp_path / "b", TINY, seed=3, progress=False, workers=2)
    assert _files(again) == _files(data)  # JSON and JPEG bytes, whatever process made each video
    other = generate_synthtrack(tmp_path / "c", TINY, seed=4, progress=False, workers=1)
    a, c = _files(data), _files(other)
    assert a.keys() == c.keys()
    assert a["annotations/train/000001_mpii_train.json"] != c["annotations/train/000001_mpii_train.json"]
    assert a["images/train/000001_mpii_train/000000.jpg"] != c["images/train/000001_mpii_train/000000.jpg"]


def test_existing_data_set_is_reused(data):
    stamp = (data / "synthtrack.json").stat().st_mtime_ns
    assert generate_synthtrack(data, TINY, seed=3, progress=False, workers=1) == data
    assert (data / "synthtrack.json").stat().st_mtime_ns == stamp


def test_presets_and_unknown_name(tmp_path):
    assert set(PRESETS) == {"mini", "default", "crowd", "hard"}
    assert PRESETS["crowd"].val_people == (1, 2, 4, 8, 16, 30)
    assert PRESETS["default"].width * 9 == PRESETS["default"].height * 16
    with pytest.raises(ValueError, match="unknown"):
        generate_synthtrack(tmp_path, "huge", progress=False)


def test_skeleton_lengths_ground_and_facing():
    body = sample_body(np.random.default_rng(0))
    j = joints_3d(body, Angles(hip=(0.4, -0.3), knee=(0.6, 0.2), shoulder=(0.5, -0.5), elbow=(1.0, 0.2)))
    for a, b, length in [(11, 13, body.thigh), (13, 15, body.shin), (12, 14, body.thigh), (14, 16, body.shin),
                         (5, 7, body.upper_arm), (7, 9, body.forearm), (6, 8, body.upper_arm),
                         (8, 10, body.forearm), (1, 2, body.head)]:
        assert np.linalg.norm(j[a] - j[b]) == pytest.approx(length)
    assert min(j[15, 1], j[16, 1]) == pytest.approx(body.ankle)  # the lower foot stands on the ground
    front, back = joints_3d(body, Angles(yaw=0.0)), joints_3d(body, Angles(yaw=np.pi))
    # Facing the camera, a person's left shoulder appears on the image right (+x); turned around, on the left.
    assert front[5, 0] > front[6, 0] and back[5, 0] < back[6, 0]
    assert front[0, 2] > front[1, 2]  # the nose points at the camera


def test_crowd_videos_have_exactly_n_people(tmp_path):
    # The runtime-vs-people benchmark relies on every labelled frame showing exactly N annotated people.
    preset = preset_with("crowd", n_train=0, val_people=(1, 30), frames=5)
    root = generate_synthtrack(tmp_path, preset, seed=0, progress=False, workers=1)
    files = _ann_files(root)
    assert [p.parent.name for p in files] == ["val", "val"]
    for path, n in zip(files, (1, 30)):
        d = json.loads(path.read_text())
        labelled = [im["id"] for im in d["images"] if im["is_labeled"]]
        per_frame = [sum(a["image_id"] == i for a in d["annotations"]) for i in labelled]
        assert labelled and per_frame == [n] * len(labelled)


def test_walkers_enter_from_outside_the_view():
    rng = np.random.default_rng(0)
    view = (100.0, 484.0)
    tracks = [sample_track(rng, k, view, lambda s: 100.0, kinds=("walk",), enter_p=1.0) for k in range(20)]
    assert view[0] < tracks[0].x0 < view[1]  # track 0 always starts in view: no video is empty
    for tr in tracks[1:]:
        x_start, x_late = tr.ground(0)[0], tr.ground(30)[0]
        outside_left, outside_right = x_start < view[0], x_start > view[1]
        assert outside_left or outside_right
        assert (x_late > x_start) == outside_left  # ... and walks towards the view


def test_degraded_frames_are_replayed_from_the_manifest(tmp_path, monkeypatch):
    from pavenet_lite.data.synthtrack import degraded_frames, scene

    # Mark every degraded frame with a pure magenta image, then find them again in the JPEGs on disk.
    monkeypatch.setattr(scene, "degrade", lambda img, rng: Image.new("RGB", img.size, (255, 0, 255)))
    preset = preset_with("mini", n_train=1, n_val=3, frames=10, degrade_p=0.4)
    root = generate_synthtrack(tmp_path / "d", preset, seed=1, progress=False, workers=1)
    replayed = degraded_frames(root, "val")
    assert sorted(replayed) == sorted(p.name for p in (root / "images" / "val").iterdir())
    for name, flags in replayed.items():
        frames = sorted((root / "images" / "val" / name).glob("*.jpg"))
        magenta = [bool((np.abs(np.asarray(Image.open(f), float) - [255, 0, 255]).max(-1) < 40).all()) for f in frames]
        assert magenta == flags.tolist(), name
    assert 0 < sum(int(f.sum()) for f in replayed.values()) < 30
    with pytest.raises(FileNotFoundError, match="synthtrack.json"):
        degraded_frames(tmp_path / "nowhere")
