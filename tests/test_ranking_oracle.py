"""bench/ranking_oracle.py: the oracle scores of a hand-made frame, with and without duplicates."""
from __future__ import annotations

import importlib.util
from pathlib import Path

import numpy as np

from pavenet_lite.data.annotations import Frame, Person, Video
from pavenet_lite.joints import POSEVAL_TO_PT18

_spec = importlib.util.spec_from_file_location("ranking_oracle",
                                               Path(__file__).parents[1] / "bench" / "ranking_oracle.py")
ranking_oracle = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(ranking_oracle)


def person(xy: np.ndarray, track_id: int, score: float | None = None) -> Person:
    annotated = np.zeros(17, bool)
    annotated[list(POSEVAL_TO_PT18)] = True
    return Person(keypoints=xy.copy(), annotated=annotated, visible=annotated.copy(), track_id=track_id,
                  head_box=np.array([0.0, 0.0, 30.0, 40.0]),  # head size 0.6 x 50 = 30 px, PCKh radius 15 px
                  score=score, scores=None if score is None else np.full(17, score))


def test_oracle_scores_hits_and_removes_duplicates():
    rng = np.random.default_rng(0)
    gt_xy = rng.uniform(0, 300, (17, 2))
    half_off = gt_xy.copy()
    moved = list(POSEVAL_TO_PT18)[:5]                       # 5 of the 15 evaluated joints 40 px away
    half_off[moved] += 40.0
    gt = [Video("v", [Frame("f.jpg", 1, True, [person(gt_xy, 0)])])]
    preds = [person(half_off, 0, 0.9), person(gt_xy + 1.0, 1, 0.2), person(gt_xy + 2.0, 2, 0.1)]
    pred = [Video("v", [Frame("f.jpg", 1, True, preds)])]
    ranking_oracle.rescore(gt, pred, dedup=False)
    assert [p.score for p in preds] == [10 / 15, 1.0, 1.0]
    assert np.all(preds[0].scores == 10 / 15)
    ranking_oracle.rescore(gt, pred, dedup=True)
    # Best first: the first exact pose claims the person, the second exact one and the half-off one are duplicates.
    assert [p.score for p in preds] == [0.0, 1.0, 0.0]
