"""`evaluation.writer.write_predictions`: prediction files the official poseval accepts (docs/posetrack_eval.md),
checked field by field."""
from __future__ import annotations

import json

import numpy as np
import pytest

from pavenet_lite.data.annotations import Frame, Person, Video
from pavenet_lite.data.posetrack import read_video
from pavenet_lite.evaluation.writer import PredictionWriteError, write_predictions
from pavenet_lite.joints import NUM_PT18, PT18_NAMES


def _person(x0: float, track_id: int, score: float = 0.8) -> Person:
    kp = np.stack([x0 + 10 * np.arange(NUM_PT18), 50 + 3 * np.arange(NUM_PT18)], axis=1).astype(float)
    ann = np.ones(NUM_PT18, dtype=bool)
    ann[[3, 4]] = False  # ears
    return Person(keypoints=kp, annotated=ann, visible=ann.copy(), track_id=track_id,
                  scores=np.linspace(0.1, 0.9, NUM_PT18), score=score)


def _gt_video(name: str = "000342_mpii_test", n: int = 3) -> Video:
    seq = int(name[:6])
    frames = [Frame(file_name=f"images/val/{name}/{t:06d}.jpg", image_id=10**10 + seq * 10**4 + t,
                    is_labeled=t % 2 == 0) for t in range(n)]  # frames 0 and 2 labelled, 1 unlabelled
    return Video(name=name, frames=frames, path=f"/somewhere/{name}.json")


def test_one_file_per_gt_video_with_every_frame_in_gt_order(tmp_path):
    gt = _gt_video()
    preds = {gt.name: [[_person(100, 7), _person(400, 2)], [], [_person(120, 7)]]}
    (path,) = write_predictions([gt], preds, tmp_path)
    assert path == tmp_path / "000342_mpii_test.json"
    data = json.loads(path.read_text())
    assert [im["file_name"] for im in data["images"]] == [f.file_name for f in gt.frames]  # unlabelled one too
    assert [im["id"] for im in data["images"]] == [f.image_id for f in gt.frames]
    assert data["categories"][0]["name"] == "person" and data["categories"][0]["keypoints"] == list(PT18_NAMES)
    per_image = [[a["track_id"] for a in data["annotations"] if a["image_id"] == f.image_id] for f in gt.frames]
    assert per_image == [[7, 2], [], [7]]
    ann = data["annotations"][0]
    kp = np.array(ann["keypoints"]).reshape(NUM_PT18, 3)
    np.testing.assert_array_equal(kp[[3, 4]], 0)  # ears (0, 0, 0)
    np.testing.assert_allclose(kp[:, :2][[0, 5, 16]], [[100, 50], [150, 65], [260, 98]])
    assert len(ann["scores"]) == NUM_PT18 and ann["scores"][5] == pytest.approx(0.1 + 0.05 * 5)
    assert ann["score"] == pytest.approx(0.8)


def test_dict_form_and_missing_video(tmp_path):
    a, b = _gt_video("000342_mpii_test"), _gt_video("000522_mpii_test", n=2)
    with pytest.warns(UserWarning, match="no predictions"):
        paths = write_predictions([a, b], {a.name: {2: [_person(10, 0)]}}, tmp_path)
    got_a, got_b = (read_video(p, kind="pred") for p in paths)
    assert [len(f.people) for f in got_a.frames] == [0, 0, 1]
    assert [len(f.people) for f in got_b.frames] == [0, 0]  # written, with every frame, so poseval finds it


def test_read_back_equals_what_was_written(tmp_path):
    gt = _gt_video()
    p = _person(33.333, 4)
    (path,) = write_predictions([gt], {gt.name: [[p], [], []]}, tmp_path)
    (q,) = read_video(path, kind="pred").frames[0].people
    np.testing.assert_array_equal(q.annotated, p.annotated)
    np.testing.assert_allclose(q.keypoints[p.annotated], p.keypoints[p.annotated], atol=0.005)  # 0.01 px rounding
    np.testing.assert_allclose(q.scores[p.annotated], p.scores[p.annotated], atol=1e-6)
    assert q.track_id == 4


@pytest.mark.parametrize("preds, match", [
    ({"000342_mpii_test": [[]]}, "1 frames, expected one entry per GT frame"),
    ({"000342_mpii_test": {5: []}}, "outside the video's 3 frames"),
    ({"999999_mpii_test": [[], [], []]}, "unknown video"),
])
def test_bad_prediction_layout(tmp_path, preds, match):
    with pytest.raises(PredictionWriteError, match=match):
        write_predictions([_gt_video()], preds, tmp_path)


def test_duplicate_track_ids_and_missing_scores_rejected(tmp_path):
    gt = _gt_video()
    with pytest.raises(ValueError, match="track_id"):
        write_predictions([gt], {gt.name: [[_person(0, 1), _person(300, 1)], [], []]}, tmp_path)
    p = _person(0, 1)
    p.scores = None
    with pytest.raises(ValueError, match="scores"):
        write_predictions([gt], {gt.name: [[p], [], []]}, tmp_path)
    assert not list(tmp_path.glob("*.json"))
