"""The array reader of evaluation (`read_arrays`) against the general reader (`read_video`), and parallel reading.

Reference: `arrays_from_video(read_video(path))`, the per-value reader stacked person by person. The fast path must
give the same arrays bit for bit, and must really be the path taken (`video_from_json` is booby-trapped where it
should not run); every bad value must raise the general reader's error, word for word.
"""
from __future__ import annotations

import copy
import json
import math
import os
import pickle
import shutil
import warnings
from pathlib import Path

import numpy as np
import pytest

from pavenet_lite.data import posetrack_arrays, read_many as read_many_module
from pavenet_lite.data.errors import AnnotationError
from pavenet_lite.data.posetrack import read_split, read_video
from pavenet_lite.data.posetrack_arrays import VideoArrays, arrays_from_video, read_arrays
from pavenet_lite.data.read_many import read_many
from pavenet_lite.evaluation import evaluate_posetrack, write_predictions
from pavenet_lite.quickstart import _as_predictions
from tests.test_posetrack_reader import BAD_PT18, IDS, PT18, pt17_gt, pt18_gt, write

ARRAYS = ("image_ids", "offsets", "keypoints", "annotated", "head_box", "scores", "scored", "track_id")


def assert_same_arrays(a: VideoArrays, b: VideoArrays) -> None:
    assert (a.name, a.path, a.file_names) == (b.name, b.path, b.file_names)
    for key in ARRAYS:
        va, vb = getattr(a, key), getattr(b, key)
        assert va.dtype == vb.dtype and va.shape == vb.shape, key
        np.testing.assert_array_equal(va, vb, err_msg=key)
    assert sorted(a.ignore_regions) == sorted(b.ignore_regions)
    for t, polygons in a.ignore_regions.items():
        assert len(polygons) == len(b.ignore_regions[t])
        for pa, pb in zip(polygons, b.ignore_regions[t]):
            np.testing.assert_array_equal(pa, pb)


def reference(path: Path, kind: str) -> tuple[VideoArrays, list[str]]:
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        arrays = arrays_from_video(read_video(path, kind))
    return arrays, [str(w.message) for w in caught]


@pytest.fixture
def fast_only(monkeypatch):
    """Fail if the general reader runs: the fast path must handle the file alone."""
    def trap(*args, **kwargs):
        raise AssertionError("the general reader ran: a vectorised check rejected a good file")
    monkeypatch.setattr(posetrack_arrays, "video_from_json", trap)


def check_fast(path: Path, kind: str) -> VideoArrays:
    expected, expected_warnings = reference(path, kind)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        got = read_arrays(path, kind)
    assert [str(w.message) for w in caught] == expected_warnings
    assert_same_arrays(got, expected)
    return got


@pytest.fixture(scope="module")
def synth_pred(synth_small, tmp_path_factory) -> Path:
    gt = read_split(synth_small, "val")
    out = tmp_path_factory.mktemp("synth_pred")
    write_predictions(gt, {v.name: [f.people for f in p.frames] for v, p in zip(gt, _as_predictions(gt))}, out)
    return out


def test_synthtrack_files_give_the_same_arrays(synth_small, synth_pred, fast_only):
    paths = [(p, "gt") for split in ("train", "val") for p in sorted((synth_small / "annotations" / split).glob("*.json"))]
    paths += [(p, "pred") for p in sorted(synth_pred.glob("*.json"))]
    assert len(paths) >= 4
    for path, kind in paths:
        got = check_fast(path, kind)
        assert got.annotated.any() and (kind == "gt" or got.scored.all())


def _edited(edit) -> dict:
    data = pt18_gt()
    edit(data)
    return data


def _add(data: dict, ann: dict) -> None:
    data["annotations"].append({"image_id": IDS[0], "track_id": 7, "keypoints": [0] * 51, **ann})


