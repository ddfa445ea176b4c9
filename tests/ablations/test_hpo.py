"""Optuna search: killed mid-trial and restarted, the study continues its trial count, and the
dead trial is retried with its parameters, resuming its run from the last checkpoint."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import threading
import time
from pathlib import Path

import optuna
import pytest
import pytorch_lightning as pl

from limalab.ablations.optuna_search import (
    PruneOnDevScore,
    optimize,
    study_name,
    suggest,
    with_overrides,
)
from limalab.config.compose import compose
from tests.conftest import ROOT

pytestmark = pytest.mark.slow
SPACE = (
    "hpo.space={optim.lr:{type:float,low:5e-4,high:2e-3},train.epochs:{type:int,low:2,high:2},"
    "model.residual_dropout:{type:float,low:0.0,high:0.0},train.batch_size:{type:categorical,choices:[16]}}"
)


def hpo(work: Path, cache_dir: Path, env: dict | None = None) -> subprocess.CompletedProcess:
    e = {
        **os.environ,
        "LIMALAB_CACHE": str(cache_dir),
        "WANDB_MODE": "offline",
        "TMPDIR": str(work),
        "HF_HUB_OFFLINE": "1",
        **(env or {}),
    }
    args = [
        sys.executable,
        str(ROOT / "src" / "hpo.py"),
        "experiment=smoke",
        "trainer.enable_progress_bar=false",
        f"runs_dir={work / 'runs'}",
        "hpo.n_trials=3",
        "hpo.heartbeat_s=1",
        "hpo.grace_s=2",
        "hpo.pruner=none",
        SPACE,
    ]
    return subprocess.run(args, cwd=work, env=e, capture_output=True, text=True, timeout=1200)


def test_killed_study_continues_its_trial_count(cache_dir: Path, tmp_path: Path) -> None:
    # 60 examples, batch 16: 4 steps an epoch, 8 a trial; step 11 is inside the second trial
    killed = hpo(
        tmp_path,
        cache_dir,
        {"LIMALAB_KILL_AT": "train_step:11", "LIMALAB_KILL_MARKER": str(tmp_path / "k")},
    )
    assert killed.returncode != 0 and (tmp_path / "k").exists(), killed.stderr[-2000:]
    time.sleep(3)  # past the grace period: the dead trial's heartbeat is stale
    done = hpo(tmp_path, cache_dir)
    assert done.returncode == 0, done.stdout[-2000:] + done.stderr[-3000:]
    storage = f"sqlite:///{tmp_path / 'runs' / 'optuna.db'}"
    [name] = optuna.get_all_study_names(storage)
    assert name.startswith("lima_hpo-lima_mix-") and f"study {name}:" in done.stdout
    study = optuna.load_study(study_name=name, storage=storage)
    states = [t.state for t in study.trials]
    assert [t.number for t in study.trials] == [0, 1, 2, 3]
    assert (
        states.count(optuna.trial.TrialState.COMPLETE) == 3
        and states[1] == optuna.trial.TrialState.FAIL
    )
    retry = study.trials[2]
    assert retry.params == study.trials[1].params  # the dead trial, retried with its parameters
    prov = json.loads(
        (tmp_path / "runs" / retry.user_attrs["run_id"] / "provenance.json").read_text()
    )
    assert prov.get("resumed_at")  # ...in its own run directory, resumed, not restarted
    assert "best dev judge" in done.stdout


def test_search_space_and_overrides() -> None:
    trial = optuna.trial.FixedTrial({"optim.lr": 1e-3, "train.epochs": 4, "train.batch_size": 32})
    space = {
        "optim.lr": {"type": "float", "low": 1e-4, "high": 1e-2, "log": True},
        "train.epochs": {"type": "int", "low": 2, "high": 8},
        "train.batch_size": {"type": "categorical", "choices": [16, 32]},
    }
    params = suggest(trial, space)
    cfg = with_overrides({"optim": {"lr": 5e-4}, "train": {"epochs": 6, "batch_size": 16}}, params)
    assert cfg == {"optim": {"lr": 1e-3}, "train": {"epochs": 4, "batch_size": 32}}
    with pytest.raises(ValueError, match="'train.nope' is not a config key"):
        with_overrides({"train": {}}, {"train.nope": 1})
    with pytest.raises(ValueError, match="hpo.space.x.type: expected float, int or categorical"):
        suggest(trial, {"x": {"type": "bool"}})


SMALL_SPACE = {"optim.lr": {"type": "float", "low": 1e-4, "high": 1e-3, "log": True}}


def hpo_cfg(tmp_path: Path, overrides: list[str], n_trials: int = 4) -> dict:
    cfg = compose(["experiment=smoke", f"runs_dir={tmp_path / 'runs'}", *overrides], name="hpo")
    cfg["hpo"] |= {
        "storage": f"sqlite:///{tmp_path / 'optuna.db'}",
        "n_trials": n_trials,
        "sampler": "random",
        "pruner": "none",
        "space": SMALL_SPACE,
    }
    return cfg


def test_the_study_is_named_by_its_base_config(tmp_path: Path) -> None:
    def name(*overrides: str) -> str:
        cfg = hpo_cfg(tmp_path, list(overrides))
        return study_name(cfg["hpo"], {k: v for k, v in cfg.items() if k != "hpo"})

    lima = name()
    assert lima.startswith("lima_hpo-lima_mix-")
    assert name("data=wikihow").startswith("lima_hpo-wikihow-")  # another base: another study
    assert name("data.size=40") != lima
    assert name("optim.lr=0.01") == lima  # a searched key's base value never shapes a trial
    assert (
        name("logger.project=x", "eval.k=3") == lima
    )  # nor does anything outside the run's identity


def test_workers_share_one_trial_cap(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A second worker started while the first one's trial runs takes only what is left: the
    cap counts the study's trials (complete, pruned, running), not each worker's own."""
    cfg = hpo_cfg(tmp_path, [], n_trials=4)
    calls: list[str] = []

    def fake_run(c: dict, callbacks: list | None = None) -> dict:
        calls.append(threading.current_thread().name)
        if len(calls) == 1:  # the first worker's first trial: a second worker joins the study now
            other = threading.Thread(target=optimize, args=(cfg,), name="worker-2")
            other.start()
            other.join()
        return {
            "run_id": f"r{len(calls)}",
            "status": "complete",
            "metrics": {"dev_judge_mean": c["optim"]["lr"] * 1000, "judge_mean": 1.0},
        }

    monkeypatch.setattr("limalab.ablations.optuna_search.run", fake_run)
    study = optimize(cfg)
    states = [t.state for t in study.trials]
    assert states == [optuna.trial.TrialState.COMPLETE] * 4, states
    assert calls.count("worker-2") == 3  # not 4: the first worker's trial was running


