"""Time the PoseTrack mAP evaluator on a synthetic set the size of PoseTrack18 val.

PoseTrack18 val: 170 videos, 8923 evaluated frames. We build that many `Video` objects (GT and jittered predictions
with false positives, misses, unlabelled frames and ignore regions; no images) and time `evaluate_posetrack` on them
in memory, or, with `--files DIR`, through PoseTrack18 files: the time split of `evaluate_posetrack` (read / pair /
match / accumulate), the whole `pavenet eval` command, and both against a plain `json.load` of the same files.
`--poseval CHECKOUT` also times the official poseval (a checkout of its repository; its dependencies installed for
`--poseval-python`) on the same files and compares its saved AP values with ours.

    python bench/bench_eval.py                                    # full size (15 people per frame), in memory
    python bench/bench_eval.py --people 6 --labelled 52 --files /tmp/pt_eval       # writes the files once
    python bench/bench_eval.py --files /tmp/pt_eval --poseval ~/poseval --poseval-python ~/pv/bin/python
"""
from __future__ import annotations

import argparse
import json
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Callable

import numpy as np

from pavenet_lite.data.annotations import Frame, Person, Video
from pavenet_lite.evaluation import evaluate_posetrack, write_predictions
from pavenet_lite.evaluation.frame_pairing import evaluated_frames, load_array_pairs
from pavenet_lite.evaluation.posetrack_map import match_frames, summarise
from pavenet_lite.joints import NUM_PT18, PT18_NAMES

# A standing person in PT18 order, in units of the person's height (x right, y down, feet at y = 0.5).
_TEMPLATE = np.array([
    [0.00, -0.40], [0.00, -0.33], [0.00, -0.50], [0.04, -0.41], [-0.04, -0.41], [0.10, -0.30], [-0.10, -0.30],
    [0.14, -0.15], [-0.14, -0.15], [0.15, -0.02], [-0.15, -0.02], [0.07, 0.00], [-0.07, 0.00],
    [0.07, 0.25], [-0.07, 0.25], [0.07, 0.50], [-0.07, 0.50]])
_EARS = [PT18_NAMES.index("left_ear"), PT18_NAMES.index("right_ear")]


def _gt_person(rng: np.random.Generator, track_id: int) -> Person:
    height = rng.uniform(80, 400)
    centre = rng.uniform([100, 100], [1820, 980])
    kp = centre + height * (_TEMPLATE + rng.normal(0, 0.02, size=_TEMPLATE.shape))  # [17, 2]
    ann = rng.random(NUM_PT18) > 0.1
    ann[_EARS] = False
    head = np.concatenate([kp[2] - 0.06 * height, kp[2] + [0.06 * height, 0.17 * height]])  # x1, y1, x2, y2
    box = np.concatenate([kp.min(0), kp.max(0) - kp.min(0)])
    return Person(keypoints=kp, annotated=ann, visible=ann.copy(), track_id=track_id, head_box=head, box=box)


def _prediction(rng: np.random.Generator, gt: Person, track_id: int) -> Person:
    head_size = 0.6 * np.hypot(*(gt.head_box[2:] - gt.head_box[:2]))
    err = rng.gamma(2.0, 0.15, size=NUM_PT18) * head_size  # per-joint error in px, ~30% beyond 0.5 headSize
    angle = rng.uniform(0, 2 * np.pi, size=NUM_PT18)
    kp = gt.keypoints + err[:, None] * np.stack([np.cos(angle), np.sin(angle)], axis=1)
    # Confidence falls with the error, noisily; a logistic keeps scores continuous, so exact ties are rare.
    scores = 1.0 / (1.0 + np.exp(6.0 * err / head_size - 2.0 + rng.normal(0, 1.0, size=NUM_PT18)))
    ann = np.ones(NUM_PT18, dtype=bool)
    ann[_EARS] = False
    return Person(keypoints=kp, annotated=ann, visible=ann.copy(), track_id=track_id, scores=scores,
                  score=float(scores[ann].mean()))


