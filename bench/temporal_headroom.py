"""How much can seeing other frames gain on a SynthTrack split? AP on its clean vs degraded frames (claim 1).

    OMP_NUM_THREADS=1 python bench/temporal_headroom.py --data HARD_DIR \\
        --checkpoint data/checkpoints/hard_tiny_f1.pt data/checkpoints/hard_tiny_f3.pt \\
        [--json docs/temporal_headroom.json]

A temporal model's advantage is largest where the centre frame alone is poor: the degraded frames (heavy blur, noise
or darkness, replayed from the SynthTrack manifest). For each checkpoint this scores the val split three times, NMS-free
as the paper: all labelled frames, only the clean ones, only the degraded ones (the others' ground truth removed, so
they are not evaluated). `headroom` is how much Total mAP would gain if the degraded frames scored like the clean
ones, approximated as share_degraded x (AP_clean - AP_degraded) with share_degraded the degraded frames' share of
annotated joints: the gain a perfect use of the neighbouring frames could bring at this accuracy, unless it also
improves the clean frames.
"""
from __future__ import annotations

import argparse
import dataclasses
import json
from pathlib import Path

import numpy as np
import torch

from pavenet_lite.data.annotations import Video
from pavenet_lite.data.synthtrack import degraded_frames
from pavenet_lite.evaluation import evaluate_posetrack
from pavenet_lite.predict import Predictor


def keep_frames(videos: list[Video], keep: dict[str, np.ndarray]) -> list[Video]:
    """Copies of the GT `videos` whose frames outside `keep[video.name]` hold no people (so they are not scored)."""
    return [dataclasses.replace(v, frames=[f if keep[v.name][t] else dataclasses.replace(f, people=[])
                                           for t, f in enumerate(v.frames)]) for v in videos]


def joints(videos: list[Video]) -> int:
    return sum(int(p.annotated.sum()) for v in videos for f in v.frames for p in f.people)


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--data", required=True, help="SynthTrack root (its val split is scored)")
    p.add_argument("--checkpoint", nargs="+", required=True)
    p.add_argument("--json", default="", help="write the numbers here ('' to skip)")
    a = p.parse_args()
    torch.set_num_threads(1)
    degraded = degraded_frames(a.data, "val")
    results = {}
    for ckpt in a.checkpoint:
        gt, pred = Predictor.from_checkpoint(ckpt).predict_split(a.data, "val")
        clean = keep_frames(gt, {k: ~v for k, v in degraded.items()})
        bad = keep_frames(gt, degraded)
        share = joints(bad) / joints(gt)
        ap = {name: evaluate_posetrack(subset, pred).table["Total"]
              for name, subset in (("all", gt), ("clean", clean), ("degraded", bad))}
        results[ckpt] = {**ap, "degraded_joint_share": share,
                         "headroom": share * max(ap["clean"] - ap["degraded"], 0.0)}
        print(f"{ckpt}: Total {ap['all']:.1f} (clean {ap['clean']:.1f}, degraded {ap['degraded']:.1f}); degraded "
              f"frames hold {100 * share:.1f} % of the joints -> headroom +{results[ckpt]['headroom']:.1f}", flush=True)
    if a.json:
        Path(a.json).write_text(json.dumps({"data": a.data, "results": results}, indent=1) + "\n")


if __name__ == "__main__":
    main()
