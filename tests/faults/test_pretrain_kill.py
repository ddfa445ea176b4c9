"""SIGKILL during base-model pretraining: the same command resumes it from its last checkpoint
and the base it saves equals the base pretrained without interruption."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest
import torch
from safetensors.torch import load_file

from ..conftest import ROOT, SMOKE

pytestmark = pytest.mark.slow


def test_killed_pretraining_resumes_to_the_same_base(
    smoke_run: tuple[Path, str], cache_dir: Path, tmp_path: Path
) -> None:
    [reference] = [
        p.parent for p in (cache_dir / "base").glob("*/probe.json")
    ]  # built by the smoke run
    probe = json.loads((reference / "probe.json").read_text())
    steps = probe["pretrain_tokens"] // (
        128 * 16
    )  # smoke pretraining: seq_len 128, batch 16, one epoch
    assert steps >= 6, steps
    kill_at = steps // 2 + 1  # checkpoints every 2 steps: resumed mid-epoch
    cache = tmp_path / "cache"
    shutil_copy_world(cache_dir, cache)
    env = {
        **os.environ,
        "LIMALAB_CACHE": str(cache),
        "WANDB_MODE": "offline",
        "TMPDIR": str(tmp_path),
    }
    args = [
        sys.executable,
        str(ROOT / "src" / "train.py"),
        *SMOKE,
        "train.epochs=0",
        "model.pretrain.checkpoint_every_n_steps=2",
        f"runs_dir={tmp_path / 'runs'}",
    ]
    killed = subprocess.run(
        args,
        cwd=tmp_path,
        env={
            **env,
            "LIMALAB_KILL_AT": f"pretrain_step:{kill_at}",
            "LIMALAB_KILL_MARKER": str(tmp_path / "k"),
        },
        capture_output=True,
        text=True,
        timeout=900,
    )
    assert killed.returncode != 0 and (tmp_path / "k").exists()
    assert not list((cache / "base").glob("*/probe.json"))  # no half-built base is ever published
    done = subprocess.run(args, cwd=tmp_path, env=env, capture_output=True, text=True, timeout=900)
    assert done.returncode == 0, done.stderr[-3000:]
    # its log (a pipe) shows the pretraining's progress, to the last step, with the loss
    assert re.search(
        r"^\[pretrain\] step (\d+)/\1 \(100%\) \| epoch 1/1 \| loss [\d.]+ \| [\d,]+ tokens/s",
        done.stdout,
        re.M,
    ), done.stdout[-2000:]
    [resumed] = [p.parent for p in (cache / "base").glob("*/probe.json")]
    assert resumed.name == reference.name
    wa, wb = load_file(reference / "model.safetensors"), load_file(resumed / "model.safetensors")
    for k in wa:
        assert torch.allclose(wa[k], wb[k], rtol=1e-5, atol=1e-7), k


def shutil_copy_world(src_cache: Path, dst_cache: Path) -> None:
    """The same world and tokenizer, but no base model: pretraining starts from scratch."""
    import shutil

    for sub in ("worlds", "tokenizers"):
        shutil.copytree(src_cache / sub, dst_cache / sub)
