"""PoseTrack mAP (poseval-faithful): hand-derived cases for every rule of docs/posetrack_eval.md, plus a naive loop.

Geometry used throughout: a GT person's head box is 30 x 40 px, diagonal 50, so headSize = 0.6 * 50 = 30 px and a
predicted joint is correct iff it lies within 0.5 * 30 = 15 px of the GT joint. People are 1000 px apart, so a
prediction can only ever hit the person it was made for.
"""
from __future__ import annotations

import json
import math
import warnings

import numpy as np
import pytest

from pavenet_lite.data.annotations import Frame, Person, Video
from pavenet_lite.evaluation import posetrack_map
from pavenet_lite.evaluation.posetrack_map import (
    EvaluationError, evaluate_posetrack, voc_ap)
from pavenet_lite.evaluation.ignore_regions import points_in_polygon, points_in_polygons
from pavenet_lite.joints import NUM_PT18, POSEVAL_NAMES, POSEVAL_TO_PT18, PT18_NAMES

EARS = (PT18_NAMES.index("left_ear"), PT18_NAMES.index("right_ear"))
EVAL_NAMES = [PT18_NAMES[i] for i in POSEVAL_TO_PT18]  # the 15 evaluated joints, poseval order


def gt_person(x0: float, track_id: int = 0, missing: tuple[str, ...] = ()) -> Person:
    """A GT person whose joint k sits at (x0 + 20 k, 100 + 5 k) with head box (x0, 0, x0 + 30, 40)."""
    k = np.arange(NUM_PT18, dtype=np.float64)
    kp = np.stack([x0 + 20 * k, 100 + 5 * k], axis=1)
    ann = np.ones(NUM_PT18, dtype=bool)
    ann[list(EARS)] = False
    for name in missing:
        ann[PT18_NAMES.index(name)] = False
    return Person(keypoints=kp, annotated=ann, visible=ann.copy(), track_id=track_id,
                  head_box=np.array([x0, 0.0, x0 + 30.0, 40.0]), box=np.array([x0, 0.0, 400.0, 300.0]))


def pred_person(gt: Person, score: float, track_id: int = 0, shift: tuple[float, float] = (0.0, 0.0),
                only: tuple[str, ...] | None = None, drop: tuple[str, ...] = (), shift_joints: tuple[str, ...] = ()
                ) -> Person:
    """A prediction copied from `gt`, every joint scored `score`; `shift` moves all joints or only `shift_joints`."""
    kp = gt.keypoints.copy()
    moved = [PT18_NAMES.index(n) for n in shift_joints] if shift_joints else list(range(NUM_PT18))
    kp[moved] += np.asarray(shift)
    ann = np.ones(NUM_PT18, dtype=bool)
    ann[list(EARS)] = False
    if only is not None:
        ann[:] = False
        ann[[PT18_NAMES.index(n) for n in only]] = True
    for name in drop:
        ann[PT18_NAMES.index(name)] = False
    return Person(keypoints=kp, annotated=ann, visible=ann.copy(), track_id=track_id,
                  scores=np.full(NUM_PT18, score), score=score)


def frame(t: int, people: list[Person], ignore: list[np.ndarray] | None = None, seq: int = 342) -> Frame:
    return Frame(file_name=f"images/val/{seq:06d}_mpii_test/{t:06d}.jpg", image_id=10**10 + seq * 10**4 + t,
                 is_labeled=bool(people), people=people, ignore_regions=ignore or [])


def video(frames: list[Frame], name: str = "000342_mpii_test") -> Video:
    return Video(name=name, frames=frames)


def evaluate(gt_frames: list[list[Person]], pred_frames: list[list[Person]], ignore=None) -> posetrack_map.PoseTrackAP:
    ignore = ignore or {}
    gt = video([frame(t, p, ignore.get(t)) for t, p in enumerate(gt_frames)])
    pred = video([frame(t, p) for t, p in enumerate(pred_frames)])
    return evaluate_posetrack([gt], [pred])


def assert_all_joints(result, expected: float) -> None:
    for name in EVAL_NAMES:
        assert result.per_joint[name] == pytest.approx(expected), name


# ------------------------------------------------------------------------------------------------- hand cases

