"""SIGKILL at seeded points of a run (training step, generation batch, judged row), then the
same command again: the run completes, its manifest equals an uninterrupted run's, every JSON
file parses, no row is duplicated, and results.json exists only for complete runs."""

from __future__ import annotations

import json
import os
import random
import subprocess
import sys
from pathlib import Path

import pytest

from limalab.tracking.io import read_jsonl

from ..conftest import ROOT, SMOKE, the_run

pytestmark = pytest.mark.slow
RNG = random.Random(7)  # seeded kill points: the same on every machine
# the smoke run has 12 training steps, 3 generation batches (two dev, one test) and 36 judged rows
POINTS = [
    ("train_step", RNG.randint(2, 11)),
    ("generate_batch", RNG.randint(2, 3)),
    ("judge_row", RNG.randint(5, 36)),
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
        [sys.executable, str(ROOT / "src" / "train.py"), *SMOKE, f"runs_dir={work / 'runs'}"],
        cwd=work,
        env=e,
        capture_output=True,
        text=True,
        timeout=900,
    )


def check_files(rd: Path) -> int:
    """Every JSON/JSONL file parses and no (prompt, sample) row repeats; returns rows checked."""
    rows = 0
    for f in rd.rglob("*.json"):
        json.loads(f.read_text())
    for f in rd.rglob("*.jsonl"):
        data = read_jsonl(f)
        keys = [(r.get("prompt_id"), r.get("sample")) for r in data if "prompt_id" in r]
        assert len(keys) == len(set(keys)), f
        rows += len(data)
    return rows


@pytest.mark.parametrize(("point", "n"), POINTS, ids=[p for p, _ in POINTS])
def test_kill_and_rerun_loses_nothing(
    point: str, n: int, smoke_run: tuple[Path, str], cache_dir: Path, tmp_path: Path
) -> None:
    killed = train(
        tmp_path,
        cache_dir,
        {"LIMALAB_KILL_AT": f"{point}:{n}", "LIMALAB_KILL_MARKER": str(tmp_path / "k")},
    )
    assert killed.returncode != 0 and (tmp_path / "k").exists(), killed.stderr[-2000:]
    rd = the_run(tmp_path / "runs")
    assert not (rd / "results.json").exists()  # an interrupted run never claims to be complete
    done = train(tmp_path, cache_dir)
    assert done.returncode == 0, done.stderr[-3000:]
    assert json.loads((rd / "results.json").read_text())["status"] == "complete"
    assert check_files(rd) > 0
    reference = the_run(smoke_run[0] / "runs")  # the same config, never interrupted
    ours, theirs = (json.loads((d / "manifest.json").read_text()) for d in (rd, reference))
    assert ours == theirs
