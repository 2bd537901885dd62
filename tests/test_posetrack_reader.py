"""PoseTrack17 / PoseTrack18 readers (`data.posetrack`): hand-written files of the same content, and every bad input."""
from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np
import pytest

from pavenet_lite.data.annotations import Frame, Person, Video
from pavenet_lite.data.posetrack import AnnotationError, image_path, read_dir, read_split, read_video

# Written out by hand from docs/posetrack_eval.md (not imported from the package).
PT18 = ["nose", "head_bottom", "head_top", "left_ear", "right_ear", "left_shoulder", "right_shoulder",
        "left_elbow", "right_elbow", "left_wrist", "right_wrist", "left_hip", "right_hip", "left_knee",
        "right_knee", "left_ankle", "right_ankle"]
POSEVAL_ID = {"right_ankle": 0, "right_knee": 1, "right_hip": 2, "left_hip": 3, "left_knee": 4, "left_ankle": 5,
              "right_wrist": 6, "right_elbow": 7, "right_shoulder": 8, "left_shoulder": 9, "left_elbow": 10,
              "left_wrist": 11, "head_bottom": 12, "nose": 13, "head_top": 14}
NAMES = [f"images/val/000342_mpii_test/00000{i}.jpg" for i in range(3)]
IDS = [10003420000, 10003420001, 10003420002]

# The content, once: frame -> people (track id, head box xyxy, person box xywh, joints name -> (x, y, visible)).
PEOPLE = {
    0: [(0, (90, 25, 110, 75), (70, 20, 60, 190),
         {"nose": (100, 50, 1), "head_bottom": (100, 70, 1), "head_top": (100, 30, 1),
          "left_shoulder": (120, 80, 1), "right_shoulder": (80, 80, 0), "right_ankle": (85, 200, 1)}),
        (3, (280, 100, 310, 140), None, {"left_wrist": (300, 150, 1)})],
    1: [],
    2: [(0, (90, 26, 110, 76), None, {"nose": (102, 51, 1)})],
}
LABELED = [True, False, True]
IGNORE = {2: [[(0, 0), (50, 0), (50, 50)]]}


def triples(joints: dict, names: list[str] = PT18) -> list[float]:
    out = []
    for n in names:
        out += list(joints[n]) if n in joints else [0, 0, 0]
    return out


def pt18_gt(names: list[str] = PT18) -> dict:
    images, anns = [], []
    for t in range(3):
        img = {"id": IDS[t], "file_name": NAMES[t], "is_labeled": LABELED[t], "width": 640, "height": 360}
        if t in IGNORE:
            img["ignore_regions_x"] = [[p[0] for p in poly] for poly in IGNORE[t]]
            img["ignore_regions_y"] = [[p[1] for p in poly] for poly in IGNORE[t]]
        images.append(img)
        for tid, (x1, y1, x2, y2), box, joints in PEOPLE[t]:
            ann = {"id": len(anns), "image_id": IDS[t], "track_id": tid, "category_id": 1,
                   "keypoints": triples(joints, names), "bbox_head": [x1, y1, x2 - x1, y2 - y1]}
            if box is not None:
                ann["bbox"] = list(box)
            anns.append(ann)
    return {"images": images, "annotations": anns,
            "categories": [{"id": 1, "name": "person", "keypoints": list(names)}]}


def pt17_gt() -> dict:
    annolist = []
    for t in range(3):
        rects = []
        for tid, (x1, y1, x2, y2), _, joints in PEOPLE[t]:
            points = [{"id": [POSEVAL_ID[n]], "x": [x], "y": [y], "is_visible": [v]} for n, (x, y, v) in joints.items()]
            rects.append({"x1": [x1], "y1": [y1], "x2": [x2], "y2": [y2], "track_id": [tid],
                          "annopoints": [{"point": points}]})
        entry = {"image": [{"name": NAMES[t]}], "imgnum": [t + 1], "is_labeled": [int(LABELED[t])], "annorect": rects}
        if t in IGNORE:
            entry["ignore_regions"] = [{"point": [{"x": [x], "y": [y]} for x, y in poly]} for poly in IGNORE[t]]
        annolist.append(entry)
    return {"annolist": annolist}


