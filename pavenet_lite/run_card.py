"""The record of a training run: its folder, its metrics log, the equivalent command line and `card.json`.

A run folder holds `RUN_FILES`. The card is what a reader needs to trust or reproduce a run: both configs, the data
set, seed, device, wall time, the validation mAP over time, the `pavenet train` command, and, for a run started
`--init-from` another one, that run's own card (`init_card`), so one card reproduces a chain of runs.
"""
from __future__ import annotations

import json
import os
import platform
import shlex
from dataclasses import asdict, fields
from pathlib import Path
from typing import Any

import torch

from pavenet_lite.checkpoint import CheckpointError, file_identity
from pavenet_lite.config import PAVENetConfig, format_field
from pavenet_lite.data.errors import AnnotationError
from pavenet_lite.files import check_output_dir, read_json, read_jsonl, refuse_existing, write_text_atomic

RUN_FILES = ("last.pt", "best.pt", "metrics.jsonl", "card.json")  # what `pavenet train` writes into a run folder


def read_metrics(path: Path) -> list[dict[str, Any]]:
    """The rows of a run's `metrics.jsonl`; a row without an integer `step` raises `AnnotationError`."""
    rows = read_jsonl(path, "training metrics")
    for i, row in enumerate(rows, 1):
        if not isinstance(row, dict) or not isinstance(row.get("step"), int):
            raise AnnotationError(path, f"row {i}", "an object with an integer 'step'", repr(row)[:60])
    return rows


def last_checkpoint(out: Path) -> Path:
    """`out/last.pt`, which a resumed run continues from; raises `CheckpointError` when it is missing."""
    path = out / "last.pt"
    if not path.is_file():
        raise CheckpointError(f"{path}: not found, nothing to resume (check the run folder; a run writes last.pt "
                              f"every --ckpt-every steps and at every validation)")
    return path


def prepare_run_dir(out: str | os.PathLike, resume: bool, force: bool) -> None:
    """The `pavenet train` rule for its run folder: a new run refuses a folder holding another run unless `force`
    (then that run's files are deleted first, so nothing stale mixes in); `resume` needs its `last.pt`."""
    out = check_output_dir(out, "run folder")
    if resume:
        last_checkpoint(out)
    elif force:
        for name in RUN_FILES:
            (out / name).unlink(missing_ok=True)
    else:
        refuse_existing([out / n for n in RUN_FILES], "a training run",
                        "pass --resume to continue it, or --force to delete it and start over")


def init_card(path: Path, state: dict[str, Any]) -> dict[str, Any] | None:
    """The card of the run that `--init-from` weights (`state`, read from `path`) came from: an exported checkpoint's
    own card, or the `card.json` of the run directory holding `best.pt` / `last.pt`. None if neither exists."""
    if "card" in state:
        return state["card"]
    run_card = path.parent / "card.json"
    return read_json(run_card, "a run card") if run_card.exists() else None


def train_command(tcfg: Any, num_frames: int, total_steps: int, world: int) -> str:
    """The `pavenet train` command line of a run (`tcfg` a `train.TrainConfig`); options at their defaults left
    out, `torchrun` for a run over several processes."""
    t = tcfg
    default = {f.name: f.default for f in fields(t)}
    launcher = f"torchrun --standalone --nproc_per_node={world} -m pavenet_lite" if world > 1 else "pavenet"
    parts = [f"{launcher} train", f"--config {t.config}", f"--data {t.data}", f"--out {t.out}",
             f"--frames {num_frames}", f"--steps {total_steps}", f"--batch-size {t.batch_size}",
             f"--accum {t.accum}", f"--seed {t.seed}", f"--device {t.device}"]
    parts += [f"--lr {t.lr}"] if t.lr is not None else []
    parts += [f"--warmup {t.warmup}"] if t.warmup != default["warmup"] else []
    parts += [f"--lr-drop {t.lr_drop}"] if t.lr_drop != default["lr_drop"] else []
    parts += [f"--init-from {t.init_from}"] if t.init_from else []
    parts += [f"--backbone-weights {t.backbone_weights}"] if t.backbone_weights else []
    parts += [f"--train-videos {t.train_videos}"] if t.train_videos is not None else []
    parts += [f"--video-list {t.video_list}"] if t.video_list else []
    parts += [f"--amp --amp-dtype {t.amp_dtype}"] if t.amp else []
    parts += [f"--val-every {t.val_every}"] if t.val_every else []
    parts += [f"--val-videos {t.val_videos}"] if t.val_videos is not None else []
    parts += [f"--workers {t.num_workers}"] if t.num_workers else []
    if t.overrides:
        parts.append("--set " + " ".join(shlex.quote(f"{k}={format_field(v)}") for k, v in t.overrides.items()))
    return " ".join(parts)


def device_description(device: torch.device, world: int) -> str:
    """"<GPU name> xN" or "CPU (<processor>), T threads xN": what the run's speed numbers were measured on."""
    if device.type == "cuda":
        return f"{torch.cuda.get_device_name(device)} x{world}"
    return f"CPU ({platform.processor() or platform.machine()}), {torch.get_num_threads()} threads x{world}"


def write_card(out: Path, cfg: PAVENetConfig, tcfg: Any, *, steps: int, wall_time: float, device: str,
               command: str, best_map: float, init: dict[str, Any] | None,
               train_videos: list[str] | None) -> Path:
    """`out/card.json` of a finished run (`tcfg` a `train.TrainConfig`); the learning curve comes from
    `out/metrics.jsonl`. `init`: the card of the `--init-from` run; `train_videos`: the names, for a subset run."""
    manifest = Path(tcfg.data) / "synthtrack.json"
    data = read_json(manifest, "a SynthTrack manifest") if manifest.exists() else {"root": str(tcfg.data)}
    vals = [v for v in read_metrics(out / "metrics.jsonl") if "val_map" in v]
    card = {"config": cfg.to_dict(), "train_config": asdict(tcfg),
            "data": {k: data.get(k) for k in ("dataset", "preset", "seed", "splits", "root") if k in data},
            "steps": steps, "wall_time_s": round(wall_time, 1), "device": device,
            "torch": torch.__version__, "command": command,
            "best_val_map": best_map, "last_val": vals[-1] if vals else None,
            "learning_curve": [(v["step"], v["time"], v["val_map"]) for v in vals]}
    if tcfg.init_from:
        card["init_card"] = init
    if train_videos is not None:
        card["data"]["train_videos"] = train_videos
    if tcfg.backbone_weights:
        card["backbone_weights"] = file_identity(tcfg.backbone_weights)
    return write_text_atomic(json.dumps(card, indent=2), out / "card.json")
