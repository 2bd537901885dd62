"""Train the two-stage baseline on SynthTrack and score it with the PAVE-Net evaluator (claim 2: accuracy).

    OMP_NUM_THREADS=1 python bench/topdown_accuracy.py --data DIR --steps 3000 --batch-size 8 --json docs/topdown_default.json

Writes the PoseTrack mAP table, the joint-recall breakdown and the run settings to `--json`.
"""
from __future__ import annotations

import argparse
import json
import platform
import time
from dataclasses import asdict
from pathlib import Path

import torch

from pavenet_lite.baselines import TopDownConfig, train_topdown
from pavenet_lite.baselines.topdown_eval import predict_split_topdown
from pavenet_lite.evaluation import evaluate_posetrack, joint_recall_breakdown


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--data", required=True)
    p.add_argument("--steps", type=int, default=3000)
    p.add_argument("--batch-size", type=int, default=8)
    p.add_argument("--frames", type=int, default=3)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--score-threshold", type=float, default=0.05, help="detections kept for AP (low, as usual)")
    p.add_argument("--json", required=True)
    a = p.parse_args()
    torch.set_num_threads(1)
    cfg = TopDownConfig(num_frames=a.frames, score_threshold=a.score_threshold)
    t0 = time.perf_counter()
    model, history = train_topdown(a.data, cfg, steps=a.steps, seed=a.seed, batch_size=a.batch_size, progress=True)
    train_s = time.perf_counter() - t0
    gt, pred = predict_split_topdown(model, a.data, "val")
    result = evaluate_posetrack(gt, pred)
    manifest = json.loads((Path(a.data) / "synthtrack.json").read_text())
    record = {"command": "python bench/topdown_accuracy.py " + " ".join(
                  f"--{k.replace('_', '-')} {v}" for k, v in vars(a).items()),
              "date": time.strftime("%Y-%m-%d"), "machine": f"{platform.processor() or platform.machine()}, 1 thread",
              "data": {"preset": manifest["preset"]["name"], "seed": manifest["seed"]}, "config": asdict(cfg),
              "steps": a.steps, "batch_size": a.batch_size, "train_s": round(train_s, 1),
              "val_table": result.table, "val_per_joint": result.per_joint,
              "breakdown": joint_recall_breakdown(gt, pred),
              "final_losses": {k: sum(h[k] for h in history[-50:]) / len(history[-50:]) for k in history[-1]}}
    Path(a.json).write_text(json.dumps(record, indent=2))
    print(" ".join(f"{k} {v:.1f}" for k, v in result.table.items()))


if __name__ == "__main__":
    main()
