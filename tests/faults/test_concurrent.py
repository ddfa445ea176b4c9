"""Two multiruns over overlapping grids at once: every run is trained exactly once (the
second launcher waits on the run's lock, then skips it), nothing is corrupted."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from ..conftest import ROOT, SMOKE

pytestmark = pytest.mark.slow


def test_overlapping_multiruns_train_each_run_once(
    cache_dir: Path, tmp_path: Path, smoke_world: Path
) -> None:
    env = {
        **os.environ,
        "LIMALAB_CACHE": str(cache_dir),
        "WANDB_MODE": "offline",
        "TMPDIR": str(tmp_path),
    }
    runs = tmp_path / "runs"
    procs = [
        subprocess.Popen(
            [
                sys.executable,
                str(ROOT / "src" / "train.py"),
                "-m",
                *SMOKE,
                f"data.size={sizes}",
                f"runs_dir={runs}",
            ],
            cwd=tmp_path,
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for sizes in ("40,80", "80,120")
    ]
    outs = [p.communicate(timeout=1500) for p in procs]
    assert all(p.returncode == 0 for p in procs), [o[1][-2000:] for o in outs]
    done = {json.loads(r.read_text())["n_examples"]: r.parent for r in runs.glob("*/results.json")}
    assert sorted(done) == [40, 80, 120]
    for rd in done.values():
        prov = json.loads((rd / "provenance.json").read_text())
        assert not prov.get("resumed_at"), rd  # trained once, by one launcher
    stdout = "".join(o[0] for o in outs)
    assert stdout.count("skipped: run") + stdout.count("waiting: run") >= 1


def test_cold_cache_builders_wait_for_one_another(tmp_path: Path) -> None:
    """Two different runs started together on an empty cache: world, tokenizer, base model and
    pools are each built once (the second builder waits on the entry's lock, then reuses it),
    both runs complete, and no temp directory is left in the cache."""
    cache = tmp_path / "cold-cache"
    env = {
        **os.environ,
        "LIMALAB_CACHE": str(cache),
        "WANDB_MODE": "offline",
        "TMPDIR": str(tmp_path),
    }
    runs = tmp_path / "runs"
    procs = [
        subprocess.Popen(
            [
                sys.executable,
                str(ROOT / "src" / "train.py"),
                *SMOKE,
                f"data.size={size}",
                "train.epochs=1",
                f"runs_dir={runs}",
            ],
            cwd=tmp_path,
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for size in (40, 48)
    ]
    outs = [p.communicate(timeout=1500) for p in procs]
    assert all(p.returncode == 0 for p in procs), [o[1][-3000:] for o in outs]
    logs = "".join(o[0] + o[1] for o in outs)
    assert logs.count("building world") == 1 and logs.count("pretraining base") == 1
    assert len(list((cache / "worlds").glob("*/world.json"))) == 1
    leftovers = [p for p in cache.rglob("*") if ".tmp" in p.name or p.name.endswith(".work")]
    assert not leftovers, leftovers
    assert sorted(json.loads(r.read_text())["n_examples"] for r in runs.glob("*/results.json")) == [
        40,
        48,
    ]
