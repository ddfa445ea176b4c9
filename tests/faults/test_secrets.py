"""Secrets: with an API key in the environment, a run graded by the API judge sends the key to
the judge and writes it nowhere — run directory, W&B offline files, Lightning logs, cache."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tests.commands.test_evaluate_e2e import SECRET, run_cli_env

from ..conftest import ROOT, the_run
from ..judge_server import JudgeServer

pytestmark = pytest.mark.slow


def test_training_with_the_likert_judge_leaks_no_key(cache_dir: Path, tmp_path: Path) -> None:
    """train.py graded by the API judge (selection and test): the key reaches the server and no
    file."""
    with JudgeServer() as server:
        proc = run_cli_env(
            [
                str(ROOT / "src" / "train.py"),
                "experiment=smoke",
                "trainer.enable_progress_bar=false",
                "judge=likert",
                f"judge.base_url={server.url}",
                "judge.model=local-judge",
                f"runs_dir={tmp_path / 'runs'}",
            ],
            cache_dir,
            tmp_path,
            {"OPENAI_API_KEY": SECRET},
        )
        assert "judge mean 5.00" in proc.stdout and server.total() > 0
    rd = the_run(tmp_path / "runs")
    results = json.loads((rd / "results.json").read_text())
    assert results["metrics"]["judge_usage"]["requests"] > 0 and "validation" in results["metrics"]
    scanned = 0
    for f in [
        *tmp_path.rglob("*"),
        *cache_dir.rglob("*"),
    ]:  # runs, W&B offline files, logs, launcher logs, cache
        if f.is_file():
            scanned += 1
            assert SECRET.encode() not in f.read_bytes(), f
    assert scanned > 20 and list((rd / "wandb").rglob("*.wandb"))
