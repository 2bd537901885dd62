"""Predictor and demo I/O: the sliding window at the video ends, demo pose files, prediction files."""
from __future__ import annotations

import csv
import json
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from pavenet_lite.cli import main as cli_main
from pavenet_lite.config import get_config
from pavenet_lite.data.posetrack import read_split, read_video
from pavenet_lite.evaluation import evaluate_posetrack
from pavenet_lite.joints import MODEL_NAMES
from pavenet_lite.model import build_model
from pavenet_lite.predict import Predictor, render_demo
from pavenet_lite.quickstart import SHIPPED_CHECKPOINT
from tests.conftest import FAST_MODEL


@pytest.fixture(scope="module")
def predictor() -> Predictor:
    torch.set_num_threads(1)
    cfg = get_config("tiny", num_frames=3, **FAST_MODEL)
    torch.manual_seed(0)
    return Predictor(build_model(cfg), cfg)


def _video(n: int = 5, h: int = 40, w: int = 64) -> np.ndarray:
    """n frames [n, h, w, 3] uint8 of seeded noise, each frame different."""
    return np.random.default_rng(0).integers(0, 256, (n, h, w, 3), dtype=np.uint8)


def _same_people(a: list[dict], b: list[dict]) -> bool:
    return len(a) == len(b) and all(
        p["query"] == q["query"] and np.allclose(p["keypoints"], q["keypoints"], atol=1e-3)
        and abs(p["score"] - q["score"]) < 1e-5 for p, q in zip(a, b))


def test_predict_video_ends_equal_predict_clip_on_the_replicated_window(predictor):
    frames = _video()
    people = predictor.predict_video(frames, batch_size=2)
    assert len(people) == len(frames)
    # Windows written out by hand for F = 3: the missing neighbour is the end frame itself.
    assert _same_people(people[0], predictor.predict_clip(frames[[0, 0, 1]]))
    assert _same_people(people[2], predictor.predict_clip(frames[[1, 2, 3]]))
    assert _same_people(people[4], predictor.predict_clip(frames[[3, 4, 4]]))
    # ... and not the clip without replication (the window matters).
    assert not _same_people(people[0], predictor.predict_clip(frames[[0, 1, 2]]))


def test_predict_clip_rejects_a_wrong_number_of_frames(predictor):
    with pytest.raises(ValueError, match=r"expected frames \[F=3, H, W, 3\].*\(2, 40, 64, 3\)"):
        predictor.predict_clip(_video(2))


def test_demo_poses_files_hold_the_drawn_people(predictor, tmp_path):
    frames = _video()
    people = predictor.predict_video(frames)
    threshold = float(np.median([p["score"] for ppl in people for p in ppl]))  # drops about half of them
    kept = [[p for p in ppl if p["score"] >= threshold] for ppl in people]
    assert 0 < sum(map(len, kept)) < sum(map(len, people))
    gif = render_demo(predictor, frames, tmp_path / "demo.gif", threshold=threshold, progress=False,
                      poses_out=tmp_path / "poses.json")
    assert Image.open(gif).n_frames == len(frames)
    doc = json.loads((tmp_path / "poses.json").read_text())
    assert doc["joints"] == list(MODEL_NAMES)
    assert [f["frame"] for f in doc["frames"]] == list(range(len(frames)))
    for want, got in zip(kept, doc["frames"]):
        assert [q["person"] for q in got["people"]] == list(range(len(want)))
        for p, q in zip(want, got["people"]):
            assert q["score"] == pytest.approx(p["score"], abs=1e-4)
            np.testing.assert_allclose(q["keypoints"], p["keypoints"], atol=0.01)
            np.testing.assert_allclose(q["keypoint_scores"], p["keypoint_scores"], atol=1e-4)
    render_demo(predictor, frames, tmp_path / "demo.gif", threshold=threshold, progress=False,
                poses_out=tmp_path / "poses.csv")
    with open(tmp_path / "poses.csv", newline="") as f:
        rows = list(csv.DictReader(f))
    assert len(rows) == sum(map(len, kept)) * len(MODEL_NAMES)
    # The CSV is the JSON flattened: one row per (frame, person, joint), same numbers.
    flat = [(f["frame"], q["person"], name, x, y) for f in doc["frames"] for q in f["people"]
            for name, (x, y) in zip(doc["joints"], q["keypoints"])]
    assert [(int(r["frame"]), int(r["person"]), r["joint"]) for r in rows] == [row[:3] for row in flat]
    np.testing.assert_allclose([(float(r["x"]), float(r["y"])) for r in rows], [row[3:] for row in flat], atol=0.006)


def test_demo_rejects_unknown_suffixes_before_predicting(predictor, tmp_path):
    with pytest.raises(ValueError, match=r"poses\.txt: expected a poses file ending in \.json or \.csv"):
        render_demo(predictor, _video(), tmp_path / "demo.gif", poses_out=tmp_path / "poses.txt", progress=False)
    with pytest.raises(ValueError, match=r"demo\.png: expected an output ending in \.gif or \.mp4"):
        render_demo(predictor, _video(), tmp_path / "demo.png", progress=False)
    assert list(tmp_path.iterdir()) == []


