"""Benchmark of the PAVE-Net model (not a test): prints markdown tables.

    python bench/bench_model.py                      # CPU, 2 threads: tiny fwd / fwd+bwd for F = 1, 3, 5 at 192 px,
                                                     # and the deformable kernel vs a per-level, per-frame loop
    python bench/bench_model.py --device cuda        # GPU: small and paper fwd, fwd+bwd at 800 px, AMP (bf16)

Peak memory on CPU is the growth of the process's peak RSS during the measured runs, each configuration in a fresh
process (`ru_maxrss` only ever grows); on GPU it is `torch.cuda.max_memory_allocated`.
"""
from __future__ import annotations

import argparse
import multiprocessing as mp
import resource
import statistics
import time

import torch
import torch.nn.functional as F

from pavenet_lite.config import get_config
from pavenet_lite.model import build_model
from pavenet_lite.model.deformable_attention import deformable_sample


def _rss_mib() -> float:
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * resource.getpagesize() / 2**20


def _timed(fn, repeats: int, sync=lambda: None) -> float:
    fn()  # warm-up
    sync()
    times = []
    for _ in range(repeats):
        t = time.perf_counter()
        fn()
        sync()
        times.append(time.perf_counter() - t)
    return statistics.median(times) * 1000


def _cpu_model_worker(args: tuple[int, int, int, bool, int]) -> tuple[float, float]:
    """Runs in a fresh process: (ms median, peak RSS growth MiB) of tiny forward (or forward + backward)."""
    num_frames, size, threads, backward, repeats = args
    torch.set_num_threads(threads)
    torch.manual_seed(0)
    model = build_model(get_config("tiny", num_frames=num_frames))
    clips = torch.randn(1, num_frames, 3, size, size)
    masks = torch.zeros(1, size, size, dtype=torch.bool)

    def step() -> None:
        if backward:
            out = model(clips, masks)
            loss = out["pred_keypoints"].sum() + out["pred_logits"].sum() + out["enc_outputs"]["pred_keypoints"].sum()
            loss = loss + out["refine_outputs"][-1]["pred_keypoints"].sum()
            loss.backward()
            model.zero_grad(set_to_none=True)
        else:
            model.eval()
            with torch.no_grad():
                model(clips, masks)

    before = _rss_mib()
    ms = _timed(step, repeats)
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    return ms, peak - before


def loop_sample(value: torch.Tensor, shapes: list[tuple[int, int]], locations: torch.Tensor,
                weights: torch.Tensor) -> torch.Tensor:
    """The same maths as `deformable_sample`, written straightforwardly: one grid_sample per level and frame."""
    B, Fr, _, M, D = value.shape
    Q, P = locations.shape[1], locations.shape[5]
    out = torch.zeros(B * M, D, Q, dtype=value.dtype, device=value.device)
    start = 0
    for lvl, (h, w) in enumerate(shapes):
        for f in range(Fr):
            v = value[:, f, start:start + h * w].permute(0, 2, 3, 1).reshape(B * M, D, h, w)
            g = 2 * locations[:, :, :, f, lvl].permute(0, 2, 1, 3, 4).reshape(B * M, Q, P, 2) - 1
            s = F.grid_sample(v, g, mode="bilinear", padding_mode="zeros", align_corners=False)  # [B*M, D, Q, P]
            a = weights[:, :, :, f, lvl].permute(0, 2, 1, 3).reshape(B * M, 1, Q, P)
            out += (s * a).sum(-1)
        start += h * w
    return out.view(B, M, D, Q).permute(0, 3, 1, 2).reshape(B, Q, M * D)


def kernel_rows(repeats: int, device: str = "cpu") -> list[str]:
    g = torch.Generator().manual_seed(0)
    if device == "cpu":   # tiny preset at 192 px: (name, Q, M, D, P)
        shapes, cases = [(24, 24), (12, 12), (6, 6)], [("pose decoder", 30, 4, 16, 15), ("joint decoder", 150, 4, 16, 4)]
    else:                 # paper preset at 800 px
        shapes = [(100, 100), (50, 50), (25, 25), (13, 13)]
        cases = [("pose decoder", 300, 8, 32, 15), ("joint decoder", 300, 8, 32, 4)]
    sync = torch.cuda.synchronize if device == "cuda" else (lambda: None)
    N = sum(h * w for h, w in shapes)
    rows = []
    for name, Q, M, D, P in cases:
        for Fr in (1, 3, 5):
            value = torch.randn(1, Fr, N, M, D, generator=g).to(device)
            loc = torch.rand(1, Q, M, Fr, len(shapes), P, 2, generator=g).to(device)
            wts = torch.rand(1, Q, M, Fr, len(shapes), P, generator=g).to(device)
            err = (deformable_sample(value, shapes, loc, wts) - loop_sample(value, shapes, loc, wts)).abs().max()
            assert err < 1e-4, f"kernel and loop disagree by {err}"
            t_kernel = _timed(lambda: deformable_sample(value, shapes, loc, wts), repeats, sync)
            t_loop = _timed(lambda: loop_sample(value, shapes, loc, wts), repeats, sync)
            rows.append(f"| {name} (Q={Q}, M={M}, L={len(shapes)}, P={P}) | {Fr} | {t_kernel:.2f} | {t_loop:.2f} | "
                        f"{t_loop / t_kernel:.2f} |")
    return rows


