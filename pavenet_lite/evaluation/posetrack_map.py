"""PoseTrack multi-person pose estimation mAP, computed exactly as the official `poseval --evalPoseEstimation`.

The protocol of the official poseval, per joint class j of the 15 evaluated joints:

1. Frames: a frame is evaluated iff its GT lists >= 1 person; GT and prediction frames are paired **by position**.
2. Ignore regions: every GT and predicted joint strictly inside a GT ignore polygon is deleted.
3. PCKh: d[p, g, j] = ||x_pj - x_gj|| / (0.6 * head-box diagonal of g); a joint is correct iff d <= 0.5.
4. Greedy person assignment on the fraction of correct joints (not on scores): each prediction keeps only its best
   GT, then each GT takes its best remaining prediction. A prediction not taken is never re-assigned.
5. Every predicted joint is one detection (its per-joint score, label = correct on the matched GT, else 0);
   detections are pooled over all frames of all videos, ranked by score, and AP_j is VOC all-point AP x 100.

Quirks of poseval reproduced on purpose (each checked against the official tool, see tests/test_posetrack_map.py):
* the assignment depends on the order of the predictions (first index wins ties), not on their scores;
* a predicted joint whose matched GT person lacks that joint is a false positive;
* `is_labeled` is never read, and a labelled frame with no GT person is skipped (its false positives are free);
* a joint with no detection at all has AP 0 (it counts in Total) while a joint with detections but no GT has AP NaN
  (excluded from Total; a table column containing it is NaN, as `numpy.mean` makes it in poseval);
* a missing per-joint score becomes -9999 (with a warning), so all such joints tie;
* ties in score: we rank with a *stable* sort on -score, so tied detections keep their emission order (videos in
  file-name order, then frames, then predictions). poseval's `argsort()[::-1]` leaves ties implementation-defined:
  numpy sorts short lists (<= 16) stably, so there poseval ranks ties in *reverse* emission order (measured: the
  `test_score_ties_keep_emission_order` case gives 16.7 here, 33.3 in poseval), longer lists depend on numpy's sort
  kernel, and poseval's video order is the file system's `glob` order. Only exact ties can differ.

Where poseval crashes we go on or raise one clear `EvaluationError` instead: a GT person without any joint needs no
head box (it can never match), and an ignore polygon with fewer than 3 vertices contains nothing.
"""
from __future__ import annotations

import json
import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Sequence

import numpy as np

from pavenet_lite.data.annotations import Video
from pavenet_lite.evaluation.frame_pairing import (
    HEAD_SIZE_FACTOR, MIN_SCORE, EvaluatedFrames, People, evaluated_frames, load_array_pairs)
from pavenet_lite.evaluation.pairing import EvaluationError
from pavenet_lite.files import check_output_file, write_text_atomic
from pavenet_lite.joints import PT18_NAMES, POSEVAL_TO_PT18, TABLE_COLUMNS

__all__ = ["PoseTrackAP", "EvaluationError", "evaluate_posetrack", "run_eval", "voc_ap", "match_frames",
           "summarise", "PCKH_THRESHOLD", "HEAD_SIZE_FACTOR", "MIN_SCORE"]

PCKH_THRESHOLD = 0.5  # inclusive: d <= 0.5 is a hit
_PV = list(POSEVAL_TO_PT18)  # PT18 index of each poseval joint id
J = len(_PV)  # 15 evaluated joints
_CHUNK_ELEMENTS = 4_000_000  # cap on the [Fc, P, G, J] distance tensor of one chunk of frames


