#!/usr/bin/env bash
# GPU throughput and bf16 parity through limalab's own trainer path, on any CUDA machine, in under
# 8 minutes (each run has its own time limit; a run that is cut records "running", one that runs
# out of memory "OOM", in bench/gpu.json):
#   bash bench/gpu.sh [steps]
# A 1.1B-parameter LLaMA, random init, Table 1's lengths, batch 32, flat rows (rounded up to a
# multiple of 256 tokens: few shapes) under PyTorch's varlen flash attention, fused AdamW:
#   1. trainer=gpu: FSDP2 on one GPU, bf16 mixed-precision policy, no activation checkpointing
#   2. the same with selective activation checkpointing (keeps matmul outputs)
#   3. the same with each decoder layer compiled (trainer.compile=layers)
#   4. bf16 against fp32 on the same 10 batches of 8 (loss parity)
#   5. trainer=fsdp: FSDP1 on every visible GPU, for comparison
# GPU_BENCH_CPU=1 runs the same script on the CPU with a tiny model (CI keeps it working).
set -uo pipefail
cd "$(dirname "$0")/.."
PY=${PY:-python}
STEPS=${1:-30}
export TMPDIR=${TMPDIR:-$PWD/.tmp} TORCHINDUCTOR_CACHE_DIR=${TORCHINDUCTOR_CACHE_DIR:-$PWD/.tmp/inductor}
mkdir -p "$TMPDIR"
SHAPES="--set train.pad_to_multiple_of=256"
if [[ "${GPU_BENCH_CPU:-0}" == 1 ]]; then  # FSDP1 refuses CPUs: FSDP2 over 2 processes instead; no inductor
  GPU=cpu FSDP=fsdp2_cpu ARCH="--arch tiny --max-length 128 --batch 4" COMPILE=no; STEPS=3
else
  $PY -c "import torch; assert torch.cuda.is_available(), 'bench/gpu.sh needs a CUDA GPU'" || exit 1
  GPU=gpu FSDP=fsdp ARCH="--arch 1b" COMPILE=layers
fi
OUT=${OUT:-bench/gpu.json}
failed=0
run() {  # run LIMIT_S ARGS...: one bench run with its own time limit
  local limit=$1; shift
  echo "== bench/gpu.py $* (limit ${limit}s)"
  timeout --signal=TERM --kill-after=10 "$limit" $PY bench/gpu.py --out "$OUT" "$@" || failed=$((failed + 1))
}
run 75 --trainer $GPU $ARCH --steps "$STEPS" $SHAPES
run 75 --trainer $GPU $ARCH --steps "$STEPS" $SHAPES --set trainer.activation_checkpointing=selective
[[ $COMPILE == layers ]] && run 120 --trainer $GPU $ARCH --steps "$STEPS" $SHAPES \
  --set trainer.activation_checkpointing=selective --set trainer.compile=layers
run 100 --trainer $GPU $ARCH --steps 10 --batch 8 --parity $SHAPES
run 80 --trainer $FSDP $ARCH --steps "$STEPS" $SHAPES
echo "bench/gpu.sh: $failed run(s) did not finish; results in $OUT"