# Files the fast path reads alone: (data, kind). Each is compared with the general reader.
GOOD = {
    "hand-written video": (pt18_gt(), "gt"),
    "no annotations key": (_edited(lambda d: d.pop("annotations")), "gt"),
    "annotations empty, frames empty": (_edited(lambda d: d.update(annotations=[])), "gt"),
    "no categories: PT18 order": (_edited(lambda d: d.pop("categories")), "gt"),
    "15 names in another order": (_edited(lambda d: (d["categories"][0].update(keypoints=PT18[::-1][:15]),
                                                     [a.update(keypoints=list(range(1, 46))) for a in d["annotations"]])),
                                  "gt"),
    "zero-visibility joints with coordinates": (_edited(lambda d: d["annotations"][0]["keypoints"].__setitem__(
        slice(0, 3), [5, 6, 0])), "gt"),
    "person without joints, no head box": (_edited(lambda d: _add(d, {"bbox": [1, 2, 3, 4]})), "gt"),
    "person without joints, empty head box": (_edited(lambda d: _add(d, {"bbox_head": []})), "gt"),
    "float ids and sizes": (_edited(lambda d: [img.update(id=float(img["id"]), width=640.0) for img in d["images"]]),
                            "gt"),
    "annotations out of frame order": (_edited(lambda d: d["annotations"].reverse()), "gt"),
    "empty ignore polygon lists": (_edited(lambda d: d["images"][0].update(ignore_regions_x=[], ignore_regions_y=[])),
                                   "gt"),
    "predictions: scores, empty scores, person score": (_edited(lambda d: (
        [a.pop("bbox_head") for a in d["annotations"]],
        d["annotations"][0].update(scores=[0.5] * 17, score=0.7), d["annotations"][1].update(scores=[]))), "pred"),
    "predictions of unknown images": (_edited(lambda d: (d["annotations"][0].update(image_id=999),
                                                         d["annotations"][2].update(image_id=998))), "pred"),
    "prediction of an unknown image with bad keypoints (never read)": (_edited(lambda d: (
        [a.pop("bbox_head") for a in d["annotations"]],
        d["annotations"].append({"image_id": 5, "track_id": 1, "keypoints": ["x"]}))), "pred"),
    "a key written with a unicode escape": (json.dumps(_edited(lambda d: (
        [a.pop("bbox_head") for a in d["annotations"]], [a.update(scores=[0.25] * 17) for a in d["annotations"]])))
        .replace('"scores"', '"\\u0073cores"'), "pred"),
    "bools as object values": (_edited(lambda d: [img.update(is_labeled=True, has_no_densepose=False)
                                                  for img in d["images"]]), "gt"),
}


@pytest.mark.parametrize("case", sorted(GOOD))
def test_edge_cases_give_the_same_arrays(tmp_path, case, fast_only):
    data, kind = GOOD[case]
    got = check_fast(write(tmp_path, "000342_mpii_test.json", data), kind)
    if "escape" in case:
        assert got.scored.all() and (got.scores[got.annotated] == 0.25).all()


def test_unknown_images_warn_as_the_general_reader_does(tmp_path):
    data, kind = GOOD["predictions of unknown images"]
    with pytest.warns(UserWarning, match=r"2 annotations have an image_id listed in no entry .* \[998, 999\]"):
        arrays = read_arrays(write(tmp_path, "v.json", data), kind)
    assert len(arrays.track_id) == 1


def test_pt17_and_fast_path_misfits_go_through_the_general_reader(tmp_path):
    check_fast(write(tmp_path, "seq17.json", pt17_gt()), "gt")
    # Accepted by the general reader, too unusual for the vectorised checks: a bool in a list it does not read,
    # a string that looks like one, an id beyond 2^53 (the general reader rounds it through a float).
    check_fast(write(tmp_path, "a.json", _edited(lambda d: d["categories"][0].update(skeleton=[True]))), "gt")
    check_fast(write(tmp_path, "b.json", _edited(lambda d: d["images"][0].update(vid_id="a,true"))), "gt")
    big = _edited(lambda d: d.update(annotations=[]))
    big["images"][0]["id"] = 2 ** 60 + 1
    check_fast(write(tmp_path, "c.json", big), "gt")


def _bad(edit) -> dict:
    return _edited(edit)