def test_perfect_prediction_is_100():
    a, b = gt_person(0, 0), gt_person(1000, 1)
    r = evaluate([[a, b]], [[pred_person(a, 0.9, 0), pred_person(b, 0.8, 1)]])
    assert_all_joints(r, 100.0)
    assert r.table == pytest.approx({c: 100.0 for c in ("Head", "Shou", "Elb", "Wri", "Hip", "Knee", "Ankl", "Total")})
    assert r.num_frames == 1 and r.num_gt["nose"] == 2 and r.num_detections["nose"] == 2


def test_missed_person_halves_recall():
    # 2 GT, 1 correct detection per joint: prec [1], rec [0.5] -> AP = 0.5 * 1 = 50; final pre 100, rec 50.
    a, b = gt_person(0, 0), gt_person(1000, 1)
    r = evaluate([[a, b]], [[pred_person(a, 0.9)]])
    assert_all_joints(r, 50.0)
    assert r.precision["nose"] == pytest.approx(100.0) and r.recall["nose"] == pytest.approx(50.0)


@pytest.mark.parametrize("shift, hit", [
    ((9.0, 12.0), True),     # |d| = 15 px = 0.5 headSize exactly: inclusive boundary, a hit
    ((14.0, 0.0), True),     # 14 px < 15 px
    ((9.0, 13.0), False),    # sqrt(81 + 169) = 15.81 px > 15 px
    ((0.0, 15.01), False),   # just outside
])
def test_pckh_threshold_is_inclusive(shift, hit):
    # All 15 joints move together: a hit gives pck 1 and AP 100; a miss gives pck 0, the prediction stays
    # unmatched, its 15 joints are false positives and the single GT joint is never found: AP 0.
    a = gt_person(0)
    r = evaluate([[a]], [[pred_person(a, 0.9, shift=shift)]])
    assert_all_joints(r, 100.0 if hit else 0.0)


def test_partially_wrong_person_is_still_matched():
    # Only the 3 head joints move 20 px: pck = 12/15 > 0, so the person matches; the head joints are false
    # positives (AP 0, N = 1 missed), the 12 others hit (AP 100). Total = 12 * 100 / 15 = 80; Head column 0.
    a = gt_person(0)
    r = evaluate([[a]], [[pred_person(a, 0.9, shift=(20.0, 0.0), shift_joints=("nose", "head_bottom", "head_top"))]])
    assert r.per_joint["nose"] == 0.0 and r.per_joint["left_ankle"] == 100.0
    assert r.table["Head"] == 0.0 and r.table["Ankl"] == 100.0
    assert r.total == pytest.approx(80.0)


@pytest.mark.parametrize("fp_score, expected", [
    # FP ranked first: prec [0, 1/2], rec [0, 1]; envelope 1/2 -> AP = 1 * 0.5 = 50.
    (0.95, 50.0),
    # FP ranked last: prec [1, 1/2], rec [1, 1] -> AP = 1 * 1 = 100 (the FP after full recall costs nothing).
    (0.10, 100.0),
])
def test_false_positive_cost_depends_on_its_score(fp_score, expected):
    a, ghost = gt_person(0), gt_person(3000)
    r = evaluate([[a]], [[pred_person(a, 0.9, 0), pred_person(ghost, fp_score, 1)]])
    assert_all_joints(r, expected)
    assert r.precision["nose"] == pytest.approx(50.0)  # final precision 1/2 either way


def test_predicted_joint_where_gt_has_none_is_false_positive():
    # Frame 0: GT with ankles, prediction exact (score 0.5). Frame 1: GT without ankles, prediction exact, with
    # ankles (score 0.9). Ankles: ranked FP (0.9), TP (0.5), N = 1 -> prec [0, 1/2], rec [0, 1] -> AP 50.
    # Total = (13 * 100 + 2 * 50) / 15 = 93.33.
    a0, a1 = gt_person(0), gt_person(0, missing=("left_ankle", "right_ankle"))
    r = evaluate([[a0], [a1]], [[pred_person(a0, 0.5)], [pred_person(a0, 0.9)]])
    assert r.per_joint["left_ankle"] == pytest.approx(50.0) and r.per_joint["right_ankle"] == pytest.approx(50.0)
    assert r.table["Ankl"] == pytest.approx(50.0)
    assert r.total == pytest.approx((13 * 100 + 2 * 50) / 15)


def test_joint_with_detections_but_no_gt_is_nan_and_left_out_of_total():
    # No GT ankle anywhere but predicted ankles: recall 0/0 -> AP NaN, excluded from Total (13 joints at 100);
    # the Ankl column is mean(NaN, NaN) = NaN as in poseval's table.
    a = gt_person(0, missing=("left_ankle", "right_ankle"))
    r = evaluate([[a]], [[pred_person(a, 0.9)]])
    assert math.isnan(r.per_joint["left_ankle"]) and math.isnan(r.table["Ankl"])
    assert r.total == pytest.approx(100.0)
    assert r.to_dict()["per_joint"]["left_ankle"] is None