def expected_video(path: Path, sizes: bool) -> Video:
    frames = []
    for t in range(3):
        people = []
        for tid, head, box, joints in PEOPLE[t]:
            p = Person(keypoints=np.zeros((17, 2)), annotated=np.zeros(17, bool), visible=np.zeros(17, bool),
                       track_id=tid, head_box=np.array(head, float),
                       box=None if box is None or not sizes else np.array(box, float))
            for n, (x, y, v) in joints.items():
                p.keypoints[PT18.index(n)] = (x, y)
                p.annotated[PT18.index(n)] = True
                p.visible[PT18.index(n)] = bool(v)
            people.append(p)
        frames.append(Frame(file_name=NAMES[t], image_id=IDS[t], is_labeled=LABELED[t], people=people,
                            ignore_regions=[np.array(poly, float) for poly in IGNORE.get(t, [])],
                            width=640 if sizes else None, height=360 if sizes else None))
    return Video(name=path.stem, frames=frames, path=str(path))


def assert_same_video(a: Video, b: Video) -> None:
    assert (a.name, len(a.frames)) == (b.name, len(b.frames))
    for fa, fb in zip(a.frames, b.frames):
        assert (fa.file_name, fa.image_id, fa.is_labeled, fa.width, fa.height) == \
               (fb.file_name, fb.image_id, fb.is_labeled, fb.width, fb.height)
        assert len(fa.ignore_regions) == len(fb.ignore_regions)
        for ra, rb in zip(fa.ignore_regions, fb.ignore_regions):
            np.testing.assert_array_equal(ra, rb)
        assert len(fa.people) == len(fb.people)
        for pa, pb in zip(fa.people, fb.people):
            assert pa.track_id == pb.track_id and pa.score == pb.score
            for key in ("keypoints", "annotated", "visible", "head_box", "box", "scores"):
                va, vb = getattr(pa, key), getattr(pb, key)
                assert (va is None) == (vb is None), key
                if va is not None:
                    np.testing.assert_array_equal(va, vb, err_msg=key)


def write(tmp_path: Path, name: str, data) -> Path:
    path = tmp_path / name
    path.write_text(data if isinstance(data, str) else json.dumps(data))
    return path


def test_pt18_matches_hand_written_video(tmp_path):
    path = write(tmp_path, "000342_mpii_test.json", pt18_gt())
    assert_same_video(read_video(path), expected_video(path, sizes=True))


def test_pt17_and_pt18_give_the_same_video(tmp_path):
    p17 = write(tmp_path / "", "a.json", pt17_gt())
    (tmp_path / "b").mkdir()
    p18 = write(tmp_path / "b", "a.json", pt18_gt())
    v17, v18 = read_video(p17), read_video(p18)
    for frame in v18.frames:  # PT17 has no image size and no person box
        frame.width = frame.height = None
        for p in frame.people:
            p.box = None
    v17.path = v18.path
    assert_same_video(v17, v18)
    assert_same_video(v17, expected_video(p18, sizes=False))


def test_pt18_keypoints_follow_category_names(tmp_path):
    shuffled = PT18[::-1]
    path = write(tmp_path, "s.json", pt18_gt(shuffled))
    assert_same_video(read_video(path), expected_video(path, sizes=True))


def test_occluded_joint_is_annotated_but_not_visible(tmp_path):
    person = read_video(write(tmp_path, "v.json", pt18_gt())).frames[0].people[0]
    rs = PT18.index("right_shoulder")
    assert person.annotated[rs] and not person.visible[rs]
    assert not person.annotated[PT18.index("left_ear")]


def test_predictions_pt18_and_pt17(tmp_path):
    data = pt18_gt()
    for ann in data["annotations"]:
        del ann["bbox_head"]
        ann["scores"] = [0.01 * (i + 1) for i in range(17)]
        ann["score"] = 0.75
    data["annotations"].append({"image_id": 999, "track_id": 5, "keypoints": [0] * 51})  # unknown image: dropped
    with pytest.warns(UserWarning, match=r"p\.json: 1 annotations have an image_id listed in no entry.*\[999\]"):
        video = read_video(write(tmp_path, "p.json", data), kind="pred")
    p = video.frames[0].people[0]
    assert p.head_box is None and p.score == 0.75
    np.testing.assert_allclose(p.scores, [0.01 * (i + 1) for i in range(17)])
    assert sum(len(f.people) for f in video.frames) == 3

    data17 = pt17_gt()
    rect = data17["annolist"][0]["annorect"][0]
    for c in ("x1", "y1", "x2", "y2"):
        del rect[c]
    for k, point in enumerate(rect["annopoints"][0]["point"]):
        point["score"] = [0.5 + 0.05 * k]
    rect["score"] = [0.9]
    p17 = read_video(write(tmp_path, "p17.json", data17), kind="pred").frames[0].people[0]
    assert p17.head_box is None and p17.score == 0.9
    expected = np.zeros(17)
    for k, name in enumerate(PEOPLE[0][0][3]):
        expected[PT18.index(name)] = 0.5 + 0.05 * k
    np.testing.assert_allclose(p17.scores, expected)