def synthetic_val(seed: int = 0, videos: int = 170, labelled: int = 53, people: float = 15.0
                  ) -> tuple[list[Video], list[Video]]:
    """GT and prediction videos: `labelled` labelled frames per video among twice as many, Poisson(`people`)."""
    rng = np.random.default_rng(seed)
    gts, preds = [], []
    for v in range(videos):
        name = f"{v + 1:06d}_mpii_test"
        gt_frames, pred_frames = [], []
        for t in range(2 * labelled):
            fname = f"images/val/{name}/{t:06d}.jpg"
            image_id = 10**10 + (v + 1) * 10**4 + t
            gt_people, pred_people = [], []
            if t % 2 == 0:
                gt_people = [_gt_person(rng, k) for k in range(max(1, int(rng.poisson(people))))]
                found = [g for g in gt_people if rng.random() < 0.9]
                ghosts = [_prediction(rng, _gt_person(rng, 0), 0) for _ in range(int(rng.poisson(2)))]
                for p in ghosts:  # false positives score lower on average, as a detector's would
                    p.scores *= rng.uniform(0.3, 1.0)
                pred_people = [_prediction(rng, g, 0) for g in found] + ghosts
                order = rng.permutation(len(pred_people))
                pred_people = [pred_people[i] for i in order]
                for k, p in enumerate(pred_people):
                    p.track_id = k
            regions = [np.array([[0.0, 0.0], [300.0, 0.0], [300.0, 400.0], [0.0, 400.0]])] \
                if gt_people and rng.random() < 0.1 else []
            gt_frames.append(Frame(fname, image_id, bool(gt_people), gt_people, regions))
            pred_frames.append(Frame(fname, image_id, bool(gt_people), pred_people))
        gts.append(Video(name, gt_frames))
        preds.append(Video(name, pred_frames))
    return gts, preds


def _clock() -> tuple[float, float]:
    """(wall, CPU) seconds; CPU counts this process and its finished children (the reading child, commands)."""
    me, kids = resource.getrusage(resource.RUSAGE_SELF), resource.getrusage(resource.RUSAGE_CHILDREN)
    return time.perf_counter(), me.ru_utime + me.ru_stime + kids.ru_utime + kids.ru_stime


def _best(fn: Callable[[], object], repeats: int) -> tuple[float, float, object]:
    """The fastest of `repeats` runs (wall, CPU), and the last result: the machine is shared, so the minimum."""
    wall, cpu = float("inf"), float("inf")
    for _ in range(repeats):
        w0, c0 = _clock()
        out = fn()
        w1, c1 = _clock()
        wall, cpu = min(wall, w1 - w0), min(cpu, c1 - c0)
    return wall, cpu, out


def _run(cmd: list[str], cwd: Path | None = None) -> str:
    done = subprocess.run(cmd, cwd=cwd, capture_output=True, text=True)
    if done.returncode:
        sys.exit(f"{' '.join(cmd)} failed ({done.returncode}):\n{done.stdout[-2000:]}{done.stderr[-2000:]}")
    return done.stdout


def _write_files(args: argparse.Namespace) -> None:
    from pavenet_lite.data.posetrack_writer import write_video

    gts, preds = synthetic_val(args.seed, args.videos, args.labelled, args.people)
    for v in gts:
        write_video(v, args.files / "gt" / f"{v.name}.json")
    write_predictions(gts, {p.name: [f.people for f in p.frames] for p in preds}, args.files / "pred")


