"""Write the in-memory `Video` as a PoseTrack18 JSON file: ground truth or predictions for the official evaluator.

The layout is exactly the official PoseTrack18 one (ground truth and predictions), so the
official `poseval` tool accepts the files unchanged:

* one file per video, `images` listing every frame in order (unlabelled frames included);
* `keypoints` as 17 x 3 numbers in PT18 order; a not-annotated joint is `(0, 0, 0)`, an annotated joint keeps its
  coordinates whatever its visibility (ground truth: v = 1 visible, v = 0 occluded; predictions: v = score);
* image ids computed from the file name as PoseTrack does (`posetrack18_image_id`).

Pixel coordinates are rounded to 0.01 px so that reading a file back and writing it again gives the same bytes.
"""
from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np

from pavenet_lite.data.annotations import Frame, Person, Video
from pavenet_lite.data.image_ids import PoseTrackFileNameError, posetrack18_image_id
from pavenet_lite.files import write_text_atomic
from pavenet_lite.joints import NUM_PT18, PT18_NAMES, PT18_SKELETON

_COORD_DECIMALS = 2
_SCORE_DECIMALS = 8


class PoseTrackWriteError(ValueError):
    """A `Video` cannot be written as a valid PoseTrack18 file (the message names the video, frame and field)."""


def pt18_categories() -> list[dict[str, Any]]:
    """The `categories` entry of every PoseTrack18 file: one person category, 17 names, 1-based skeleton edges."""
    return [{
        "id": 1, "name": "person", "supercategory": "person",
        "keypoints": list(PT18_NAMES),
        "skeleton": [[a + 1, b + 1] for a, b in PT18_SKELETON],
    }]


def _where(video: Video, t: int, frame: Frame, person: Person | None = None) -> str:
    who = "" if person is None else f", person track_id {person.track_id}"
    return f"video {video.name!r}, frame {t} ({frame.file_name!r}){who}"


def _px(values: np.ndarray) -> list[float]:
    return [round(float(v), _COORD_DECIMALS) for v in np.asarray(values, dtype=np.float64).ravel()]


def _xyxy_to_xywh(box: np.ndarray) -> list[float]:
    x1, y1, x2, y2 = (float(v) for v in box)
    return _px(np.array([x1, y1, x2 - x1, y2 - y1]))


def _keypoints(video: Video, t: int, frame: Frame, person: Person, third: list[float]) -> list[float]:
    """Flatten [17, 2] keypoints + [17] third values into 51 numbers, (0, 0, 0) where not annotated."""
    kp = np.asarray(person.keypoints, dtype=np.float64)
    ann = np.asarray(person.annotated, dtype=bool)
    if kp.shape != (NUM_PT18, 2) or ann.shape != (NUM_PT18,):
        raise PoseTrackWriteError(
            f"{_where(video, t, frame, person)}: field 'keypoints' must be [17, 2] and 'annotated' [17], "
            f"got {kp.shape} and {ann.shape}")
    if not np.isfinite(kp[ann]).all():
        raise PoseTrackWriteError(f"{_where(video, t, frame, person)}: field 'keypoints' has NaN/inf coordinates")
    out: list[float] = []
    for j in range(NUM_PT18):
        if not ann[j]:
            out += [0, 0, 0]
            continue
        x, y = _px(kp[j])
        if x == 0 and y == 0:
            # (0, 0) would be read back as "not annotated" by poseval whenever the third value is 0.
            raise PoseTrackWriteError(
                f"{_where(video, t, frame, person)}: annotated joint {PT18_NAMES[j]!r} lies at (0, 0), which "
                f"PoseTrack18 reserves for 'not annotated'")
        out += [x, y, third[j]]
    return out


def _gt_annotation(video: Video, t: int, frame: Frame, i: int, person: Person) -> dict[str, Any]:
    if person.head_box is None:
        raise PoseTrackWriteError(
            f"{_where(video, t, frame, person)}: field 'head_box' is None; the evaluator requires 'bbox_head' "
            f"for every ground-truth person")
    if person.box is None:
        raise PoseTrackWriteError(f"{_where(video, t, frame, person)}: field 'box' is None; expected [x, y, w, h]")
    visible = np.asarray(person.visible, dtype=bool)
    return {
        "id": int(frame.image_id) * 100 + i,  # unique over the data set while a frame has < 100 people
        "image_id": int(frame.image_id),
        "track_id": int(person.track_id),
        "category_id": 1,
        "keypoints": _keypoints(video, t, frame, person, visible.astype(int).tolist()),
        "bbox": _px(person.box),
        "bbox_head": _xyxy_to_xywh(np.asarray(person.head_box)),
    }


