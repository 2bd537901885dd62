"""Joint-recall breakdown (visible vs occluded, clean vs degraded) against a brute-force reference."""
from __future__ import annotations

import itertools
import math

import numpy as np
import pytest

from pavenet_lite.data.annotations import Frame, Person, Video
from pavenet_lite.evaluation import EvaluationError
from pavenet_lite.evaluation.breakdown import joint_recall_breakdown
from pavenet_lite.joints import POSEVAL_TO_PT18

PV = list(POSEVAL_TO_PT18)


def _person(rng, k, xy=None, score=None, head=10.0):
    xy = rng.uniform(0, 200, (17, 2)) if xy is None else xy
    annotated = rng.random(17) < 0.8
    return Person(keypoints=xy, annotated=annotated, visible=annotated & (rng.random(17) < 0.7), track_id=k,
                  head_box=np.array([0.0, 0.0, head, head]), scores=np.ones(17), score=score)


def _brute(gt, pred):
    """Best injective pairing by exhaustive search; per GT person the hit mask of its partner (naive loops)."""
    def hits(p, g):
        size = 0.6 * math.hypot(g.head_box[2] - g.head_box[0], g.head_box[3] - g.head_box[1])
        return [bool(g.annotated[j] and p.annotated[j] and
                     math.dist(p.keypoints[j], g.keypoints[j]) / size <= 0.5) for j in PV]
    best, best_map = -1, None
    n = max(len(gt), len(pred))
    for perm in itertools.permutations(range(n), len(gt)):
        m = [hits(pred[i], g) if i < len(pred) else [False] * 15 for g, i in zip(gt, perm)]
        total = sum(map(sum, m))
        if total > best:
            best, best_map = total, m
    return best_map


def test_recall_by_visibility_and_frame_condition_matches_brute_force():
    rng = np.random.default_rng(0)
    gts, preds, degraded = [], [], np.array([False, True, False, True])
    for t in range(4):
        gt = [_person(rng, k) for k in range(3)]
        pred = []
        for k, g in enumerate(gt):  # near copies: some joints within 3 px (hit), others 4-9 px away (miss)
            noise = rng.uniform(-1, 1, (17, 2)) * rng.choice([2.0, 6.0], (17, 1))
            pred.append(_person(rng, k, g.keypoints + noise, score=0.9))
        pred.append(_person(rng, 9, score=0.1))                       # a stray low-score prediction
        gts.append(gt)
        preds.append(pred[::-1])                                       # order must not matter
    gt_video = Video("v", [Frame(f"f{t}", t, True, g) for t, g in enumerate(gts)])
    pred_video = Video("v", [Frame(f"f{t}", t, True, p) for t, p in enumerate(preds)])
    out = joint_recall_breakdown([gt_video], [pred_video], degraded={"v": degraded})

    groups = {k: [] for k in out}
    for t, (gt, pred) in enumerate(zip(gts, preds)):
        for g, m in zip(gt, _brute(gt, pred)):
            for j, hit in zip(PV, m):
                if g.annotated[j]:
                    groups["all"].append(hit)
                    groups["visible" if g.visible[j] else "occluded"].append(hit)
                    groups["degraded frames" if degraded[t] else "clean frames"].append(hit)
    for k, v in groups.items():
        assert out[k]["joints"] == len(v)
        assert out[k]["recall"] == pytest.approx(100 * sum(v) / len(v))
    assert 20 < out["all"]["recall"] < 90                              # a case with both hits and misses

    strict = joint_recall_breakdown([gt_video], [pred_video], min_score=0.95)
    assert strict["all"]["recall"] == 0.0 and "clean frames" not in strict


def test_missing_flags_and_head_box_are_named():
    rng = np.random.default_rng(1)
    g = _person(rng, 0)
    video = Video("clip7", [Frame("f0", 0, True, [g])])
    with pytest.raises(EvaluationError, match="clip7"):
        joint_recall_breakdown([video], [video], degraded={})
    g.head_box = None
    with pytest.raises(EvaluationError, match="head_box"):
        joint_recall_breakdown([video], [Video("clip7", [Frame("f0", 0, True, [_person(rng, 0)])])])