def test_read_split_sorted_and_image_path(tmp_path):
    ann = tmp_path / "annotations" / "val"
    ann.mkdir(parents=True)
    for name in ("000522_mpii_test", "000342_mpii_test"):
        write(ann, f"{name}.json", pt18_gt())
    write(ann, "notes.txt", "not json")
    videos = read_split(tmp_path, "val")
    assert [v.name for v in videos] == ["000342_mpii_test", "000522_mpii_test"]
    assert [v.name for v in read_dir(ann)] == ["000342_mpii_test", "000522_mpii_test"]
    assert image_path(tmp_path, videos[0].frames[1]) == tmp_path / "images/val/000342_mpii_test/000001.jpg"


def _edit(fn):
    data = pt18_gt()
    fn(data)
    return data


BAD_PT18 = {
    "missing images": (_edit(lambda d: d.pop("images")), "images", "required"),
    "missing file_name": (_edit(lambda d: d["images"][1].pop("file_name")), "images[1].file_name", "required"),
    "missing track_id": (_edit(lambda d: d["annotations"][1].pop("track_id")), "annotations[1].track_id", "required"),
    "missing keypoints": (_edit(lambda d: d["annotations"][0].pop("keypoints")), "annotations[0].keypoints",
                          "required"),
    "short keypoints": (_edit(lambda d: d["annotations"][2].__setitem__("keypoints", [1.0] * 48)),
                        "annotations[2].keypoints", "51"),
    "names vs length": (_edit(lambda d: d["categories"][0].__setitem__("keypoints", PT18[:15])),
                        "annotations[0].keypoints", "45"),
    "unknown joint name": (_edit(lambda d: d["categories"][0]["keypoints"].__setitem__(3, "left_eye")),
                           "categories[0].keypoints[3]", "joint name"),
    "nan coordinate": (_edit(lambda d: d["annotations"][0]["keypoints"].__setitem__(4, math.nan)),
                       "annotations[0].keypoints[4]", "finite"),
    "inf coordinate": (_edit(lambda d: d["annotations"][1]["keypoints"].__setitem__(27, math.inf)),
                       "annotations[1].keypoints[27]", "finite"),
    "string coordinate": (_edit(lambda d: d["annotations"][1]["keypoints"].__setitem__(27, "300")),
                          "annotations[1].keypoints[27]", "a number"),
    "no head box": (_edit(lambda d: d["annotations"][1].pop("bbox_head")), "annotations[1].bbox_head", "head box"),
    "bad head box": (_edit(lambda d: d["annotations"][1].__setitem__("bbox_head", [1, 2, 3])),
                     "annotations[1].bbox_head", "[x, y, w, h]"),
    "duplicate image id": (_edit(lambda d: d["images"][2].__setitem__("id", IDS[0])), "images[2].id", "unique"),
    "unknown image id": (_edit(lambda d: d["annotations"][1].__setitem__("image_id", 7)), "annotations[1].image_id",
                         "images"),
    "ignore region lengths": (_edit(lambda d: d["images"][2]["ignore_regions_y"][0].pop()),
                              "images[2].ignore_regions_y[0]", "3 numbers"),
    "top level list": ([1, 2], "<top level>", "JSON object"),
    "neither format": ({"videos": []}, "<top level>", "annolist"),
}


@pytest.mark.parametrize("case", sorted(BAD_PT18))
def test_bad_pt18_input_names_file_and_field(tmp_path, case):
    data, field, expected = BAD_PT18[case]
    path = write(tmp_path, "000342_mpii_test.json", data)
    with pytest.raises(AnnotationError) as err:
        read_video(path)
    message = str(err.value)
    assert str(path) in message and field in message and expected in message, message
    assert err.value.field == field


