"""Hyper-parameter search with Optuna (a current release, used directly; the Hydra plugin pins
optuna 2.10). Objective: the dev judge score of the selected checkpoint — the quantity LIMA
selects by — never perplexity.

The study is named by its base config (``<hpo.study>-<arm>-<hash>``: a search from another base
is another study) and its trials are one W&B group. The pruner reads the dev judge score of each
selection checkpoint as the select stage evaluates it (``PruneOnDevScore``). ``hpo.n_trials``
caps the study, shared by every worker on its storage.

The study lives in an RDB (SQLite by default) with heartbeats: after a kill, the same command
continues the study's trial count; a trial that died is marked failed once its heartbeat is
stale and retried with the same parameters, and since a trial's run directory is named by its
config, the retry resumes the dead trial's training from its last checkpoint.
"""

from __future__ import annotations

import copy
import logging
import math
from typing import Any

import optuna
import pytorch_lightning as pl

from limalab.pipeline.run import run
from limalab.tracking.identity import semantic_config
from limalab.tracking.io import config_hash

log = logging.getLogger(__name__)


class PruneOnDevScore(pl.Callback):
    """Reports each selection checkpoint's dev judge score — the objective's own quantity — to the
    trial (step: the epoch), and stops a hopeless trial there (the select stage's
    ``on_select_candidate`` hook), so its remaining candidates are never generated or judged.
    A candidate without a valid score is not reported (the run fails on it anyway)."""

    def __init__(self, trial: optuna.Trial) -> None:
        self.trial = trial

    def on_select_candidate(self, candidate: dict[str, Any]) -> None:
        score = candidate.get("dev_judge_mean")
        if score is None or math.isnan(score):
            return
        self.trial.report(float(score), step=int(candidate["epoch"]))
        if self.trial.should_prune():
            raise optuna.TrialPruned(f"epoch {candidate['epoch']}: dev judge {score:.3f}")


class RunNotComplete(RuntimeError):
    """The trial's run ended without a valid result (e.g. its judge failed): the trial fails."""


def suggest(trial: optuna.Trial, space: dict[str, dict[str, Any]]) -> dict[str, Any]:
    out = {}
    for key, spec in space.items():
        kind = spec["type"]
        if kind == "float":
            out[key] = trial.suggest_float(
                key, float(spec["low"]), float(spec["high"]), log=bool(spec.get("log", False))
            )
        elif kind == "int":
            out[key] = trial.suggest_int(key, int(spec["low"]), int(spec["high"]))
        elif kind == "categorical":
            out[key] = trial.suggest_categorical(key, list(spec["choices"]))
        else:
            raise ValueError(
                f"hpo.space.{key}.type: expected float, int or categorical, got {kind!r}"
            )
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


FINISHED_OR_RUNNING = (
    optuna.trial.TrialState.COMPLETE,
    optuna.trial.TrialState.PRUNED,
    optuna.trial.TrialState.RUNNING,
)


def study_name(h: dict[str, Any], base: dict[str, Any]) -> str:
    """``hpo.study`` + the base config's arm + a hash of what the search starts from (its semantic
    config without the searched keys): a ``data=wikihow`` search is not the lima_mix study."""
    fixed = copy.deepcopy(base)
    for dotted in h["space"]:
        *parents, leaf = dotted.split(".")
        node = fixed
        for p in parents:
            node = node.get(p) if isinstance(node, dict) else None
        if isinstance(node, dict):
            node.pop(leaf, None)
    return f"{h['study']}-{base['data']['name']}-{config_hash(semantic_config(fixed), length=8)}"


def study_for(h: dict[str, Any], name: str) -> optuna.Study:
    storage = optuna.storages.RDBStorage(
        h["storage"],
        heartbeat_interval=int(h.get("heartbeat_s", 60)),
        grace_period=int(h.get("grace_s", 120)),
        failed_trial_callback=optuna.storages.RetryFailedTrialCallback(
            max_retry=int(h.get("max_retry", 2))
        ),
    )
    sampler = (
        optuna.samplers.TPESampler(seed=h.get("seed", 0))
        if h.get("sampler", "tpe") == "tpe"
        else optuna.samplers.RandomSampler(seed=h.get("seed", 0))
    )
    pruner = (
        optuna.pruners.MedianPruner(n_startup_trials=2)
        if h.get("pruner", "median") == "median"
        else optuna.pruners.NopPruner()
    )
    return optuna.create_study(
        study_name=name,
        storage=storage,
        direction="maximize",
        sampler=sampler,
        pruner=pruner,
        load_if_exists=True,
    )


def optimize(cfg: dict[str, Any]) -> optuna.Study:
    """Trials until the study holds ``hpo.n_trials`` complete, pruned or running ones — a cap
    every worker on the same storage shares (Optuna's ``MaxTrialsCallback``), so several
    workers never overshoot it; a rerun continues the count."""
    h = cfg["hpo"]
    base = {k: v for k, v in cfg.items() if k != "hpo"}
    name = study_name(h, base)
    base["logger"] = {
        **base["logger"],
        "group": base["logger"].get("group") or name,
    }  # one W&B group per study
    study = study_for(h, name)

    def objective(trial: optuna.Trial) -> float:
        params = suggest(trial, h["space"])
        res = run(
            with_overrides(base, params),
            callbacks=[PruneOnDevScore(trial)] if h.get("pruner") != "none" else [],
        )
        trial.set_user_attr("run_id", res["run_id"])
        if res["status"] != "complete":  # a failed trial, never a score computed from nothing
            raise RunNotComplete(
                f"run {res['run_id']}: {res['status']}: {res.get('status_reason')}"
            )
        trial.set_user_attr("test_judge_mean", res["metrics"]["judge_mean"])
        return float(res["metrics"]["dev_judge_mean"])

    cap = optuna.study.MaxTrialsCallback(int(h["n_trials"]), states=FINISHED_OR_RUNNING)
    counted = len(study.get_trials(deepcopy=False, states=FINISHED_OR_RUNNING))
    log.info("study %s: %d of %d trials finished or running", name, counted, h["n_trials"])
    if counted < int(h["n_trials"]):
        study.optimize(objective, callbacks=[cap], catch=(RunNotComplete,))
    return study