def test_the_pruner_reads_the_dev_score_of_each_selection_checkpoint() -> None:
    study = optuna.create_study(
        direction="maximize", pruner=optuna.pruners.MedianPruner(n_startup_trials=1)
    )
    good = study.ask()
    PruneOnDevScore(good).on_select_candidate({"epoch": 2, "dev_judge_mean": 3.5})
    study.tell(good, 3.5)
    bad = study.ask()
    hook = PruneOnDevScore(bad)
    hook.on_select_candidate(
        {"epoch": 2, "dev_judge_mean": float("nan")}
    )  # no valid score: nothing reported
    with pytest.raises(optuna.TrialPruned, match="epoch 2: dev judge 1.200"):
        hook.on_select_candidate({"epoch": 2, "dev_judge_mean": 1.2})
    assert bad.storage.get_trial(bad._trial_id).intermediate_values == {2: 1.2}


def test_the_select_stage_announces_each_candidate(
    smoke_world: Path, cache_dir: Path, tmp_path: Path
) -> None:
    """The hook the pruner uses: every candidate's dev evaluation, as the select stage finishes
    it."""
    from limalab.pipeline.run import run

    class Recorder(pl.Callback):
        def __init__(self) -> None:
            self.seen: list[dict] = []

        def on_select_candidate(self, candidate: dict) -> None:
            self.seen.append(candidate)

    rec = Recorder()
    cfg = compose(
        [
            "experiment=smoke",
            "trainer.enable_progress_bar=false",
            f"runs_dir={tmp_path / 'runs'}",
            f"cache_dir={cache_dir}",
            "logger.wandb=false",
        ]
    )
    res = run(cfg, callbacks=[rec])
    assert res["status"] == "complete"
    assert [(c["epoch"], c["dev_judge_mean"]) for c in rec.seen] == [
        (c["epoch"], c["dev_judge_mean"]) for c in res["selection"]
    ] and len(rec.seen) == 2
