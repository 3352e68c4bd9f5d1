#!/usr/bin/env bash
# Every check that needs a CUDA GPU, in one go, within one call of the lent GPU machine (at most 600 s a call,
# 15 minutes a task): the steps' limits add to 440 s, and a step that would end past $BUDGET (480 s) is skipped.
# Prepared on a CPU machine. From the repository root:
#
#     bash benchmarks/gpu_check.sh            # everything also goes to ${OUT:-gpu-check}/gpu_check.log
#
# That machine has torch (with CUDA), torchvision, numpy, pillow, rich, pytest, pytest-xdist and nvidia-ml-py, and
# no network: not textual, torchinfo, submitit or optuna. A step whose imports are missing is skipped with a line
# saying which (carry wheels, README of the device tool, to run it). The working tree is copied there.
#
# Data: Fashion-MNIST's four .gz files in .gpu-data/fashion-mnist (copied here, ~30 MB; .gpu-data is in .gitignore,
# so name it in the call's carry); without them the runs and speed.py use synthetic-digits, generated there.
#
# Steps, each with its own time limit so that one that hangs leaves the others their turn:
#   1. what is there: torch and CUDA, `workbench gpus` (NVML through nvidia-ml-py)
#   2. the GPU tests: pytest -m gpu (a real CUDA out-of-memory, --batch-size auto, fp16's scaler)
#   3. benchmarks/speed.py --gpu-only: cnn-pool, the tutorial loop (a), the workbench (b), the floor (d)
#   4. 2-epoch runs of cnn-pool with --amp bf16 and with --compile (each epoch line shows the GPU's peak memory)
#   5. --batch-size auto (the batch it chose, in one line), `workbench inspect`'s measured peak beside torchinfo's
#      estimate (needs torchinfo), and `workbench gpus` while a run trains in the background (named by run)
set -uo pipefail
cd "$(dirname "$0")/.."
PY=${PYTHON:-python3}
OUT=${OUT:-gpu-check}
BUDGET=${BUDGET:-480}
mkdir -p "$OUT"
LOG="$OUT/gpu_check.log"
export PYTHONUNBUFFERED=1 PYTHONPATH="$PWD${PYTHONPATH:+:$PYTHONPATH}"
export WORKBENCH_RUNS="${WORKBENCH_RUNS:-$(mktemp -d -t gpu-check-runs-XXXX)}" WORKBENCH_QUIET=1
[ -d .gpu-data ] && export WORKBENCH_DATA="${WORKBENCH_DATA:-$PWD/.gpu-data}"
if ls "${WORKBENCH_DATA:-/nonexistent}"/fashion-mnist/*.gz >/dev/null 2>&1; then
    DATASET=fashion-mnist
else
    DATASET=synthetic-digits
fi
WB=("$PY" -m workbench)
DATA=(--dataset "$DATASET" --no-download)
CLI="torch numpy PIL rich pynvml"  # what `workbench train`, `gpus` and `runs` import without the app

step() {  # step SECONDS TITLE "MODULES" COMMAND...: run it with a limit if its modules import, say how it ended
    local limit=$1 title=$2 modules=$3
    shift 3
    echo
    if (( SECONDS + limit > BUDGET )); then
        echo "=== $title: skipped, ${SECONDS}s gone and it may take ${limit}s of the ${BUDGET}s budget"
        return
    fi
    local missing
    missing=$("$PY" -c "
import importlib.util, sys
print(' '.join(m for m in sys.argv[1:] if importlib.util.find_spec(m) is None))" $modules 2>&1)
    if [ -n "$missing" ]; then
        echo "=== $title: skipped, $PY cannot import: $missing"
        return
    fi
    echo "=== $title ($(date +%T), at most ${limit}s)"
    local start=$SECONDS
    timeout --kill-after=5 "$limit" "$@"
    local rc=$?
    echo "=== $title: exit $rc after $((SECONDS - start))s"
}

{
    echo "gpu_check on $(hostname) at $(date -u +%FT%TZ); commit $(git rev-parse --short HEAD 2>/dev/null || echo '?');" \
         "data: $DATASET"
    step 20 "torch and CUDA" torch "$PY" -c "import torch; print('torch', torch.__version__, 'CUDA', torch.version.cuda, \
'available', torch.cuda.is_available(), 'devices', torch.cuda.device_count()); \
[print(f'  cuda:{i}', torch.cuda.get_device_name(i)) for i in range(torch.cuda.device_count())]"
    step 20 "workbench gpus" "$CLI" "${WB[@]}" gpus
    # the snapshot plugin (textual) and pytest-asyncio are not needed by these tests, and may not be there
    step 75 "the GPU tests" "torch pytest pynvml" "$PY" -m pytest -m gpu -n 0 -q -p no:cacheprovider \
        -p no:textual-snapshot -p no:asyncio -o addopts="" tests/trainers/test_gpus.py
    step 80 "speed.py's GPU section (cnn-pool, $DATASET)" "torch torchvision numpy" "$PY" benchmarks/speed.py \
        --gpu-only --models cnn-pool --repeat 2
    step 50 "2 epochs, --amp bf16" "$CLI" "${WB[@]}" train --model cnn-pool "${DATA[@]}" --epochs 2 --amp bf16 \
        --out "$WORKBENCH_RUNS/bf16"
    step 85 "2 epochs, --compile" "$CLI" "${WB[@]}" train --model cnn-pool "${DATA[@]}" --epochs 2 --compile \
        --out "$WORKBENCH_RUNS/compile"
    step 40 "1 epoch, --batch-size auto" "$CLI" "${WB[@]}" train --model cnn-pool "${DATA[@]}" --epochs 1 \
        --batch-size auto --out "$WORKBENCH_RUNS/auto"
    step 30 "inspect: the dry run's measured peak beside torchinfo" "$CLI torchinfo" "${WB[@]}" inspect cnn-pool \
        --dataset "$DATASET" --device cuda
    step 40 "workbench gpus while a run trains" "$CLI" bash -c '
        data=$1; shift
        "$@" train --model cnn-pool --dataset "$data" --no-download --epochs 2 --detach --out "$WORKBENCH_RUNS/seen"
        for _ in $(seq 40); do grep -q running "$WORKBENCH_RUNS/seen/status.json" 2>/dev/null && break; sleep 0.5; done
        sleep 3; "$@" gpus; "$@" runs --home "$WORKBENCH_RUNS"; "$@" stop "$WORKBENCH_RUNS/seen" >/dev/null 2>&1' \
        _ "$DATASET" "${WB[@]}"
    echo
    echo "gpu_check done at $(date +%T), ${SECONDS}s"
} 2>&1 | tee "$LOG"
