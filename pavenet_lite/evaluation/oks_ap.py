"""COCO-style OKS keypoint AP (pycocotools `COCOeval(..., "keypoints")`) on PoseTrack data: a diagnostic metric.

This is NOT the PoseTrack mAP of papers (that is `posetrack_map.evaluate_posetrack`). It ranks *people* by their
person score, matches greedily by score on OKS, uses 101-point interpolation and averages over OKS thresholds
0.50:0.05:0.95. PoseTrack GT is not COCO-complete, so the conversion makes
choices that change the numbers; state them whenever an OKS AP is reported:

* frames: paired by position like poseval; a frame is evaluated iff it has >= 1 GT person with >= 1 annotated joint.
* GT: persons with >= 1 annotated joint (those without would be ignored by COCOeval anyway); every annotated joint
  counts (v = 2), visible or not; `iscrowd` = 0.
* area (the OKS scale s^2): `area="bbox"` (default) = GT person box w * h; `area="kpt"` = w * h of the tight box
  around the annotated joints. COCO's own areas are segmentation areas, smaller than either.
* sigmas: `joints.PT18_OKS_SIGMAS` (17, PT18 order; the ears never count since GT never annotates them).
* detections: every predicted person with >= 1 joint; its score is `Person.score`, or the mean of its per-joint
  scores when absent. Joints not predicted are sent as (0, 0), i.e. far from any GT joint. Detection areas (used
  only to drop unmatched detections outside an area range, APm / APl) are the tight box of the predicted joints.
* at most 20 detections per frame (COCO's `maxDets` for keypoints), the highest-scored.
* ignore regions are NOT supported: pycocotools has no polygon ignores, so people inside them count as usual (a
  warning says so when the GT has any).
"""
from __future__ import annotations

import contextlib
import io
import warnings
from pathlib import Path
from typing import TYPE_CHECKING, Any, Sequence

import numpy as np

if TYPE_CHECKING:
    from pycocotools.coco import COCO

from pavenet_lite.data.annotations import Person, Video
from pavenet_lite.evaluation.pairing import EvaluationError, check_pair, load_pairs, location
from pavenet_lite.joints import NUM_PT18, PT18_NAMES, PT18_OKS_SIGMAS

AREAS = ("bbox", "kpt")
STAT_NAMES = ("AP", "AP50", "AP75", "APm", "APl", "AR", "AR50", "AR75", "ARm", "ARl")  # COCOeval.stats order


def _extent(xy: np.ndarray) -> list[float]:
    """Tight [x, y, w, h] box of points [n, 2]."""
    lo, hi = xy.min(axis=0), xy.max(axis=0)
    return [float(lo[0]), float(lo[1]), float(hi[0] - lo[0]), float(hi[1] - lo[1])]


def _coco_keypoints(person: Person, visibility: float) -> list[float]:
    """51 numbers: (x, y, visibility) for present joints, (0, 0, 0) for the others."""
    kp = np.zeros((NUM_PT18, 3))
    ann = np.asarray(person.annotated, dtype=bool)
    kp[ann, :2] = np.asarray(person.keypoints, dtype=np.float64)[ann]
    kp[ann, 2] = visibility
    return kp.ravel().tolist()


def _gt_annotation(person: Person, area: str, image_id: int, ann_id: int, where: str) -> dict[str, Any]:
    ann = np.asarray(person.annotated, dtype=bool)
    joints_box = _extent(np.asarray(person.keypoints, dtype=np.float64)[ann])
    if person.box is not None:
        box = [float(v) for v in person.box]
    elif area == "bbox":
        raise EvaluationError(f"{where}: GT field 'box' is missing; area='bbox' needs every GT person's box "
                              f"(use area='kpt' for the keypoint extent)")
    else:
        box = joints_box
    return {"id": ann_id, "image_id": image_id, "category_id": 1, "iscrowd": 0,
            "keypoints": _coco_keypoints(person, 2.0), "num_keypoints": int(ann.sum()),
            "area": box[2] * box[3] if area == "bbox" else joints_box[2] * joints_box[3], "bbox": box}


