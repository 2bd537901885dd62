"""OKS keypoint AP through pycocotools: hand-computed OKS and AP on tiny cases (docs/posetrack_eval.md)."""
from __future__ import annotations

import numpy as np
import pytest

from pavenet_lite.data.annotations import Frame, Person, Video
from pavenet_lite.evaluation.oks_ap import evaluate_oks_ap
from pavenet_lite.evaluation.pairing import EvaluationError
from pavenet_lite.evaluation.writer import write_predictions
from pavenet_lite.joints import NUM_PT18, PT18_OKS_SIGMAS

THRESHOLDS = np.linspace(0.5, 0.95, 10)
BOX_AREA = 400.0 * 300.0  # every GT box below is 400 x 300 px: a "large" person (> 96^2)


def gt_person(x0: float, track_id: int = 0) -> Person:
    """Joint k at (x0 + 20 k, 100 + 5 k); ears not annotated; box 400 x 300."""
    k = np.arange(NUM_PT18, dtype=np.float64)
    ann = np.ones(NUM_PT18, dtype=bool)
    ann[[3, 4]] = False
    return Person(keypoints=np.stack([x0 + 20 * k, 100 + 5 * k], axis=1), annotated=ann, visible=ann.copy(),
                  track_id=track_id, head_box=np.array([x0, 0.0, x0 + 30, 40.0]), box=np.array([x0, 0.0, 400, 300]))


def pred(gt: Person, score: float, track_id: int = 0, shift: tuple[float, float] = (0.0, 0.0)) -> Person:
    return Person(keypoints=gt.keypoints + np.asarray(shift), annotated=gt.annotated.copy(),
                  visible=gt.annotated.copy(), track_id=track_id, scores=np.full(NUM_PT18, score), score=score)


def videos(gt_people: list[Person], pred_people: list[Person], ignore=None) -> tuple[list[Video], list[Video]]:
    name = "000342_mpii_test"
    f = dict(file_name=f"images/val/{name}/000000.jpg", image_id=10003420000, is_labeled=True)
    return ([Video(name, [Frame(**f, people=gt_people, ignore_regions=ignore or [])])],
            [Video(name, [Frame(**f, people=pred_people)])])


def oks_by_hand(shift: float, area: float, person: Person) -> float:
    """OKS = mean over annotated GT joints of exp(-d^2 / (2 area (2 sigma)^2)) with every joint d px away."""
    sig = PT18_OKS_SIGMAS[person.annotated]
    return float(np.mean(np.exp(-shift ** 2 / (2 * area * (2 * sig) ** 2))))


def test_perfect_is_one_and_nothing_is_printed(capsys):
    a, b = gt_person(0, 0), gt_person(1000, 1)
    stats = evaluate_oks_ap(*videos([a, b], [pred(a, 0.9, 0), pred(b, 0.8, 1)]))
    assert stats["AP"] == pytest.approx(1.0) and stats["AP50"] == pytest.approx(1.0) and stats["AR"] == 1.0
    assert stats["APl"] == pytest.approx(1.0) and stats["APm"] == -1.0  # no GT in the medium range
    assert capsys.readouterr().out == ""


def test_missing_person_gives_101_point_value():
    # 2 GT, 1 exact detection: at every threshold recall 0.5 at precision 1. 101-point interpolation samples
    # recall 0, 0.01, ..., 1: the 51 points <= 0.5 have precision 1, the rest 0 -> 51 / 101 = 0.50495 (not 0.5).
    a, b = gt_person(0, 0), gt_person(1000, 1)
    assert evaluate_oks_ap(*videos([a, b], [pred(a, 0.9)]))["AP"] == pytest.approx(51 / 101)


@pytest.mark.parametrize("area", ["bbox", "kpt"])
def test_shifted_person_matches_at_thresholds_below_its_oks(area):
    # One GT, one detection with every joint 20 px off. The area convention sets the scale:
    # bbox: 400 * 300 = 120000; kpt: tight box of the annotated joints, x 0..320, y 100..180 -> 320 * 80 = 25600.
    # A single detection is a TP with AP 1 at thresholds t <= OKS and AP 0 above: AP = #{t <= OKS} / 10.
    a = gt_person(0)
    s = BOX_AREA if area == "bbox" else 320.0 * 80.0
    oks = oks_by_hand(20.0, s, a)
    assert np.abs(THRESHOLDS - oks).min() > 0.005  # well clear of a threshold, so the count is unambiguous
    expected = np.sum(THRESHOLDS <= oks) / 10
    assert expected == (0.9 if area == "bbox" else 0.4)  # OKS 0.909 vs 0.678: the convention matters
    stats = evaluate_oks_ap(*videos([a], [pred(a, 0.9, shift=(20.0, 0.0))]), area=area)
    assert stats["AP"] == pytest.approx(expected)


def test_duplicates_are_resolved_by_score():
    # GT A, B; an exact duplicate of A with score 0.1 listed first, then A (0.9), B (0.5). COCO sorts by score:
    # A TP, B TP, duplicate FP after full recall -> AP 1.0 (poseval, which matches in list order, gives 66.7).
    a, b = gt_person(0, 0), gt_person(1000, 1)
    stats = evaluate_oks_ap(*videos([a, b], [pred(a, 0.1, 2), pred(a, 0.9, 0), pred(b, 0.5, 1)]))
    assert stats["AP"] == pytest.approx(1.0)


def test_ignore_regions_warn_and_are_not_applied():
    # B lies inside an ignore region and is missed. poseval would drop B (AP 100); OKS AP still counts it: 51/101.
    a, b = gt_person(0, 0), gt_person(1000, 1)
    square = np.array([[900.0, 0.0], [2000.0, 0.0], [2000.0, 1000.0], [900.0, 1000.0]])
    with pytest.warns(UserWarning, match="ignore regions"):
        stats = evaluate_oks_ap(*videos([a, b], [pred(a, 0.9)], ignore=[square]))
    assert stats["AP"] == pytest.approx(51 / 101)


def test_bbox_area_needs_gt_boxes():
    a = gt_person(0)
    a.box = None
    with pytest.raises(EvaluationError, match="'box' is missing"):
        evaluate_oks_ap(*videos([a], [pred(gt_person(0), 0.9)]))
    assert evaluate_oks_ap(*videos([a], [pred(gt_person(0), 0.9)]), area="kpt")["AP"] == pytest.approx(1.0)


def test_directories_give_the_same_numbers(tmp_path):
    from pavenet_lite.data.posetrack_writer import write_video

    a, b = gt_person(0, 0), gt_person(1000, 1)
    gts, preds = videos([a, b], [pred(a, 0.9, 0, shift=(20.0, 0.0)), pred(b, 0.8, 1)])
    write_video(gts[0], tmp_path / "gt" / f"{gts[0].name}.json")
    write_predictions(gts, {gts[0].name: [preds[0].frames[0].people]}, tmp_path / "pred")
    assert evaluate_oks_ap(tmp_path / "gt", tmp_path / "pred") == evaluate_oks_ap(gts, preds)


def test_no_detection_at_all_is_zero():
    # GT but nothing predicted: recall 0 at every threshold -> AP 0 and AR 0 (APm -1: no medium-sized GT).
    stats = evaluate_oks_ap(*videos([gt_person(0)], []))
    assert stats["AP"] == 0.0 and stats["AR"] == 0.0 and stats["APm"] == -1.0
