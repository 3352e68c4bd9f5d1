#!/usr/bin/env bash
# Every check that needs a CUDA GPU, in one go, for the few minutes one is lent (issue 24). Prepared on a CPU
# machine; nothing here has run on a GPU yet. From the repository root:
#
#     bash benchmarks/gpu_check.sh            # everything also goes to ${OUT:-gpu-check}/gpu_check.log
#
# Fashion-MNIST must be on that machine (it cannot download): its four .gz files in $WORKBENCH_DATA/fashion-mnist,
# e.g. copied here into .gpu-data/fashion-mnist (git-ignored through .git/info/exclude, ~30 MB) and carried. torch
# with CUDA, and this project's other dependencies, must be importable by $PYTHON (default python3).
#
# Steps, each with its own time limit so that one that hangs leaves the others their turn (about 8 minutes in all):
#   1. what is there: torch and CUDA, `workbench gpus` (NVML through nvidia-ml-py)
#   2. the GPU tests: pytest -m gpu (they skip without CUDA)
#   3. benchmarks/speed.py --gpu-only: cnn-pool on Fashion-MNIST, the tutorial loop (a), the workbench (b), the
#      floor (d), and one epoch's seconds
#   4. 3-epoch runs of cnn-pool with --amp bf16 and with --compile (each epoch line shows the GPU's peak memory)
#   5. --batch-size auto (the batch it chose, in one line), `workbench inspect` with the dry run's measured peak
#      beside torchinfo's estimate, and `workbench gpus` while a run trains in the background (named by run)
set -uo pipefail
cd "$(dirname "$0")/.."
PY=${PYTHON:-python3}
OUT=${OUT:-gpu-check}
mkdir -p "$OUT"
LOG="$OUT/gpu_check.log"
export PYTHONUNBUFFERED=1 PYTHONPATH="$PWD${PYTHONPATH:+:$PYTHONPATH}"
export WORKBENCH_RUNS="${WORKBENCH_RUNS:-$(mktemp -d -t gpu-check-runs-XXXX)}" WORKBENCH_QUIET=1
[ -d .gpu-data ] && export WORKBENCH_DATA="${WORKBENCH_DATA:-$PWD/.gpu-data}"
WB=("$PY" -m workbench)
DATA=(--dataset fashion-mnist --no-download)

step() {  # step SECONDS TITLE COMMAND...: run it with a limit, say how it ended
    local limit=$1 title=$2
    shift 2
    echo
    echo "=== $title ($(date +%T), at most ${limit}s)"
    local start=$SECONDS
    timeout --kill-after=10 "$limit" "$@"
    local rc=$?
    echo "=== $title: exit $rc after $((SECONDS - start))s"
}

{
    echo "gpu_check on $(hostname) at $(date -u +%FT%TZ); commit $(git rev-parse --short HEAD 2>/dev/null || echo '?')"
    step 60 "torch and CUDA" "$PY" -c "import torch; print('torch', torch.__version__, 'CUDA', torch.version.cuda, \
'available', torch.cuda.is_available(), 'devices', torch.cuda.device_count()); \
[print(f'  cuda:{i}', torch.cuda.get_device_name(i)) for i in range(torch.cuda.device_count())]"
    step 30 "workbench gpus" "${WB[@]}" gpus
    step 240 "the GPU tests" "$PY" -m pytest -m gpu -n 0 -q -p no:cacheprovider -o addopts="" tests/trainers/test_gpus.py
    step 300 "speed.py's GPU section (cnn-pool, Fashion-MNIST)" "$PY" benchmarks/speed.py --gpu-only --models cnn-pool \
        --repeat 3
    step 180 "3 epochs, --amp bf16" "${WB[@]}" train --model cnn-pool "${DATA[@]}" --epochs 3 --amp bf16 --out "$WORKBENCH_RUNS/bf16"
    step 240 "3 epochs, --compile" "${WB[@]}" train --model cnn-pool "${DATA[@]}" --epochs 3 --compile --out "$WORKBENCH_RUNS/compile"
    step 120 "1 epoch, --batch-size auto" "${WB[@]}" train --model cnn-pool "${DATA[@]}" --epochs 1 --batch-size auto \
        --out "$WORKBENCH_RUNS/auto"
    step 120 "inspect: the dry run's measured peak beside torchinfo" "${WB[@]}" inspect cnn-pool "${DATA[@]:0:2}" --device cuda
    step 120 "workbench gpus while a run trains" bash -c '
        "$@" train --model cnn-pool --dataset fashion-mnist --no-download --epochs 2 --detach --out "$WORKBENCH_RUNS/seen"
        for _ in $(seq 40); do grep -q running "$WORKBENCH_RUNS/seen/status.json" 2>/dev/null && break; sleep 0.5; done
        sleep 3; "$@" gpus; "$@" runs --home "$WORKBENCH_RUNS"; "$@" stop seen >/dev/null 2>&1 || "$@" stop "$WORKBENCH_RUNS/seen"' \
        _ "${WB[@]}"
    echo
    echo "gpu_check done at $(date +%T)"
} 2>&1 | tee "$LOG"
