"""Stage ``export``: the selected checkpoint as a ``save_pretrained`` directory (``model/``:
weights, config, tokenizer with its chat template) that plain transformers loads, and, on the
miniature, how much of the base's knowledge the selected model kept (retention probe)."""

from __future__ import annotations

import shutil

import torch

from limalab.pipeline.context import RunContext
from limalab.world.probe import retention_probe

NAME = "export"


def selected_model(ctx: RunContext) -> torch.nn.Module:
    sel = ctx.records["select"]
    if sel["selected"] == "base":
        return ctx.fresh_model().to(ctx.eval_device()).eval()
    return ctx.weights(ctx.rd.checkpoints / f"epoch-{sel['epoch']:03d}.pt")


def is_current(ctx: RunContext, record: dict) -> bool:
    """An export is the run's only while it holds the checkpoint the selection chose."""
    return record.get("checkpoint") == ctx.records["select"]["checkpoint"]


def run(ctx: RunContext) -> None:
    model = selected_model(ctx)
    tmp = ctx.rd.path / "model.tmp"
    shutil.rmtree(tmp, ignore_errors=True)
    model.save_pretrained(tmp)
    ctx.tokenizer.save_pretrained(tmp)
    shutil.rmtree(ctx.rd.model, ignore_errors=True)
    tmp.rename(ctx.rd.model)
    retained = retention_probe(model, ctx.chat, ctx.world_dir) if ctx.miniature else {}
    files = sorted(p for p in ctx.rd.model.rglob("*") if p.is_file())
    ctx.records[NAME] = ctx.rd.write_stage(NAME, "complete", files, checkpoint=ctx.records["select"]["checkpoint"],
                                           knowledge_retained=retained)
