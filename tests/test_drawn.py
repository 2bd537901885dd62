"""Drawn-skeleton precision / recall against a hand-built case and a brute-force pairing."""
from __future__ import annotations

import itertools
import math

import numpy as np
import pytest

from pavenet_lite.data.annotations import Frame, Person, Video
from pavenet_lite.evaluation.drawn import drawn_skeletons, frame_pairs
from pavenet_lite.joints import POSEVAL_TO_PT18

PV = list(POSEVAL_TO_PT18)


def _person(xy, annotated=None, score=None, k=0):
    annotated = np.ones(17, bool) if annotated is None else annotated
    return Person(keypoints=np.asarray(xy, float), annotated=annotated, visible=annotated.copy(), track_id=k,
                  head_box=np.array([0.0, 0.0, 10.0, 10.0]), scores=np.ones(17), score=score)


def _brute_pairs(gt, drawn):
    """Most (skeleton, person) pairs with >= half of the person's joints hit, by exhaustive search."""
    def on(p, g):
        size = 0.6 * math.hypot(10, 10)
        hits = sum(bool(g.annotated[j] and p.annotated[j] and math.dist(p.keypoints[j], g.keypoints[j]) / size <= 0.5)
                   for j in PV)
        return hits >= g.annotated[PV].sum() / 2
    best = 0
    slots = list(range(len(drawn))) + [None] * len(gt)
    for perm in itertools.permutations(slots, len(gt)):
        best = max(best, sum(on(drawn[i], g) for g, i in zip(gt, perm) if i is not None))
    return best


@pytest.mark.parametrize("seed", range(5))
def test_frame_pairs_match_brute_force(seed):
    rng = np.random.default_rng(seed)
    gt = [_person(rng.uniform(0, 100, (17, 2)), rng.random(17) < 0.8, k=k) for k in range(3)]
    drawn = []
    for g in gt[:2]:  # near copies with a random share of joints moved off (a radius is 4.2 px)
        xy = g.keypoints + rng.uniform(-2, 2, (17, 2)) + (rng.random((17, 1)) < rng.uniform(0.2, 0.8)) * 20
        drawn.append(_person(xy, score=0.9))
    drawn.append(_person(gt[0].keypoints + 1.0, score=0.9))           # a duplicate of person 0
    drawn.append(_person(rng.uniform(0, 100, (17, 2)), score=0.9))     # a stray
    assert frame_pairs(gt, drawn) == _brute_pairs(gt, drawn)


def test_precision_and_recall_by_hand():
    a = np.stack([np.arange(17) * 10.0, np.zeros(17)], -1)
    b = a + [0.0, 200.0]
    half = a.copy()
    half[PV[:7]] += 50                                                   # 8 of 15 joints still on person a
    gt = [_person(a, k=1), _person(b, k=2)]
    region = np.array([[500.0, 500.0], [600.0, 500.0], [600.0, 600.0], [500.0, 600.0]])
    frames = [
        Frame("0.jpg", 0, True, gt),
        Frame("1.jpg", 1, False, []),                                    # unlabelled: never counted
        Frame("2.jpg", 2, True, gt, ignore_regions=[region]),
    ]
    preds = [
        Frame("0.jpg", 0, True, [_person(half, score=0.8, k=0), _person(a + 0.5, score=0.9, k=1),  # 2 on a
                                 _person(b + 30.0, score=0.5, k=2), _person(b, score=0.1, k=3)]),  # b missed / < 0.3
        Frame("1.jpg", 1, True, [_person(a, score=0.9)]),
        Frame("2.jpg", 2, True, [_person(b, score=0.4), _person(np.full((17, 2), 550.0), score=0.9, k=1)]),
    ]
    got = drawn_skeletons([Video("v", frames)], [Video("v", preds)], threshold=0.3)
    # Drawn: 3 in frame 0, 1 in frame 2 (the ignore-region one is not). Paired: a in frame 0, b in frame 2.
    assert got["drawn"] == 4 and got["people"] == 4 and got["paired"] == 2
    assert got["precision"] == pytest.approx(50.0) and got["recall"] == pytest.approx(50.0)
    none = drawn_skeletons([Video("v", frames)], [Video("v", preds)], threshold=0.95)
    assert none["drawn"] == 0 and math.isnan(none["precision"]) and none["recall"] == 0.0
