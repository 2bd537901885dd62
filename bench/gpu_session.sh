#!/usr/bin/env bash
# Everything a lent GPU should run, in ONE device call: the device budget is 15 minutes a session and 10 minutes a
# call (the machine's start included in the first), so there is no second call to count on. The short, definitive
# measurements go first (each under its own `timeout`, so one hang cannot eat the rest), the training last:
#   1. CUDA tests (tests/test_model_cuda.py: AMP, the sampling kernel, the two-stage baseline on the device);
#   2. training throughput of tiny / small / paper, fp32 and bf16, with the data-wait share (bench/bench_train.py);
#   3. inference frames/s of the shipped checkpoint (bench/bench_predict.py);
#   4. runtime against the number of people with `small` (bench/runtime_vs_people.py, the paper's claim 2);
#   5. the shipped checkpoint trained on for TRAIN_SECONDS on SynthTrack default (F = 3, bf16, 14 loader workers),
#      exported with its card, which nests the shipped card: sessions with a GPU extend one chain.
# Usage (device tool, repository root): bash bench/gpu_session.sh "$OUT" [TRAIN_SECONDS]   -> at most 8 files
set -uo pipefail
out=${1:?OUT_DIR}; train_s=${2:-150}
export PYTHONPATH=$PWD PYTHONUNBUFFERED=1
export OMP_NUM_THREADS=4  # the main process's CPU work is small; 16 spinning threads would starve the loader workers
work=/tmp/pavenet_gpu; rm -rf "$work"; mkdir -p "$work" "$out"
log() { echo "[$(date +%T)] $*" | tee -a "$out/session.log"; }
log "$(nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv,noheader)"
log "torch $(python3 -c 'import torch; print(torch.__version__)')"
python3 -m pavenet_lite synth --out "$work/default" --preset default --seed 0 --quiet &
python3 -m pavenet_lite synth --out "$work/mini" --preset mini --seed 0 --quiet &
wait
log "1. CUDA tests"
timeout 120 python3 -m pytest -q -p no:cacheprovider tests/test_model_cuda.py 2>&1 | tail -n 15 >> "$out/session.log"
log "2. training throughput"
{
  echo "| config | F | batch | max_size | precision | workers | clips/s | ms/step | data wait | peak RSS MiB |" \
       "peak GPU MiB |"
  echo "|---|---|---|---|---|---|---|---|---|---|---|"
  for run in "tiny 32" "small 8" "paper 2"; do
    set -- $run
    for amp in "" --amp; do
      timeout 60 python3 bench/bench_train.py --data "$work/mini" --config "$1" --batch-size "$2" --steps 10 \
          --device cuda --workers 14 $amp 2>&1 | tail -n 1
    done
  done
} > "$out/bench_train_cuda.md"
cat "$out/bench_train_cuda.md" >> "$out/session.log"
log "3. inference"
video=$(ls -d "$work/default/images/val"/*/ | head -n 1)
timeout 60 python3 bench/bench_predict.py --checkpoint data/checkpoints/pavenet_tiny_f3.pt --video "$video" \
    --device cuda --batch-sizes 1 8 32 2>&1 | tail -n 8 >> "$out/session.log"
log "4. runtime vs people, small"
timeout 120 python3 bench/runtime_vs_people.py --config small --device cuda --repeats 11 --data "$work/crowd" \
    --json "$out/runtime_vs_people_cuda_small.json" --png "$out/runtime_vs_people_cuda_small.png" 2>&1 \
    | tail -n 12 >> "$out/session.log"
log "5. training for ${train_s} s"
timeout $((train_s + 150)) python3 bench/reference_training.py --data "$work/default" --out "$work/runs/default_f3" \
    --frames 3 --budget-s "$train_s" --device cuda --amp --batch-size 32 --workers 14 --evals 2 --lr 5e-4 \
    --set loss_l1=5.0 loss_hm=2.0 query_nms=0.3 ema_decay=0.999 augment=light --init-from data/checkpoints/pavenet_tiny_f3.pt --export "$out/pavenet_tiny_f3.pt" \
    > "$out/train.log" 2>&1
log "done (training exit $?)"