def test_demo_cli_writes_the_video_and_the_poses(tmp_path, capsys):
    for t, frame in enumerate(_video(3, 108, 192)):
        Image.fromarray(frame).save(tmp_path / f"{t:06d}.jpg")
    cli_main(["demo", "--checkpoint", str(SHIPPED_CHECKPOINT), "--video", str(tmp_path), "--out",
              str(tmp_path / "out" / "demo.gif"), "--threshold", "0", "--poses", str(tmp_path / "out" / "p.csv")])
    assert "poses to" in capsys.readouterr().out
    with open(tmp_path / "out" / "p.csv", newline="") as f:
        rows = list(csv.DictReader(f))
    top_k = Predictor.from_checkpoint(SHIPPED_CHECKPOINT).top_k
    assert len(rows) == 3 * top_k * len(MODEL_NAMES)  # threshold 0 keeps every returned person
    assert (tmp_path / "out" / "demo.gif").stat().st_size > 0


def test_predict_posetrack_files_are_read_and_evaluated(predictor, synth_small, tmp_path):
    gt = read_split(synth_small, "val")
    paths = predictor.predict_posetrack(synth_small, "val", tmp_path / "pred")
    assert sorted(p.name for p in paths) == sorted(f"{v.name}.json" for v in gt)
    for v in gt:
        pred = read_video(tmp_path / "pred" / f"{v.name}.json", kind="pred")
        assert [f.file_name for f in pred.frames] == [f.file_name for f in v.frames]
        for t, (g, p) in enumerate(zip(v.frames, pred.frames)):
            # Every labelled frame gets top_k people sorted by score, with per-joint scores; the others none.
            assert len(p.people) == (predictor.top_k if g.is_labeled else 0), (v.name, t)
            scores = [q.score for q in p.people]
            assert scores == sorted(scores, reverse=True)
            assert all(q.scores is not None and len({q.track_id for q in p.people}) == len(p.people)
                       for q in p.people)
    from_files = evaluate_posetrack(synth_small / "annotations" / "val", tmp_path / "pred")
    in_memory = predictor.evaluate(synth_small, "val")
    assert from_files.per_joint == pytest.approx(in_memory.per_joint, abs=1e-6, nan_ok=True)


@pytest.mark.parametrize("max_size", [96, 192, 250])
def test_targets_map_back_to_the_original_pixels(synth_small, max_size):
    """Target normalisation (data) and postprocess (model -> pixels) are exact inverses at any input scale."""
    from pavenet_lite.data.clips import PoseTrackClips
    from pavenet_lite.joints import MODEL_TO_PT18
    from pavenet_lite.model import postprocess

    ds = PoseTrackClips(synth_small, "val", num_frames=1, max_size=max_size, train=False)
    checked = 0
    for i in range(len(ds)):
        _, target = ds[i]
        video, t = ds.samples[i]
        gt = [p for p in ds.videos[video].frames[t].people if p.annotated[list(MODEL_TO_PT18)].any()]
        G, K = target["keypoints"].shape[:2]
        outputs = {"pred_logits": torch.linspace(3, -3, G)[None], "pred_keypoints": target["keypoints"][None],
                   "pred_sigmas": torch.full((1, G, K, 2), 0.1)}
        back = postprocess(outputs, [target])[0]["keypoints"]                   # [G, K, 2], order kept by score
        for g, person in enumerate(gt):
            ann = target["annotated"][g]
            inside = (person.keypoints[list(MODEL_TO_PT18)] >= 0).all(-1)  # postprocess clamps to the frame
            expected = torch.as_tensor(person.keypoints[list(MODEL_TO_PT18)], dtype=torch.float32)
            torch.testing.assert_close(back[g][ann & torch.as_tensor(inside)], expected[ann & torch.as_tensor(inside)],
                                       atol=2e-3, rtol=0)
            checked += int(ann.sum())
    assert checked > 50


def test_oks_nms_keeps_the_best_of_each_overlapping_group(synth_small):
    # Against a direct OKS computation: the NMS result is a subset of the NMS-free people, in score order, no two
    # kept people overlap above 0.45, and every removed person overlaps a kept one with a higher score. The shipped
    # checkpoint is used because an untrained model's poses collapse to points and never overlap.
    from pavenet_lite.joints import MODEL_TO_PT18, PT18_OKS_SIGMAS

    predictor = Predictor.from_checkpoint(SHIPPED_CHECKPOINT)
    video = read_split(synth_small, "val")[0]
    frames = np.stack([np.asarray(Image.open(Path(synth_small) / video.frames[t].file_name).convert("RGB"))
                       for t in range(3)])

    sigmas = np.asarray(PT18_OKS_SIGMAS)[list(MODEL_TO_PT18)]

    def oks(a: dict, b: dict) -> float:
        area = np.mean([np.prod(p["keypoints"].max(0) - p["keypoints"].min(0)) for p in (a, b)])
        d2 = ((a["keypoints"] - b["keypoints"]) ** 2).sum(-1)
        return float(np.exp(-d2 / (2 * max(area, 1e-6) * (2 * sigmas) ** 2)).mean())

    plain = predictor.predict_clip(frames)
    nms = Predictor(predictor.model, predictor.cfg, oks_nms=True).predict_clip(frames)
    assert 0 < len(nms) < len(plain)
    queries = [p["query"] for p in plain]
    kept = [queries.index(p["query"]) for p in nms]
    assert kept == sorted(kept)
    assert all(oks(a, b) <= 0.45 for i, a in enumerate(nms) for b in nms[i + 1:])
    for i, p in enumerate(plain):
        if i not in kept:
            assert any(oks(p, plain[j]) > 0.45 for j in kept if j < i)
