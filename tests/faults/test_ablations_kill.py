"""`make ablations-smoke`: the whole ablation pipeline on the smoke grid, killed at a seeded
training step and rerun — every run ends complete exactly once, nothing finished is retrained,
no duplicate rows — then a third run retrains nothing."""

from __future__ import annotations

import json
import os
import random
import subprocess
import sys
from pathlib import Path

import pytest

from limalab.tracking.io import read_jsonl

from ..conftest import ROOT

pytestmark = pytest.mark.slow


def ablations(work: Path, cache_dir: Path, env: dict | None = None) -> subprocess.CompletedProcess:
    e = {**os.environ, "LIMALAB_CACHE": str(cache_dir), "WANDB_MODE": "offline", "TMPDIR": str(work),
         "HF_HUB_OFFLINE": "1", **(env or {})}
    return subprocess.run([sys.executable, "-m", "limalab.ablations.run", "--smoke", "--runs-dir", str(work / "runs"),
                           "--report", str(work / "report")], cwd=ROOT, env=e, capture_output=True, text=True, timeout=1500)


def finished(runs: Path) -> dict[str, int]:
    return {p.parent.name: p.stat().st_mtime_ns for p in runs.glob("*/results.json")}


def test_ablations_smoke_survives_a_kill_and_reruns_nothing(cache_dir: Path, tmp_path: Path) -> None:
    assert "limalab.ablations.run --smoke" in subprocess.run(["make", "-n", "ablations-smoke"], cwd=ROOT,
                                                            capture_output=True, text=True).stdout
    step = random.Random(0).randint(20, 60)  # seeded: the same kill point on every machine
    killed = ablations(tmp_path, cache_dir, {"LIMALAB_KILL_AT": f"train_step:{step}",
                                             "LIMALAB_KILL_MARKER": str(tmp_path / "killed")})
    assert killed.returncode != 0 and (tmp_path / "killed").exists(), killed.stdout[-2000:] + killed.stderr[-2000:]
    before = finished(tmp_path / "runs")
    done = ablations(tmp_path, cache_dir)
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    after = finished(tmp_path / "runs")
    # unique runs: se_filtered@20 trains once for three grids; zero- and 3-shot share the base's run;
    # the positive control adds passage_qa@20, 80, 320
    assert len(after) == 13
    assert all(after[r] == t for r, t in before.items())  # finished before the kill: not retrained
    resumed = [r for r in after if r not in before]
    assert resumed, "the kill should have interrupted a run"
    for rd in (tmp_path / "runs").iterdir():
        if not (rd / "results.json").exists():
            continue
        assert json.loads((rd / "results.json").read_text())["status"] == "complete"
        for f in [*rd.glob("evals/*/*.jsonl"), *rd.glob("generations/*.jsonl")]:
            rows = read_jsonl(f)
            keys = [(r.get("prompt_id"), r.get("sample")) for r in rows]
            assert len(keys) == len(set(keys)), f
    report = (tmp_path / "report" / "report.md").read_text()
    assert "Figure 5" in report and (tmp_path / "report" / "fig6_quantity.png").exists()
    assert "base, 3-shot" in report and "LIMA mix, random init" in report
    assert "Positive control (passage QA" in report and "| 320 | 1 |" in report
    again = ablations(tmp_path, cache_dir)
    assert again.returncode == 0 and finished(tmp_path / "runs") == after  # nothing retrained
    assert again.stdout.count("skipped: run") >= 18  # every job of every grid
