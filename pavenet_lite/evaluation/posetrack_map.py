"""PoseTrack multi-person pose estimation mAP, computed exactly as the official `poseval --evalPoseEstimation`.

The protocol (shared/spec/posetrack_eval.md §4), per joint class j of the 15 evaluated joints:

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
* ties in score: we sort with a *stable* sort on -score, so tied detections keep their emission order (videos in
  file-name order, then frames, then predictions). poseval's `argsort()[::-1]` is not stable: its order among ties
  is implementation-defined (and its video order is the file system's `glob` order). Only exact ties can differ.
"""
from __future__ import annotations

import json
import math
import warnings
from dataclasses import dataclass, field
from pathlib import Path
from typing import Sequence

import numpy as np

from pavenet_lite.data.annotations import Person, Video
from pavenet_lite.joints import PT18_NAMES, POSEVAL_TO_PT18, TABLE_COLUMNS

PCKH_THRESHOLD = 0.5  # inclusive: d <= 0.5 is a hit
HEAD_SIZE_FACTOR = 0.6  # headSize = 0.6 x head-box diagonal
MIN_SCORE = -9999.0  # poseval's fallback for a missing per-joint score
MAX_TRACK_ID = 10000  # poseval asserts track_id < 10000 (it offsets ids by video index x 10000)
_PV = list(POSEVAL_TO_PT18)  # PT18 index of each poseval joint id
J = len(_PV)  # 15 evaluated joints
_CHUNK_ELEMENTS = 4_000_000  # cap on the [Fc, P, G, J] distance tensor of one chunk of frames


class EvaluationError(ValueError):
    """Input the evaluator cannot score faithfully; the message names the file/video, the frame and the field."""


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


# ----------------------------------------------------------------------------------------------------------- inputs

def _load(gt: str | Path | Sequence[Video], pred: str | Path | Sequence[Video]) -> list[tuple[Video, Video]]:
    """Pair every GT video with its prediction: same file basename (directories) or same `Video.name` (lists)."""
    if isinstance(gt, (str, Path)):
        from pavenet_lite.data.posetrack import read_video

        gt_dir = Path(gt)
        if not gt_dir.is_dir():
            raise EvaluationError(f"{gt_dir}: expected a directory of ground-truth JSON files (one per video)")
        gt_paths = sorted(gt_dir.glob("*.json"))
        if not gt_paths:
            raise EvaluationError(f"{gt_dir}: no *.json ground-truth files found")
        gt_videos = [read_video(p, kind="gt") for p in gt_paths]
    else:
        gt_videos = list(gt)
    if isinstance(pred, (str, Path)):
        from pavenet_lite.data.posetrack import read_video

        pred_dir = Path(pred)
        if not pred_dir.is_dir():
            raise EvaluationError(f"{pred_dir}: expected a directory of prediction JSON files (one per GT file)")
        pairs = []
        for v in gt_videos:
            path = pred_dir / (Path(v.path).name if v.path else f"{v.name}.json")
            if not path.is_file():
                raise EvaluationError(
                    f"{path}: prediction file missing; expected one prediction file per GT file, same name "
                    f"(GT {v.path or v.name})")
            pairs.append((v, read_video(path, kind="pred")))
        return pairs
    by_name = {v.name: v for v in pred}
    missing = [v.name for v in gt_videos if v.name not in by_name]
    if missing:
        raise EvaluationError(f"predictions: no prediction video for GT video(s) {missing[:5]}"
                              f"{' ...' if len(missing) > 5 else ''}; expected one per GT video, same name")
    return [(v, by_name[v.name]) for v in gt_videos]


def _where(video: Video, t: int, person: Person | None = None) -> str:
    who = "" if person is None else f", person track_id {person.track_id}"
    return f"{video.path or video.name}: frame {t} ({video.frames[t].file_name!r}){who}"


