"""Prediction files for the official PoseTrack evaluator: one PoseTrack18 JSON per GT video.

What poseval needs from a prediction directory, and what `write_predictions` does:

* one file per GT file, same file name;
* every GT frame, in GT order, unlabelled frames included (a frame with nothing predicted is listed with no people),
  because poseval pairs frames by position;
* `categories`, a `track_id` unique within each frame and < 10000, 17 x 3 `keypoints` in PT18 order ((0, 0, 0) for
  a joint not predicted, so always for the ears) and a per-keypoint `scores` list (the only thing AP ranks by).

The file layout itself is `pavenet_lite.data.posetrack_writer.video_to_pt18(..., predictions=True)`; this module
only lines predictions up with the GT frames and checks them.

Input form, `predictions`: video name -> either a list with one entry per GT frame, or a dict frame index -> entry
(frames not listed get no people). Each entry is a list of `Person` in PT18 order with `scores` [17]. Model outputs
(K = 15 joints, model order) become such persons with `data.annotations.person_from_model`.
"""
from __future__ import annotations

import warnings
from pathlib import Path
from typing import Mapping, Sequence, Union

from pavenet_lite.data.annotations import Frame, Person, Video
from pavenet_lite.data.posetrack_writer import write_video

FramePredictions = Union[Sequence[Sequence[Person]], Mapping[int, Sequence[Person]]]


class PredictionWriteError(ValueError):
    """Predictions that cannot be lined up with the GT videos (the message names the video and frame)."""


def _frames_people(video: Video, entry: FramePredictions | None) -> list[list[Person]]:
    n = len(video.frames)
    if entry is None:
        return [[] for _ in range(n)]
    if isinstance(entry, Mapping):
        bad = [t for t in entry if not 0 <= int(t) < n]
        if bad:
            raise PredictionWriteError(f"predictions[{video.name!r}]: frame indices {bad[:5]} outside the "
                                       f"video's {n} frames")
        return [list(entry.get(t, [])) for t in range(n)]
    if len(entry) != n:
        raise PredictionWriteError(f"predictions[{video.name!r}]: {len(entry)} frames, expected one entry per GT "
                                   f"frame ({n}, unlabelled frames included) or a dict frame index -> people")
    return [list(people) for people in entry]


def write_predictions(gt_videos: Sequence[Video], predictions: Mapping[str, FramePredictions],
                      out_dir: str | Path) -> list[Path]:
    """Write one PoseTrack18 prediction file per GT video into `out_dir` (same file name as the GT file).

    A GT video with no entry in `predictions` gets a file with every frame and no people (poseval would stop on a
    missing file), with a warning. Prediction names that match no GT video raise. Returns the written paths.
    Raises `PredictionWriteError` / `PoseTrackWriteError` (both ValueError) naming the video and frame for a wrong
    frame count, duplicate track ids in a frame, missing per-joint scores, or NaN coordinates.
    """
    names = {v.name for v in gt_videos}
    unknown = sorted(set(predictions) - names)
    if unknown:
        raise PredictionWriteError(f"predictions for unknown video(s) {unknown[:5]}; expected GT video names such "
                                   f"as {sorted(names)[:3]}")
    missing = [v.name for v in gt_videos if v.name not in predictions]
    if missing:
        warnings.warn(f"no predictions for {len(missing)} video(s) ({missing[:3]} ...): writing them with empty "
                      f"frames", stacklevel=2)
    out_dir = Path(out_dir)
    paths = []
    for gt in gt_videos:
        people = _frames_people(gt, predictions.get(gt.name))
        frames = [Frame(file_name=f.file_name, image_id=f.image_id, is_labeled=f.is_labeled, people=p,
                        width=f.width, height=f.height) for f, p in zip(gt.frames, people)]
        file_name = Path(gt.path).name if gt.path else f"{gt.name}.json"
        paths.append(write_video(Video(name=gt.name, frames=frames), out_dir / file_name, predictions=True))
    return paths
