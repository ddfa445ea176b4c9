"""bench/gpu.sh on CPU with a tiny LLaMA (GPU_BENCH_CPU=1): the GPU bench's own logic (its runs,
trainer and train overrides, fp32 parity over the same batches, FSDP2 over two processes, the
JSON record) keeps working where no GPU is."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest

from tests.conftest import ROOT

pytestmark = pytest.mark.slow


def test_gpu_bench_script_runs_on_cpu(tmp_path) -> None:
    out = tmp_path / "gpu.json"
    env = {
        **os.environ,
        "TMPDIR": str(tmp_path),
        "GPU_BENCH_CPU": "1",
        "PY": sys.executable,
        "OUT": str(out),
    }
    p = subprocess.run(
        ["bash", str(ROOT / "bench" / "gpu.sh")],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=900,
    )
    assert p.returncode == 0 and "0 run(s) did not finish" in p.stdout, (
        p.stdout[-2000:] + p.stderr[-3000:]
    )
    record = json.loads(out.read_text())
    shapes = "train.pad_to_multiple_of=256"
    assert set(record) == {
        f"cpu/tiny/batch4/{shapes}",
        f"cpu/tiny/batch4/{shapes}/trainer.activation_checkpointing=selective",
        f"cpu/tiny/batch8/{shapes}",
        f"fsdp2_cpu/tiny/batch4/{shapes}",
    }
    for r in record.values():
        assert r["status"] == "done" and r["tokens_per_s"] > 0 and 0 < r["padding_efficiency"] <= 1
        assert r["layout"] == "flat" and r["attention"] == "varlen" and r["precision"] == "32-true"
    assert (
        record[f"cpu/tiny/batch4/{shapes}/trainer.activation_checkpointing=selective"][
            "activation_checkpointing"
        ]
        == "selective"
    )
    assert record[f"fsdp2_cpu/tiny/batch4/{shapes}"]["devices"] == 2
    parity = record[f"cpu/tiny/batch8/{shapes}"]
    assert len(parity["losses"]) == 10
    # both runs are fp32 on CPU, on the same batches from the same init: identical losses
    assert parity["parity_vs_fp32"]["max_rel_loss_diff"] == 0.0
