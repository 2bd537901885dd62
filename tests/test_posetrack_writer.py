"""PoseTrack18 writer (`data.posetrack_writer`): layout of docs/posetrack_eval.md, atomic writes, clear errors."""
from __future__ import annotations

import json
import math

import numpy as np
import pytest

from pavenet_lite.data.annotations import Frame, Person, Video
from pavenet_lite.data.posetrack_writer import PoseTrackWriteError, video_to_pt18, write_json_atomic, write_video
from pavenet_lite.joints import PT18_NAMES


def _person(track_id: int, offset: float, scores: bool = False) -> Person:
    kp = np.stack([np.arange(17) * 2.0 + 10 + offset, np.arange(17) * 3.0 + 20], axis=1)
    annotated = np.ones(17, bool)
    annotated[[3, 4]] = False  # ears
    visible = annotated.copy()
    visible[16] = False  # occluded right ankle, still annotated
    return Person(keypoints=kp, annotated=annotated, visible=visible, track_id=track_id,
                  head_box=np.array([10.0, 20.0, 30.5, 45.25]), box=np.array([5.0, 6.0, 70.0, 80.0]),
                  scores=np.linspace(0.1, 0.9, 17) if scores else None, score=0.7 if scores else None)


def _video(scores: bool = False) -> Video:
    frames = []
    for t in range(3):
        people = [_person(0, t, scores), _person(3, 40 + t, scores)] if t == 1 else []
        regions = [np.array([[1.0, 2.0], [30.0, 2.0], [30.0, 40.0]])] if t == 1 else []
        name = f"images/val/000342_mpii_test/{t:06d}.jpg"
        frames.append(Frame(file_name=name, image_id=10003420000 + t, is_labeled=(t == 1), people=people,
                            ignore_regions=regions))
    return Video(name="000342_mpii_test", frames=frames)


def test_ground_truth_layout():
    d = video_to_pt18(_video())
    assert [im["id"] for im in d["images"]] == [10003420000, 10003420001, 10003420002]
    for im in d["images"]:
        assert set(im) >= {"id", "file_name", "vid_id", "frame_id", "nframes", "is_labeled",
                           "ignore_regions_x", "ignore_regions_y"}
        assert im["vid_id"] == "000342" and im["nframes"] == 3 and im["frame_id"] == im["id"]
    assert [im["is_labeled"] for im in d["images"]] == [False, True, False]
    assert d["images"][1]["ignore_regions_x"] == [[1.0, 30.0, 30.0]]
    assert d["images"][1]["ignore_regions_y"] == [[2.0, 2.0, 40.0]]
    assert d["images"][0]["ignore_regions_x"] == []
    anns = d["annotations"]
    assert len(anns) == 2 and len({a["id"] for a in anns}) == 2
    a = anns[0]
    assert set(a) == {"id", "image_id", "track_id", "category_id", "keypoints", "bbox", "bbox_head"}
    assert a["image_id"] == 10003420001 and a["category_id"] == 1 and a["track_id"] == 0
    kp = np.array(a["keypoints"]).reshape(17, 3)
    assert kp[3].tolist() == [0, 0, 0] and kp[4].tolist() == [0, 0, 0]
    assert kp[0].tolist() == [11.0, 20.0, 1] and kp[16].tolist() == [16 * 2 + 11.0, 16 * 3 + 20.0, 0]
    assert a["bbox_head"] == [10.0, 20.0, 20.5, 25.25]  # corners -> x, y, w, h
    assert a["bbox"] == [5.0, 6.0, 70.0, 80.0]
    cat = d["categories"][0]
    assert cat["id"] == 1 and cat["name"] == "person" and cat["keypoints"] == list(PT18_NAMES)
    assert all(1 <= i <= 17 for edge in cat["skeleton"] for i in edge)


def test_prediction_layout():
    d = video_to_pt18(_video(scores=True), predictions=True)
    assert d["images"] == [{"id": 10003420000 + t, "file_name": f"images/val/000342_mpii_test/{t:06d}.jpg"}
                           for t in range(3)]
    a = d["annotations"][0]
    assert set(a) == {"image_id", "track_id", "category_id", "keypoints", "scores", "score"}
    expected_scores = [round(0.1 + 0.05 * j, 6) for j in range(17)]
    kp = np.array(a["keypoints"]).reshape(17, 3)
    assert len(a["scores"]) == 17 and a["scores"][3] == 0.0 and a["scores"][0] == pytest.approx(0.1)
    assert kp[5, 2] == pytest.approx(expected_scores[5]) and kp[3].tolist() == [0, 0, 0]
    assert a["score"] == 0.7 and d["categories"][0]["keypoints"] == list(PT18_NAMES)


def test_errors_name_the_field():
    v = _video()
    v.frames[1].people[0].head_box = None
    with pytest.raises(PoseTrackWriteError, match="head_box"):
        video_to_pt18(v)
    v = _video()
    v.frames[1].people[1].track_id = 0
    with pytest.raises(PoseTrackWriteError, match="track_id"):
        video_to_pt18(v)
    v = _video()
    v.frames[1].people[0].keypoints[5] = [0.001, 0.002]
    with pytest.raises(PoseTrackWriteError, match=r"\(0, 0\)"):
        video_to_pt18(v)
    v = _video()
    v.frames[1].people[0].keypoints[7, 0] = math.nan
    with pytest.raises(PoseTrackWriteError, match="NaN"):
        video_to_pt18(v)
    v = _video()
    v.frames[1].people[0].keypoints = np.zeros((15, 2))
    with pytest.raises(PoseTrackWriteError, match="keypoints"):
        video_to_pt18(v)
    with pytest.raises(PoseTrackWriteError, match="scores"):
        video_to_pt18(_video(), predictions=True)
    v = _video()
    v.frames[0].file_name = "images/val/clip/000000.jpg"
    with pytest.raises(PoseTrackWriteError, match="parent folder"):
        video_to_pt18(v)


def test_write_video_and_atomicity(tmp_path):
    path = write_video(_video(), tmp_path / "sub" / "000342_mpii_test.json")
    assert json.loads(path.read_text()) == video_to_pt18(_video())
    before = path.read_bytes()
    with pytest.raises(ValueError):
        write_json_atomic({"x": math.nan}, path)  # JSON cannot hold NaN: serialisation fails half-way
    with pytest.raises(TypeError):
        write_json_atomic({"a": [1, 2, object()]}, path)
    assert path.read_bytes() == before
    assert sorted(p.name for p in path.parent.iterdir()) == ["000342_mpii_test.json"]
