"""`make paper-smoke`: the paper's other experiments end to end on the smoke world — five runs,
the extra evaluations (dialogue turn by turn, format, safety, out of distribution, pairwise in
both orders) and the report; a rerun retrains and re-judges nothing."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from limalab.tracking.io import read_jsonl
from tests.conftest import ROOT

pytestmark = pytest.mark.slow


def paper(work: Path, cache_dir: Path) -> subprocess.CompletedProcess:
    env = {
        **os.environ,
        "LIMALAB_CACHE": str(cache_dir),
        "WANDB_MODE": "offline",
        "TMPDIR": str(work),
        "HF_HUB_OFFLINE": "1",
    }
    return subprocess.run(
        [
            sys.executable,
            "-m",
            "limalab.ablations.paper_experiments",
            "--smoke",
            "--runs-dir",
            str(work / "runs"),
            "--report",
            str(work / "report"),
        ],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=1500,
    )


def test_paper_smoke_runs_every_experiment_once(
    cache_dir: Path, smoke_world: Path, tmp_path: Path
) -> None:
    assert (
        "limalab.ablations.paper_experiments --smoke"
        in subprocess.run(
            ["make", "-n", "paper-smoke"], cwd=ROOT, capture_output=True, text=True
        ).stdout
    )
    first = paper(tmp_path, cache_dir)
    assert first.returncode == 0, first.stdout[-3000:] + first.stderr[-3000:]
    runs = tmp_path / "runs"
    done = {p.parent.name: p.stat().st_mtime_ns for p in runs.glob("*/results.json")}
    assert len(done) == 5
    data = {json.loads((runs / r / "results.json").read_text())["data"] for r in done}
    assert data == {"lima_mix", "lima_dialogue", "lima_format", "lima_safety", "alpaca"}
    summaries = {p: json.loads(p.read_text()) for p in runs.glob("*/evals/*/summary.json")}
    dialogue = [s for s in summaries.values() if s.get("prompt_set") == "dialogue"]
    assert len(dialogue) == 2 and all(
        [t["turn"] for t in s["turns"]] == [1, 2, 3] for s in dialogue
    )
    for p, s in summaries.items():
        if s.get("prompt_set") == "dialogue":  # later turns saw the model's own earlier answers
            rows = read_jsonl(p.parent / "judgments.jsonl")
            third = [r for r in rows if r["turn"] == 3]
            assert third and all(len(r["history"]) == 4 for r in third)
    pair = [s for s in summaries.values() if s["eval_id"].startswith("pairwise")]
    assert (
        len(pair) == 1
        and pair[0]["n_pairs"] > 0
        and abs(pair[0]["win"] + pair[0]["tie"] + pair[0]["loss"] - 1) < 1e-9
    )
    assert {s.get("prompt_set") for s in summaries.values()} >= {
        "test",
        "dev",
        "dialogue",
        "format",
        "safety",
        "ood",
    }
    report = (tmp_path / "report" / "report.md").read_text()
    for section in ("Fig. 1", "Fig. 3", "§6", "App. E", "Safety", "Reproduced"):
        assert section in report, section
    assert (tmp_path / "report" / "paper_experiments.png").exists()
    n_evals = len(summaries)
    again = paper(tmp_path, cache_dir)
    assert again.returncode == 0, again.stderr[-3000:]
    assert {p.parent.name: p.stat().st_mtime_ns for p in runs.glob("*/results.json")} == done
    assert again.stdout.count("skipped: run") == 5
    assert len(list(runs.glob("*/evals/*/summary.json"))) == n_evals  # nothing judged twice
