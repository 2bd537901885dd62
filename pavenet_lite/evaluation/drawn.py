"""What a viewer of the demo sees: are the drawn skeletons on people, and are the people drawn?

mAP ranks every joint of every prediction, however low its score; a demo draws only the people whose score reaches a
threshold. This measure judges exactly those, frame by frame, on the labelled frames:

* a drawn skeleton (score >= `threshold`) lies on GT person g when at least half of g's annotated joints (of the 15
  evaluated) are within PCKh@0.5 of the skeleton's joints (the mAP's hit criterion);
* skeletons and people are paired one-to-one per frame (Hungarian, most such pairs; ties by joint hits);
* precision = paired skeletons / drawn skeletons, recall = paired people / labelled people.

A skeleton whose joints lie mostly inside an ignore region (unannotated people) is not counted as drawn.
"""
from __future__ import annotations

from pathlib import Path
from typing import Sequence

import numpy as np

from pavenet_lite.data.annotations import Person, Video
from pavenet_lite.evaluation.breakdown import pair_hits
from pavenet_lite.evaluation.ignore_regions import points_in_polygon
from pavenet_lite.evaluation.pairing import check_pair, load_pairs, location
from pavenet_lite.joints import POSEVAL_TO_PT18

_PV = list(POSEVAL_TO_PT18)


def _in_ignore_region(person: Person, regions: list[np.ndarray]) -> bool:
    """More than half of the person's predicted joints lie inside some ignore region."""
    xy = person.keypoints[_PV][person.annotated[_PV]]                                   # [j, 2]
    if not regions or len(xy) == 0:
        return False
    inside = np.zeros(len(xy), bool)
    for polygon in regions:
        inside |= points_in_polygon(xy, polygon)
    return inside.mean() > 0.5


def frame_pairs(gt: list[Person], drawn: list[Person], where: str = "") -> int:
    """Number of one-to-one (skeleton, person) pairs of one frame where the skeleton lies on the person."""
    people = [g for g in gt if g.annotated[_PV].any()]
    if not people or not drawn:
        return 0
    hits = pair_hits(people, drawn, where)                                             # [P, G, J]
    need = np.array([g.annotated[_PV].sum() for g in people]) / 2                      # [G]
    on = hits.sum(-1) >= need[None]                                                    # [P, G]
    # One pair on a person outweighs any number of joint hits, which only break ties.
    from scipy.optimize import linear_sum_assignment  # on use: importing scipy would slow every `pavenet eval` start

    rows, cols = linear_sum_assignment(-(on * (len(_PV) + 1) + hits.sum(-1)))
    return int(on[rows, cols].sum())


def drawn_skeletons(gt: str | Path | Sequence[Video], pred: str | Path | Sequence[Video],
                    threshold: float) -> dict[str, float]:
    """Precision and recall (%) of the skeletons drawn at `threshold`, over the labelled frames.

    gt, pred: as for `evaluate_posetrack` (directories or lists of `Video`, paired by name, frames by index).
    Returns {"precision", "recall" (NaN without drawn skeletons / people), "drawn", "people", "paired"}.
    """
    drawn = people = paired = 0
    for g_video, p_video in load_pairs(gt, pred):
        check_pair(g_video, p_video)
        for t, frame in enumerate(g_video.frames):
            if not frame.is_labeled:
                continue
            shown = [p for p in p_video.frames[t].people if p.score is not None and p.score >= threshold
                     and not _in_ignore_region(p, frame.ignore_regions)]
            drawn += len(shown)
            people += sum(bool(g.annotated[_PV].any()) for g in frame.people)
            paired += frame_pairs(frame.people, shown, location(g_video, t))
    return {"precision": 100 * paired / drawn if drawn else float("nan"),
            "recall": 100 * paired / people if people else float("nan"),
            "drawn": drawn, "people": people, "paired": paired}
