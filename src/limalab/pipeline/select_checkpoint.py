"""Stage ``select``: choose the checkpoint by generation quality on the dev prompts (LIMA §3:
perplexity does not track quality, so it is recorded, never used to choose) among the epoch
snapshots inside ``train.select.window`` (the paper's epochs 5-10 of 15).

Selection is valid only if every candidate's dev evaluation is complete: a judge that failed on
any of them would make the choice arbitrary, so the stage ends ``judge_failed`` instead, and a
rerun judges what is missing. A completed selection stays with the run (its record names the
judge that made it); ``force=true`` redoes the run."""

from __future__ import annotations

import math
from typing import Any

import torch

from limalab.eval.evaluation import Evaluation, Responder, evaluate
from limalab.eval.perplexity import response_perplexity
from limalab.eval.spec import EvalSpec, PromptSet
from limalab.model.callbacks import snapshot_paths
from limalab.pipeline.context import RunContext, StageFailed
from limalab.tracking.identity import semantic_config
from limalab.tracking.io import config_hash, file_sha256

NAME = "select"


def best_candidate(candidates: list[dict]) -> dict:
    """The candidate with the best ``dev_judge_mean`` (ties: the earlier epoch); a candidate
    without a valid mean never wins, and all without one is no selection."""
    scored = [
        c
        for c in candidates
        if c["dev_judge_mean"] is not None and not math.isnan(c["dev_judge_mean"])
    ]
    if not scored:
        raise StageFailed(
            NAME,
            "judge_failed",
            f"no candidate has a valid dev score ({len(candidates)} candidates)",
        )
    return max(scored, key=lambda c: (c["dev_judge_mean"], -c["epoch"]))


def dev_evaluation(ctx: RunContext, prompts: PromptSet, checkpoint: str) -> Evaluation:
    s = ctx.cfg["train"]["select"]
    spec = EvalSpec.from_config(
        ctx.cfg["eval"],
        ctx.max_new_tokens,
        prompt_set=s["prompt_set"],
        k=s["k"],
        max_prompts=s["max_prompts"],
        few_shot=0,
        role="select",
    )
    return Evaluation(
        ctx.rd.path,
        prompts,
        checkpoint,
        spec,
        ctx.judge,
        max_invalid_fraction=ctx.cfg["eval"]["max_invalid_fraction"],
    )


def candidate(
    ctx: RunContext, prompts: PromptSet, checkpoint: str, model: torch.nn.Module, epoch: int
) -> dict:
    """One candidate's dev evaluation and perplexity."""
    summary = evaluate(
        dev_evaluation(ctx, prompts, checkpoint),
        Responder.of(model, ctx.chat),
    )
    ppl = response_perplexity(
        model,
        ctx.chat,
        [[p["prompt"], p["reference"]] for p in prompts.rows],
        int(ctx.cfg["train"]["max_length"]),
    )
    return {
        "checkpoint": checkpoint,
        "epoch": epoch,
        "eval_id": summary["eval_id"],
        "status": summary["status"],
        "status_reason": summary["status_reason"],
        "dev_judge_mean": summary["judge_mean"],
        "dev_judge_ci95": summary["judge_ci95"],
        "dev_ppl": ppl,
    }


def announce(ctx: RunContext, found: dict) -> dict:
    """The hook for what watches the selection (an Optuna pruner): every callback of the run with
    an ``on_select_candidate`` method hears each candidate's dev evaluation as it finishes, and
    may stop the run there (``optuna.TrialPruned``)."""
    for cb in ctx.callbacks:
        if hasattr(cb, "on_select_candidate"):
            cb.on_select_candidate(found)
    return found


def candidates(ctx: RunContext, prompts: PromptSet) -> list[dict]:
    epochs = ctx.records["train"]["epochs"]
    snaps = snapshot_paths(ctx.rd.checkpoints, epochs, tuple(ctx.cfg["train"]["select"]["window"]))
    out = [
        announce(
            ctx, candidate(ctx, prompts, f"epoch-{e}:{file_sha256(p)[:16]}", ctx.weights(p), e)
        )
        for e, p in snaps
    ]
    if (
        not out
    ):  # no fine-tuning (base-model controls) or a window without snapshots: the last weights
        base = ctx.base_dir
        weights = "base:" + base.name if epochs == 0 and base else "final"
        checkpoint = f"{weights}:{config_hash(semantic_config(ctx.cfg))}"
        last = ctx.rd.checkpoints / f"epoch-{epochs:03d}.pt"
        model = ctx.weights(last) if epochs else ctx.fresh_model().to(ctx.eval_device()).eval()
        out = [announce(ctx, candidate(ctx, prompts, checkpoint, model, epochs) | {"final": True})]
    return out


def run(ctx: RunContext) -> None:
    s = ctx.cfg["train"]["select"]
    prompts = PromptSet.from_file(
        ctx.world_dir / "eval" / f"{s['prompt_set']}.jsonl", s["prompt_set"], s["max_prompts"]
    )
    found = candidates(ctx, prompts)
    failed = [c for c in found if c["status"] != "complete"]
    facts: dict[str, Any] = {"candidates": found, "judge": ctx.judge.id}
    if failed:
        reason = "; ".join(f"epoch {c['epoch']}: {c['status_reason']}" for c in failed)
        ctx.rd.write_stage(NAME, "judge_failed", reason=reason, **facts)
        raise StageFailed(
            NAME,
            "judge_failed",
            f"dev evaluation of {len(failed)} of {len(found)} candidates: {reason}",
        )
    best = best_candidate(found)
    name = (
        ("base" if ctx.records["train"]["epochs"] == 0 else "final")
        if best.get("final")
        else f"epoch-{best['epoch']}"
    )
    ctx.records[NAME] = ctx.rd.write_stage(
        NAME,
        "complete",
        selected=name,
        checkpoint=best["checkpoint"],
        epoch=best["epoch"],
        best=best,
        **facts,
    )
