"""Stage ``train``: fine-tune the base on the run's examples with Lightning, writing a weights
snapshot per epoch (``checkpoints/epoch-NNN.pt``, what selection and export read) and
Lightning's ``last.ckpt`` (what an interrupted run resumes from, mid-epoch exactly)."""

from __future__ import annotations

import logging
import shutil
import zipfile
from pathlib import Path

import pytorch_lightning as pl

from limalab.data.datamodule import ChatDataModule, batching_of
from limalab.model.budget import training_budget
from limalab.model.callbacks import EpochSnapshot, KillPoint, ProgressLog, ResumeMidEpoch
from limalab.model.module import CausalLMModule, Recipe
from limalab.model.strategy import build_strategy, prepare_model
from limalab.model.throughput import Throughput
from limalab.model.trainable import freeze
from limalab.pipeline.context import RunContext
from limalab.slurm.requeue import CheckpointBeforeRequeue

NAME = "train"
log = logging.getLogger(__name__)


def module_for(ctx: RunContext) -> CausalLMModule:
    model = ctx.fresh_model()
    freeze(model, list(ctx.cfg["model"]["frozen"]))
    prepare_model(model, ctx.trainer_kwargs[1])
    return CausalLMModule(model, Recipe.from_optim(ctx.cfg["optim"]))


def trainer_for(ctx: RunContext, module: CausalLMModule, epochs: int, max_steps: int) -> pl.Trainer:
    tkw, extras = ctx.trainer_kwargs
    rd, t = ctx.rd, ctx.cfg["train"]
    ckpt = pl.callbacks.ModelCheckpoint(
        dirpath=rd.checkpoints,
        save_last=True,
        save_top_k=0,
        every_n_train_steps=t["checkpoint_every_n_steps"],
    )
    callbacks = [
        ckpt,
        EpochSnapshot(rd.checkpoints),
        ResumeMidEpoch(),
        KillPoint(),
        ProgressLog("train"),
        Throughput(**(extras.get("throughput") or {})),
        CheckpointBeforeRequeue(rd.checkpoints / "last.ckpt"),
        *ctx.callbacks,
    ]
    return pl.Trainer(
        **{**tkw, "strategy": build_strategy(extras.get("strategy"), module.model, tkw)},
        max_epochs=epochs,
        max_steps=max_steps,
        logger=ctx.loggers or False,
        use_distributed_sampler=False,
        callbacks=callbacks,
        default_root_dir=str(rd.path),
    )


def resume_point(ctx: RunContext) -> str | None:
    """Lightning's ``last.ckpt`` to resume from, or ``None`` to train from the start: when a
    finished training's outputs no longer match its record (a damaged snapshot), or when
    ``last.ckpt`` itself is truncated. Training is seeded, so starting over gives the same run."""
    ckpts, stages = ctx.rd.checkpoints, ctx.rd.stages
    damaged = (stages / f"{NAME}.json").exists() or (stages / f"{NAME}.json.corrupt").exists()
    if damaged and ckpts.exists() and not ctx.worker:
        log.warning(
            "run %s: its training finished but its checkpoints changed since: training it again",
            ctx.run_id,
        )
        shutil.rmtree(ckpts)
        for stale in (stages / f"{NAME}.json", stages / f"{NAME}.json.corrupt"):
            stale.unlink(missing_ok=True)
    last = ckpts / "last.ckpt"
    if not last.exists():
        return None
    if last.is_file() and not _readable_zip(last):
        log.warning("%s is truncated or corrupt: set aside, training from the start", last)
        last.replace(last.with_name("last.ckpt.corrupt"))
        return None
    return str(last)


def _readable_zip(path: Path) -> bool:
    """torch.save writes a zip archive: one cut short has no readable directory at its end."""
    try:
        with zipfile.ZipFile(path) as z:
            return bool(z.namelist())
    except (zipfile.BadZipFile, OSError):
        return False


def run(ctx: RunContext) -> None:
    t = ctx.cfg["train"]
    budget = training_budget(t, len(ctx.rows), sum(len(ids) for ids, _ in ctx.rows))
    tokens = 0
    if budget["epochs"] > 0:
        module = module_for(ctx)
        dm = ChatDataModule(
            ctx.rows,
            batching_of(t, ctx.trainer_kwargs[1]),
            ctx.tokenizer.pad_token_id,
            ctx.cfg["seed"],
            ctx.cfg["data"]["num_workers"],
        )
        trainer = trainer_for(ctx, module, budget["epochs"], budget["max_steps"])
        trainer.fit(module, datamodule=dm, ckpt_path=resume_point(ctx))
        tokens = module.tokens_seen
    if ctx.worker:
        return
    snapshots = sorted(ctx.rd.checkpoints.glob("epoch-*.pt"))
    if len(snapshots) < budget["epochs"]:
        raise RuntimeError(
            f"{ctx.rd.checkpoints}: {len(snapshots)} epoch snapshots after training "
            f"{budget['epochs']} epochs"
        )
    ctx.records[NAME] = ctx.rd.write_stage(
        NAME, "complete", snapshots, budget=budget, tokens_trained=tokens, epochs=budget["epochs"]
    )
