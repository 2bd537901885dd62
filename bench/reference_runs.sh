#!/usr/bin/env bash
# The reference runs behind data/checkpoints/ and docs/benchmarks.md, on one GPU machine with 16 cores, in one go:
#   1. SynthTrack `default` and `hard` (seed 0),
#   2. three concurrent time-boxed runs of `tiny` (bf16 AMP): F=3 on default (the shipped checkpoint), and F=3 vs
#      F=1 on hard with the same number of steps (the video-vs-image comparison).
# Usage: bash bench/reference_runs.sh OUT_DIR [BUDGET_SECONDS]
set -euo pipefail
out=${1:?OUT_DIR}; budget=${2:-300}
export PYTHONPATH=$PWD PYTHONUNBUFFERED=1
work=/tmp/pavenet_reference; rm -rf "$work"; mkdir -p "$work" "$out"
python3 -m pavenet_lite synth --out "$work/default" --preset default --quiet &
python3 -m pavenet_lite synth --out "$work/hard" --preset hard --quiet &
wait
common=(--budget-s "$budget" --device cuda --amp --batch-size 32 --workers 5 --evals 4)
python3 bench/reference_training.py "${common[@]}" --data "$work/default" --out "$work/runs/default_f3" \
    --frames 3 --export "$out/pavenet_tiny_f3.pt" > "$work/default_f3.log" 2>&1 &
python3 bench/reference_training.py "${common[@]}" --data "$work/hard" --out "$work/runs/hard_f3" \
    --frames 3 --steps-file "$work/hard_steps" --export "$out/hard_tiny_f3.pt" > "$work/hard_f3.log" 2>&1 &
python3 bench/reference_training.py "${common[@]}" --data "$work/hard" --out "$work/runs/hard_f1" \
    --frames 1 --steps-file "$work/hard_steps" --follow --export "$out/hard_tiny_f1.pt" > "$work/hard_f1.log" 2>&1 &
wait
tail -n 3 "$work"/*.log
tar czf "$out/runs.tar.gz" -C "$work" --exclude="*.pt" runs default_f3.log hard_f3.log hard_f1.log
