"""Claim 1 of the paper in miniature: does a video model (F = 3) beat the image model (F = 1)? (issue 8)

    OMP_NUM_THREADS=1 python bench/video_vs_image.py --data HARD_DIR --json docs/video_vs_image.json \
        --run "F=3" RUN_F3_S0 RUN_F3_S1 RUN_F3_S2 --run "F=1" RUN_F1_S0 RUN_F1_S1 RUN_F1_S2 \
        --run "F=3, centre-anchored" RUN_C_S0 ...

Each `--run LABEL DIR...` is one arm: run directories written by `pavenet train` (their `last.pt` and `card.json`),
one per seed. For every run, on the val split of `--data`:

* the PoseTrack per-joint mAP table, NMS-free (the paper's protocol) and with OKS-NMS (the July-2025 code's);
* PCKh@0.5 joint recall of the top-k people for visible vs occluded joints and clean vs degraded frames
  (`evaluation.joint_recall_breakdown`; degraded frames replayed from the SynthTrack manifest);
* for F > 1, the share of the last pose-decoder layer's attention that lands on each frame, for the highest-scoring
  query of every labelled clip, separately for clips whose centre frame is clean or degraded: a model that uses
  time should lean on its neighbours when the centre frame is bad (uniform would be 1/F each).

Writes everything to `--json` (runs, then per-arm mean and spread) and prints a markdown table.
"""
from __future__ import annotations

import argparse
import json
import platform
import statistics
import time
from pathlib import Path
from typing import Any

import numpy as np
import torch

from pavenet_lite.data.clips import PoseTrackClips, collate_clips
from pavenet_lite.data.synthtrack import degraded_frames
from pavenet_lite.evaluation import evaluate_posetrack, joint_recall_breakdown
from pavenet_lite.predict import Predictor
from pavenet_lite.viz.attention import frame_weight_mass

TABLE = ["Head", "Shou", "Elb", "Wri", "Hip", "Knee", "Ankl", "Total"]


@torch.no_grad()
def frame_attention(predictor: Predictor, root: str, degraded: dict[str, np.ndarray]) -> dict[str, list[float]]:
    """Mean attention share per frame `[F]` of the top query, over clips with a clean / degraded centre frame."""
    cfg = predictor.cfg
    ds = PoseTrackClips(root, "val", num_frames=cfg.num_frames, max_size=cfg.max_size, train=False)
    loader = torch.utils.data.DataLoader(ds, batch_size=8, collate_fn=collate_clips)
    shares: dict[str, list[np.ndarray]] = {"clean": [], "degraded": []}
    predictor.model.eval()
    for clips, masks, targets in loader:
        out = predictor.model(clips, masks, return_attention=True)
        weights = out["attention"]["pose_decoder"][-1]["weights"]                    # [B, Q, M, F, L, K]
        top = out["pred_logits"].argmax(1)                                            # [B]
        for b, t in enumerate(targets):
            kind = "degraded" if degraded[t["video"]][t["frame_index"]] else "clean"
            shares[kind].append(frame_weight_mass(weights[b, top[b]].numpy()))        # [F]
    return {k: np.mean(v, 0).round(4).tolist() for k, v in shares.items() if v}


def evaluate_run(run: Path, root: str, degraded: dict[str, np.ndarray]) -> dict[str, Any]:
    card = json.loads((run / "card.json").read_text())
    record: dict[str, Any] = {"run": str(run), "seed": card["train_config"]["seed"], "steps": card["steps"],
                              "frames": card["config"]["num_frames"], "wall_time_s": card["wall_time_s"],
                              "command": card["command"]}
    for nms in (False, True):
        predictor = Predictor.from_checkpoint(run / "last.pt", oks_nms=nms)
        gt, pred = predictor.predict_split(root, "val")
        key = "oks_nms" if nms else "nms_free"
        record[key] = {"table": evaluate_posetrack(gt, pred).table}
        if not nms:
            record[key]["recall"] = joint_recall_breakdown(gt, pred, degraded)
            if predictor.cfg.num_frames > 1:
                record["frame_attention"] = frame_attention(predictor, root, degraded)
    return record


def summarise(runs: list[dict[str, Any]]) -> dict[str, Any]:
    """Per arm: mean and sample standard deviation (0 for one seed) of every number of the runs."""
    def stats(values: list[float]) -> dict[str, float]:
        return {"mean": statistics.fmean(values), "std": statistics.stdev(values) if len(values) > 1 else 0.0}

    out: dict[str, Any] = {"seeds": [r["seed"] for r in runs]}
    for key in ("nms_free", "oks_nms"):
        out[key] = {col: stats([r[key]["table"][col] for r in runs]) for col in TABLE}
    out["recall"] = {g: stats([r["nms_free"]["recall"][g]["recall"] for r in runs])
                     for g in runs[0]["nms_free"]["recall"]}
    return out


def markdown(arms: dict[str, dict[str, Any]]) -> str:
    groups = list(next(iter(arms.values()))["recall"])
    head = "| arm | seeds | " + " | ".join(TABLE) + " | Total, OKS-NMS | " + " | ".join(f"recall {g}" for g in groups)
    lines = [head + " |", "|" + "---|" * (len(TABLE) + len(groups) + 3)]
    for label, s in arms.items():
        cells = [f"{s['nms_free'][c]['mean']:.1f}" for c in TABLE[:-1]]
        cells.append(f"**{s['nms_free']['Total']['mean']:.1f} ± {s['nms_free']['Total']['std']:.1f}**")
        cells.append(f"{s['oks_nms']['Total']['mean']:.1f} ± {s['oks_nms']['Total']['std']:.1f}")
        cells += [f"{s['recall'][g]['mean']:.1f}" for g in groups]
        lines.append(f"| {label} | {len(s['seeds'])} | " + " | ".join(cells) + " |")
    return "\n".join(lines)


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--data", required=True, help="SynthTrack root (its val split is evaluated)")
    p.add_argument("--run", nargs="+", action="append", required=True, metavar=("LABEL", "RUN_DIR"),
                   help="an arm: its label, then one run directory per seed")
    p.add_argument("--json", required=True)
    a = p.parse_args()
    torch.set_num_threads(1)
    degraded = degraded_frames(a.data, "val")
    runs: dict[str, list[dict[str, Any]]] = {}
    for label, *dirs in a.run:
        if not dirs:
            p.error(f"--run {label!r}: expected at least one run directory after the label")
        runs[label] = [evaluate_run(Path(d), a.data, degraded) for d in dirs]
        print(f"{label}: Total " + ", ".join(f"{r['nms_free']['table']['Total']:.1f}" for r in runs[label]),
              flush=True)
    arms = {label: summarise(rs) for label, rs in runs.items()}
    manifest = json.loads((Path(a.data) / "synthtrack.json").read_text())
    record = {"date": time.strftime("%Y-%m-%d"), "machine": f"{platform.machine()} CPU, 1 thread",
              "data": {"preset": manifest["preset"]["name"], "seed": manifest["seed"]},
              "arms": arms, "runs": runs, "table_markdown": markdown(arms)}
    Path(a.json).write_text(json.dumps(record, indent=2))
    print(record["table_markdown"])


if __name__ == "__main__":
    main()
