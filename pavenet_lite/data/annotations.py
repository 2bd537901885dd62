"""The one in-memory representation of PoseTrack-style annotations: video -> frames -> people.

Readers of PoseTrack17 (`annolist`), PoseTrack18/21 (COCO-like) and SynthTrack files produce it; training, evaluation,
prediction writing and the notebooks consume it. Coordinates are image pixels of the original frame; keypoint arrays are
in PT18 order (17 joints, see `pavenet_lite.joints`), whatever format the file had.
"""
from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np


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