def test_joint_without_detections_is_zero_and_counts_in_total():
    # The prediction lacks the left wrist: no detection -> AP 0 (poseval leaves it at 0), N = 1.
    # Total = 14 * 100 / 15 = 93.33, Wri = (100 + 0) / 2 = 50.
    a = gt_person(0)
    r = evaluate([[a]], [[pred_person(a, 0.9, drop=("left_wrist",))]])
    assert r.per_joint["left_wrist"] == 0.0 and r.table["Wri"] == pytest.approx(50.0)
    assert r.total == pytest.approx(14 * 100 / 15)
    # Quirk: no GT *and* no detection for the ankles also gives AP 0 (not NaN), which still counts in Total:
    # (13 * 100 + 2 * 0) / 15 = 86.67.
    b = gt_person(0, missing=("left_ankle", "right_ankle"))
    r = evaluate([[b]], [[pred_person(b, 0.9, drop=("left_ankle", "right_ankle"))]])
    assert r.per_joint["right_ankle"] == 0.0 and r.total == pytest.approx(13 * 100 / 15)


def test_unlabelled_and_empty_frames_are_not_evaluated():
    # Frame 1 has no GT person (unlabelled, or labelled with nobody): high-score false positives there are free.
    a = gt_person(0)
    r = evaluate([[a], []], [[pred_person(a, 0.5)], [pred_person(a, 0.99, 0), pred_person(gt_person(2000), 0.98, 1)]])
    assert_all_joints(r, 100.0)
    assert r.num_frames == 1


def test_ignore_regions_delete_gt_and_predicted_joints():
    # GT A (x in [0, 320]) and GT B (x in [1000, 1320]) lie in separate places; B is fully inside the ignore square.
    # Predictions: A exact (0.9) and a stray person C inside the square, far from B (0.95).
    a, b, c = gt_person(0, 0), gt_person(1000, 1), gt_person(1100)
    preds = [pred_person(a, 0.9, 0), pred_person(c, 0.95, 1, shift=(0.0, 100.0))]
    square = np.array([[900.0, 0.0], [2000.0, 0.0], [2000.0, 1000.0], [900.0, 1000.0]])
    # With the region: B and C vanish, only A is left: AP 100.
    assert_all_joints(evaluate([[a, b]], [preds], ignore={0: [square]}), 100.0)
    # Control without it: C (0.95) is unmatched (> 15 px from B), A hits, B is missed, N = 2:
    # prec [0, 1/2], rec [0, 1/2] -> AP = 0.5 * 0.5 = 25.
    assert_all_joints(evaluate([[a, b]], [preds]), 25.0)


def test_ignore_region_boundary_is_not_inside():
    # The nose of A (at (0, 100)) lies on the left edge of the region x in [0, 50], y in [90, 110]; it is not
    # strictly inside, so it stays and is matched: nose AP 100. head_bottom (20, 105) is strictly inside and
    # deleted from GT and prediction: N = 0 and no detection -> AP 0 (counted in Total).
    a = gt_person(0)
    region = np.array([[0.0, 90.0], [50.0, 90.0], [50.0, 110.0], [0.0, 110.0]])
    r = evaluate([[a]], [[pred_person(a, 0.9)]], ignore={0: [region]})
    assert r.per_joint["nose"] == 100.0 and r.num_gt["nose"] == 1
    assert r.num_gt["head_top"] == 1  # (40, 110) lies on the top edge: kept too
    assert r.per_joint["head_bottom"] == 0.0 and r.num_gt["head_bottom"] == 0
    assert r.total == pytest.approx(14 * 100 / 15)


