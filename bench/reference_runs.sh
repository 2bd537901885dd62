#!/usr/bin/env bash
# The reference runs behind data/checkpoints/ and docs/benchmarks.md, on one GPU machine with 16 cores, in one go.
# Two chains run side by side (7 data workers each), both in the paper's order: an F=1 image model first, then
# models initialised from it (`--init-from`, inflated over frames by pavenet_lite/model/inflate.py):
#   default: F=1 (a third of the budget) -> F=3 (two thirds): the shipped checkpoint;
#   hard:    F=1 (a third) -> F=3 and F=1 continued from the same weights for the same number of steps (a third
#            each, run one after the other): the video-vs-image comparison (the paper's claim 1).
# Usage: bash bench/reference_runs.sh OUT_DIR [BUDGET_SECONDS]
set -euo pipefail
out=${1:?OUT_DIR}; budget=${2:-900}
export PYTHONPATH=$PWD PYTHONUNBUFFERED=1
work=/tmp/pavenet_reference; rm -rf "$work"; mkdir -p "$work" "$out"
python3 -m pavenet_lite synth --out "$work/default" --preset default --quiet &
python3 -m pavenet_lite synth --out "$work/hard" --preset hard --quiet &
wait
third=$((budget / 3))
common=(--device cuda --amp --batch-size 32 --workers 7 --evals 4 --set loss_l1=5.0)
run() { python3 bench/reference_training.py "${common[@]}" "$@"; }
(
  run --data "$work/default" --out "$work/runs/default_f1" --frames 1 --budget-s "$third" > "$work/default_f1.log" 2>&1
  run --data "$work/default" --out "$work/runs/default_f3" --frames 3 --budget-s $((2 * third)) \
      --init-from "$work/runs/default_f1/last.pt" --export "$out/pavenet_tiny_f3.pt" > "$work/default_f3.log" 2>&1
) &
(
  run --data "$work/hard" --out "$work/runs/hard_f1" --frames 1 --budget-s "$third" > "$work/hard_f1.log" 2>&1
  run --data "$work/hard" --out "$work/runs/hard_video" --frames 3 --budget-s "$third" --steps-file "$work/hard_steps" \
      --init-from "$work/runs/hard_f1/last.pt" --export "$out/hard_tiny_f3.pt" > "$work/hard_video.log" 2>&1
  run --data "$work/hard" --out "$work/runs/hard_image" --frames 1 --budget-s "$third" --steps-file "$work/hard_steps" \
      --follow --init-from "$work/runs/hard_f1/last.pt" --export "$out/hard_tiny_f1.pt" > "$work/hard_image.log" 2>&1
) &
wait
tail -n 3 "$work"/*.log
tar czf "$out/runs.tar.gz" -C "$work" --exclude="*.pt" runs default_f1.log default_f3.log hard_f1.log hard_video.log \
    hard_image.log
