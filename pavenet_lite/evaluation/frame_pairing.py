"""Ground truth and predictions paired as arrays for the PoseTrack mAP: files, frames and the evaluated people.

The rules and messages of `pairing` (videos by file name, frames by position, poseval's load-time checks on track
ids) and of frame selection (docs/posetrack_eval.md: a frame is evaluated iff its GT lists a person; joints inside
ignore regions vanish), applied to `VideoArrays` with a few numpy operations per video instead of a loop over
people. Files are read by `read_many` (two processes for a large set, results as if read one by one).
"""
from __future__ import annotations

import warnings
from dataclasses import dataclass
from pathlib import Path
from typing import Sequence

import numpy as np

from pavenet_lite.data.annotations import Video
from pavenet_lite.data.errors import AnnotationError
from pavenet_lite.data.posetrack_arrays import VideoArrays, arrays_from_video
from pavenet_lite.data.read_many import read_many, replay
from pavenet_lite.evaluation.ignore_regions import points_in_polygons
from pavenet_lite.evaluation.input_checks import require_frames, warn_misaligned
from pavenet_lite.evaluation.pairing import (
    MAX_TRACK_ID, EvaluationError, check_pred_dir, gt_files, missing_prediction, pair_by_name)
from pavenet_lite.joints import POSEVAL_TO_PT18

HEAD_SIZE_FACTOR = 0.6  # headSize = 0.6 x head-box diagonal
MIN_SCORE = -9999.0  # poseval's fallback for a missing per-joint score
_PV = list(POSEVAL_TO_PT18)  # PT18 index of each poseval joint id
J = len(_PV)  # 15 evaluated joints

Pair = tuple[VideoArrays, VideoArrays]


def _from_memory(video: Video) -> VideoArrays:
    try:
        return arrays_from_video(video)
    except AnnotationError as e:
        raise EvaluationError(str(e)) from None


def load_array_pairs(gt: str | Path | Sequence[Video], pred: str | Path | Sequence[Video],
                     workers: int | None = None) -> list[Pair]:
    """`pairing.load_pairs` as `VideoArrays`: directories (same file name) or lists of `Video` (same name).

    workers: processes reading the files (see `read_many`; None chooses). Errors and warnings come in the order of
    reading one file after the other: every GT file, then each prediction file in GT order.
    """
    gt_paths = gt_files(gt) if isinstance(gt, (str, Path)) else None
    gt_names = [p.name for p in gt_paths] if gt_paths is not None else \
        [Path(v.path).name if v.path else f"{v.name}.json" for v in gt]
    pred_dir = Path(pred) if isinstance(pred, (str, Path)) else None
    pred_paths: list[Path] = []
    if pred_dir is not None and pred_dir.is_dir():
        for name in gt_names:  # up to the first missing file: reading stops there
            if not (pred_dir / name).is_file():
                break
            pred_paths.append(pred_dir / name)
    outcomes = read_many([(p, "gt") for p in gt_paths or []] + [(p, "pred") for p in pred_paths], workers)
    if gt_paths is not None:
        gt_arrays = [replay(o) for o in outcomes[:len(gt_paths)]]
        outcomes = outcomes[len(gt_paths):]
    else:
        gt_arrays = [_from_memory(v) for v in gt]
    if pred_dir is None:
        return [(g, _from_memory(p)) for g, p in pair_by_name(gt_arrays, pred)]
    check_pred_dir(pred_dir)
    pairs = []
    for g, name, outcome in zip(gt_arrays, gt_names, outcomes + [None] * len(gt_arrays)):
        if outcome is None:
            raise missing_prediction(pred_dir / name, g.path or g.name)
        pairs.append((g, replay(outcome)))
    return pairs


def check_array_pair(gt: VideoArrays, pred: VideoArrays) -> None:
    """poseval's load-time checks: equal frame counts, track ids < 10000, unique predicted track ids per frame."""
    if gt.num_frames != pred.num_frames:
        raise EvaluationError(
            f"{pred.path or pred.name}: # prediction frames {pred.num_frames} != # GT frames {gt.num_frames} "
            f"of {gt.path or gt.name}; a prediction file must list every GT frame (unlabelled ones too), "
            f"in GT order")
    for video, kind in ((gt, "GT"), (pred, "prediction")):
        ids, frame = video.track_id, video.frame
        big = frame[ids >= MAX_TRACK_ID]
        dup = frame[:0]
        if kind == "prediction":
            order = np.lexsort((ids, frame))
            f, k = frame[order], ids[order]
            dup = f[1:][(f[1:] == f[:-1]) & (k[1:] == k[:-1])]
        if len(big) or len(dup):
            t = int(min(big.min(initial=video.num_frames), dup.min(initial=video.num_frames)))
            got = ids[video.offsets[t]:video.offsets[t + 1]].tolist()
            if t in big:
                raise EvaluationError(f"{video.where(t)}: {kind} field 'track_id' must be < {MAX_TRACK_ID}, "
                                      f"got {got}")
            raise EvaluationError(f"{video.where(t)}: field 'track_id' must be unique within a frame "
                                  f"(poseval rejects the file), got {got}")


@dataclass
class People:
    """Every person of the evaluated frames, flattened in (frame, person) order, joints in poseval order.

    xy [n, J, 2] pixels; has [n, J] joint present; score [n, J] per-joint scores (MIN_SCORE where the person has
    none: scored [n] False); head [n] headSize in pixels (NaN without head box); frame [n] evaluated-frame index; slot [n] position in its frame; offsets [F + 1];
    track_id [n] and source [n] (the index of the person's video pair), for messages.
    """

    xy: np.ndarray
    has: np.ndarray
    score: np.ndarray
    scored: np.ndarray
    head: np.ndarray
    frame: np.ndarray
    slot: np.ndarray
    offsets: np.ndarray
    track_id: np.ndarray


