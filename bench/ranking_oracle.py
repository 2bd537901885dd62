"""Ranking or localisation? A checkpoint's poses re-scored by an oracle that knows the ground truth.

    OMP_NUM_THREADS=2 python bench/ranking_oracle.py --checkpoint CKPT --data DIR [--split val] [--json OUT]

Three Total mAPs (official poseval protocol) of the same predicted poses, the top-k people of every labelled frame,
NMS-free:
* `model`: the model's own person and joint scores;
* `oracle_rank`: every predicted person, and each of its joints, scored by the fraction of the annotated joints of
  its best-matching GT person that it hits (PCKh@0.5, the mAP's hit criterion): a perfect ranking, duplicates kept;
* `oracle_rank_dedup`: the same, but in each frame people are taken best first and one whose GT person was already
  claimed scores 0: a perfect ranking without duplicates.
What `oracle_rank_dedup` leaves below 100 is localisation and misses; the gap from `model` up to it is the ranking.
"""
from __future__ import annotations

import argparse
import json
from pathlib import Path

import numpy as np
import torch

from pavenet_lite.data.annotations import Video
from pavenet_lite.evaluation import evaluate_posetrack
from pavenet_lite.evaluation.breakdown import pair_hits
from pavenet_lite.joints import POSEVAL_TO_PT18
from pavenet_lite.predict import Predictor

_PV = list(POSEVAL_TO_PT18)


def rescore(gt: list[Video], pred: list[Video], dedup: bool) -> None:
    """Replace every predicted person's score and joint scores by its oracle score (in place)."""
    for g_video, p_video in zip(gt, pred):
        for g_frame, p_frame in zip(g_video.frames, p_video.frames):
            people = [g for g in g_frame.people if g.annotated[_PV].any()]
            preds = p_frame.people
            if not preds:
                continue
            fraction = np.zeros((len(preds), max(1, len(people))))                       # [P, G]
            if people:
                hits = pair_hits(people, preds)                                           # [P, G, J]
                fraction = hits.sum(-1) / np.array([g.annotated[_PV].sum() for g in people])[None]
            best, score = fraction.argmax(1), fraction.max(1)
            claimed: set[int] = set()
            for i in np.argsort(-score, kind="stable"):
                value = float(score[i])
                if dedup and people:
                    value = 0.0 if int(best[i]) in claimed else value
                    claimed.add(int(best[i]))
                preds[i].score = value
                preds[i].scores = np.full(len(preds[i].keypoints), value)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--checkpoint", required=True)
    ap.add_argument("--data", required=True, help="a SynthTrack / PoseTrack root")
    ap.add_argument("--split", default="val")
    ap.add_argument("--json", default=None, help="write the three numbers here")
    args = ap.parse_args()
    torch.manual_seed(0)
    predictor = Predictor.from_checkpoint(args.checkpoint)
    gt, pred = predictor.predict_split(args.data, args.split, progress=True)
    result = {"checkpoint": args.checkpoint, "data": args.data, "split": args.split,
              "model": round(evaluate_posetrack(gt, pred).total, 2)}
    for name, dedup in (("oracle_rank", False), ("oracle_rank_dedup", True)):
        rescore(gt, pred, dedup)
        result[name] = round(evaluate_posetrack(gt, pred).total, 2)
    print(json.dumps(result))
    if args.json:
        Path(args.json).write_text(json.dumps(result, indent=2) + "\n")


if __name__ == "__main__":
    main()
