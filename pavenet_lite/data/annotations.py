"""The one in-memory representation of PoseTrack-style annotations: video -> frames -> people.

Readers of PoseTrack17 (`annolist`), PoseTrack18/21 (COCO-like) and SynthTrack files produce it; training, evaluation,
prediction writing and the notebooks consume it. Coordinates are image pixels of the original frame; keypoint arrays are
in PT18 order (17 joints, see `pavenet_lite.joints`), whatever format the file had.
"""
from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from pavenet_lite.joints import K, model_to_pt18

_ORIGIN_NUDGE = 0.01  # px: PoseTrack18 files reserve (0, 0) for "joint absent"


@dataclass
class Person:
    """One person in one frame (ground truth or prediction).

    keypoints: [17, 2] float pixels, PT18 order; meaningless where `annotated` is False.
    annotated: [17] bool, the joint is present (PoseTrack18: not (0, 0, 0); PoseTrack17: listed). Evaluated and
        supervised joints are exactly the annotated ones, visible or not.
    visible:   [17] bool, the file's visibility flag (occluded joints can be annotated but not visible).
    head_box:  [4] float (x1, y1, x2, y2) pixels, or None. Required for GT by the evaluator.
    box:       [4] float (x, y, w, h) pixels, or None.
    scores:    [17] float per-keypoint confidences (predictions), or None.
    score:     person confidence (predictions), or None.
    """

    keypoints: np.ndarray
    annotated: np.ndarray
    visible: np.ndarray
    track_id: int
    head_box: np.ndarray | None = None
    box: np.ndarray | None = None
    scores: np.ndarray | None = None
    score: float | None = None


def person_from_model(keypoints: np.ndarray, scores: np.ndarray, track_id: int, score: float | None = None,
                      min_joint_score: float | None = None) -> Person:
    """A predicted `Person` (PT18 order) from model-order outputs: the one place a prediction changes joint order.

    keypoints: [K, 2] pixels of the original frame; scores: [K] per-joint confidences.
    min_joint_score: joints scored below it are left out (absent). AP never gains from leaving joints out (low
        scores only extend the tail of the ranking); MOTA does, as poseval counts every listed joint there.
    A joint at exactly (0, 0) is moved to (0.01, 0.01): a PoseTrack18 file would read it back as "not predicted".
    Raises ValueError for arrays of the wrong shape.
    """
    kp = np.asarray(keypoints, dtype=np.float64)
    sc = np.asarray(scores, dtype=np.float64)
    if kp.shape != (K, 2) or sc.shape != (K,):
        raise ValueError(f"person_from_model: expected keypoints [{K}, 2] and scores [{K}], "
                         f"got {kp.shape} and {sc.shape}")
    kp = np.where((kp == 0).all(axis=1, keepdims=True), _ORIGIN_NUDGE, kp)
    present = np.ones(K, dtype=bool) if min_joint_score is None else sc >= min_joint_score
    ann = model_to_pt18(present[:, None], fill=False)[:, 0]  # [17], ears False
    return Person(keypoints=model_to_pt18(kp), annotated=ann, visible=ann.copy(), track_id=int(track_id),
                  scores=model_to_pt18(sc[:, None])[:, 0], score=None if score is None else float(score))


@dataclass
class Frame:
    """One frame of a video. `ignore_regions` is a list of polygons, each [n, 2] float pixels (x, y)."""

    file_name: str
    image_id: int
    is_labeled: bool
    people: list[Person] = field(default_factory=list)
    ignore_regions: list[np.ndarray] = field(default_factory=list)
    width: int | None = None
    height: int | None = None


@dataclass
class Video:
    """One sequence = one annotation file. `name` is the file's basename without `.json`; `path` where it was read."""

    name: str
    frames: list[Frame]
    path: str | None = None

    @property
    def labeled_indices(self) -> list[int]:
        return [i for i, f in enumerate(self.frames) if f.is_labeled]
