"""Pairing ground-truth and prediction videos the way the official poseval does, with its load-time checks.

Predictions are paired with GT videos by file name (directories) or by `Video.name` (lists of `Video`); frames are
paired by position, so a prediction video must list every GT frame, in GT order. poseval also requires track ids
< 10000 and unique predicted track ids within each frame (docs/posetrack_eval.md). Shared by the PoseTrack mAP and
the OKS AP.
"""
from __future__ import annotations

from pathlib import Path
from typing import Sequence

from pavenet_lite.data.annotations import Person, Video
from pavenet_lite.data.posetrack import read_video

MAX_TRACK_ID = 10000  # poseval asserts track_id < 10000 (it offsets ids by video index x 10000)


class EvaluationError(ValueError):
    """Input the evaluator cannot score faithfully; the message names the file/video, the frame and the field."""


def gt_files(gt_dir: str | Path) -> list[Path]:
    """The `*.json` of a ground-truth directory, sorted by name (the order of videos everywhere)."""
    gt_dir = Path(gt_dir)
    if not gt_dir.is_dir():
        raise EvaluationError(f"{gt_dir}: expected a directory of ground-truth JSON files (one per video)")
    paths = sorted(gt_dir.glob("*.json"))
    if not paths:
        raise EvaluationError(f"{gt_dir}: no *.json ground-truth files found")
    return paths


def check_pred_dir(pred_dir: str | Path) -> Path:
    pred_dir = Path(pred_dir)
    if not pred_dir.is_dir():
        raise EvaluationError(f"{pred_dir}: expected a directory of prediction JSON files (one per GT file)")
    return pred_dir


def missing_prediction(path: Path, gt: str) -> EvaluationError:
    return EvaluationError(f"{path}: prediction file missing; expected one prediction file per GT file, same name "
                           f"(GT {gt})")


def pair_by_name(gt: list, pred: Sequence) -> list[tuple]:
    """Pair in-memory videos (anything with a `.name`) by name, in GT order; a GT name without prediction fails."""
    by_name = {v.name: v for v in pred}
    missing = [v.name for v in gt if v.name not in by_name]
    if missing:
        raise EvaluationError(f"predictions: no prediction video for GT video(s) {missing[:5]}"
                              f"{' ...' if len(missing) > 5 else ''}; expected one per GT video, same name")
    return [(v, by_name[v.name]) for v in gt]


def load_pairs(gt: str | Path | Sequence[Video], pred: str | Path | Sequence[Video]) -> list[tuple[Video, Video]]:
    """Pair every GT video with its prediction: same file basename (directories) or same `Video.name` (lists)."""
    gt_videos = [read_video(p, kind="gt") for p in gt_files(gt)] if isinstance(gt, (str, Path)) else list(gt)
    if isinstance(pred, (str, Path)):
        pred_dir = check_pred_dir(pred)
        pairs = []
        for v in gt_videos:
            path = pred_dir / (Path(v.path).name if v.path else f"{v.name}.json")
            if not path.is_file():
                raise missing_prediction(path, v.path or v.name)
            pairs.append((v, read_video(path, kind="pred")))
        return pairs
    return pair_by_name(gt_videos, pred)


def location(video: Video, t: int, person: Person | None = None) -> str:
    """`<file>: frame t ('<file_name>'), person track_id k`: where an error is, for messages."""
    who = "" if person is None else f", person track_id {person.track_id}"
    return f"{video.path or video.name}: frame {t} ({video.frames[t].file_name!r}){who}"


def check_pair(gt: Video, pred: Video) -> None:
    """poseval's load-time checks: equal frame counts, track ids < 10000, unique predicted track ids per frame."""
    if len(gt.frames) != len(pred.frames):
        raise EvaluationError(
            f"{pred.path or pred.name}: # prediction frames {len(pred.frames)} != # GT frames {len(gt.frames)} "
            f"of {gt.path or gt.name}; a prediction file must list every GT frame (unlabelled ones too), "
            f"in GT order")
    for video, kind in ((gt, "GT"), (pred, "prediction")):
        for t, frame in enumerate(video.frames):
            ids = [int(p.track_id) for p in frame.people]
            if any(k >= MAX_TRACK_ID for k in ids):
                raise EvaluationError(f"{location(video, t)}: {kind} field 'track_id' must be < {MAX_TRACK_ID}, "
                                      f"got {ids}")
            if kind == "prediction" and len(set(ids)) != len(ids):
                raise EvaluationError(f"{location(video, t)}: field 'track_id' must be unique within a frame "
                                      f"(poseval rejects the file), got {ids}")