# Bad values a vectorised check could let through or misplace; each must raise the general reader's error.
BAD_FAST = {
    "bool coordinate": (_bad(lambda d: d["annotations"][1]["keypoints"].__setitem__(4, True)), "gt"),
    "bool coordinate, spaced": ('{"images": [{"id": 1, "file_name": "a/0.jpg"}], "annotations": [{"image_id": 1, '
                                '"track_id": 0, "bbox_head": [1, 2, 3, 4], "keypoints": [1,  \n false' + ", 1" * 49
                                + "]}]}", "gt"),
    "bool track_id": (_bad(lambda d: d["annotations"][0].update(track_id=True)), "gt"),
    "bool image id": (_bad(lambda d: d["images"][0].update(id=True)), "gt"),
    "null coordinate": (_bad(lambda d: d["annotations"][0]["keypoints"].__setitem__(0, None)), "gt"),
    "nested coordinate": (_bad(lambda d: d["annotations"][0]["keypoints"].__setitem__(0, [1])), "gt"),
    "keypoints not a list": (_bad(lambda d: d["annotations"][0].update(keypoints=5)), "gt"),
    "every keypoints a number": (_bad(lambda d: [a.update(keypoints=5) for a in d["annotations"]]), "gt"),
    "fractional track_id": (_bad(lambda d: d["annotations"][2].update(track_id=1.5)), "gt"),
    "fractional image id": (_bad(lambda d: d["images"][1].update(id=3.5)), "gt"),
    "empty file_name": (_bad(lambda d: d["images"][1].update(file_name="")), "gt"),
    "image not an object": (_bad(lambda d: d["images"].__setitem__(1, [1])), "gt"),
    "annotation not an object": (_bad(lambda d: d["annotations"].__setitem__(1, "x")), "gt"),
    "annotations not a list": (_bad(lambda d: d.update(annotations={"a": 1})), "gt"),
    "string width": (_bad(lambda d: d["images"][0].update(width="640")), "gt"),
    "null head box value": (_bad(lambda d: d["annotations"][0]["bbox_head"].__setitem__(2, None)), "gt"),
    "head box a dict": (_bad(lambda d: d["annotations"][0].update(bbox_head={"x": 1})), "gt"),
    "short person box": (_bad(lambda d: d["annotations"][0].update(bbox=[1, 2])), "gt"),
    "ignore regions not lists": (_bad(lambda d: d["images"][2].update(ignore_regions_x=5)), "gt"),
    "ignore polygon with a string": (_bad(lambda d: d["images"][2]["ignore_regions_x"][0].__setitem__(1, "50")),
                                     "gt"),
    "string score": (_bad(lambda d: d["annotations"][0].update(scores=[0.5] * 16 + ["0.5"])), "pred"),
    "NaN score": (_bad(lambda d: d["annotations"][0].update(scores=[0.5] * 16 + [math.nan])), "pred"),
    "short scores": (_bad(lambda d: d["annotations"][1].update(scores=[0.5] * 16)), "pred"),
    "scores a string": (_bad(lambda d: d["annotations"][1].update(scores="high")), "pred"),
    "string person score": (_bad(lambda d: d["annotations"][1].update(score="0.9")), "pred"),
    "inf person score": (_bad(lambda d: d["annotations"][1].update(score=math.inf)), "pred"),
    "bad image id of a dropped prediction": (_bad(lambda d: d["annotations"][1].update(image_id="7")), "pred"),
}


@pytest.mark.parametrize("case", sorted(BAD_FAST) + sorted(f"reader: {c}" for c in BAD_PT18))
def test_bad_values_raise_the_general_readers_error(tmp_path, case):
    data, kind = BAD_FAST[case] if case in BAD_FAST else (BAD_PT18[case[len("reader: "):]][0], "gt")
    path = write(tmp_path, "000342_mpii_test.json", data)
    with pytest.raises(AnnotationError) as expected:
        read_video(path, kind)
    with pytest.raises(AnnotationError) as got:
        read_arrays(path, kind)
    assert str(got.value) == str(expected.value) and str(path) in str(got.value)
    assert got.value.field == expected.value.field and got.value.field.split(".")[0] in str(got.value)


def test_annotation_errors_survive_pickling():
    e = AnnotationError("a.json", "annotations[3].keypoints", "51 numbers", "48")
    back = pickle.loads(pickle.dumps(e))
    assert type(back) is AnnotationError and str(back) == str(e) and back.field == e.field


# --------------------------------------------------------------------------------------------------- parallel

@pytest.fixture(scope="module")
def eval_dirs(synth_small, synth_pred, tmp_path_factory) -> tuple[Path, Path]:
    """GT and predictions, six videos (copies of the SynthTrack val video under other names, predictions jittered)."""
    base = tmp_path_factory.mktemp("parallel")
    source = sorted((synth_small / "annotations" / "val").glob("*.json"))[0]
    gt, pred = json.loads(source.read_text()), json.loads((synth_pred / source.name).read_text())
    rng = np.random.default_rng(0)
    for k in range(6):
        name = f"{k:06d}_mpii_test.json"
        moved = copy.deepcopy(pred)
        for ann in moved["annotations"]:
            kp = np.array(ann["keypoints"], float).reshape(-1, 3)
            kp[:, :2] += np.where(kp[:, 2:] > 0, rng.normal(0, 3, (len(kp), 2)), 0)
            ann["keypoints"] = np.round(kp, 2).ravel().tolist()
            ann["scores"] = np.round(rng.uniform(0.1, 1, len(kp)), 4).tolist()
        for folder, data in (("gt", gt), ("pred", moved)):
            (base / folder).mkdir(exist_ok=True)
            write(base / folder, name, data)
    return base / "gt", base / "pred"


