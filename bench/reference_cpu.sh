#!/usr/bin/env bash
# The shipped checkpoint's recipe on a 2-core CPU machine, in two phases (the paper's order: image model first,
# then the video model initialised from it; pavenet_lite/model/inflate.py):
#   1. F=1 image model, one process, batch 8 (F=1 clips are ~4x cheaper than F=3 ones);
#   2. F=3 video model inflated from phase 1, DDP over 2 CPU processes (gloo), batch 2 x 4.
# Each phase writes a run card; phase 2's card nests phase 1's (`init_card`), so one card reproduces the chain.
# Usage: bash bench/reference_cpu.sh WORK_DIR [PHASE1_STEPS] [PHASE2_STEPS]
set -euo pipefail
work=${1:?WORK_DIR}; steps1=${2:-5000}; steps2=${3:-3000}
export OMP_NUM_THREADS=1
python -m pavenet_lite synth --out "$work/default" --preset default --seed 0 --quiet
python -m pavenet_lite train --config tiny --data "$work/default" --out "$work/runs/img_f1" --frames 1 \
    --steps "$steps1" --batch-size 8 --val-every 500 --val-videos 4 --seed 0 --set loss_l1=5.0
torchrun --standalone --nproc_per_node=2 -m pavenet_lite train --config tiny --data "$work/default" \
    --out "$work/runs/vid_f3" --frames 3 --steps "$steps2" --batch-size 4 --lr 5e-4 --warmup 100 --val-every 1000 \
    --seed 0 --init-from "$work/runs/img_f1/last.pt" --set loss_l1=5.0
python -m pavenet_lite export --run "$work/runs/vid_f3" --which last.pt --out data/checkpoints/pavenet_tiny_f3.pt
