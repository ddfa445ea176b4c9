"""One run as a sequence of stages — data, train, select, export, evaluate — each reading its
inputs from the run directory and recording what it wrote (``stages/<name>.json``). This
module only orders them: a stage whose record is complete and whose files are unchanged is
skipped, the first unfinished one resumes, and a stage that ends without a valid result
(``StageFailed``) ends the run with that status and a non-zero exit, nothing retrained."""

from __future__ import annotations

import logging
import os
import time
from pathlib import Path
from typing import Any

import pytorch_lightning as pl

from limalab.config import validate
from limalab.eval.evaluation import headline_metrics
from limalab.eval.spec import EvalSpec
from limalab.pipeline import export_model, fine_tune, prepare_data, select_checkpoint, test_eval
from limalab.pipeline.context import RunContext, StageFailed
from limalab.tracking.identity import run_id
from limalab.tracking.io import file_sha256
from limalab.tracking.lock import run_lock
from limalab.tracking.loggers import (
    agent_run_id,
    evaluation_artifact,
    finish_wandb,
    join_grid,
    log_eval_table,
    log_evaluation_run,
    log_headline,
    log_manifest_artifact,
    log_results_artifact,
    log_selection,
    model_artifact,
    offline_sync_hint,
    tag_on_server,
    wandb_run,
)
from limalab.tracking.rundir import RunDir, now, provenance, redact_overrides, write_config

log = logging.getLogger(__name__)

STAGES = (fine_tune, select_checkpoint, export_model)  # between data (always checked) and evaluate


def run(
    cfg: dict[str, Any],
    callbacks: list[pl.Callback] | None = None,
    launch: dict[str, Any] | None = None,
) -> dict:
    """Run (or resume, or skip) one training run; returns its results. ``callbacks`` join the
    Trainer's (e.g. an Optuna pruning callback); ``launch``: how it was launched (Hydra's job
    directory, overrides, multirun), recorded in provenance and W&B."""
    validate(cfg)
    rid = run_id(cfg)
    launch = (
        {**launch, "overrides": redact_overrides(list(launch.get("overrides") or []))}
        if launch
        else {}
    )
    ctx = RunContext(
        cfg, RunDir(Path(cfg["runs_dir"]) / rid), rid, list(callbacks or []), launch=launch
    )
    if (
        ctx.worker
    ):  # a data-parallel worker started by the launcher: it trains, rank 0 does the rest
        return _train_only(ctx)
    with run_lock(ctx.rd.path):  # a second launcher of the same run waits here, then finds it done
        if cfg["force"] and ctx.rd.path.is_dir() and any(ctx.rd.path.iterdir()):
            print(f"force: the previous run {rid} moved to {ctx.rd.set_aside()}")
        return _run_stages(ctx)


def _train_only(ctx: RunContext) -> dict:
    prepare_data.run(ctx)
    if not _stage_done(ctx, fine_tune):
        fine_tune.run(ctx)
    return {"run_id": ctx.run_id, "status": "worker"}


def _stage_done(ctx: RunContext, stage: Any) -> bool:
    record = ctx.rd.stage_record(stage.NAME)
    if record is None or record["status"] != "complete":
        return False
    if stage is export_model and not export_model.is_current(ctx, record):
        return False
    ctx.records[stage.NAME] = record
    return True


def _start(ctx: RunContext) -> None:
    ctx.rd.path.mkdir(parents=True, exist_ok=True)
    write_config(ctx.rd, ctx.cfg)
    prov = ctx.rd.read_provenance()
    launch = (
        {**ctx.launch, "at": now()} if ctx.launch else None
    )  # the Hydra job dir and overrides of each launch
    ctx.rd.update_provenance(
        **provenance(
            {"world": ctx.world_dir.name, "base_model": ctx.base_name, "run_id": ctx.run_id}
        ),
        wandb_id=ctx.wandb_id,
        wandb_ids=list(dict.fromkeys([*prov.get("wandb_ids", []), ctx.wandb_id])),
        wandb_group=ctx.wandb_group,
        grids=ctx.grids,
        started_at=prov.get("started_at", now()),
        resumed_at=now() if prov else None,
        launch=launch,
        launches=[*prov.get("launches", []), *([launch] if launch else [])],
    )


