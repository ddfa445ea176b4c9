"""Optuna search: killed mid-trial and restarted, the study continues its trial count, and the
dead trial is retried with its parameters, resuming its run from the last checkpoint."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path

import optuna
import pytest

from limalab.ablations.hpo import suggest, with_overrides

from .conftest import ROOT

pytestmark = pytest.mark.slow
SPACE = ("hpo.space={optim.lr:{type:float,low:5e-4,high:2e-3},train.epochs:{type:int,low:2,high:2},"
         "model.residual_dropout:{type:float,low:0.0,high:0.0},train.batch_size:{type:categorical,choices:[16]}}")


def hpo(work: Path, cache_dir: Path, env: dict | None = None) -> subprocess.CompletedProcess:
    e = {**os.environ, "LIMALAB_CACHE": str(cache_dir), "WANDB_MODE": "offline", "TMPDIR": str(work),
         "HF_HUB_OFFLINE": "1", **(env or {})}
    args = [sys.executable, str(ROOT / "src" / "hpo.py"), "experiment=smoke", "trainer.enable_progress_bar=false",
            f"runs_dir={work / 'runs'}", "hpo.n_trials=3", "hpo.heartbeat_s=1", "hpo.grace_s=2", "hpo.pruner=none", SPACE]
    return subprocess.run(args, cwd=work, env=e, capture_output=True, text=True, timeout=1200)


def test_killed_study_continues_its_trial_count(cache_dir: Path, tmp_path: Path) -> None:
    # 60 examples, batch 16: 4 steps an epoch, 8 a trial; step 11 is inside the second trial
    killed = hpo(tmp_path, cache_dir, {"LIMALAB_KILL_AT": "train_step:11", "LIMALAB_KILL_MARKER": str(tmp_path / "k")})
    assert killed.returncode != 0 and (tmp_path / "k").exists(), killed.stderr[-2000:]
    time.sleep(3)  # past the grace period: the dead trial's heartbeat is stale
    done = hpo(tmp_path, cache_dir)
    assert done.returncode == 0, done.stdout[-2000:] + done.stderr[-3000:]
    study = optuna.load_study(study_name="lima_hpo", storage=f"sqlite:///{tmp_path / 'runs' / 'optuna.db'}")
    states = [t.state for t in study.trials]
    assert [t.number for t in study.trials] == [0, 1, 2, 3]
    assert states.count(optuna.trial.TrialState.COMPLETE) == 3 and states[1] == optuna.trial.TrialState.FAIL
    retry = study.trials[2]
    assert retry.params == study.trials[1].params  # the dead trial, retried with its parameters
    prov = json.loads((tmp_path / "runs" / retry.user_attrs["run_id"] / "provenance.json").read_text())
    assert prov.get("resumed_at")  # ...in its own run directory, resumed, not restarted
    assert "best dev judge" in done.stdout


def test_search_space_and_overrides() -> None:
    trial = optuna.trial.FixedTrial({"optim.lr": 1e-3, "train.epochs": 4, "train.batch_size": 32})
    space = {"optim.lr": {"type": "float", "low": 1e-4, "high": 1e-2, "log": True},
             "train.epochs": {"type": "int", "low": 2, "high": 8},
             "train.batch_size": {"type": "categorical", "choices": [16, 32]}}
    params = suggest(trial, space)
    cfg = with_overrides({"optim": {"lr": 5e-4}, "train": {"epochs": 6, "batch_size": 16}}, params)
    assert cfg == {"optim": {"lr": 1e-3}, "train": {"epochs": 4, "batch_size": 32}}
    with pytest.raises(ValueError, match="'train.nope' is not a config key"):
        with_overrides({"train": {}}, {"train.nope": 1})
    with pytest.raises(ValueError, match="hpo.space.x.type: expected float, int or categorical"):
        suggest(trial, {"x": {"type": "bool"}})
