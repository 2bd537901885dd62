"""Training throughput of `Trainer` (not a test): clips per second and peak memory, data loading included.

    python bench/bench_train.py --data DIR [--config tiny] [--frames 3] [--batch-size 4] [--steps 20] [--threads 1]
    python bench/bench_train.py --config small --device cuda --amp --batch-size 16 --workers 14
    python bench/bench_train.py --data DIR --frames 1 --batch-size 8 --set max_size=256 dn_groups=2

Generates SynthTrack `mini` into DIR if it is missing. The first 3 steps are a warm-up and not timed. Peak memory is
the process's peak resident set size (`ru_maxrss`), which includes the Python interpreter and the dataset index; on
CUDA also the peak allocated device memory. "data wait" is the share of the timed steps spent waiting for the data
loader (`data_s` / `step_s` of metrics.jsonl): near 0 the run is compute-bound, near 1 input-bound.
"""
from __future__ import annotations

import argparse
import resource
import tempfile
from pathlib import Path

import torch

from pavenet_lite.cli import parse_overrides
from pavenet_lite.data.synthtrack import generate_synthtrack
from pavenet_lite.train import TrainConfig, Trainer


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--data", default="data/synthtrack_mini")
    p.add_argument("--config", default="tiny")
    p.add_argument("--frames", type=int, default=3)
    p.add_argument("--batch-size", type=int, default=4)
    p.add_argument("--steps", type=int, default=20)
    p.add_argument("--threads", type=int, default=1)
    p.add_argument("--device", default="cpu")
    p.add_argument("--amp", action="store_true", help="bf16 autocast (CUDA)")
    p.add_argument("--workers", type=int, default=0, help="data-loader worker processes")
    p.add_argument("--set", nargs="*", default=[], metavar="FIELD=VALUE", help="override PAVENetConfig fields")
    a = p.parse_args()
    torch.set_num_threads(a.threads)
    if not (Path(a.data) / "annotations").exists():
        generate_synthtrack(a.data, "mini", seed=0, progress=False)
    with tempfile.TemporaryDirectory() as out:
        trainer = Trainer(TrainConfig(data=a.data, out=out, config=a.config, frames=a.frames, steps=10_000,
                                      batch_size=a.batch_size, device=a.device, amp=a.amp, num_workers=a.workers,
                                      log_every=1, progress=False, overrides=parse_overrides(a.set)))
        # One fit, one loader: each step logs its own wall time (every step reads its losses back, which waits for
        # the device), and the first 3 rows (allocator, autotuning, worker start) are left out.
        rows = [r for r in trainer.fit(stop_at=3 + a.steps) if "data_s" in r][3:]
        seconds = sum(r["step_s"] for r in rows)
        cuda = a.device.startswith("cuda")
    peak_mib = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    gpu_mib = f" | {torch.cuda.max_memory_allocated() / 2**20:.0f}" if cuda else ""
    wait = sum(r["data_s"] for r in rows) / sum(r["step_s"] for r in rows)
    print(f"| {a.config} | {a.frames} | {a.batch_size} | {trainer.cfg.max_size} | {'bf16' if a.amp else 'fp32'} | "
          f"{a.workers if a.workers else a.threads} | {a.steps * a.batch_size / seconds:.2f} | "
          f"{seconds / a.steps * 1000:.0f} | {wait:.2f} | {peak_mib:.0f}{gpu_mib} |")


if __name__ == "__main__":
    main()
