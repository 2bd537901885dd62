"""Benchmark (not a test): inference time per centre frame against the number of people, PAVE-Net vs two-stage.

    python bench/runtime_vs_people.py                       # SynthTrack crowd val (1, 2, 4, 8, 16, 30 people),
                                                            # CPU, 1 thread, 21 interleaved repeats
    python bench/runtime_vs_people.py --repeats 3 --people 1 8 30 --json /tmp/t.json --png ""   # a quick run
    python bench/runtime_vs_people.py --config small --device cuda --json docs/runtime_vs_people_cuda_small.json \
        --png docs/runtime_vs_people_cuda_small.png                  # the GPU repeat with `small`

The paper's claim 2 (arXiv 2511.13208, §1): an end-to-end model's cost hardly depends on how many people a frame
shows, while a top-down pipeline runs its keypoint network once per detected person. Both models see the same clip
(F frames at `--max-size`, by default the preset's) on the same device. Weights are random: runtime does not depend
on them, except through the number of detections, which is forced here to the number of annotated people of the
centre frame (`top_n`), i.e. a detector that finds everyone; PAVE-Net refines all Q of its queries (30 in `tiny`) in
the joint decoder (`num_refine = Q`), so both return a pose for every person up to 30. One repeat times every people
count once for both models, alternating which model goes first; the median over repeats is reported, wall-clock (the
curves, ratios and crossover) and the CPU time of the process (a check on a loaded machine). Writes a JSON of all
numbers and a matplotlib PNG of both curves.

The two-stage baseline is sized like the PAVE-Net preset (`TOPDOWN_LIKE`): for `small`, a full-width ResNet-18, 128
channels in the keypoint head and 128 x 96 crops (people are 512 / 192 = 2.7x larger in pixels than at `tiny`'s
input). On CUDA every timed call is bracketed by `torch.cuda.synchronize()`; the CPU-time columns then measure only
the host side (kernel launches, Python).
"""
from __future__ import annotations

import argparse
import datetime
import json
import os
import platform
import statistics
import sys
import time
from pathlib import Path

import torch

from pavenet_lite.baselines import TopDownConfig, TopDownPoseEstimator
from pavenet_lite.config import get_config
from pavenet_lite.data.clips import PoseTrackClips, collate_clips
from pavenet_lite.data.synthtrack import generate_synthtrack
from pavenet_lite.model import build_model, postprocess


TOPDOWN_LIKE = {"tiny": {}, "small": {"backbone_width": 1.0, "head_dim": 128, "crop_size": (128, 96)}}


def crowd_clips(root: Path, people: list[int], num_frames: int, max_size: int) -> dict[int, tuple]:
    """For each wanted people count, the (clips `[1, F, 3, H, W]`, masks `[1, H, W]`, G) of the val frame showing it.

    Per val video the labelled frame with the most annotated people is taken; its count G must be a wanted one.
    """
    data = PoseTrackClips(root, "val", num_frames=num_frames, max_size=max_size, train=False)
    best: dict[int, int] = {}
    for i, (v, t) in enumerate(data.samples):
        g = sum(bool(p.annotated.any()) for p in data.videos[v].frames[t].people)
        if g in people and g not in best:
            best[g] = i
    missing = sorted(set(people) - set(best))
    if missing:
        raise ValueError(f"{root}: no val frame with exactly {missing} annotated people (expected SynthTrack 'crowd')")
    out = {}
    for g, i in sorted(best.items()):
        clips, masks, targets = collate_clips([data[i]])
        out[g] = (clips, masks, len(targets[0]["keypoints"]))
    return out


def _time_ms(fn, device: torch.device) -> tuple[float, float]:
    """(wall, CPU) milliseconds of one call; the CPU time of this process is less sensitive to a loaded machine."""
    sync = torch.cuda.synchronize if device.type == "cuda" else (lambda: None)
    sync()
    wall, cpu = time.perf_counter(), time.process_time()
    fn()
    sync()
    return (time.perf_counter() - wall) * 1000, (time.process_time() - cpu) * 1000


def crossover(people: list[int], pavenet: list[float], topdown: list[float]) -> float | None:
    """People count where the two-stage time first reaches PAVE-Net's (linear interpolation); None if never."""
    diff = [t - p for p, t in zip(pavenet, topdown)]
    if diff[0] >= 0:
        return float(people[0])
    for i in range(1, len(people)):
        if diff[i] >= 0:
            return people[i - 1] + (people[i] - people[i - 1]) * -diff[i - 1] / (diff[i] - diff[i - 1])
    return None