def test_two_sequences_are_pooled_not_averaged():
    # Sequence 1: GT A1, A2, both predicted exactly (scores 0.5, 0.4): AP 100 alone.
    # Sequence 2: GT B1, B2; a stray FP (0.95), then B1 (0.9) and B2 (0.85) exact:
    #   ranked FP, TP, TP: prec [0, 1/2, 2/3], rec [0, 1/2, 1] -> envelope 2/3 -> AP 66.67 alone.
    # Pooled (N = 4): FP, TP, TP, TP, TP -> prec ends at 4/5, envelope 0.8 everywhere -> AP 80.0,
    # whereas the mean of the per-sequence APs would be (100 + 66.67) / 2 = 83.33.
    a1, a2, b1, b2 = gt_person(0, 0), gt_person(1000, 1), gt_person(0, 0), gt_person(1000, 1)
    gt1 = video([frame(0, [a1, a2], seq=1)], "000001_mpii_test")
    pr1 = video([frame(0, [pred_person(a1, 0.5, 0), pred_person(a2, 0.4, 1)], seq=1)], "000001_mpii_test")
    gt2 = video([frame(0, [b1, b2], seq=2)], "000002_mpii_test")
    pr2 = video([frame(0, [pred_person(gt_person(3000), 0.95, 2), pred_person(b1, 0.9, 0),
                           pred_person(b2, 0.85, 1)], seq=2)], "000002_mpii_test")
    assert evaluate_posetrack([gt1], [pr1]).total == pytest.approx(100.0)
    assert evaluate_posetrack([gt2], [pr2]).total == pytest.approx(200 / 3)
    pooled = evaluate_posetrack([gt1, gt2], [pr2, pr1])  # prediction lists are paired by name, not position
    assert_all_joints(pooled, 80.0)


@pytest.mark.parametrize("dup_first, expected", [(True, 200 / 3), (False, 100.0)])
def test_assignment_follows_prediction_order_not_score(dup_first, expected):
    # GT A, B. Predictions: A exact (0.9), B exact (0.5), and an exact duplicate of A with score 0.1.
    # Duplicate listed before A: it takes A (first index on ties), A's 0.9 prediction becomes a FP:
    #   ranked FP (0.9), TP (0.5), TP (0.1), N = 2 -> prec [0, 1/2, 2/3], rec [0, 1/2, 1] -> AP 66.67.
    # Duplicate listed after: TP, TP, FP -> AP 100.
    a, b = gt_person(0, 0), gt_person(1000, 1)
    dup, real, pb = pred_person(a, 0.1, 2), pred_person(a, 0.9, 0), pred_person(b, 0.5, 1)
    preds = [dup, real, pb] if dup_first else [real, pb, dup]
    assert_all_joints(evaluate([[a, b]], [preds]), expected)


def test_unmatched_prediction_is_not_reassigned_to_second_best_gt():
    # GT A at x=0, GT B at x=10 (B's joints 10 px right of A's: within 15 px of both).
    # P1 sits exactly on B (pck 1 with A and B -> best A? no: pck(P1, A) = 1, pck(P1, B) = 1, first index -> A).
    # P2 sits exactly on A (pck 1 with both -> best A). A takes the first maximum: P1. P2 is left unmatched and is
    # never re-assigned to B, although it hits B: B is missed.
    # Scores: P1 0.9 (TP on A), P2 0.8 (FP); N = 2 -> prec [1, 1/2], rec [1/2, 1/2] -> AP 50.
    a, b = gt_person(0, 0), gt_person(10, 1)
    r = evaluate([[a, b]], [[pred_person(b, 0.9, 0), pred_person(a, 0.8, 1)]])
    assert_all_joints(r, 50.0)


def test_knee_false_positive_with_high_score_table():
    # GT A, B predicted exactly (0.5, 0.6) except B's knees; a stray knees-only FP person with score 0.9.
    # Knees: ranked FP (0.9), TP (0.5), N = 2 -> prec [0, 1/2], rec [0, 1/2] -> AP 25. Others 100.
    # Columns 100, 100, 100, 100, 100, 25, 100; Total = (13 * 100 + 2 * 25) / 15 = 90.0 (column mean: 89.3).
    a, b = gt_person(0, 0), gt_person(1000, 1)
    preds = [pred_person(a, 0.5, 0), pred_person(b, 0.6, 1, drop=("left_knee", "right_knee")),
             pred_person(gt_person(3000), 0.9, 2, only=("left_knee", "right_knee"))]
    r = evaluate([[a, b]], [preds])
    assert r.table == pytest.approx({"Head": 100.0, "Shou": 100.0, "Elb": 100.0, "Wri": 100.0, "Hip": 100.0,
                                     "Knee": 25.0, "Ankl": 100.0, "Total": 90.0})
    # poseval's cells are "{:>5}" of "%1.1f" followed by " &": 100.0 fills all 5 characters, 25.0 gets one space.
    assert r.format_table().splitlines() == [
        "& Head & Shou & Elb  & Wri  & Hip  & Knee & Ankl & Total\\\\",
        "&100.0 &100.0 &100.0 &100.0 &100.0 & 25.0 &100.0 & 90.0 \\\\"]