def _join_grid(ctx: RunContext) -> None:
    """A complete run that another grid launches is skipped, and joins that grid: provenance
    lists it in ``grids`` and the W&B run gets its ``grid:`` tag — by resuming it, or, under a
    W&B agent (whose process can only be the agent's own run), through the API where online."""
    prov = ctx.rd.read_provenance()
    if ctx.grids == prov.get("grids", []) or not prov.get("wandb_id"):
        return
    ctx.rd.update_provenance(grids=ctx.grids)
    if not ctx.cfg["logger"]["wandb"]:
        return
    if agent_run_id():
        tags = [f"grid:{g}" for g in ctx.grids]
        if why := tag_on_server(ctx.cfg, prov["wandb_id"], tags):
            print(
                f"W&B: run {ctx.run_id} is W&B run {prov['wandb_id']}; not tagged "
                f"{' '.join(tags)} ({why}): provenance.json lists its grids; a launch of the same "
                "run outside the agent adds the tags"
            )
        return
    join_grid(ctx.rd.path, ctx.run_id, prov["wandb_id"], ctx.cfg, ctx.wandb_group, ctx.grids)
    if hint := offline_sync_hint(ctx.rd.path):
        print(hint)


def _link_launch(ctx: RunContext) -> None:
    """The Hydra job directory links to its run (``run`` -> ``runs/<id>``); the run directory
    lists its launches in provenance.json (``launch``, ``launches``): linked both ways."""
    if not ctx.launch.get("dir"):
        return
    link = Path(ctx.launch["dir"]) / "run"
    try:
        link.parent.mkdir(parents=True, exist_ok=True)
        if link.is_symlink() or link.exists():
            link.unlink()
        link.symlink_to(
            os.path.relpath(ctx.rd.path.resolve(), link.parent.resolve()), target_is_directory=True
        )
    except OSError as e:  # a filesystem without symlinks: the job's log still names the run
        log.warning("could not link %s to the run directory (%s)", link, e)


def _todo(ctx: RunContext) -> list[Any]:
    """The stages to run, in order: the first one not done, and every stage after it (a stage
    that runs again makes what follows it stale)."""
    for i, stage in enumerate(STAGES):
        if not _stage_done(ctx, stage):
            return list(STAGES[i:])
    return []


def _run_stages(ctx: RunContext) -> dict:
    was_complete = ctx.rd.read_results() is not None
    log.info(
        "run %s: run directory %s", ctx.run_id, ctx.rd.path.resolve()
    )  # in the Hydra job's log: its run
    prepare_data.run(ctx)  # before anything is written: bad data leaves no run directory behind
    _link_launch(ctx)
    todo = _todo(ctx)
    summary = None if todo else test_eval.done(ctx)
    if was_complete and summary is not None:  # nothing to do: nothing is written
        _join_grid(ctx)
        log.info("run %s is complete: skipped (rerun with force=true to redo it)", ctx.run_id)
        print(f"skipped: run {ctx.run_id} is already complete in {ctx.rd.path}")
        return _complete_results(ctx, summary) | {"skipped": True}
    _start(ctx)
    prepare_data.record(ctx)
    try:
        for stage in todo:
            if stage is fine_tune:
                log_manifest_artifact(ctx.loggers, ctx.rd.manifest, ctx.manifest)
            stage.run(ctx)
        if summary is None:
            summary = test_eval.done(ctx) or test_eval.run(ctx)
    except StageFailed as e:
        return _finish(ctx, _failed_results(ctx, e))
    log_eval_table(ctx.loggers, ctx.rd.evals / summary["eval_id"])
    return _finish(ctx, _complete_results(ctx, summary))


