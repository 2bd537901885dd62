"""Judge a checkpoint the way a user meets it: PoseTrack mAP, what the demo draws, score spread and the NMS gap.

    OMP_NUM_THREADS=2 python bench/evaluate_checkpoint.py --checkpoint data/checkpoints/pavenet_tiny_f3.pt \\
        --data SEED0_DIR SEED1_DIR [--json docs/checkpoint_eval.json]

For every dataset's val split (all its videos):
* `map`: Total mAP by the official poseval protocol, NMS-free as the paper;
* `map_oks_nms`: the same predictions after OKS-NMS (0.45): how much duplicates still cost (`nms_gap`);
* `drawn`: precision and recall of the skeletons the demo draws at its default threshold
  (`evaluation.drawn_skeletons`: a skeleton is on a person when at least half of the person's joints are hits);
* `scores_p10_p50_p90`: percentiles of the scores of all predicted people on labelled frames (the top-k per frame):
  a model that cannot tell people from duplicates puts them all in a narrow band.
"""
from __future__ import annotations

import argparse
import json
from pathlib import Path

import numpy as np
import torch

from pavenet_lite.evaluation import drawn_skeletons, evaluate_posetrack
from pavenet_lite.predict import DEMO_THRESHOLD, Predictor


def percentiles(values: list[float]) -> list[float]:
    return [round(float(v), 3) for v in np.percentile(values, [10, 50, 90])] if values else []


def judge(checkpoint: str, data: str, device: str) -> dict:
    """All measures for one dataset's val split."""
    plain = Predictor.from_checkpoint(checkpoint, device=device)
    gt, pred = plain.predict_split(data, "val", progress=True)
    nms = Predictor(plain.model, plain.cfg, device=device, oks_nms=True)
    _, pred_nms = nms.predict_split(data, "val", progress=True)
    total, total_nms = evaluate_posetrack(gt, pred).table["Total"], evaluate_posetrack(gt, pred_nms).table["Total"]
    scores = [p.score for v in pred for f in v.frames if f.is_labeled for p in f.people]
    return {"data": data, "videos": len(gt), "map": round(total, 2), "map_oks_nms": round(total_nms, 2),
            "nms_gap": round(total_nms - total, 2), "threshold": DEMO_THRESHOLD,
            "drawn": {k: round(v, 2) if isinstance(v, float) else v
                      for k, v in drawn_skeletons(gt, pred, DEMO_THRESHOLD).items()},
            "scores_p10_p50_p90": percentiles(scores)}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--checkpoint", required=True)
    ap.add_argument("--data", nargs="+", required=True, help="SynthTrack / PoseTrack roots; their val splits are used")
    ap.add_argument("--device", default="cpu")
    ap.add_argument("--json", default=None, help="write the results here")
    a = ap.parse_args()
    torch.manual_seed(0)
    results = {"checkpoint": a.checkpoint, "datasets": [judge(a.checkpoint, d, a.device) for d in a.data]}
    for r in results["datasets"]:
        d = r["drawn"]
        print(f"{r['data']}: {r['videos']} val videos, Total mAP {r['map']:.1f} (with OKS-NMS {r['map_oks_nms']:.1f}); "
              f"at threshold {r['threshold']}: {d['precision']:.0f} % of {d['drawn']} drawn skeletons on a person, "
              f"{d['recall']:.0f} % of {d['people']} people drawn; scores p10/p50/p90 {r['scores_p10_p50_p90']}")
    if a.json:
        Path(a.json).write_text(json.dumps(results, indent=1) + "\n")


if __name__ == "__main__":
    main()