def test_score_ties_keep_emission_order():
    # Equal scores everywhere. Frame 0: GT A, B and one stray prediction (FP); frame 1: GT C, predicted exactly.
    # Documented tie rule: a stable sort keeps poseval's emission order (frame 0 before frame 1), so the ranking is
    # FP, TP with N = 3: prec [0, 1/2], rec [0, 1/3] -> AP = 1/3 * 1/2 = 16.67 (TP first would give 33.33).
    # Frame 1 is the less crowded one, which the evaluator processes first internally: order must not leak.
    a, b, c = gt_person(0, 0), gt_person(1000, 1), gt_person(0, 0)
    r = evaluate([[a, b], [c]], [[pred_person(gt_person(3000), 0.5)], [pred_person(c, 0.5)]])
    assert_all_joints(r, 100 / 6)


def test_frame_order_matters():
    # A moves 500 px between frames; predictions in reversed order land 500 px away from the GT: no hit at all.
    a0, a1 = gt_person(0), gt_person(500)
    assert_all_joints(evaluate([[a0], [a1]], [[pred_person(a0, 0.9)], [pred_person(a1, 0.8)]]), 100.0)
    assert_all_joints(evaluate([[a0], [a1]], [[pred_person(a1, 0.8)], [pred_person(a0, 0.9)]]), 0.0)


def test_json_contract():
    a = gt_person(0)
    d = json.loads(evaluate([[a]], [[pred_person(a, 0.9)]]).to_json())
    assert list(d) == ["per_joint", "table"]
    assert list(d["per_joint"]) == EVAL_NAMES and len(EVAL_NAMES) == 15 and "left_ear" not in d["per_joint"]
    assert list(d["table"]) == ["Head", "Shou", "Elb", "Wri", "Hip", "Knee", "Ankl", "Total"]
    assert POSEVAL_NAMES[12] == "neck" and EVAL_NAMES[12] == "head_bottom"


# ------------------------------------------------------------------------------------------------- bad input

def test_frame_count_mismatch_names_file_and_counts():
    a = gt_person(0)
    gt = video([frame(0, [a]), frame(1, [])])
    pred = video([frame(0, [pred_person(a, 0.9)])])
    with pytest.raises(EvaluationError, match=r"# prediction frames 1 != # GT frames 2"):
        evaluate_posetrack([gt], [pred])


def test_missing_prediction_video():
    gt = video([frame(0, [gt_person(0)])], "000342_mpii_test")
    with pytest.raises(EvaluationError, match="000342_mpii_test"):
        evaluate_posetrack([gt], [video([frame(0, [])], "000343_mpii_test")])


def test_duplicate_track_ids_rejected_even_in_unlabelled_frames():
    a = gt_person(0)
    with pytest.raises(EvaluationError, match="unique within a frame"):
        evaluate([[a], []], [[pred_person(a, 0.9)], [pred_person(a, 0.9, 3), pred_person(a, 0.8, 3)]])


def test_nan_coordinates_rejected():
    a = gt_person(0)
    p = pred_person(a, 0.9)
    p.keypoints[5] = np.nan
    with pytest.raises(EvaluationError, match="NaN"):
        evaluate([[a]], [[p]])


def test_gt_without_head_box_rejected():
    a = gt_person(0)
    a.head_box = None
    with pytest.raises(EvaluationError, match="head_box"):
        evaluate([[a]], [[pred_person(gt_person(0), 0.9)]])


def test_missing_scores_warn_and_use_fallback():
    # Without scores every joint gets -9999; one exact prediction per GT still ranks TP only: AP 100.
    a = gt_person(0)
    p = pred_person(a, 0.9)
    p.scores = None
    with pytest.warns(UserWarning, match="-9999"):
        assert_all_joints(evaluate([[a]], [[p]]), 100.0)


# -------------------------------------------------------------------------------------------------- helpers

def test_voc_ap_by_hand():
    # TP, FP, TP with N = 2: prec [1, 1/2, 2/3], rec [1/2, 1/2, 1] -> 0.5 * 1 + 0.5 * 2/3 = 0.8333.
    assert voc_ap(np.array([1, 0.5, 2 / 3]), np.array([0.5, 0.5, 1.0])) == pytest.approx(0.5 + 1 / 3)