def _log_to_wandb(ctx: RunContext, results: dict, record: dict, card: Path | None) -> Any:
    """The run's outcome in W&B: candidates' dev scores, the headline, the readable record, and
    the model artifact (returned, for the evaluate run's lineage edge) when the run is complete."""
    log_selection(ctx.loggers, ctx.records.get("select", {}).get("candidates", []))
    log_headline(ctx.loggers, results)
    log_results_artifact(ctx.loggers, ctx.rd.path, record)
    run = wandb_run(ctx.loggers)
    if run is None or card is None:
        return None

    def model() -> (
        Any
    ):  # one artifact object per run that logs or uses it; the same files, the same digest
        return model_artifact(
            ctx.rd.model,
            ctx.run_id,
            float(ctx.cfg["logger"]["model_upload_max_mb"]),
            card.read_text(),
        )

    run.log_artifact(model(), aliases=["latest", f"epoch-{ctx.records['select']['epoch']}"])
    if (
        agent_run_id()
    ):  # every wandb.init under an agent is the agent's run: no separate evaluate run
        run.log_artifact(
            evaluation_artifact(ctx.rd.path, ctx.run_id, record["default_eval"]), aliases=["latest"]
        )
        return None
    return model


def _complete_results(ctx: RunContext, summary: dict) -> dict:
    prev = ctx.rd.read_results() or {}
    best = ctx.records["select"]["best"]
    head = {
        "spec": {k: summary[k] for k in EvalSpec.__dataclass_fields__},
        "judge": summary["judge"],
        "judge_mean": summary["judge_mean"],
        "judge_ci95": summary["judge_ci95"],
        "status": summary["status"],
    }
    metrics = prev.get("metrics") or headline_metrics(summary) | {
        "dev_ppl": best["dev_ppl"],
        "dev_judge_mean": best["dev_judge_mean"],
    }
    return _base_results(ctx, prev) | {
        "status": "complete",
        "metrics": metrics,
        "default_eval": prev.get("default_eval", summary["eval_id"]),
        "evals": {**prev.get("evals", {}), summary["eval_id"]: head},
        "headline_eval": head,
    }


def _failed_results(ctx: RunContext, e: StageFailed) -> dict:
    prev = ctx.rd.read_any_results() or {}
    log.error("run %s: %s", ctx.run_id, e)
    return _base_results(ctx, prev) | {
        "status": e.status,
        "failed_stage": e.stage,
        "status_reason": e.reason,
        "evals": prev.get("evals", {}),
    }


def _base_results(ctx: RunContext, prev: dict) -> dict:
    train, select = ctx.records.get("train", {}), ctx.records.get("select", {})
    return {
        "run_id": ctx.run_id,
        "max_new_tokens": ctx.max_new_tokens,
        "selected_checkpoint": select.get("selected"),
        "selection": select.get("candidates", []),
        "tokens_trained": train.get("tokens_trained", 0),
        "budget": train.get("budget"),
        "wall_s": round(time.time() - ctx.t0, 1) + prev.get("wall_s", 0),
        "wandb_run_id": ctx.wandb_id,
        "tags": list(ctx.cfg["tags"]),
        "grids": ctx.grids,
        "knowledge_probe": ctx.probe,
        "knowledge_retained": ctx.records.get("export", {}).get("knowledge_retained", {}),
        "data": ctx.manifest.get("data"),
        "n_examples": ctx.manifest.get("n_examples"),
        "stages": {name: r["status"] for name, r in ctx.records.items()},
        "max_invalid_fraction": ctx.cfg["eval"]["max_invalid_fraction"],
    }


def _finish(ctx: RunContext, results: dict) -> dict:
    record = {k: v for k, v in results.items() if k != "headline_eval"}
    card = export_model.write_model_card(ctx, results) if results["status"] == "complete" else None
    if card:  # the card's results (outside the export record: see export_model)
        record["model_card"] = {
            "path": str(card.relative_to(ctx.rd.path)),
            "sha256": file_sha256(card),
        }
    model = _log_to_wandb(ctx, results, record, card)  # None, or the model artifact's builder
    for lg in ctx.loggers:
        if hasattr(lg, "finalize"):
            lg.finalize("success" if results["status"] == "complete" else "failed")
    finish_wandb()
    if model is not None:
        log_evaluation_run(ctx.rd.path, record, ctx.cfg, [model()], (ctx.wandb_group, ctx.grids))
    if (hint := offline_sync_hint(ctx.rd.path)) and ctx.loggers:
        print(hint)
    ctx.rd.update_provenance(ended_at=now())
    ctx.rd.write_results(record)  # last: the run's outcome, complete or why not
    return results