def run(root: Path, people: list[int], repeats: int, num_frames: int = 3, max_size: int | None = None,
        seed: int = 0, config: str = "tiny", device: str = "cpu") -> dict:
    torch.manual_seed(seed)
    dev = torch.device(device)
    # num_refine = Q: every pose query goes through the joint decoder, so PAVE-Net can return as many refined people
    # as the two-stage pipeline (tiny's default refines the best 10 only, which would flatter it at 16 and 30 people).
    cfg = get_config(config, num_frames=num_frames, **({} if max_size is None else {"max_size": max_size}))
    max_size = cfg.max_size
    pavenet = build_model(get_config(config, num_frames=num_frames, max_size=max_size,
                                     num_refine=cfg.num_queries)).eval().to(dev)
    topdown = TopDownPoseEstimator(TopDownConfig(num_frames=num_frames, max_size=max_size,
                                                 **TOPDOWN_LIKE[config])).eval().to(dev)
    inputs = {g: (c.to(dev), m.to(dev), n) for g, (c, m, n) in crowd_clips(root, people, num_frames, max_size).items()}
    runners = {
        "pavenet": {g: (lambda c=c, m=m: postprocess(pavenet(c, m), torch.tensor([list(c.shape[-2:])], device=dev)))
                    for g, (c, m, _) in inputs.items()},
        "topdown": {g: (lambda c=c, m=m, n=n: topdown(c, m, top_n=n)) for g, (c, m, n) in inputs.items()},
    }
    times: dict[str, dict[int, list[tuple[float, float]]]] = {k: {g: [] for g in people} for k in runners}
    with torch.no_grad():
        for g in people:  # warm-up: first calls allocate
            runners["pavenet"][g]()
            runners["topdown"][g]()
        for r in range(repeats):
            order = ["pavenet", "topdown"] if r % 2 == 0 else ["topdown", "pavenet"]
            for g in people:
                for name in order:
                    times[name][g].append(_time_ms(runners[name][g], dev))
    med = {k: [statistics.median(w for w, _ in times[k][g]) for g in people] for k in times}
    cpu = {k: [statistics.median(c for _, c in times[k][g]) for g in people] for k in times}
    clips = next(iter(inputs.values()))[0]
    return {
        "people": people,
        "detections": [inputs[g][2] for g in people],
        "pavenet_ms": med["pavenet"], "topdown_ms": med["topdown"],
        "pavenet_cpu_ms": cpu["pavenet"], "topdown_cpu_ms": cpu["topdown"],
        "pavenet_ms_all": [[w for w, _ in times["pavenet"][g]] for g in people],
        "topdown_ms_all": [[w for w, _ in times["topdown"][g]] for g in people],
        "load_average": os.getloadavg(),
        "ratio_pavenet": med["pavenet"][-1] / med["pavenet"][0],
        "ratio_topdown": med["topdown"][-1] / med["topdown"][0],
        "crossover_people": crossover(people, med["pavenet"], med["topdown"]),
        "topdown_fit_ms": dict(zip(("per_person", "fixed"), statistics.linear_regression(people, med["topdown"]))),
        "topdown_fit_r": statistics.correlation(people, med["topdown"]),
        "ratio_pavenet_cpu": cpu["pavenet"][-1] / cpu["pavenet"][0],
        "ratio_topdown_cpu": cpu["topdown"][-1] / cpu["topdown"][0],
        "input": list(clips.shape[1:]), "num_frames": num_frames, "repeats": repeats, "config": config,
        "device": str(dev),
        "pavenet_queries": cfg.num_queries, "pavenet_refined": pavenet.cfg.num_refine,
        "pavenet_params": sum(p.numel() for p in pavenet.parameters()),
        "topdown_params": sum(p.numel() for p in topdown.parameters()),
        "topdown_config": {k: (list(v) if isinstance(v, tuple) else v) for k, v in vars(topdown.cfg).items()},
    }