@pytest.mark.parametrize("text", ['{"images": [{"id": 1, "file_na', "", "{'images': []}", '{"images": []}}'])
def test_malformed_or_truncated_json(tmp_path, text):
    path = write(tmp_path, "broken.json", text)
    with pytest.raises(AnnotationError, match=r"broken\.json: <json>: expected valid JSON"):
        read_video(path)


def test_missing_file(tmp_path):
    with pytest.raises(AnnotationError, match=r"nope\.json: <file>"):
        read_video(tmp_path / "nope.json")


def test_bad_pt17_input(tmp_path):
    no_head = pt17_gt()
    del no_head["annolist"][0]["annorect"][1]["x2"]
    bad_id = pt17_gt()
    bad_id["annolist"][2]["annorect"][0]["annopoints"][0]["point"][0]["id"] = [15]
    nan = pt17_gt()
    nan["annolist"][0]["annorect"][0]["annopoints"][0]["point"][2]["y"] = [math.nan]
    no_name = pt17_gt()
    del no_name["annolist"][1]["image"][0]["name"]
    cases = [(no_head, "annolist[0].annorect[1].x1/y1/x2/y2", "head box"),
             (bad_id, "annolist[2].annorect[0].annopoints[0].point[0].id", "poseval joint id"),
             (nan, "annolist[0].annorect[0].annopoints[0].point[2].y", "finite"),
             (no_name, "annolist[1].image[0].name", "required")]
    for data, field, expected in cases:
        path = write(tmp_path, "seq17.json", data)
        with pytest.raises(AnnotationError) as err:
            read_video(path)
        assert str(path) in str(err.value) and field in str(err.value) and expected in str(err.value), str(err.value)


def test_predictions_need_no_head_box_but_gt_does(tmp_path):
    data = _edit(lambda d: [a.pop("bbox_head") for a in d["annotations"]])
    path = write(tmp_path, "v.json", data)
    assert len(read_video(path, kind="pred").frames[0].people) == 2
    with pytest.raises(AnnotationError, match="bbox_head"):
        read_video(path, kind="gt")


def test_person_without_joints_needs_no_head_box(tmp_path):
    data = pt18_gt()
    data["annotations"].append({"image_id": IDS[0], "track_id": 9, "keypoints": [0] * 51, "bbox": [1, 2, 3, 4]})
    person = read_video(write(tmp_path, "v.json", data)).frames[0].people[-1]
    assert person.head_box is None and not person.annotated.any()


def test_no_labelled_frame_only_when_required(tmp_path):
    data = _edit(lambda d: [img.__setitem__("is_labeled", False) for img in d["images"]])
    data["annotations"] = []
    path = write(tmp_path, "empty.json", data)
    assert not read_video(path).labeled_indices
    with pytest.raises(AnnotationError, match=r"empty\.json: images\[\*\]\.is_labeled: expected at least one"):
        read_video(path, require_labeled=True)


def test_directory_errors(tmp_path):
    with pytest.raises(AnnotationError, match=r"\*\.json: expected at least one annotation file"):
        read_dir(tmp_path)
    with pytest.raises(AnnotationError, match="annotations/train"):
        read_split(tmp_path, "train")


def test_kind_must_be_gt_or_pred(tmp_path):
    with pytest.raises(ValueError, match="kind"):
        read_video(write(tmp_path, "v.json", pt18_gt()), kind="predictions")



def test_round_trip_through_the_pt18_writer(tmp_path):
    from pavenet_lite.data.posetrack_writer import write_video

    source = tmp_path / "000342_mpii_test.json"
    video = expected_video(source, sizes=True)
    for frame in video.frames:  # the writer stores no image size and needs a person box
        frame.width = frame.height = None
        for p in frame.people:
            p.box = np.array([1.0, 2.0, 30.0, 40.0]) if p.box is None else p.box
    written = write_video(video, tmp_path / "out" / source.name)
    back = read_video(written)
    back.path = video.path
    assert_same_video(back, video)

    for frame in video.frames:
        frame.ignore_regions = []  # prediction files carry none
        for k, p in enumerate(frame.people):
            p.scores = np.where(p.annotated, np.round(0.1 + 0.05 * np.arange(17), 2), 0.0)  # writer rounds
            p.score = 0.5 + 0.25 * k
            p.head_box = p.box = None
            p.visible = p.annotated.copy()  # a prediction's third value is its score: > 0 reads as visible
    back = read_video(write_video(video, tmp_path / "pred" / source.name, predictions=True), kind="pred")
    back.path = video.path
    assert_same_video(back, video)
