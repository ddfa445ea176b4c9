"""bench/gpu.py on CPU with a tiny LLaMA: the GPU bench's own logic (trainer overrides, fp32
parity over the same batches, the JSON record) keeps working where no GPU is."""

from __future__ import annotations

import json
import os
import subprocess
import sys

from .conftest import ROOT


def test_gpu_bench_runs_on_cpu_with_overrides_and_parity(tmp_path) -> None:
    out = tmp_path / "gpu.json"
    cmd = [sys.executable, str(ROOT / "bench" / "gpu.py"), "--trainer", "cpu", "--arch", "tiny", "--steps", "3",
           "--batch", "4", "--max-length", "128", "--parity", "--set", "trainer.activation_checkpointing=true",
           "--out", str(out)]
    p = subprocess.run(cmd, cwd=tmp_path, env={**os.environ, "TMPDIR": str(tmp_path)}, capture_output=True,
                       text=True, timeout=600)
    assert p.returncode == 0, p.stderr[-3000:]
    record = json.loads(out.read_text())
    (key,) = record
    assert key == "cpu/tiny/batch4/trainer.activation_checkpointing=true"
    r = record[key]
    assert r["overrides"] == ["trainer.activation_checkpointing=true"] and r["precision"] == "32-true"
    assert len(r["losses"]) == 3 and r["tokens_per_s"] > 0 and 0 < r["padding_efficiency"] <= 1
    # both runs are fp32 on CPU, on the same batches from the same init: identical losses
    assert r["parity_vs_fp32"]["max_rel_loss_diff"] == 0.0
