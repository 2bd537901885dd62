"""Time the PoseTrack mAP evaluator on a synthetic set the size of PoseTrack18 val.

PoseTrack18 val: 170 videos, 8923 evaluated frames, ~15 people per frame. We build that many `Video` objects (GT and
jittered predictions with false positives, misses, unlabelled frames and ignore regions; no images) and time
`evaluate_posetrack` on them, in memory and, with `--files DIR`, through PoseTrack18 files (reading included).

    python bench/bench_eval.py                      # full size, in memory
    python bench/bench_eval.py --files /tmp/pt_eval  # also write the files and time read + evaluate
"""
from __future__ import annotations

import argparse
import time
from pathlib import Path

import numpy as np

from pavenet_lite.data.annotations import Frame, Person, Video
from pavenet_lite.evaluation import evaluate_posetrack, write_predictions
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


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--videos", type=int, default=170)
    parser.add_argument("--labelled", type=int, default=53, help="labelled frames per video")
    parser.add_argument("--people", type=float, default=15.0, help="mean GT people per labelled frame")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--files", type=Path, default=None, help="also write PoseTrack18 files here and time them")
    args = parser.parse_args()

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

    if args.files is not None:
        from pavenet_lite.data.posetrack_writer import write_video

        for v in gts:
            write_video(v, args.files / "gt" / f"{v.name}.json")
        write_predictions(gts, {p.name: [f.people for f in p.frames] for p in preds}, args.files / "pred")
        t0, c0 = time.perf_counter(), time.process_time()
        from_files = evaluate_posetrack(args.files / "gt", args.files / "pred")
        print(f"evaluate_posetrack (read {2 * len(gts)} files + evaluate): {time.perf_counter() - t0:.2f} s wall, "
              f"{time.process_time() - c0:.2f} s CPU, Total {from_files.total:.3f}")


if __name__ == "__main__":
    main()