def cpu_report(threads: int, size: int, repeats: int) -> None:
    print(f"### tiny preset on CPU ({threads} threads, {size} x {size} px, B = 1, median of {repeats})\n")
    print("| F | forward ms | forward peak MiB | fwd+bwd ms | fwd+bwd peak MiB |")
    print("|---|---|---|---|---|")
    ctx = mp.get_context("spawn")
    for Fr in (1, 3, 5):
        with ctx.Pool(1) as pool:
            fwd = pool.apply(_cpu_model_worker, ((Fr, size, threads, False, repeats),))
        with ctx.Pool(1) as pool:
            bwd = pool.apply(_cpu_model_worker, ((Fr, size, threads, True, repeats),))
        print(f"| {Fr} | {fwd[0]:.0f} | {fwd[1]:.0f} | {bwd[0]:.0f} | {bwd[1]:.0f} |")
    print(f"\n### deformable sampling kernel vs per-level, per-frame loop (CPU, {threads} threads, ms)\n")
    print("| shape | F | kernel | loop | loop / kernel |")
    print("|---|---|---|---|---|")
    torch.set_num_threads(threads)
    print("\n".join(kernel_rows(repeats * 5)))


def gpu_report(size: int, repeats: int, dtype: torch.dtype) -> None:
    print(f"### small / paper presets on {torch.cuda.get_device_name()} ({size} x {size} px, B = 1, autocast {dtype}, "
          f"median of {repeats})\n")
    print("| preset | F | forward ms | forward peak GiB | fwd+bwd ms | fwd+bwd peak GiB |")
    print("|---|---|---|---|---|---|")
    for name in ("small", "paper"):
        for Fr in (1, 3, 5):
            torch.manual_seed(0)
            model = build_model(get_config(name, num_frames=Fr)).cuda()
            clips = torch.randn(1, Fr, 3, size, size, device="cuda")
            masks = torch.zeros(1, size, size, dtype=torch.bool, device="cuda")

            def forward() -> None:
                model.eval()
                with torch.no_grad(), torch.autocast("cuda", dtype=dtype):
                    model(clips, masks)

            def train_step() -> None:
                model.train()
                with torch.autocast("cuda", dtype=dtype):
                    out = model(clips, masks)
                    loss = out["pred_keypoints"].float().sum() + out["pred_logits"].float().sum()
                    loss = loss + out["refine_outputs"][-1]["pred_keypoints"].float().sum()
                loss.backward()
                model.zero_grad(set_to_none=True)

            cells = []
            for fn in (forward, train_step):
                torch.cuda.reset_peak_memory_stats()
                cells.append(f"{_timed(fn, repeats, torch.cuda.synchronize):.1f} | "
                             f"{torch.cuda.max_memory_allocated() / 2**30:.2f}")
            print(f"| {name} | {Fr} | {cells[0]} | {cells[1]} |")
            del model
    print("\n### deformable sampling kernel vs per-level, per-frame loop (GPU, float32, ms)\n")
    print("| shape | F | kernel | loop | loop / kernel |")
    print("|---|---|---|---|---|")
    print("\n".join(kernel_rows(repeats * 5, "cuda")))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--device", choices=["cpu", "cuda"], default="cpu")
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--size", type=int, default=None, help="input side in px (cpu 192, cuda 800)")
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--dtype", choices=["bfloat16", "float16"], default="bfloat16")
    args = parser.parse_args()
    if args.device == "cpu":
        cpu_report(args.threads, args.size or 192, args.repeats)
    else:
        gpu_report(args.size or 800, args.repeats, getattr(torch, args.dtype))


if __name__ == "__main__":
    main()
