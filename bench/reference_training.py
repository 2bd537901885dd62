"""Time-boxed reference training: how the shipped checkpoint and the video-vs-image runs were made.

A run gets a wall-clock budget instead of a step count: a short calibration run measures seconds per optimizer step
on this machine, the step count is derived from the budget, and then an ordinary `Trainer` run with that fixed
`steps` follows (so its card records a plain, reproducible `pavenet train ... --steps N` command).

    python bench/reference_training.py --data DIR --out RUN --frames 3 --budget-s 420 --device cuda --amp
"""
from __future__ import annotations

import argparse
import json
import shutil
import time
from pathlib import Path

from pavenet_lite.checkpoint import export_checkpoint
from pavenet_lite.cli import parse_overrides
from pavenet_lite.train import TrainConfig, Trainer


def calibrate(a: argparse.Namespace, config) -> int:
    """Seconds per step of this run on this machine -> the number of steps that fits the budget."""
    calib_dir = Path(a.out) / "calibration"
    calib = Trainer(config(calib_dir, 10_000, 0))
    calib.fit(stop_at=10)  # warm-up: allocator, cudnn autotuning, worker start
    t0 = time.perf_counter()
    calib.fit(resume=False, stop_at=40)
    per_step = (time.perf_counter() - t0) / 30
    shutil.rmtree(calib_dir)
    steps = max(50, int(a.budget_s / (per_step * 1.1)))  # 10 % for validation
    print(f"calibration: {per_step:.3f} s/step -> {steps} steps in {a.budget_s:.0f} s", flush=True)
    if a.steps_file:
        Path(a.steps_file).write_text(str(steps))
    return steps


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--data", required=True)
    p.add_argument("--out", required=True)
    p.add_argument("--config", default="tiny")
    p.add_argument("--frames", type=int, default=3)
    p.add_argument("--budget-s", type=float, required=True, help="wall-clock budget of the real run")
    p.add_argument("--batch-size", type=int, default=32)
    p.add_argument("--lr", type=float, default=1e-3)
    p.add_argument("--device", default="cuda")
    p.add_argument("--amp", action="store_true")
    p.add_argument("--workers", type=int, default=6)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--evals", type=int, default=8, help="validations during the run")
    p.add_argument("--set", nargs="*", default=[], metavar="FIELD=VALUE")
    p.add_argument("--init-from", default=None, help="start from these weights (an F=1 run is inflated to F)")
    p.add_argument("--export", default=None, help="write the slim best checkpoint here")
    p.add_argument("--steps-file", default=None,
                   help="share the step count between runs: the first run to calibrate writes it, others wait for it")
    p.add_argument("--follow", action="store_true", help="do not calibrate; wait for --steps-file")
    a = p.parse_args()
    overrides = parse_overrides(a.set)

    def config(out: Path, steps: int, val_every: int) -> TrainConfig:
        return TrainConfig(data=a.data, out=str(out), config=a.config, frames=a.frames, steps=steps,
                           batch_size=a.batch_size, lr=a.lr, device=a.device, amp=a.amp, seed=a.seed,
                           num_workers=a.workers, val_every=val_every, overrides=overrides, progress=False,
                           log_every=50, init_from=a.init_from)

    if a.follow:
        while not Path(a.steps_file).exists():
            time.sleep(1)
        time.sleep(0.5)
        steps = int(Path(a.steps_file).read_text())
    else:
        steps = calibrate(a, config)
    trainer = Trainer(config(Path(a.out), steps, max(1, steps // a.evals)))
    history = trainer.fit()
    vals = [h for h in history if "val_map" in h]
    print(json.dumps({"steps": steps, "best_val_map": trainer.best_map,
                      "curve": [(v["step"], round(v["time"]), round(v["val_map"], 1)) for v in vals]}), flush=True)
    if a.export:
        card = json.loads((Path(a.out) / "card.json").read_text())
        export_checkpoint(Path(a.out) / "best.pt", a.export, card=card)


if __name__ == "__main__":
    main()