def _check_pair(gt: Video, pred: Video) -> None:
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
                raise EvaluationError(f"{_where(video, t)}: {kind} field 'track_id' must be < {MAX_TRACK_ID}, "
                                      f"got {ids}")
            if kind == "prediction" and len(set(ids)) != len(ids):
                raise EvaluationError(f"{_where(video, t)}: field 'track_id' must be unique within a frame "
                                      f"(poseval rejects the file), got {ids}")


def points_in_polygon(points: np.ndarray, polygon: np.ndarray) -> np.ndarray:
    """Strict point-in-polygon test with shapely's `Polygon.contains` semantics: boundary points are NOT inside.

    points: [n, 2] (x, y); polygon: [V, 2] vertices of a simple ring (closing vertex optional). Returns [n] bool.
    Even-odd ray casting for the interior, then every point lying on an edge is excluded. A polygon with fewer than
    3 vertices has no interior (poseval/shapely would reject it; we let it contain nothing).
    """
    pts = np.asarray(points, dtype=np.float64).reshape(-1, 2)
    poly = np.asarray(polygon, dtype=np.float64).reshape(-1, 2)
    if len(poly) < 3:
        return np.zeros(len(pts), dtype=bool)
    a, b = poly[None, :, :], np.roll(poly, -1, axis=0)[None, :, :]  # edges a -> b, [1, V, 2]
    px, py = pts[:, None, 0], pts[:, None, 1]  # [n, 1]
    ax, ay, bx, by = a[..., 0], a[..., 1], b[..., 0], b[..., 1]
    straddles = (ay > py) != (by > py)  # [n, V]; half-open rule, so horizontal edges never count
    with np.errstate(divide="ignore", invalid="ignore"):
        x_cross = ax + (py - ay) * (bx - ax) / (by - ay)
    inside = (straddles & (px < x_cross)).sum(axis=1) % 2 == 1
    on_edge = (((bx - ax) * (py - ay) - (by - ay) * (px - ax)) == 0) \
        & (np.minimum(ax, bx) <= px) & (px <= np.maximum(ax, bx)) \
        & (np.minimum(ay, by) <= py) & (py <= np.maximum(ay, by))
    return inside & ~on_edge.any(axis=1)


# ------------------------------------------------------------------------------------------------ per-frame arrays

def _stack_people(people: list[Person], where: str, is_gt: bool, warned: list[bool]) -> tuple[np.ndarray, ...]:
    """Persons -> xy [n, J, 2], has [n, J], score [n, J], head size [n] (poseval joint order)."""
    n = len(people)
    xy, has = np.zeros((n, J, 2)), np.zeros((n, J), dtype=bool)
    score, head = np.full((n, J), MIN_SCORE), np.full(n, np.nan)
    for i, p in enumerate(people):
        kp, ann = np.asarray(p.keypoints, dtype=np.float64), np.asarray(p.annotated, dtype=bool)
        if kp.shape != (len(PT18_NAMES), 2) or ann.shape != (len(PT18_NAMES),):
            raise EvaluationError(f"{where}, person track_id {p.track_id}: 'keypoints' must be [17, 2] and "
                                  f"'annotated' [17], got {kp.shape} and {ann.shape}")
        xy[i], has[i] = kp[_PV], ann[_PV]
        if not np.isfinite(xy[i][has[i]]).all():
            raise EvaluationError(f"{where}, person track_id {p.track_id}: field 'keypoints' has NaN/inf "
                                  f"coordinates for annotated joints")
        if is_gt:
            if p.head_box is not None:
                x1, y1, x2, y2 = np.asarray(p.head_box, dtype=np.float64)
                head[i] = HEAD_SIZE_FACTOR * np.linalg.norm(np.subtract([x2, y2], [x1, y1]))
        elif p.scores is None:
            if not warned[0]:
                warnings.warn(f"{where}: prediction without per-joint 'scores'; using poseval's fallback score "
                              f"{MIN_SCORE} (all such joints tie, so AP is not meaningful)", stacklevel=4)
                warned[0] = True
        else:
            s = np.asarray(p.scores, dtype=np.float64)[_PV]
            if not np.isfinite(s[has[i]]).all():
                raise EvaluationError(f"{where}, person track_id {p.track_id}: field 'scores' has NaN/inf values")
            score[i] = s
    return xy, has, score, head


