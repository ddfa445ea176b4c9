"""`make ablations-smoke`: the whole ablation pipeline on the smoke grid, killed at a seeded
training step and rerun — every run ends complete exactly once, nothing finished is retrained,
no duplicate rows — then a third run retrains nothing. Where a SLURM cluster can start (CI
installs one: tests/slurm_cluster.py) every grid goes through it, one job per run
(`make ablations-smoke OVERRIDES=hydra/launcher=slurm`): the killed job ends without a result,
its grid fails with its log, the other grids go on, the rerun resumes it; elsewhere the runs go
through the local pool (`--jobs 2`, as `make ablations`), the kill hitting one run's process."""

from __future__ import annotations

import json
import os
import random
import subprocess
import sys
from pathlib import Path

import pytest

from limalab.ablations.job_pool import QUEUED_ALL
from limalab.tracking.io import read_jsonl

from ..conftest import ROOT
from ..slurm_cluster import Cluster

pytestmark = pytest.mark.slow


@pytest.fixture
def cluster(request: pytest.FixtureRequest) -> Cluster | None:
    """The session's SLURM cluster where one can start, else None (the local launcher)."""
    try:
        return request.getfixturevalue("slurm")
    except pytest.skip.Exception:
        return None


def ablations(
    work: Path, cache_dir: Path, cluster: Cluster | None, env: dict | None = None
) -> subprocess.CompletedProcess:
    e = {
        **os.environ,
        "LIMALAB_CACHE": str(cache_dir),
        "WANDB_MODE": "offline",
        "TMPDIR": str(work),
        "HF_HUB_OFFLINE": "1",
        **(cluster.env if cluster else {}),
        **(env or {}),
    }
    # locally the pool (two runs at a time, each its own process: the kill hits one of them)
    launcher = ["hydra/launcher=slurm"] if cluster else ["--jobs", "2"]
    return subprocess.run(
        [
            sys.executable,
            "-m",
            "limalab.ablations.run_grids",
            "--smoke",
            "--runs-dir",
            str(work / "runs"),
            "--report",
            str(work / "report"),
            *launcher,
        ],
        cwd=ROOT,
        env=e,
        capture_output=True,
        text=True,
        timeout=1500,
    )


def launches(runs: Path) -> set[Path]:
    return set((runs / ".launches").glob("multirun-*"))


def jobs_output(dirs: set[Path]) -> str:
    """What the SLURM jobs of these multiruns printed (submitit's per-task logs)."""
    return "".join(
        p.read_text(errors="replace") for d in dirs for p in d.glob(".submitit/*/*_log.out")
    )


def finished(runs: Path) -> dict[str, int]:
    return {p.parent.name: p.stat().st_mtime_ns for p in runs.glob("*/results.json")}


def test_ablations_smoke_survives_a_kill_and_reruns_nothing(
    cache_dir: Path, tmp_path: Path, cluster: Cluster | None
) -> None:
    launcher = "hydra/launcher=slurm" if cluster else ""
    make = subprocess.run(
        ["make", "-s", "-n", "ablations-smoke", f"OVERRIDES={launcher}"],
        cwd=ROOT,
        capture_output=True,
        text=True,
    ).stdout
    command = next(
        line for line in make.splitlines() if "limalab.ablations.run_grids --smoke" in line
    )
    assert command.strip().endswith(launcher)
    # seeded: the same kill point on every machine (locally a step of the first run to reach it;
    # through SLURM a step of one job, the one that trains 500 examples)
    step = random.Random(0).randint(20, 60)
    killed = ablations(
        tmp_path,
        cache_dir,
        cluster,
        {"LIMALAB_KILL_AT": f"train_step:{step}", "LIMALAB_KILL_MARKER": str(tmp_path / "killed")},
    )
    assert killed.returncode != 0 and (tmp_path / "killed").exists(), (
        killed.stdout[-2000:] + killed.stderr[-2000:]
    )
    assert "Rerun the same command to finish the rest" in killed.stderr
    before = finished(tmp_path / "runs")
    done = ablations(tmp_path, cache_dir, cluster)
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    after = finished(tmp_path / "runs")
    # unique runs (scale 1/64): se_filtered@32 trains once for three grids; zero- and 3-shot share
    # the base's run; the positive control adds passage_qa@32, 125, 500; Long-Is-More se_longest@32
    assert len(after) == 14
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
    assert "Positive control (passage QA" in report and "| 500 | 1 |" in report
    assert "## Verdicts" in report and "N longest (unfiltered SE)" in report
    first = launches(tmp_path / "runs")
    again = ablations(tmp_path, cache_dir, cluster)
    assert again.returncode == 0 and finished(tmp_path / "runs") == after  # nothing retrained
    said = jobs_output(launches(tmp_path / "runs") - first) if cluster else again.stdout
    assert said.count("skipped: run") >= 19  # every job of every grid
    if not cluster:  # the pool: with the world and base built, no job runs alone
        assert f"pool: {QUEUED_ALL}" in again.stdout
        # each job's measured seconds beside the report (bench/ablations_budget.py replay)
        record = json.loads((tmp_path / "report" / "pool.json").read_text())
        assert record["first_alone"] is False and len(record["jobs"]) >= 19
        assert all(j["exit"] == 0 and j["s"] > 0 for j in record["jobs"])
