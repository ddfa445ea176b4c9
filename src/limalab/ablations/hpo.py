"""Hyper-parameter search with Optuna (a current release, used directly; the Hydra plugin pins
optuna 2.10). Objective: the dev judge score of the selected checkpoint — the quantity LIMA
selects by — never perplexity.

The study lives in an RDB (SQLite by default) with heartbeats: after a kill, the same command
continues the study's trial count; a trial that died is marked failed once its heartbeat is
stale and retried with the same parameters, and since a trial's run directory is named by its
config, the retry resumes the dead trial's training from its last checkpoint.
"""

from __future__ import annotations

import copy
import logging
from typing import Any

import optuna
import pytorch_lightning as pl

from limalab.pipeline.run import run

log = logging.getLogger(__name__)


class PruneOnLoss(pl.Callback):
    """Reports the epoch's training loss (negated: the study maximises) to the trial and stops
    hopeless trials. The dev judge score exists only after training, so the loss is the proxy
    the pruner sees; the objective itself is the judge score."""

    def __init__(self, trial: optuna.Trial) -> None:
        self.trial = trial

    def on_train_epoch_end(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        loss = trainer.callback_metrics.get("train/loss_epoch")
        if loss is None:
            return
        self.trial.report(-float(loss), step=trainer.current_epoch)
        if self.trial.should_prune():
            raise optuna.TrialPruned(f"epoch {trainer.current_epoch}: loss {float(loss):.3f}")


class RunNotComplete(RuntimeError):
    """The trial's run ended without a valid result (e.g. its judge failed): the trial fails."""


def suggest(trial: optuna.Trial, space: dict[str, dict[str, Any]]) -> dict[str, Any]:
    out = {}
    for key, spec in space.items():
        kind = spec["type"]
        if kind == "float":
            out[key] = trial.suggest_float(key, float(spec["low"]), float(spec["high"]), log=bool(spec.get("log", False)))
        elif kind == "int":
            out[key] = trial.suggest_int(key, int(spec["low"]), int(spec["high"]))
        elif kind == "categorical":
            out[key] = trial.suggest_categorical(key, list(spec["choices"]))
        else:
            raise ValueError(f"hpo.space.{key}.type: expected float, int or categorical, got {kind!r}")
    return out


def with_overrides(cfg: dict[str, Any], params: dict[str, Any]) -> dict[str, Any]:
    out = copy.deepcopy(cfg)
    for dotted, value in params.items():
        node = out
        *parents, leaf = dotted.split(".")
        for p in parents:
            if not isinstance(node.get(p), dict):
                raise ValueError(f"hpo.space: {dotted!r} is not a config key")
            node = node[p]
        if leaf not in node:
            raise ValueError(f"hpo.space: {dotted!r} is not a config key")
        node[leaf] = value
    return out


def study_for(h: dict[str, Any]) -> optuna.Study:
    storage = optuna.storages.RDBStorage(
        h["storage"], heartbeat_interval=int(h.get("heartbeat_s", 60)), grace_period=int(h.get("grace_s", 120)),
        failed_trial_callback=optuna.storages.RetryFailedTrialCallback(max_retry=int(h.get("max_retry", 2))))
    sampler = optuna.samplers.TPESampler(seed=h.get("seed", 0)) if h.get("sampler", "tpe") == "tpe" \
        else optuna.samplers.RandomSampler(seed=h.get("seed", 0))
    pruner = optuna.pruners.MedianPruner(n_warmup_steps=1) if h.get("pruner", "median") == "median" \
        else optuna.pruners.NopPruner()
    return optuna.create_study(study_name=h["study"], storage=storage, direction="maximize", sampler=sampler,
                               pruner=pruner, load_if_exists=True)


def optimize(cfg: dict[str, Any]) -> optuna.Study:
    h = cfg["hpo"]
    study = study_for(h)
    base = {k: v for k, v in cfg.items() if k != "hpo"}

    def objective(trial: optuna.Trial) -> float:
        params = suggest(trial, h["space"])
        res = run(with_overrides(base, params), callbacks=[PruneOnLoss(trial)] if h.get("pruner") != "none" else [])
        trial.set_user_attr("run_id", res["run_id"])
        if res["status"] != "complete":  # a failed trial, never a score computed from nothing
            raise RunNotComplete(f"run {res['run_id']}: {res['status']}: {res.get('status_reason')}")
        trial.set_user_attr("test_judge_mean", res["metrics"]["judge_mean"])
        return float(res["metrics"]["dev_judge_mean"])

    done = len([t for t in study.trials if t.state.is_finished()])
    todo = max(0, int(h["n_trials"]) - done)  # n_trials is the study's total: a restart finishes the count
    log.info("study %s: %d trials finished, %d to go", h["study"], done, todo)
    study.optimize(objective, n_trials=todo, catch=(RunNotComplete,))
    return study
