"""Where accuracy is won or lost: PCKh@0.5 joint recall split by joint visibility and by frame condition.

PoseTrack mAP pools every joint into one ranked list, so it cannot say whether a video model's gain comes from joints
hidden in the centre frame or from degraded (blurred, noisy, dark) frames, which is where temporal context should help
(the paper's first claim). This breakdown answers that with a simpler, localisation-only measure:

1. per evaluated frame, each GT person is paired with one prediction (score >= `min_score`) by a Hungarian
   assignment that maximises the number of PCKh hits (d <= 0.5 x 0.6 x head-box diagonal, the mAP's criterion);
2. every annotated GT joint of the 15 evaluated ones is a hit or a miss;
3. recall = hits / joints, reported for visible vs occluded joints (the GT visibility flag) and, given the degraded
   frames (`pavenet_lite.data.synthtrack.degraded_frames`), for clean vs degraded frames.

Scores play no part beyond `min_score`: detection quality is what mAP measures; this isolates localisation.
"""
from __future__ import annotations

from pathlib import Path
from typing import Mapping, Sequence

import numpy as np

from pavenet_lite.data.annotations import Person, Video
from pavenet_lite.evaluation.pairing import EvaluationError, check_pair, load_pairs, location
from pavenet_lite.evaluation.posetrack_map import HEAD_SIZE_FACTOR, PCKH_THRESHOLD
from pavenet_lite.joints import POSEVAL_TO_PT18

_PV = list(POSEVAL_TO_PT18)


def pair_hits(gt: list[Person], pred: list[Person], where: str = "") -> np.ndarray:
    """`[P, G, 15]` bool: joint j of GT person g is annotated, predicted by person p and within PCKh@0.5 of it.

    A GT person with annotated joints needs a head box; raises EvaluationError naming `where` otherwise.
    """
    for g in gt:
        if g.annotated[_PV].any() and g.head_box is None:
            raise EvaluationError(f"{where}, person track_id {g.track_id}: GT field 'head_box' is missing; "
                                  f"PCKh needs it")
    g_xy = np.stack([g.keypoints[_PV] for g in gt])                                    # [G, J, 2]
    g_has = np.stack([g.annotated[_PV] for g in gt])                                   # [G, J]
    head = np.array([HEAD_SIZE_FACTOR * np.hypot(*(g.head_box[2:] - g.head_box[:2])) if g.head_box is not None
                     else np.nan for g in gt])                                         # [G]
    p_xy = np.stack([p.keypoints[_PV] for p in pred])                                  # [P, J, 2]
    p_has = np.stack([p.annotated[_PV] for p in pred])                                 # [P, J]
    dist = np.linalg.norm(p_xy[:, None] - g_xy[None], axis=-1) / head[None, :, None]    # [P, G, J]
    with np.errstate(invalid="ignore"):
        return p_has[:, None] & g_has[None] & (dist <= PCKH_THRESHOLD)                 # [P, G, J]


def frame_hits(gt: list[Person], pred: list[Person], where: str = "") -> np.ndarray:
    """`[G, 15]` bool: joint j of GT person g is annotated and hit by the prediction paired with g (see module doc)."""
    G, J = len(gt), len(_PV)
    if G == 0 or not pred:
        return np.zeros((G, J), bool)
    hit = pair_hits(gt, pred, where)                                                   # [P, G, J]
    from scipy.optimize import linear_sum_assignment  # on use: importing scipy would slow every `pavenet eval` start

    rows, cols = linear_sum_assignment(-hit.sum(-1))                                   # maximise hits
    out = np.zeros((G, J), bool)
    out[cols] = hit[rows, cols]
    return out


def joint_recall_breakdown(gt: str | Path | Sequence[Video], pred: str | Path | Sequence[Video],
                           degraded: Mapping[str, np.ndarray] | None = None, min_score: float = 0.0
                           ) -> dict[str, dict[str, float]]:
    """PCKh@0.5 joint recall (%) and joint counts by group: "all", "visible", "occluded" and, if `degraded`
    (video name -> `[frames]` bool) is given, "clean frames" and "degraded frames".

    gt, pred: as for `evaluate_posetrack` (directories or lists of `Video`, paired by name).
    Returns {group: {"recall": %, "joints": n}}; recall is NaN for a group without joints.
    """
    hits: dict[str, list[np.ndarray]] = {k: [] for k in ("all", "visible", "occluded", "clean frames",
                                                            "degraded frames")}
    for g_video, p_video in load_pairs(gt, pred):
        check_pair(g_video, p_video)
        flags = None
        if degraded is not None:
            if g_video.name not in degraded:
                raise EvaluationError(f"{g_video.path or g_video.name}: no degraded-frame flags for video "
                                      f"{g_video.name!r}")
            flags = degraded[g_video.name]
        for t, frame in enumerate(g_video.frames):
            if not frame.people:
                continue
            people = [p for p in p_video.frames[t].people if p.score is None or p.score >= min_score]
            h = frame_hits(frame.people, people, location(g_video, t))                 # [G, J]
            has = np.stack([g.annotated[_PV] for g in frame.people])                   # [G, J]
            vis = np.stack([g.visible[_PV] for g in frame.people])
            hits["all"].append(h[has])
            hits["visible"].append(h[has & vis])
            hits["occluded"].append(h[has & ~vis])
            if flags is not None:
                hits["degraded frames" if flags[t] else "clean frames"].append(h[has])
    out = {}
    for group, parts in hits.items():
        if group.endswith("frames") and degraded is None:
            continue
        joined = np.concatenate(parts) if parts else np.zeros(0, bool)
        out[group] = {"recall": float(joined.mean() * 100) if len(joined) else float("nan"), "joints": int(len(joined))}
    return out