@dataclass
class EvaluatedFrames:
    """The evaluated frames of all pairs: `gt` and `pred` people; frame f is frame `t[f]` of pair `pair[f]`."""

    gt: People
    pred: People
    pair: np.ndarray
    t: np.ndarray

    @property
    def num_frames(self) -> int:
        return len(self.t)


def _people(videos: list[VideoArrays], frame_of: list[np.ndarray], num_frames: int) -> People:
    """The people of `videos` whose frame maps to an evaluated frame (frame_of[v] [F_v], -1: not evaluated)."""
    sel = [f[v.frame] >= 0 for v, f in zip(videos, frame_of)]

    def cat(name: str) -> np.ndarray:
        return np.concatenate([getattr(v, name)[s] for v, s in zip(videos, sel)])

    frame = np.concatenate([f[v.frame][s] for v, f, s in zip(videos, frame_of, sel)])
    offsets = np.concatenate([[0], np.cumsum(np.bincount(frame, minlength=num_frames))])
    scored, box = cat("scored"), cat("head_box")
    return People(xy=cat("keypoints")[:, _PV], has=cat("annotated")[:, _PV], scored=scored,
                  score=np.where(scored[:, None], cat("scores")[:, _PV], MIN_SCORE),
                  head=HEAD_SIZE_FACTOR * np.linalg.norm(box[:, 2:] - box[:, :2], axis=1), frame=frame,
                  slot=np.arange(len(frame)) - offsets[frame], offsets=offsets, track_id=cat("track_id"))


def evaluated_frames(pairs: list[Pair]) -> EvaluatedFrames:
    """Check the pairs and gather the people of the evaluated frames, ignore regions applied.

    Warns about misaligned frames and unscored predictions; raises `EvaluationError` for the checks of
    `check_array_pair`, no evaluated frame, NaN/inf coordinates or scores of present joints, and a GT person with
    joints but no head box in a frame with predicted joints (a GT person without joints never matches, so it may
    go without one; poseval would crash on it).
    """
    warn_misaligned(pairs)
    for g, p in pairs:
        check_array_pair(g, p)
    frame_of, pair_of, t_of, base = [], [], [], 0
    for i, (g, _) in enumerate(pairs):
        keep = np.diff(g.offsets) > 0  # frame selection: >= 1 GT person entry (is_labeled is not read)
        f = np.full(g.num_frames, -1)
        f[keep] = base + np.arange(keep.sum())
        frame_of.append(f)
        pair_of.append(np.full(keep.sum(), i))
        t_of.append(np.flatnonzero(keep))
        base += int(keep.sum())
    require_frames(base, pairs)
    frames = EvaluatedFrames(_people([g for g, _ in pairs], frame_of, base),
                             _people([p for _, p in pairs], frame_of, base), np.concatenate(pair_of),
                             np.concatenate(t_of))
    for side, people in ((0, frames.gt), (1, frames.pred)):
        bad = np.flatnonzero((~np.isfinite(people.xy).all(axis=-1) & people.has).any(axis=-1))
        if len(bad):
            raise EvaluationError(f"{_where(frames, pairs, people, side, bad[0])}: field 'keypoints' has NaN/inf "
                                  f"coordinates for annotated joints")
    unscored = np.flatnonzero(~frames.pred.scored)
    if len(unscored):
        warnings.warn(f"{_where(frames, pairs, frames.pred, 1, unscored[0])} and {len(unscored) - 1} more "
                      f"predictions have no per-joint 'scores'; using poseval's fallback score {MIN_SCORE} (such "
                      f"joints all tie, so AP is not meaningful)", stacklevel=3)
    bad = np.flatnonzero((~np.isfinite(frames.pred.score) & frames.pred.has).any(axis=-1))
    if len(bad):
        raise EvaluationError(f"{_where(frames, pairs, frames.pred, 1, bad[0])}: field 'scores' has NaN/inf values")

    regions = [(frame_of[i][t], poly) for i, (g, _) in enumerate(pairs) for t, polygons in g.ignore_regions.items()
               for poly in polygons if frame_of[i][t] >= 0]
    if regions:  # joints strictly inside an ignore region vanish from GT and predictions
        at = np.array([f for f, _ in regions])  # [R] evaluated frame of each polygon
        for people in (frames.gt, frames.pred):
            count = people.offsets[at + 1] - people.offsets[at]  # [R] people of each polygon's frame
            rows = np.repeat(people.offsets[at] - np.cumsum(count) + count, count) + np.arange(count.sum())
            inside = points_in_polygons(people.xy[rows].reshape(-1, 2), [p for _, p in regions],
                                        np.repeat(np.arange(len(regions)), count * J)).reshape(-1, J)
            hidden = np.zeros_like(people.has)
            np.logical_or.at(hidden, rows, inside)  # a frame can have several polygons
            people.has &= ~hidden
    framed = np.bincount(frames.pred.frame[frames.pred.has.any(axis=1)], minlength=base) > 0
    bad = np.flatnonzero(np.isnan(frames.gt.head) & frames.gt.has.any(axis=1) & framed[frames.gt.frame])
    if len(bad):
        raise EvaluationError(f"{_where(frames, pairs, frames.gt, 0, bad[0])}: GT field 'head_box' ('bbox_head') "
                              f"is missing or NaN; PCKh needs it")
    return frames


def _where(frames: EvaluatedFrames, pairs: list[Pair], people: People, side: int, i: int) -> str:
    """The file, frame and track id of person i of `people` (side 0: GT, 1: predictions)."""
    f = people.frame[i]
    return pairs[frames.pair[f]][side].where(int(frames.t[f]), int(people.track_id[i]))
