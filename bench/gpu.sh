#!/usr/bin/env bash
# GPU throughput and bf16 parity through limalab's own trainer path, on any CUDA machine:
#   bash bench/gpu.sh [steps]
# trainer=gpu on one GPU (plus fp32 on the same batches for loss parity), then trainer=fsdp on
# every visible GPU; a 1.1B-parameter LLaMA, random init, Table 1's lengths. -> bench/gpu.json
set -euo pipefail
cd "$(dirname "$0")/.."
PY=${PY:-python}
STEPS=${1:-30}
export TMPDIR=${TMPDIR:-$PWD/.tmp} TORCHINDUCTOR_CACHE_DIR=${TORCHINDUCTOR_CACHE_DIR:-$PWD/.tmp/inductor}
mkdir -p "$TMPDIR"
$PY -c "import torch; assert torch.cuda.is_available(), 'bench/gpu.sh needs a CUDA GPU'"
$PY bench/gpu.py --trainer gpu --steps "$STEPS" --parity
$PY bench/gpu.py --trainer fsdp --steps "$STEPS"