@dataclass
class PoseTrackAP:
    """Result of `evaluate_posetrack`. All values are percent, joints keyed by PT18 name in poseval order.

    per_joint: AP of each of the 15 joints (NaN when the joint has detections but no GT).
    table:     Head, Shou, Elb, Wri, Hip, Knee, Ankl (means of joint APs) and Total (mean over the 15 joints).
    precision, recall: at the end of each joint's ranked list (unthresholded), as poseval's `pre` / `rec`.
    num_gt, num_detections: N_j and the number of detections per joint.
    num_frames: evaluated frames (poseval's "# gt frames").
    curves: joint -> (precision [D_j], recall [D_j]) along the ranked list, fractions in [0, 1].
    """

    per_joint: dict[str, float]
    table: dict[str, float]
    precision: dict[str, float]
    recall: dict[str, float]
    num_gt: dict[str, int]
    num_detections: dict[str, int]
    num_frames: int
    curves: dict[str, tuple[np.ndarray, np.ndarray]] = field(repr=False, default_factory=dict)

    @property
    def total(self) -> float:
        return self.table["Total"]

    def to_dict(self) -> dict[str, dict[str, float | None]]:
        """The JSON contract `{"per_joint": {15 PT18 names: AP}, "table": {Head..Ankl, Total}}`; NaN -> None."""
        return {"per_joint": _nan_to_none(self.per_joint), "table": _nan_to_none(self.table)}

    def to_json(self, indent: int | None = 2) -> str:
        return json.dumps(self.to_dict(), indent=indent)

    def format_table(self) -> str:
        """The two lines poseval prints: `& Head & Shou & ... & Total\\\\` and `& 80.0 & ... \\\\`."""
        header = "& Head & Shou & Elb  & Wri  & Hip  & Knee & Ankl & Total\\\\"
        cells = ["{:>5}".format("%1.1f" % v) for v in self.table.values()]
        return header + "\n&" + " &".join(cells) + " \\\\"


def _nan_to_none(values: dict[str, float]) -> dict[str, float | None]:
    return {k: (None if math.isnan(v) else float(v)) for k, v in values.items()}


# ------------------------------------------------------------------------------------------------ matching

def _pad(people: People, frames: np.ndarray, local: np.ndarray) -> tuple[np.ndarray, ...]:
    """The people of `frames` [Fc], zero-padded to the most crowded one (M people).

    local [F] maps an evaluated-frame index to its row in the chunk (-1 if absent). Returns xy [Fc, M, J, 2],
    has [Fc, M, J], score [Fc, M, J], head [Fc, M], and index [Fc, M] (flat person index, -1 for padding).
    """
    sel = np.flatnonzero(local[people.frame] >= 0)  # persons of these frames, [n_c]
    m = max(1, int(np.diff(people.offsets)[frames].max()))
    idx = (local[people.frame[sel]], people.slot[sel])
    shape = (len(frames), m)
    xy, has, score = np.zeros(shape + (J, 2)), np.zeros(shape + (J,), dtype=bool), np.zeros(shape + (J,))
    head, index = np.ones(shape), np.full(shape, -1)
    xy[idx], has[idx], score[idx], head[idx], index[idx] = (
        people.xy[sel], people.has[sel], people.score[sel], people.head[sel], sel)
    return xy, has, score, head, index