def time_files(args: argparse.Namespace) -> None:
    """The time split, the whole command and poseval on the files of `args.files`; ratios within this one run."""
    gt, pred = args.files / "gt", args.files / "pred"
    if not any(gt.glob("*.json")):
        _write_files(args)
    paths = sorted(gt.glob("*.json")) + sorted(pred.glob("*.json"))
    print(f"{len(paths)} files, {sum(p.stat().st_size for p in paths) / 1e6:.1f} MB in {args.files}")

    def load_all() -> None:
        for p in paths:
            with open(p) as f:
                json.load(f)

    floor = _best(load_all, args.repeats)
    read = _best(lambda: load_array_pairs(gt, pred, args.workers), args.repeats)
    pair = _best(lambda: evaluated_frames(read[2]), args.repeats)
    match = _best(lambda: match_frames(pair[2]), args.repeats)
    acc = _best(lambda: summarise(match[2]), args.repeats)
    total = [sum(x) for x in zip(read[:2], pair[:2], match[:2], acc[:2])]
    rows = [("json.load of every file (the floor)", floor), ("read", read), ("pair", pair), ("match", match),
            ("accumulate", acc), ("evaluate_posetrack, in all", total)]
    with tempfile.TemporaryDirectory() as tmp:
        ours = Path(tmp) / "ours.json"
        command = [sys.executable, "-m", "pavenet_lite", "eval", "--gt", str(gt), "--pred", str(pred), "--json",
                   str(ours)]
        rows.append(("`pavenet eval` command", _best(lambda: _run(command), args.repeats)))
        if args.poseval is not None:
            command = [args.poseval_python, "-m", "poseval.evaluate", "--groundTruth", f"{gt}/", "--predictions",
                       f"{pred}/", "--evalPoseEstimation", "--outputDir", tmp]
            rows.append(("official poseval command", _best(lambda: _run(command, cwd=args.poseval), 1)))
            theirs = json.loads((Path(tmp) / "total_AP_metrics.json").read_text())["ap"]
            mine = json.loads(ours.read_text())
            mine = list(mine["per_joint"].values()) + [mine["table"]["Total"]]
            diff = max(abs(a - b) for a, b in zip(mine, theirs))
            print(f"poseval AP (15 joints + Total) vs ours: {'identical' if mine == theirs else 'differ'}, "
                  f"largest difference {diff:.3g}; poseval Total {theirs[-1]:.6f}, ours {mine[-1]:.6f}")
    print(f"{'step':<40} {'wall s':>8} {'CPU s':>8} {'wall / floor':>13}")
    for name, (wall, cpu, *_) in rows:
        print(f"{name:<40} {wall:8.2f} {cpu:8.2f} {wall / floor[0]:12.2f}x")
    if args.poseval is not None:
        (cw, cc, _), (pw, pc, _) = rows[-2][1], rows[-1][1]
        print(f"poseval / pavenet eval: {pw / cw:.1f}x wall, {pc / cc:.1f}x CPU")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--videos", type=int, default=170)
    parser.add_argument("--labelled", type=int, default=53, help="labelled frames per video")
    parser.add_argument("--people", type=float, default=15.0, help="mean GT people per labelled frame")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--files", type=Path, default=None,
                        help="time through PoseTrack18 files in DIR/gt, DIR/pred (written first if DIR/gt is empty)")
    parser.add_argument("--workers", type=int, default=None, help="reading processes (default: chosen by size)")
    parser.add_argument("--repeats", type=int, default=1, help="runs per step; the fastest is reported")
    parser.add_argument("--poseval", type=Path, default=None, help="a checkout of the official poseval to time too")
    parser.add_argument("--poseval-python", default=sys.executable, help="a Python with poseval's dependencies")
    args = parser.parse_args()
    if args.files is not None:
        time_files(args)
        return

    t0 = time.perf_counter()
    gts, preds = synthetic_val(args.seed, args.videos, args.labelled, args.people)
    n_frames = sum(len(f.people) > 0 for v in gts for f in v.frames)
    n_people = sum(len(f.people) for v in gts for f in v.frames)
    print(f"built {len(gts)} videos, {n_frames} labelled frames, {n_people} GT people "
          f"in {time.perf_counter() - t0:.1f} s")
    t0, c0 = time.perf_counter(), time.process_time()
    result = evaluate_posetrack(gts, preds)
    # CPU time is what an idle machine would take as wall time (numpy runs this single-threaded).
    print(f"evaluate_posetrack (in memory): {time.perf_counter() - t0:.2f} s wall, "
          f"{time.process_time() - c0:.2f} s CPU, {sum(result.num_detections.values())} joint detections")
    print(result.format_table())


if __name__ == "__main__":
    main()