def _outcomes(jobs, workers):
    return [(o.arrays, None if o.error is None else str(o.error), o.warnings) for o in read_many(jobs, workers)]


def test_parallel_reading_equals_serial(eval_dirs, tmp_path):
    gt, pred = eval_dirs
    bad = _copy_dir(pred, tmp_path / "pred")
    files = sorted(bad.glob("*.json"))
    _set(files[-1], lambda d: d["annotations"][0].update(image_id=123))  # a warning in the child's half
    _set(files[-2], lambda d: d["annotations"][0].update(track_id="a"))  # an error in the child's half
    jobs = [(p, "gt") for p in sorted(gt.glob("*.json"))] + [(p, "pred") for p in files]
    serial, parallel = _outcomes(jobs, 1), _outcomes(jobs, 2)
    assert [o[1:] for o in serial] == [o[1:] for o in parallel]
    assert serial[-2][1] and "track_id" in serial[-2][1] and serial[-1][2]
    for (a, *_), (b, *_) in zip(serial, parallel):
        if a is not None:
            assert_same_arrays(a, b)


def test_parallel_evaluation_equals_serial(eval_dirs):
    gt, pred = eval_dirs
    serial, parallel = evaluate_posetrack(gt, pred, workers=1), evaluate_posetrack(gt, pred, workers=2)
    assert 5 < serial.total < 100 and serial.num_frames > 0
    assert serial.per_joint == parallel.per_joint and serial.table == parallel.table
    assert serial.precision == parallel.precision and serial.recall == parallel.recall


def test_parallel_errors_and_warnings_come_in_file_order(eval_dirs, tmp_path):
    gt, pred = eval_dirs
    bad = _copy_dir(pred, tmp_path / "pred")
    files = sorted(bad.glob("*.json"))
    _set(files[0], lambda d: d["annotations"][0].update(image_id=123))
    _set(files[4], lambda d: d["annotations"][0].update(keypoints=[1.0] * 50))
    _set(files[5], lambda d: d["annotations"][0].update(track_id=math.nan))
    messages = []
    for workers in (1, 2):
        with warnings.catch_warnings(record=True) as caught, pytest.raises(AnnotationError) as err:
            warnings.simplefilter("always")
            evaluate_posetrack(gt, bad, workers=workers)
        messages.append(([str(w.message) for w in caught], str(err.value)))
    assert messages[0] == messages[1]
    assert files[4].name in messages[0][1] and "annotations[0].keypoints" in messages[0][1]
    assert any("image_id listed in no entry" in m for m in messages[0][0])


def test_a_dead_child_is_read_again_here(eval_dirs, monkeypatch):
    gt, pred = eval_dirs
    jobs = [(p, "gt") for p in sorted(gt.glob("*.json"))] + [(p, "pred") for p in sorted(pred.glob("*.json"))]
    expected = _outcomes(jobs, 1)
    monkeypatch.setattr(read_many_module, "_child", lambda jobs, conn: os._exit(1))
    got = _outcomes(jobs, 2)
    for (a, *ra), (b, *rb) in zip(expected, got):
        assert ra == rb
        assert_same_arrays(a, b)


def test_small_sets_are_read_serially(eval_dirs, monkeypatch):
    gt, _ = eval_dirs
    def no_fork(method):
        raise AssertionError("a process was started for a small set")
    monkeypatch.setattr(read_many_module.multiprocessing, "get_context", no_fork)
    assert len(read_many([(p, "gt") for p in sorted(gt.glob("*.json"))])) == 6  # workers=None: a few kB


def _copy_dir(src: Path, dst: Path) -> Path:
    shutil.copytree(src, dst)
    return dst


def _set(path: Path, edit) -> None:
    data = json.loads(path.read_text())
    edit(data)
    path.write_text(json.dumps(data))
