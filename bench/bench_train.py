"""Training throughput of `Trainer` (not a test): clips per second and peak memory, data loading included.

    python bench/bench_train.py --data DIR [--config tiny] [--frames 3] [--batch-size 4] [--steps 20] [--threads 1]

Generates SynthTrack `mini` into DIR if it is missing. The first 3 steps are a warm-up and not timed. Peak memory is
the process's peak resident set size (`ru_maxrss`), which includes the Python interpreter and the dataset index.
"""
from __future__ import annotations

import argparse
import resource
import tempfile
import time
from pathlib import Path

import torch

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
    a = p.parse_args()
    torch.set_num_threads(a.threads)
    if not (Path(a.data) / "annotations").exists():
        generate_synthtrack(a.data, "mini", seed=0, progress=False)
    with tempfile.TemporaryDirectory() as out:
        trainer = Trainer(TrainConfig(data=a.data, out=out, config=a.config, frames=a.frames, steps=10_000,
                                      batch_size=a.batch_size, device=a.device, progress=False))
        trainer.fit(stop_at=3)
        if a.device.startswith("cuda"):
            torch.cuda.synchronize()
        t0 = time.perf_counter()
        trainer.fit(resume=False, stop_at=3 + a.steps)
        if a.device.startswith("cuda"):
            torch.cuda.synchronize()
        seconds = time.perf_counter() - t0
    peak_mib = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(f"| {a.config} | {a.frames} | {a.batch_size} | {trainer.cfg.max_size} | {a.threads} | "
          f"{a.steps * a.batch_size / seconds:.2f} | {seconds / a.steps * 1000:.0f} | {peak_mib:.0f} |")


if __name__ == "__main__":
    main()