def test_points_in_polygon_matches_strict_interior_of_l_shape():
    # L-shape = [0,4]x[0,2] U [0,2]x[0,4]; its open interior is the union of the two open rectangles. Integer grid
    # points hit vertices, edges and the reflex corner (2, 2), all of which must be outside.
    poly = np.array([[0, 0], [4, 0], [4, 2], [2, 2], [2, 4], [0, 4]], dtype=float)
    xs, ys = np.meshgrid(np.arange(-1, 6, 0.5), np.arange(-1, 6, 0.5))
    pts = np.stack([xs.ravel(), ys.ravel()], axis=1)
    x, y = pts[:, 0], pts[:, 1]
    expected = ((0 < x) & (x < 4) & (0 < y) & (y < 2)) | ((0 < x) & (x < 2) & (0 < y) & (y < 4))
    np.testing.assert_array_equal(points_in_polygon(pts, poly), expected)
    np.testing.assert_array_equal(points_in_polygon(pts, poly[::-1]), expected)  # orientation does not matter
    closed = np.concatenate([poly, poly[:1]])  # an explicit closing vertex changes nothing
    np.testing.assert_array_equal(points_in_polygon(pts, closed), expected)
    assert not points_in_polygon(pts, poly[:2]).any()  # degenerate: no interior


def test_points_in_polygons_equals_one_polygon_at_a_time():
    # Polygons of 2 to 7 vertices (some closed explicitly), points on a grid that hits vertices and edges.
    rng = np.random.default_rng(0)
    polygons = [np.round(rng.uniform(0, 8, (v, 2))) for v in (3, 5, 2, 7, 4, 6)]
    polygons[4] = np.concatenate([polygons[4], polygons[4][:1]])
    xs, ys = np.meshgrid(np.arange(0, 8.5, 0.5), np.arange(0, 8.5, 0.5))
    pts = np.stack([xs.ravel(), ys.ravel()], axis=1)
    owner = rng.integers(0, len(polygons), len(pts))
    expected = np.array([points_in_polygon(p[None], polygons[k])[0] for p, k in zip(pts, owner)])
    assert expected.any() and not expected.all()
    np.testing.assert_array_equal(points_in_polygons(pts, polygons, owner), expected)


# --------------------------------------------------------------------------------------- naive loop reference

def _naive_poseval(pairs: list[tuple[Video, Video]]) -> np.ndarray:
    """poseval's algorithm as plain loops over frames, people and joints; ignore regions are axis-aligned boxes.

    AP uses the rank form AP = (1/N) sum over TP ranks k of max_{k' >= k} prec_k', not the VOC envelope code.
    """
    dets: list[list[tuple[float, int]]] = [[] for _ in range(15)]
    n_gt = np.zeros(15)
    for gv, pv in pairs:
        for gf, pf in zip(gv.frames, pv.frames):
            if not gf.people:
                continue

            def joints(person: Person) -> dict[int, np.ndarray]:
                out = {}
                for j in range(15):
                    i = POSEVAL_TO_PT18[j]
                    x, y = person.keypoints[i]
                    inside = any(r[:, 0].min() < x < r[:, 0].max() and r[:, 1].min() < y < r[:, 1].max()
                                 for r in gf.ignore_regions)
                    if person.annotated[i] and not inside:
                        out[j] = person.keypoints[i]
                return out

            gts = [(joints(g), g.head_box) for g in gf.people]
            prs = [(joints(p), p.scores) for p in pf.people]
            for gj, _ in gts:
                for j in gj:
                    n_gt[j] += 1
            hit = {}
            pck = np.zeros((len(prs), len(gts)))
            for pi, (pj, _) in enumerate(prs):
                for gi, (gj, hb) in enumerate(gts):
                    hs = 0.6 * math.hypot(hb[2] - hb[0], hb[3] - hb[1])
                    for j in pj:
                        hit[pi, gi, j] = j in gj and math.hypot(*(pj[j] - gj[j])) / hs <= 0.5
                    pck[pi, gi] = sum(hit[pi, gi, j] for j in pj) / len(gj) if gj else 0.0
            best = {pi: max(range(len(gts)), key=lambda gi: (pck[pi, gi], -gi)) for pi in range(len(prs))}
            owner = {}
            for gi in range(len(gts)):
                cands = [(pck[pi, gi], -pi) for pi in range(len(prs)) if best[pi] == gi and pck[pi, gi] > 0]
                if cands:
                    owner[-max(cands)[1]] = gi
            for pi, (pj, s) in enumerate(prs):
                for j in pj:
                    dets[j].append((s[POSEVAL_TO_PT18[j]], int(pi in owner and hit[pi, owner[pi], j])))
    ap = np.zeros(15)
    for j in range(15):
        ranked = sorted(range(len(dets[j])), key=lambda k: -dets[j][k][0])  # Python's sort is stable
        labels = [dets[j][k][1] for k in ranked]
        if not labels:
            continue
        if n_gt[j] == 0:
            ap[j] = np.nan
            continue
        prec = [sum(labels[:k + 1]) / (k + 1) for k in range(len(labels))]
        ap[j] = 100 * sum(max(prec[k:]) for k in range(len(labels)) if labels[k]) / n_gt[j]
    return ap