def _detection(person: Person, image_id: int, det_id: int, where: str) -> dict[str, Any]:
    ann = np.asarray(person.annotated, dtype=bool)
    if person.score is not None:
        score = float(person.score)
    elif person.scores is not None:
        score = float(np.asarray(person.scores, dtype=np.float64)[ann].mean())
    else:
        raise EvaluationError(f"{where}: prediction has neither 'score' nor 'scores'; OKS AP ranks people by score")
    box = _extent(np.asarray(person.keypoints, dtype=np.float64)[ann])
    return {"id": det_id, "image_id": image_id, "category_id": 1, "keypoints": _coco_keypoints(person, 1.0),
            "score": score, "area": box[2] * box[3], "bbox": box}


def to_coco(pairs: Sequence[tuple[Video, Video]], area: str = "bbox") -> tuple[dict[str, Any], dict[str, Any]]:
    """GT and detection datasets in COCO keypoint format (in memory) for the evaluated frames of (GT, pred) pairs."""
    if area not in AREAS:
        raise ValueError(f"area must be one of {AREAS}, got {area!r}")
    categories = [{"id": 1, "name": "person", "keypoints": list(PT18_NAMES)}]
    images, gt_anns, dets = [], [], []
    for gt, pred in pairs:
        check_pair(gt, pred)
        for t, frame in enumerate(gt.frames):
            people = [p for p in frame.people if np.asarray(p.annotated).any()]
            if not people:
                continue
            image_id = len(images) + 1
            images.append({"id": image_id, "file_name": frame.file_name})
            for p in people:  # COCO ids start at 1: pycocotools reads a match to id 0 as "no match"
                gt_anns.append(_gt_annotation(p, area, image_id, len(gt_anns) + 1, location(gt, t, p)))
            for p in pred.frames[t].people:
                if np.asarray(p.annotated).any():
                    dets.append(_detection(p, image_id, len(dets) + 1, location(pred, t, p)))
    return ({"images": images, "annotations": gt_anns, "categories": categories},
            {"images": images, "annotations": dets, "categories": categories})


def _coco(dataset: dict[str, Any]) -> COCO:
    from pycocotools.coco import COCO  # imported here: training and inference never need pycocotools
    coco = COCO()
    coco.dataset = dataset
    coco.createIndex()
    return coco


def evaluate_oks_ap(gt: str | Path | Sequence[Video], pred: str | Path | Sequence[Video], area: str = "bbox",
                    verbose: bool = False) -> dict[str, float]:
    """COCO keypoint AP / AR (fractions in [0, 1]; -1 where an area range has no GT) of predictions against GT.

    gt, pred: directories (one JSON per video, predictions paired by file name) or lists of `Video` (paired by
    name), as for `evaluate_posetrack`. area: "bbox" or "kpt", see the module docstring. verbose: let pycocotools
    print its progress and summary table. Returns {"AP", "AP50", "AP75", "APm", "APl", "AR", ..., "ARl"}.
    """
    pairs = load_pairs(gt, pred)
    if any(f.ignore_regions for g, _ in pairs for f in g.frames):
        warnings.warn("the GT has ignore regions, which OKS AP (pycocotools) does not support: people inside them "
                      "are evaluated as usual", stacklevel=2)
    gt_coco, dt_coco = to_coco(pairs, area)
    if not gt_coco["images"]:
        raise EvaluationError("no evaluated frame: no GT person has an annotated joint")
    out = io.StringIO()
    with contextlib.redirect_stdout(out) if not verbose else contextlib.nullcontext():
        from pycocotools.cocoeval import COCOeval
        evaluator = COCOeval(_coco(gt_coco), _coco(dt_coco), "keypoints")
        evaluator.params.kpt_oks_sigmas = PT18_OKS_SIGMAS.copy()
        evaluator.evaluate()
        evaluator.accumulate()
        evaluator.summarize()
    return dict(zip(STAT_NAMES, (float(s) for s in evaluator.stats)))