def _pred_annotation(video: Video, t: int, frame: Frame, person: Person) -> dict[str, Any]:
    if person.scores is None:
        raise PoseTrackWriteError(
            f"{_where(video, t, frame, person)}: field 'scores' is None; predictions need per-joint scores "
            f"(poseval ranks detections by them)")
    scores = np.asarray(person.scores, dtype=np.float64)
    if scores.shape != (NUM_PT18,) or not np.isfinite(scores).all():
        raise PoseTrackWriteError(
            f"{_where(video, t, frame, person)}: field 'scores' must be 17 finite numbers, got shape {scores.shape}")
    rounded = [round(float(s), _SCORE_DECIMALS) for s in scores]
    ann = np.asarray(person.annotated, dtype=bool)
    score = person.score if person.score is not None else float(scores[ann].mean()) if ann.any() else 0.0
    return {
        "image_id": int(frame.image_id),
        "track_id": int(person.track_id),
        "category_id": 1,
        "keypoints": _keypoints(video, t, frame, person, rounded),
        "scores": [s if a else 0.0 for s, a in zip(rounded, ann)],
        "score": round(float(score), _SCORE_DECIMALS),
    }


def _vid_id(file_name: str) -> str:
    return file_name.replace("\\", "/").split("/")[-2].split("_")[0]


def _gt_image(video: Video, frame: Frame) -> dict[str, Any]:
    return {
        "id": int(frame.image_id),
        "file_name": frame.file_name,
        "vid_id": _vid_id(frame.file_name),
        "frame_id": int(frame.image_id),
        "nframes": len(video.frames),
        "is_labeled": bool(frame.is_labeled),
        "has_no_densepose": True,
        "ignore_regions_x": [_px(np.asarray(poly)[:, 0]) for poly in frame.ignore_regions],
        "ignore_regions_y": [_px(np.asarray(poly)[:, 1]) for poly in frame.ignore_regions],
    }


def video_to_pt18(video: Video, predictions: bool = False) -> dict[str, Any]:
    """The PoseTrack18 dict of one video: ground truth (§2.2) or, with `predictions=True`, a prediction file (§3).

    Raises `PoseTrackWriteError` (a ValueError) naming the video, frame and field when the video cannot be written
    faithfully: a bad file name, a GT person without head box or box, wrong keypoint shapes, NaN coordinates, an
    annotated joint at exactly (0, 0), duplicate track ids in a frame, or a prediction without per-joint scores.
    """
    images, annotations = [], []
    for t, frame in enumerate(video.frames):
        try:
            posetrack18_image_id(frame.file_name)
        except PoseTrackFileNameError as err:
            raise PoseTrackWriteError(f"video {video.name!r}, frame {t}: {err}") from err
        track_ids = [int(p.track_id) for p in frame.people]
        if len(set(track_ids)) != len(track_ids) or any(not 0 <= k < 10**4 for k in track_ids):
            raise PoseTrackWriteError(
                f"{_where(video, t, frame)}: field 'track_id' must be unique within a frame and in [0, 10000), "
                f"got {track_ids}")
        if predictions:
            images.append({"id": int(frame.image_id), "file_name": frame.file_name})
            annotations += [_pred_annotation(video, t, frame, p) for p in frame.people]
        else:
            images.append(_gt_image(video, frame))
            annotations += [_gt_annotation(video, t, frame, i, p) for i, p in enumerate(frame.people)]
    return {"images": images, "annotations": annotations, "categories": pt18_categories()}


def write_json_atomic(obj: Any, path: str | Path) -> Path:
    """Write `obj` as compact JSON to `path` atomically (`write_text_atomic`).

    When serialisation fails (e.g. a NaN, which JSON cannot hold) nothing is written: the previous file, if any, is
    left untouched and no temporary file remains.
    """
    return write_text_atomic(json.dumps(obj, separators=(",", ":"), allow_nan=False), path)


def write_video(video: Video, path: str | Path, predictions: bool = False) -> Path:
    """Write one video as a PoseTrack18 GT or prediction file at `path` (atomic); returns the path."""
    return write_json_atomic(video_to_pt18(video, predictions=predictions), path)
