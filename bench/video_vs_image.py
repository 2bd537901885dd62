"""Claim 1 of the paper in miniature: does a video model (F = 3) beat the image model (F = 1)?

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
  time should lean on its neighbours when the centre frame is bad (uniform would be 1/F each); and how far the
  model's per-frame keypoint estimates move away from the centre frame's, next to how far people really move
  between consecutive frames (`gt_motion_px`): a model that follows people should move its estimates about as much.

Writes everything to `--json` (runs, then per-arm mean and spread) and prints a markdown table. Each run's scores are
cached in RUN_DIR/video_vs_image.json (reused while last.pt is unchanged), so runs can be scored as they finish.
`--extend` keeps the runs already recorded in `--json` and adds the given ones to their arms (more seeds later,
after the earlier run directories are gone).
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
from pavenet_lite.data.annotations import Video
from pavenet_lite.data.posetrack import read_split
from pavenet_lite.evaluation import evaluate_posetrack, joint_recall_breakdown
from pavenet_lite.joints import pt18_to_model
from pavenet_lite.model.postprocess import normalised_to_pixels
from pavenet_lite.predict import Predictor
from pavenet_lite.viz.attention import frame_weight_mass

TABLE = ["Head", "Shou", "Elb", "Wri", "Hip", "Knee", "Ankl", "Total"]


@torch.no_grad()
def temporal_diagnostics(predictor: Predictor, root: str, degraded: dict[str, np.ndarray]) -> dict[str, Any]:
    """Does the model use the other frames, and does it follow the person? For the top query of every val clip:

    "attention_share": mean share `[F]` of the last pose layer's attention per frame, for clips with a clean /
    degraded centre frame; "estimate_motion_px": mean distance (original pixels) between the model's keypoint
    estimate in a neighbouring frame (c +- 1) and in the centre frame; "neighbour_error_px": where the top query's
    person (the GT person nearest to its centre estimate) is annotated in a neighbouring frame, the mean joint error
    there (median over clips) of the model's neighbour-frame estimate ("per_frame") and of its centre-frame estimate ("centre"):
    a model that follows the person has the smaller per-frame error.
    """
    cfg = predictor.cfg
    c = cfg.num_frames // 2
    ds = PoseTrackClips(root, "val", num_frames=cfg.num_frames, max_size=cfg.max_size, train=False)
    loader = torch.utils.data.DataLoader(ds, batch_size=8, collate_fn=collate_clips)
    shares: dict[str, list[np.ndarray]] = {"clean": [], "degraded": []}
    motion: list[float] = []
    errors: dict[str, list[float]] = {"per_frame": [], "centre": []}
    videos = {v.name: v for v in ds.videos}
    predictor.model.eval()
    for clips, masks, targets in loader:
        out = predictor.model(clips, masks, return_attention=True)
        weights = out["attention"]["pose_decoder"][-1]["weights"]                    # [B, Q, M, F, L, K]
        top = out["pred_logits"].argmax(1)                                            # [B]
        for b, t in enumerate(targets):
            kind = "degraded" if degraded[t["video"]][t["frame_index"]] else "clean"
            shares[kind].append(frame_weight_mass(weights[b, top[b]].numpy()))        # [F]
            h, w = (float(v) for v in t["orig_size"])
            est = normalised_to_pixels(out["frame_keypoints"][b, :, top[b]], w, h)    # [F, K, 2]
            motion.append(float((est[[c - 1, c + 1]] - est[c]).norm(dim=-1).mean()))
            video, i = videos[t["video"]], t["frame_index"]
            est = est.numpy()
            gt_c = [p for p in video.frames[i].people if p.annotated.any()]
            if not gt_c:
                continue
            person = min(gt_c, key=lambda p: np.linalg.norm(pt18_to_model(p.keypoints) - est[c], axis=-1)[
                pt18_to_model(p.annotated)].mean() if pt18_to_model(p.annotated).any() else np.inf)
            for f, j in ((c - 1, i - 1), (c + 1, i + 1)):
                same = [p for p in video.frames[j].people if p.track_id == person.track_id] if (
                    0 <= j < len(video.frames) and video.frames[j].is_labeled) else []
                has = pt18_to_model(same[0].annotated) if same else np.zeros(0, bool)
                if has.any():
                    gt_f = pt18_to_model(same[0].keypoints)[has]                              # [k, 2]
                    for key, e in (("per_frame", est[f]), ("centre", est[c])):
                        errors[key].append(float(np.linalg.norm(e[has] - gt_f, axis=-1).mean()))
    return {"attention_share": {k: np.mean(v, 0).round(4).tolist() for k, v in shares.items() if v},
            "estimate_motion_px": round(float(np.mean(motion)), 3),
            "neighbour_error_px": {k: round(float(np.median(v)), 3) for k, v in errors.items() if v}}


def gt_motion_px(videos: list[Video]) -> float:
    """Mean distance (pixels) a GT joint moves between two consecutive labelled frames (same track id)."""
    moves = []
    for v in videos:
        for a, b in zip(v.frames, v.frames[1:]):
            if not (a.is_labeled and b.is_labeled):
                continue
            nxt = {p.track_id: p for p in b.people}
            for p in a.people:
                q = nxt.get(p.track_id)
                if q is not None:
                    both = p.annotated & q.annotated
                    moves.extend(np.linalg.norm(p.keypoints[both] - q.keypoints[both], axis=-1))
    return round(float(np.mean(moves)), 3)


def evaluate_run(run: Path, root: str, degraded: dict[str, np.ndarray]) -> dict[str, Any]:
    """Score one run. Results are cached in RUN/video_vs_image.json, per part, while last.pt is unchanged."""
    cache_path = run / "video_vs_image.json"
    stamp = [(run / "last.pt").stat().st_mtime_ns, str(Path(root).resolve())]
    cache = json.loads(cache_path.read_text()) if cache_path.exists() else {}
    parts = cache.get("parts", {}) if cache.get("stamp") == stamp else {}
    card = json.loads((run / "card.json").read_text())
    predictor = Predictor.from_checkpoint(run / "last.pt")
    if "scores" not in parts:
        scores: dict[str, Any] = {}
        for nms in (False, True):
            predictor.oks_nms = nms
            gt, pred = predictor.predict_split(root, "val")
            key = "oks_nms" if nms else "nms_free"
            scores[key] = {"table": evaluate_posetrack(gt, pred).table}
            if not nms:
                scores[key]["recall"] = joint_recall_breakdown(gt, pred, degraded)
        parts["scores"] = scores
    if card["config"]["num_frames"] > 1 and "temporal" not in parts:
        parts["temporal"] = temporal_diagnostics(predictor, root, degraded)
    cache_path.write_text(json.dumps({"stamp": stamp, "parts": parts}))
    return {"run": str(run), "seed": card["train_config"]["seed"], "steps": card["steps"],
            "frames": card["config"]["num_frames"], "wall_time_s": card["wall_time_s"], "command": card["command"],
            **parts["scores"], **({"temporal": parts["temporal"]} if "temporal" in parts else {})}


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
    p.add_argument("--extend", action="store_true",
                   help="keep the runs already recorded in --json and add these to their arms (more seeds later)")
    a = p.parse_args()
    torch.set_num_threads(1)
    degraded = degraded_frames(a.data, "val")
    runs: dict[str, list[dict[str, Any]]] = {}
    if a.extend:
        runs = json.loads(Path(a.json).read_text())["runs"]
    for label, *dirs in a.run:
        if not dirs:
            p.error(f"--run {label!r}: expected at least one run directory after the label")
        new = [evaluate_run(Path(d), a.data, degraded) for d in dirs]
        runs[label] = [r for r in runs.get(label, []) if r["run"] not in {n["run"] for n in new}] + new
        print(f"{label}: Total " + ", ".join(f"{r['nms_free']['table']['Total']:.1f}" for r in runs[label]),
              flush=True)
    arms = {label: summarise(rs) for label, rs in runs.items()}
    manifest = json.loads((Path(a.data) / "synthtrack.json").read_text())
    record = {"date": time.strftime("%Y-%m-%d"), "machine": f"{platform.machine()} CPU, 1 thread",
              "data": {"preset": manifest["preset"]["name"], "seed": manifest["seed"]},
              "gt_motion_px": gt_motion_px(read_split(a.data, "val")),
              "arms": arms, "runs": runs, "table_markdown": markdown(arms)}
    Path(a.json).write_text(json.dumps(record, indent=2))
    print(record["table_markdown"])


if __name__ == "__main__":
    main()
