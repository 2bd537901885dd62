"""End-to-end inference speed: `Predictor.predict_video` frames per second (decode excluded, pre/post-processing in).

    OMP_NUM_THREADS=1 python bench/bench_predict.py --checkpoint data/checkpoints/pavenet_tiny_f3.pt --video FRAMES_DIR
"""
from __future__ import annotations

import argparse
import statistics
import time

import torch

from pavenet_lite.predict import Predictor, load_frames


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--checkpoint", required=True)
    p.add_argument("--video", required=True, help="frames folder, GIF or MP4")
    p.add_argument("--device", default="cpu")
    p.add_argument("--threads", type=int, default=1)
    p.add_argument("--batch-sizes", type=int, nargs="+", default=[1, 8])
    p.add_argument("--repeats", type=int, default=5)
    a = p.parse_args()
    torch.set_num_threads(a.threads)
    predictor = Predictor.from_checkpoint(a.checkpoint, device=a.device)
    frames = load_frames(a.video)
    predictor.predict_video(frames[:8])  # warm-up
    print(f"{len(frames)} frames {frames.shape[2]}x{frames.shape[1]}, F = {predictor.cfg.num_frames}, "
          f"max_size {predictor.cfg.max_size}, {a.device}, {a.threads} thread(s)")
    for bs in a.batch_sizes:
        times = []
        for _ in range(a.repeats):
            t0 = time.perf_counter()
            predictor.predict_video(frames, batch_size=bs)
            if a.device.startswith("cuda"):
                torch.cuda.synchronize()
            times.append(time.perf_counter() - t0)
        print(f"batch {bs}: {len(frames) / statistics.median(times):.1f} frames/s (median of {a.repeats})")


if __name__ == "__main__":
    main()