def _random_videos(rng: np.random.Generator, n_videos: int) -> tuple[list[Video], list[Video]]:
    gts, preds = [], []
    for v in range(n_videos):
        gframes, pframes = [], []
        for t in range(int(rng.integers(1, 6))):
            people = [gt_person(1000 * i + rng.uniform(0, 50), i) for i in range(int(rng.integers(0, 4)))]
            for p in people:
                p.annotated &= rng.random(NUM_PT18) > 0.15
                p.head_box[2:] = p.head_box[:2] + rng.uniform(15, 40, size=2)
            guesses = []
            for p in people:
                for _ in range(int(rng.choice([0, 1, 1, 1, 2]))):
                    q = pred_person(p, 0.0, shift=tuple(rng.normal(0, 8, size=2)))
                    q.keypoints += rng.normal(0, 6, size=q.keypoints.shape)
                    q.annotated &= rng.random(NUM_PT18) > 0.1
                    guesses.append(q)
            guesses += [pred_person(gt_person(rng.uniform(0, 3000)), 0.0) for _ in range(int(rng.integers(0, 2)))]
            guesses = [guesses[i] for i in rng.permutation(len(guesses))]
            for k, q in enumerate(guesses):
                q.track_id, q.scores = k, rng.random(NUM_PT18)
            ignore = [np.array([[500.0, 0.0], [1300.0, 0.0], [1300.0, 250.0], [500.0, 250.0]])] \
                if rng.random() < 0.3 else []
            gframes.append(frame(t, people, ignore, seq=v))
            pframes.append(frame(t, guesses, seq=v))
        gts.append(video(gframes, f"{v:06d}_mpii_test"))
        preds.append(video(pframes, f"{v:06d}_mpii_test"))
    return gts, preds


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_matches_naive_loop_reference(seed, monkeypatch):
    gts, preds = _random_videos(np.random.default_rng(seed), n_videos=12)
    expected = _naive_poseval(list(zip(gts, preds)))
    got = np.array([evaluate_posetrack(gts, preds).per_joint[n] for n in EVAL_NAMES])
    np.testing.assert_allclose(got, expected, rtol=1e-12, atol=1e-12)
    assert 5.0 < np.nanmean(got) < 95.0  # the random case exercises hits and misses alike
    monkeypatch.setattr(posetrack_map, "_CHUNK_ELEMENTS", 1)  # one frame per chunk: chunking is invisible
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        small = np.array([evaluate_posetrack(gts, preds).per_joint[n] for n in EVAL_NAMES])
    np.testing.assert_array_equal(small, got)


# ------------------------------------------------------------------------------------------------------ files

def _integer_videos(seed: int, n_videos: int) -> tuple[list[Video], list[Video]]:
    """Random videos with integer pixels and 6-decimal scores, so every file format stores them exactly."""
    gts, preds = _random_videos(np.random.default_rng(seed), n_videos)
    for v in gts + preds:
        for f in v.frames:
            f.ignore_regions = [np.round(r) for r in f.ignore_regions]
            for p in f.people:
                p.keypoints = np.round(p.keypoints)
                if p.head_box is not None:
                    p.head_box = np.round(p.head_box)
                if p.scores is not None:
                    p.scores = np.round(p.scores, 6)
    return gts, preds