def _frame_arrays(gt: Video, pred: Video, t: int, warned: list[bool]) -> tuple[np.ndarray, ...]:
    """One evaluated frame: GT and prediction arrays after ignore regions; checks the head boxes it will need."""
    g_xy, g_has, _, head = _stack_people(gt.frames[t].people, _where(gt, t), True, warned)
    p_xy, p_has, p_score, _ = _stack_people(pred.frames[t].people, _where(pred, t), False, warned)
    for poly in gt.frames[t].ignore_regions:
        g_has &= ~points_in_polygon(g_xy.reshape(-1, 2), poly).reshape(g_has.shape)
        p_has &= ~points_in_polygon(p_xy.reshape(-1, 2), poly).reshape(p_has.shape)
    if p_has.any():  # head sizes are needed once a frame has predicted joints; a GT without joints never matches,
        bad = np.flatnonzero(np.isnan(head) & g_has.any(axis=1))  # so we let it go (poseval would crash on it)
        if len(bad):
            raise EvaluationError(f"{_where(gt, t, gt.frames[t].people[bad[0]])}: GT field 'head_box' "
                                  f"('bbox_head') is missing or NaN; PCKh needs it for every GT person")
    return g_xy, g_has, head, p_xy, p_has, p_score


def _assign_chunk(frames: list[tuple[np.ndarray, ...]]) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Greedy PCKh assignment of a chunk of Fc frames, vectorised over frames by zero-padding to Pmax / Gmax people.

    Returns, in emission order (frame, prediction): det [Fc, P, J] bool (a detection exists), label [Fc, P, J] bool,
    score [Fc, P, J], and the GT joint counts [J].
    """
    fc = len(frames)
    gm = max(1, max(len(f[0]) for f in frames))
    pm = max(1, max(len(f[3]) for f in frames))
    g_xy, g_has, head = np.zeros((fc, gm, J, 2)), np.zeros((fc, gm, J), dtype=bool), np.ones((fc, gm))
    p_xy, p_has, p_score = np.zeros((fc, pm, J, 2)), np.zeros((fc, pm, J), dtype=bool), np.zeros((fc, pm, J))
    for i, (gx, gh, hs, px, ph, ps) in enumerate(frames):
        g_xy[i, :len(gx)], g_has[i, :len(gx)], head[i, :len(gx)] = gx, gh, hs
        p_xy[i, :len(px)], p_has[i, :len(px)], p_score[i, :len(px)] = px, ph, ps
    with np.errstate(divide="ignore", invalid="ignore"):
        dist = np.linalg.norm(p_xy[:, :, None] - g_xy[:, None], axis=-1) / head[:, None, :, None]  # [Fc, P, G, J]
    both = p_has[:, :, None] & g_has[:, None]  # [Fc, P, G, J]
    match = both & (dist <= PCKH_THRESHOLD)  # NaN (zero-size head box) never matches, as in poseval
    n_gt = g_has.sum(axis=-1)  # [Fc, G]
    pck = match.sum(axis=-1) / np.maximum(n_gt, 1)[:, None, :]  # [Fc, P, G]; n_gt = 0 keeps the raw count 0
    # Each prediction keeps only its best GT (first index on ties); each GT then takes its best prediction.
    best_g = pck.argmax(axis=2)  # [Fc, P]
    pck = np.where(np.arange(gm)[None, None, :] == best_g[..., None], pck, 0.0)
    pr_to_gt = pck.argmax(axis=1)  # [Fc, G]
    taken = pck.max(axis=1) > 0  # [Fc, G]
    matched_g = np.full((fc, pm), -1)
    fi, gi = np.nonzero(taken)
    matched_g[fi, pr_to_gt[fi, gi]] = gi  # a prediction is best for one GT only, so no collisions
    label = np.take_along_axis(match, np.maximum(matched_g, 0)[:, :, None, None], axis=2)[:, :, 0]  # [Fc, P, J]
    label &= (matched_g >= 0)[..., None]
    return p_has, label, p_score, g_has.sum(axis=(0, 1))


# --------------------------------------------------------------------------------------------------------- metric

def voc_ap(precision: np.ndarray, recall: np.ndarray) -> float:
    """VOC 2010+ all-point AP of a ranked list (poseval `VOCap`); fractions in, fraction out."""
    mpre = np.concatenate([[0.0], precision, [0.0]])
    mrec = np.concatenate([[0.0], recall, [1.0]])
    mpre = np.maximum.accumulate(mpre[::-1])[::-1]  # precision envelope from the right
    i = np.flatnonzero(mrec[1:] != mrec[:-1]) + 1
    return float(np.sum((mrec[i] - mrec[i - 1]) * mpre[i]))


def _summarise(scores: list[np.ndarray], labels: list[np.ndarray], num_gt: np.ndarray, num_frames: int) -> PoseTrackAP:
    ap, pre, rec = np.zeros(J), np.zeros(J), np.zeros(J)
    curves = {}
    for j in range(J):
        name = PT18_NAMES[_PV[j]]
        order = np.argsort(-scores[j], kind="stable")
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
        num_detections={n: len(s) for n, s in zip(names, scores)}, num_frames=num_frames, curves=curves)


def evaluate_posetrack(gt: str | Path | Sequence[Video], pred: str | Path | Sequence[Video]) -> PoseTrackAP:
    """PoseTrack per-joint AP (poseval `--evalPoseEstimation`) of predictions against ground truth.

    gt, pred: directories with one JSON per video (PoseTrack17 `annolist` or PoseTrack18/21; predictions paired by
    file name), or lists of `Video` (paired by `Video.name`). Prediction keypoints are PT18-order pixels with
    per-joint `scores`. Raises `EvaluationError` for a missing prediction video, a frame-count mismatch, duplicate
    predicted track ids in a frame, track ids >= 10000, NaN coordinates or scores, or a GT person without head box.
    """
    pairs = _load(gt, pred)
    warned = [False]
    frames = []
    for g, p in pairs:
        _check_pair(g, p)
        frames += [_frame_arrays(g, p, t, warned) for t, f in enumerate(g.frames) if f.people]
    scores, labels = [[] for _ in range(J)], [[] for _ in range(J)]
    num_gt = np.zeros(J, dtype=np.int64)
    start = 0
    while start < len(frames):  # chunks keep the padded distance tensor small whatever the crowd size
        stop, gm, pm = start, 1, 1
        while stop < len(frames):
            gm, pm = max(gm, len(frames[stop][0])), max(pm, len(frames[stop][3]))
            if stop > start and (stop - start + 1) * gm * pm * J > _CHUNK_ELEMENTS:
                break
            stop += 1
        det, label, score, n = _assign_chunk(frames[start:stop])
        for j in range(J):  # boolean indexing keeps (frame, prediction) order: poseval's emission order
            scores[j].append(score[..., j][det[..., j]])
            labels[j].append(label[..., j][det[..., j]])
        num_gt += n
        start = stop
    return _summarise([np.concatenate(s) if s else np.zeros(0) for s in scores],
                      [np.concatenate(lb) if lb else np.zeros(0, dtype=bool) for lb in labels],
                      num_gt, len(frames))


def run_eval(gt_dir: str | Path, pred_dir: str | Path, json_out: str | Path | None = None) -> PoseTrackAP:
    """`pavenet eval --gt DIR --pred DIR [--json OUT]`: evaluate, print the poseval-style table, optionally save."""
    result = evaluate_posetrack(gt_dir, pred_dir)
    print(f"# evaluated frames: {result.num_frames}")
    print("Average Precision (AP) metric:")
    print(result.format_table())
    if json_out is not None:
        Path(json_out).parent.mkdir(parents=True, exist_ok=True)
        Path(json_out).write_text(result.to_json() + "\n", encoding="utf-8")
    return result
