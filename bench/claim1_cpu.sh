#!/usr/bin/env bash
# Claim 1 (video beats image) on a 2-core CPU machine: the runs behind docs/video_vs_image*.json.
# Both arms start from the SAME F = 1 image model trained on SynthTrack default, and are fine-tuned on SynthTrack hard
# for the same steps and seeds: F = 3 (inflated with --init-from) and F = 1. docs/video_vs_image.json used an image
# model of `pavenet train --config tiny --frames 1 --steps 5000 --batch-size 8 --seed 0 --set loss_l1=5.0` (one
# thread, before the training aids); docs/video_vs_image_2026-12-03.json used phase 1 of bench/reference_cpu.sh
# (WORK/runs/img_f1/last.pt) with `main`. Ablations (all): F = 3 with every frame anchored on the centre keypoints
# (pose_anchor=centre), F = 3 without the joint decoder, and F = 5; seeds 0-2 each. Two runs at a time, one thread
# each.
# `main` runs only the claim itself (F = 3 and F = 1, seeds 0-2) and writes JSON (default docs/video_vs_image.json).
# Usage: bash bench/claim1_cpu.sh WORK_DIR IMAGE_MODEL_last.pt [STEPS] [all|main] [JSON]
set -euo pipefail
work=${1:?WORK_DIR}; image=${2:?F=1 checkpoint (e.g. WORK/runs/img_f1/last.pt)}; steps=${3:-1000}
which=${4:-all}; json=${5:-docs/video_vs_image.json}
export OMP_NUM_THREADS=1
python -m pavenet_lite synth --out "$work/hard" --preset hard --seed 0 --quiet
arm() {  # arm NAME FRAMES SEED [--set ...]
  local name=$1 frames=$2 seed=$3; shift 3
  python -m pavenet_lite train --config tiny --data "$work/hard" --out "$work/runs/$name" --frames "$frames" \
      --steps "$steps" --batch-size 4 --lr 5e-4 --warmup 100 --seed "$seed" --val-every 0 --init-from "$image" \
      --set loss_l1=5.0 "$@" > "$work/runs/$name.log" 2>&1
}
mkdir -p "$work/runs"
r=$work/runs
if [ "$which" = main ]; then
  # Two chains of about equal cost (an F = 3 step costs about twice an F = 1 step).
  (arm hard_f3_s0 3 0; arm hard_f3_s1 3 1) &
  (for s in 0 1 2; do arm "hard_f1_s$s" 1 "$s"; done; arm hard_f3_s2 3 2) &
  wait
  python bench/video_vs_image.py --data "$work/hard" --json "$json" \
      --run "F=3" "$r/hard_f3_s0" "$r/hard_f3_s1" "$r/hard_f3_s2" \
      --run "F=1" "$r/hard_f1_s0" "$r/hard_f1_s1" "$r/hard_f1_s2"
  exit 0
fi
(for s in 0 1 2; do arm "hard_f3_s$s" 3 "$s"; done
 for s in 0 1 2; do arm "hard_f3_nojoint_s$s" 3 "$s" --set loss_l1=5.0 joint_layers=0; done) &
(for s in 0 1 2; do arm "hard_f1_s$s" 1 "$s"; done
 arm hard_f3_centre_s0 3 0 --set loss_l1=5.0 pose_anchor=centre; for s in 0 1 2; do arm "hard_f5_s$s" 5 "$s"; done) &
wait
arm hard_f3_centre_s1 3 1 --set loss_l1=5.0 pose_anchor=centre &
arm hard_f3_centre_s2 3 2 --set loss_l1=5.0 pose_anchor=centre &
wait
python bench/video_vs_image.py --data "$work/hard" --json "$json" \
    --run "F=3" "$r/hard_f3_s0" "$r/hard_f3_s1" "$r/hard_f3_s2" \
    --run "F=1" "$r/hard_f1_s0" "$r/hard_f1_s1" "$r/hard_f1_s2" \
    --run "F=3, centre-anchored" "$r/hard_f3_centre_s0" "$r/hard_f3_centre_s1" "$r/hard_f3_centre_s2" \
    --run "F=3, no joint decoder" "$r/hard_f3_nojoint_s0" "$r/hard_f3_nojoint_s1" "$r/hard_f3_nojoint_s2" \
    --run "F=5" "$r/hard_f5_s0" "$r/hard_f5_s1" "$r/hard_f5_s2"
