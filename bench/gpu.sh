#!/usr/bin/env bash
# GPU throughput and bf16 parity through limalab's own trainer path, on any CUDA machine:
#   bash bench/gpu.sh [steps]
# trainer=gpu on one GPU, then fp32 on the same batches for loss parity (batch 8: fp32 without
# activation checkpointing does not fit 80 GB at 32), then trainer=fsdp on every visible GPU;
# a 1.1B-parameter LLaMA, random init, Table 1's lengths. -> bench/gpu.json (bench/gpu.md: H100)
set -euo pipefail
cd "$(dirname "$0")/.."
PY=${PY:-python}
STEPS=${1:-30}
export TMPDIR=${TMPDIR:-$PWD/.tmp} TORCHINDUCTOR_CACHE_DIR=${TORCHINDUCTOR_CACHE_DIR:-$PWD/.tmp/inductor}
mkdir -p "$TMPDIR"
$PY -c "import torch; assert torch.cuda.is_available(), 'bench/gpu.sh needs a CUDA GPU'"
# 1.1B at batch 32 x 2,048 packed needs activation checkpointing on 80 GB (76 GB then OOM without)
$PY bench/gpu.py --trainer gpu --steps "$STEPS" --set trainer.activation_checkpointing=true
$PY bench/gpu.py --trainer gpu --steps 10 --batch 8 --parity
$PY bench/gpu.py --trainer fsdp --steps "$STEPS"