def _assign_chunk(gt: People, pred: People, frames: np.ndarray, local: np.ndarray) -> tuple[np.ndarray, ...]:
    """Greedy PCKh assignment in `frames` [Fc], vectorised over frames by zero-padding (P, G = max people).

    Returns det [Fc, P, J] bool (a detection exists), label [Fc, P, J] bool, score [Fc, P, J] and index [Fc, P]
    (flat prediction index = position in poseval's (frame, prediction) emission order).
    """
    g_xy, g_has, _, head, _ = _pad(gt, frames, local)
    p_xy, p_has, p_score, _, p_index = _pad(pred, frames, local)
    dx = p_xy[:, :, None, :, 0] - g_xy[:, None, :, :, 0]  # [Fc, P, G, J]
    dy = p_xy[:, :, None, :, 1] - g_xy[:, None, :, :, 1]
    with np.errstate(divide="ignore", invalid="ignore"):  # same arithmetic as poseval's norm of a 2-vector
        dist = np.sqrt(dx * dx + dy * dy) / head[:, None, :, None]  # [Fc, P, G, J]
    match = p_has[:, :, None] & g_has[:, None] & (dist <= PCKH_THRESHOLD)  # NaN (zero head box) never matches
    n_gt = g_has.sum(axis=-1)  # [Fc, G]
    pck = match.sum(axis=-1) / np.maximum(n_gt, 1)[:, None, :]  # [Fc, P, G]; n_gt = 0 keeps the raw count 0
    # Each prediction keeps only its best GT (first index on ties); each GT then takes its best prediction.
    best_g = pck.argmax(axis=2)  # [Fc, P]
    pck = np.where(np.arange(pck.shape[2])[None, None, :] == best_g[..., None], pck, 0.0)
    pr_to_gt = pck.argmax(axis=1)  # [Fc, G]
    fi, gi = np.nonzero(pck.max(axis=1) > 0)  # GT people that found a prediction
    matched_g = np.full(p_has.shape[:2], -1)  # [Fc, P]
    matched_g[fi, pr_to_gt[fi, gi]] = gi  # a prediction is best for one GT only, so no collisions
    label = np.take_along_axis(match, np.maximum(matched_g, 0)[:, :, None, None], axis=2)[:, :, 0]  # [Fc, P, J]
    return p_has, label & (matched_g >= 0)[..., None], p_score, p_index


# --------------------------------------------------------------------------------------------------------- metric

def voc_ap(precision: np.ndarray, recall: np.ndarray) -> float:
    """VOC 2010+ all-point AP of a ranked list (poseval `VOCap`); fractions in, fraction out."""
    mpre = np.concatenate([[0.0], precision, [0.0]])
    mrec = np.concatenate([[0.0], recall, [1.0]])
    mpre = np.maximum.accumulate(mpre[::-1])[::-1]  # precision envelope from the right
    i = np.flatnonzero(mrec[1:] != mrec[:-1]) + 1
    return float(np.sum((mrec[i] - mrec[i - 1]) * mpre[i]))


@dataclass
class Detections:
    """Per joint j, the pooled detections: score [D_j], label [D_j] bool, key [D_j] (emission order); num_gt [J]."""

    scores: list[np.ndarray]
    labels: list[np.ndarray]
    keys: list[np.ndarray]
    num_gt: np.ndarray
    num_frames: int


def summarise(detections: Detections) -> PoseTrackAP:
    """AP per joint from pooled detections (their keys = emission order break ties in score)."""
    scores, labels, keys, num_gt = detections.scores, detections.labels, detections.keys, detections.num_gt
    ap, pre, rec = np.zeros(J), np.zeros(J), np.zeros(J)
    curves = {}
    for j in range(J):
        name = PT18_NAMES[_PV[j]]
        order = np.lexsort((keys[j], -scores[j]))  # = a stable sort on -score of the emission-ordered list
        tp = np.cumsum(labels[j][order])
        with np.errstate(divide="ignore", invalid="ignore"):
            precision, recall = tp / np.arange(1, len(tp) + 1), tp / float(num_gt[j])  # N_j = 0 -> NaN recall
            if len(tp):  # no detection at all leaves AP, pre and rec at 0, as poseval does
                ap[j], pre[j], rec[j] = voc_ap(precision, recall) * 100, precision[-1] * 100, recall[-1] * 100
        curves[name] = (precision, recall)
    names = [PT18_NAMES[i] for i in _PV]
    table = {col: float(ap[list(ids)].mean()) for col, ids in TABLE_COLUMNS.items()}  # NaN propagates, as in poseval
    valid = ~np.isnan(ap)
    table["Total"] = float(ap[valid].mean()) if valid.any() else float("nan")
    return PoseTrackAP(
        per_joint=dict(zip(names, ap.tolist())), table=table,
        precision=dict(zip(names, pre.tolist())), recall=dict(zip(names, rec.tolist())),
        num_gt=dict(zip(names, num_gt.astype(int).tolist())),
        num_detections={n: len(s) for n, s in zip(names, scores)}, num_frames=detections.num_frames,
        curves=curves)


