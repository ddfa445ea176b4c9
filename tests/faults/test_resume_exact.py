"""A run killed mid-epoch and resumed ends with the same weights and loss as the run that was
never interrupted (fp32, dropout 0, deterministic algorithms): the resumed epoch skips the
batches it already trained on, in the same order."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
import torch
from safetensors.torch import load_file

from ..conftest import ROOT, SMOKE, the_run

pytestmark = pytest.mark.slow
EXACT = [
    "model.residual_dropout=0.0",
    "trainer.deterministic=true",
    "train.select.window=[1.0,1.0]",
]


def train(work: Path, cache_dir: Path, env: dict | None = None) -> subprocess.CompletedProcess:
    e = {
        **os.environ,
        "LIMALAB_CACHE": str(cache_dir),
        "WANDB_MODE": "offline",
        "TMPDIR": str(work),
        **(env or {}),
    }
    return subprocess.run(
        [
            sys.executable,
            str(ROOT / "src" / "train.py"),
            *SMOKE,
            *EXACT,
            f"runs_dir={work / 'runs'}",
        ],
        cwd=work,
        env=e,
        capture_output=True,
        text=True,
        timeout=900,
    )


def final_loss(rd: Path) -> float:
    import csv

    rows = [
        r for r in csv.DictReader((rd / "logs" / "metrics.csv").open()) if r.get("train/loss_epoch")
    ]
    return float(rows[-1]["train/loss_epoch"])


def test_resumed_run_matches_the_uninterrupted_one(
    cache_dir: Path, tmp_path: Path, smoke_world: Path
) -> None:
    a, b = tmp_path / "a", tmp_path / "b"
    a.mkdir()
    b.mkdir()
    assert train(a, cache_dir).returncode == 0
    # 12 steps (3 epochs of 4), checkpoints every 2: killed after step 7, resumed from step 6,
    # mid-epoch 2
    killed = train(
        b, cache_dir, {"LIMALAB_KILL_AT": "train_step:7", "LIMALAB_KILL_MARKER": str(b / "k")}
    )
    assert killed.returncode != 0
    done = train(b, cache_dir)
    assert done.returncode == 0, done.stderr[-3000:]
    wa = load_file(the_run(a / "runs") / "model" / "model.safetensors")
    wb = load_file(the_run(b / "runs") / "model" / "model.safetensors")
    assert wa.keys() == wb.keys()
    for k in wa:
        assert torch.allclose(wa[k], wb[k], rtol=1e-5, atol=1e-7), k
    assert final_loss(the_run(b / "runs")) == pytest.approx(
        final_loss(the_run(a / "runs")), rel=1e-5
    )