def _to_pt17(v: Video, predictions: bool) -> dict:
    """A PoseTrack17 `annolist` file of `v`, written by hand from the format description (spec §2.1, §3)."""
    annolist = []
    for t, f in enumerate(v.frames):
        rects = []
        for p in f.people:
            points = [{"id": [j], "x": [float(p.keypoints[i, 0])], "y": [float(p.keypoints[i, 1])], "is_visible": [1]}
                      for j, i in enumerate(POSEVAL_TO_PT18) if p.annotated[i]]
            if predictions:
                for pt, i in zip(points, [i for i in POSEVAL_TO_PT18 if p.annotated[i]]):
                    pt["score"] = [float(p.scores[i])]
            rect = {"track_id": [p.track_id], "annopoints": [{"point": points}]}
            if not predictions:
                rect.update({c: [float(x)] for c, x in zip(("x1", "y1", "x2", "y2"), p.head_box)})
            rects.append(rect)
        entry = {"image": [{"name": f.file_name}], "imgnum": [t + 1], "annorect": rects}
        if not predictions:
            entry["is_labeled"] = [int(bool(f.people))]
            entry["ignore_regions"] = [{"point": [{"x": [float(x)], "y": [float(y)]} for x, y in r]}
                                       for r in f.ignore_regions]
        annolist.append(entry)
    return {"annolist": annolist}


def _write_dirs(tmp_path, gts: list[Video], preds: list[Video]):
    from pavenet_lite.data.posetrack_writer import write_video

    for v in gts:
        write_video(v, tmp_path / "gt18" / f"{v.name}.json")
        (tmp_path / "gt17").mkdir(exist_ok=True)
        (tmp_path / "gt17" / f"{v.name}.json").write_text(json.dumps(_to_pt17(v, False)))
    for v in preds:
        write_video(v, tmp_path / "pr18" / f"{v.name}.json", predictions=True)
        (tmp_path / "pr17").mkdir(exist_ok=True)
        (tmp_path / "pr17" / f"{v.name}.json").write_text(json.dumps(_to_pt17(v, True)))


def test_pt17_and_pt18_files_give_identical_numbers(tmp_path):
    gts, preds = _integer_videos(5, 8)
    _write_dirs(tmp_path, gts, preds)
    in_memory = evaluate_posetrack(gts, preds)
    assert any(f.ignore_regions for v in gts for f in v.frames)
    for g, p in (("gt18", "pr18"), ("gt17", "pr17"), ("gt17", "pr18"), ("gt18", "pr17")):
        r = evaluate_posetrack(tmp_path / g, tmp_path / p)
        np.testing.assert_array_equal(list(r.per_joint.values()), list(in_memory.per_joint.values()), err_msg=g + p)
        assert r.num_frames == in_memory.num_frames


def test_missing_prediction_file_and_frame_mismatch_name_the_file(tmp_path):
    gts, preds = _integer_videos(6, 2)
    _write_dirs(tmp_path, gts, preds)
    (tmp_path / "pr18" / f"{gts[1].name}.json").unlink()
    with pytest.raises(EvaluationError, match=f"pr18/{gts[1].name}.json: prediction file missing"):
        evaluate_posetrack(tmp_path / "gt18", tmp_path / "pr18")
    from pavenet_lite.data.posetrack_writer import write_video

    preds[1].frames.append(frame(len(preds[1].frames), [], seq=1))
    write_video(preds[1], tmp_path / "pr18" / f"{gts[1].name}.json", predictions=True)
    n = len(gts[1].frames)
    with pytest.raises(EvaluationError, match=rf"pr18/{gts[1].name}.json: # prediction frames {n + 1} != "
                                              rf"# GT frames {n}"):
        evaluate_posetrack(tmp_path / "gt18", tmp_path / "pr18")


def test_run_eval_prints_table_and_writes_json(tmp_path, capsys):
    gts, preds = _integer_videos(7, 3)
    _write_dirs(tmp_path, gts, preds)
    r = posetrack_map.run_eval(tmp_path / "gt18", tmp_path / "pr18", json_out=tmp_path / "out" / "ap.json")
    out = capsys.readouterr().out
    assert r.format_table() in out
    saved = json.loads((tmp_path / "out" / "ap.json").read_text())
    assert saved == json.loads(json.dumps(r.to_dict()))
    assert saved["table"]["Total"] == pytest.approx(np.nanmean(list(r.per_joint.values())))


def test_bad_directories(tmp_path):
    with pytest.raises(EvaluationError, match="expected a directory of ground-truth"):
        evaluate_posetrack(tmp_path / "nope", tmp_path)
    (tmp_path / "gt").mkdir()
    with pytest.raises(EvaluationError, match="no \\*.json ground-truth files"):
        evaluate_posetrack(tmp_path / "gt", tmp_path)