def match_frames(frames: EvaluatedFrames) -> Detections:
    """Greedy PCKh assignment in every evaluated frame, chunked by crowd size; the detections pooled per joint."""
    gt_people, pred_people = frames.gt, frames.pred
    scores, labels, keys = [[] for _ in range(J)], [[] for _ in range(J)], [[] for _ in range(J)]
    n_g, n_p = np.diff(gt_people.offsets), np.diff(pred_people.offsets)
    by_size = np.lexsort((n_p, n_g))  # chunks of similar crowd size waste little padding
    local = np.full(frames.num_frames, -1)
    c0 = 0
    while c0 < len(by_size):  # chunks also keep the [Fc, P, G, J] tensors small whatever the crowd size
        c1, pm = c0 + 1, max(1, n_p[by_size[c0]])
        while c1 < len(by_size):
            pm = max(pm, n_p[by_size[c1]])  # n_g is sorted, so the chunk's G is that of its last frame
            if (c1 - c0 + 1) * max(1, n_g[by_size[c1]]) * pm * J > _CHUNK_ELEMENTS:
                break
            c1 += 1
        chunk = by_size[c0:c1]
        local[chunk] = np.arange(len(chunk))
        det, label, score, index = _assign_chunk(gt_people, pred_people, chunk, local)
        local[chunk] = -1
        for j in range(J):
            scores[j].append(score[..., j][det[..., j]])
            labels[j].append(label[..., j][det[..., j]])
            keys[j].append(index[det[..., j]])
        c0 = c1
    return Detections([_cat(s, float) for s in scores], [_cat(lb, bool) for lb in labels],
                      [_cat(k, np.int64) for k in keys], gt_people.has.sum(axis=0), frames.num_frames)  # N_j


def evaluate_posetrack(gt: str | Path | Sequence[Video], pred: str | Path | Sequence[Video],
                       workers: int | None = None) -> PoseTrackAP:
    """PoseTrack per-joint AP (poseval `--evalPoseEstimation`) of predictions against ground truth.

    gt, pred: directories with one JSON per video (PoseTrack17 `annolist` or PoseTrack18/21; predictions paired by
    file name), or lists of `Video` (paired by `Video.name`). Prediction keypoints are PT18-order pixels with
    per-joint `scores`. workers: processes that read the files (1, 2, or None: 2 for a large set where fork
    exists); the result is the same. Raises `AnnotationError` for a file that cannot be read, and `EvaluationError`
    for a missing prediction video, a frame-count mismatch, duplicate predicted track ids in a frame, track ids
    >= 10000, NaN coordinates or scores, a GT person with joints but no head box in a frame with predictions, or no
    evaluated frame at all. Warns (the numbers stay poseval's) when prediction frames are not the GT frames at their
    positions (`input_checks.warn_misaligned`) and when predictions have no per-joint scores.
    """
    pairs = load_array_pairs(gt, pred, workers)  # read
    frames = evaluated_frames(pairs)  # pair
    return summarise(match_frames(frames))  # match, accumulate


def _cat(parts: list[np.ndarray], dtype: type) -> np.ndarray:
    return np.concatenate(parts) if parts else np.zeros(0, dtype)


def run_eval(gt_dir: str | Path, pred_dir: str | Path, json_out: str | Path | None = None) -> PoseTrackAP:
    """`pavenet eval --gt DIR --pred DIR [--json OUT]`: evaluate, print the poseval-style table, optionally save."""
    if json_out is not None:
        check_output_file(json_out, "JSON result file")  # before the evaluation, not after it
    result = evaluate_posetrack(gt_dir, pred_dir)
    print(f"# evaluated frames: {result.num_frames}")
    print("Average Precision (AP) metric:")
    print(result.format_table())
    if json_out is not None:
        write_text_atomic(result.to_json() + "\n", json_out)
    return result