def markdown(res: dict) -> str:
    lines = [f"| people | PAVE-Net {res.get('config', 'tiny')} (ms) | two-stage (ms) | two-stage / PAVE-Net | "
             "PAVE-Net CPU (ms) | two-stage CPU (ms) |", "|---:|---:|---:|---:|---:|---:|"]
    for g, p, t, pc, tc in zip(res["people"], res["pavenet_ms"], res["topdown_ms"], res["pavenet_cpu_ms"],
                               res["topdown_cpu_ms"]):
        lines.append(f"| {g} | {p:.1f} | {t:.1f} | {t / p:.2f} | {pc:.1f} | {tc:.1f} |")
    first, last = res["people"][0], res["people"][-1]
    cross = res["crossover_people"]
    lines += ["", f"t({last})/t({first}): PAVE-Net {res['ratio_pavenet']:.2f}, two-stage {res['ratio_topdown']:.2f}; "
              f"(CPU time: {res['ratio_pavenet_cpu']:.2f}, {res['ratio_topdown_cpu']:.2f}); "
              f"crossover: {'none in range' if cross is None else f'{cross:.1f} people'} "
              f"(fitted line: {res['crossover_extrapolated'] or float('nan'):.1f}); two-stage least-squares fit: "
              f"{res['topdown_fit_ms']['fixed']:.1f} ms + {res['topdown_fit_ms']['per_person']:.2f} ms x people "
              f"(r = {res['topdown_fit_r']:.3f})"]
    return "\n".join(lines)


def plot(res: dict, path: Path, title: str) -> None:
    import matplotlib
    matplotlib.use("Agg")  # a script writing a file: no display needed
    import matplotlib.pyplot as plt

    ratio = f"t{res['people'][-1]}/t{res['people'][0]}"
    fig, ax = plt.subplots(figsize=(6, 4))
    name = f"PAVE-Net {res.get('config', 'tiny')}"
    ax.plot(res["people"], res["pavenet_ms"], "o-", color="C0", label=f"{name} ({ratio} = {res['ratio_pavenet']:.2f})")
    ax.plot(res["people"], res["topdown_ms"], "s-", color="C1",
            label=f"two-stage ({ratio} = {res['ratio_topdown']:.2f})")
    ax.plot(res["people"], res["pavenet_cpu_ms"], "o--", color="C0", alpha=0.5, lw=1, label=f"{name}, CPU time")
    ax.plot(res["people"], res["topdown_cpu_ms"], "s--", color="C1", alpha=0.5, lw=1, label="two-stage, CPU time")
    if res["crossover_people"] is not None:
        ax.axvline(res["crossover_people"], color="grey", ls=":", label=f"crossover {res['crossover_people']:.1f}")
    ax.set(xlabel="people in the centre frame", ylabel="ms per centre frame (median)", title=title, ylim=(0, None))
    ax.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def main(argv: list[str] | None = None) -> dict:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--data", type=Path, default=Path("data/synthtrack_crowd"),
                    help="SynthTrack crowd (generated if absent)")
    ap.add_argument("--people", type=int, nargs="+", default=[1, 2, 4, 8, 16, 30])
    ap.add_argument("--repeats", type=int, default=21)
    ap.add_argument("--num-frames", type=int, default=3)
    ap.add_argument("--config", choices=sorted(TOPDOWN_LIKE), default="tiny", help="PAVE-Net preset")
    ap.add_argument("--device", default="cpu")
    ap.add_argument("--max-size", type=int, default=None, help="input size (default: the preset's)")
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--json", default="docs/runtime_vs_people.json", help="'' to skip")
    ap.add_argument("--png", default="docs/runtime_vs_people.png", help="'' to skip")
    args = ap.parse_args(argv)
    if args.repeats < 1 or sorted(args.people) != args.people:
        ap.error("--repeats must be >= 1 and --people increasing")
    torch.set_num_threads(args.threads)
    generate_synthtrack(args.data, "crowd", workers=1, progress=False)
    res = run(args.data, args.people, args.repeats, args.num_frames, args.max_size, config=args.config,
              device=args.device)
    fit = res["topdown_fit_ms"]  # where the fitted two-stage line meets PAVE-Net's median time, beyond the range too
    res["crossover_extrapolated"] = ((statistics.median(res["pavenet_ms"]) - fit["fixed"]) / fit["per_person"]
                                     if fit["per_person"] > 0 else None)
    machine = f"{os.cpu_count()}-core CPU ({platform.machine()}), {args.threads} thread(s), torch {torch.__version__}"
    if args.device.startswith("cuda"):
        machine = f"{torch.cuda.get_device_name()}, torch {torch.__version__}"
    res.update(machine=machine, date=datetime.date.today().isoformat(),
               command="python bench/runtime_vs_people.py " + " ".join(sys.argv[1:] if argv is None else argv))
    print(f"{machine}, input [F, 3, H, W] = {res['input']}, median of {args.repeats}\n")
    print(markdown(res))
    if args.json:
        Path(args.json).write_text(json.dumps(res, indent=1) + "\n")
    if args.png:
        where = machine.split(",")[0] if args.device.startswith("cuda") else f"{args.threads} CPU thread"
        plot(res, Path(args.png), f"Inference time vs people ({where})")
    return res


if __name__ == "__main__":
    main()
