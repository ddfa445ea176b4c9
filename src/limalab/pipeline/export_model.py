"""Stage ``export``: the selected checkpoint as a ``save_pretrained`` directory (``model/``:
weights, config, tokenizer with its chat template) that plain transformers loads and chats
with — ``generate`` and ``pipeline("text-generation")`` stop at the end-of-turn token, sample
with the paper's decoding and know the model's real context length — plus a model card
(``model/README.md``); and, on the miniature, how much of the base's knowledge the selected
model kept (retention probe).

The card is written twice: at export (base, data, recipe, selection) and again when the run
ends with its results (``write_model_card`` from pipeline/run.py). It is therefore not among
the files the export record hashes: the results change whenever the run is evaluated again
(another judge), and that must not make the exported weights look stale. The run's
``results.json`` records the card's hash instead."""

from __future__ import annotations

import json
import shutil
from pathlib import Path
from typing import Any

import torch
from transformers import GenerationConfig

from limalab.pipeline.context import RunContext
from limalab.tracking.io import atomic_write_text
from limalab.world.probe import retention_probe

NAME = "export"
CARD = "README.md"  # the Hub's model card file name


def selected_model(ctx: RunContext) -> torch.nn.Module:
    sel = ctx.records["select"]
    if sel["selected"] == "base":
        return ctx.fresh_model().to(ctx.eval_device()).eval()
    return ctx.weights(ctx.rd.checkpoints / f"epoch-{sel['epoch']:03d}.pt")


def is_current(ctx: RunContext, record: dict) -> bool:
    """An export is the run's only while it holds the checkpoint the selection chose."""
    return record.get("checkpoint") == ctx.records["select"]["checkpoint"]


def generation_config(ctx: RunContext) -> GenerationConfig:
    """What plain ``generate`` does with the export: stop at EOT (a turn's end) or ``</s>``,
    sample with the run's decoding (the paper's p=0.9, T=0.7, repetition penalty 1.2) up to the
    run's generation limit."""
    tok, d = ctx.tokenizer, ctx.cfg["eval"]["decoding"]
    stops = list(dict.fromkeys(t for t in (ctx.chat.eot_id, tok.eos_token_id) if t is not None))
    return GenerationConfig(
        eos_token_id=stops,
        pad_token_id=tok.pad_token_id,
        bos_token_id=tok.bos_token_id,
        do_sample=bool(d["do_sample"]),
        top_p=float(d["top_p"]),
        temperature=float(d["temperature"]),
        repetition_penalty=float(d["repetition_penalty"]),
        max_new_tokens=int(ctx.max_new_tokens),
    )


def _set_model_max_length(model_dir: Path, n: int) -> None:
    """The tokenizer's ``model_max_length`` is the model's position limit, not transformers'
    1e30 "unknown" (so ``truncation=True`` and the pipeline's length checks mean something)."""
    path = model_dir / "tokenizer_config.json"
    cfg = json.loads(path.read_text(encoding="utf-8"))
    cfg["model_max_length"] = n
    path.write_text(json.dumps(cfg, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")


def run(ctx: RunContext) -> None:
    model = selected_model(ctx)
    tmp = ctx.rd.path / "model.tmp"
    shutil.rmtree(tmp, ignore_errors=True)
    model.generation_config = generation_config(ctx)
    model.save_pretrained(tmp)
    ctx.tokenizer.save_pretrained(tmp)
    _set_model_max_length(tmp, int(model.config.max_position_embeddings))
    shutil.rmtree(ctx.rd.model, ignore_errors=True)
    tmp.rename(ctx.rd.model)
    retained = retention_probe(model, ctx.chat, ctx.world_dir) if ctx.miniature else {}
    files = sorted(p for p in ctx.rd.model.rglob("*") if p.is_file() and p.name != CARD)
    ctx.records[NAME] = ctx.rd.write_stage(
        NAME,
        "complete",
        files,
        checkpoint=ctx.records["select"]["checkpoint"],
        knowledge_retained=retained,
    )
    write_model_card(ctx, None)


def write_model_card(ctx: RunContext, results: dict[str, Any] | None) -> Path | None:
    """``model/README.md``: what the model is, what it was trained on and how, and (once the
    run is evaluated) its results with their 95% CI. ``None`` when there is no export."""
    if not ctx.rd.model.is_dir():
        return None
    path = ctx.rd.model / CARD
    atomic_write_text(
        path,
        model_card(
            ctx.cfg, ctx.run_id, ctx.base_name, ctx.manifest, ctx.records.get("select", {}), results
        ),
    )
    return path


def model_card(
    cfg: dict[str, Any],
    run_id: str,
    base: str | None,
    manifest: dict[str, Any],
    select: dict,
    results: dict[str, Any] | None,
) -> str:
    """The card's text: Hub metadata (front matter), then base, data, recipe, results, run."""
    t, o, m = cfg["train"], cfg["optim"], cfg["model"]
    front = [
        "---",
        "library_name: transformers",
        "pipeline_tag: text-generation",
        "tags: [limalab, lima, "
        + ", ".join([str(cfg["data"]["name"]), *map(str, cfg.get("tags") or [])])
        + "]",
        "---",
        "",
    ]
    counts = ", ".join(f"{k} {v}" for k, v in sorted((manifest.get("source_counts") or {}).items()))
    body = [
        f"# limalab run {run_id}",
        "",
        f"A LIMA-style fine-tune ({m['source']} {base or m.get('path') or 'model'}) on "
        f"`{cfg['data']['name']}`, chat format `<|user|> … {m['eot_token']}<|assistant|> … "
        f"{m['eot_token']}` (the tokenizer's chat template). `generation_config.json` holds the "
        "decoding the run was evaluated with and stops at the end-of-turn token.",
        "",
        "## Base model",
        "",
        f"- {m['source']}: `{base or m.get('path')}`",
        "",
        "## Data",
        "",
        f"- `{manifest.get('data')}`: {manifest.get('n_examples')} examples "
        f"({counts or 'no source counts'})",
        f"- manifest sha256 `{manifest.get('sha256')}`, subset seed {manifest.get('subset_seed')}",
        "",
        "## Recipe",
        "",
        f"- {t['epochs']} epochs (budget `{t['budget']}`), batch {t['batch_size']}, max length "
        f"{t['max_length']}",
        f"- AdamW lr {o['lr']} ({o['schedule']} to {o['final_lr_ratio']}x), betas "
        f"{list(o['betas'])}, weight decay {o['weight_decay']}, residual dropout "
        f"{m['residual_dropout']}, seed {cfg['seed']}",
        f"- checkpoint selected on the dev prompts by judge score: {select.get('selected', '?')} "
        f"(candidates: {_candidates(select)})",
        "",
        "## Results",
        "",
        *_results_lines(results),
        "",
        "## Run",
        "",
        f"- run id `{run_id}` (the run directory's name; `provenance.json` there has the git sha "
        "and package versions)",
        "",
    ]
    return "\n".join(front + body)


def _candidates(select: dict) -> str:
    out = [
        f"epoch {c['epoch']}: {c['dev_judge_mean']:.2f}"
        for c in select.get("candidates", [])
        if isinstance(c.get("dev_judge_mean"), int | float)
    ]
    return "; ".join(out) or "none"


def _results_lines(results: dict[str, Any] | None) -> list[str]:
    head = (results or {}).get("headline_eval")
    if not results or results.get("status") != "complete" or not head:
        return [
            "Not evaluated yet: this card is rewritten with the results when the run completes."
        ]
    lo, hi = head["judge_ci95"]
    spec = head["spec"]
    n = results.get("metrics", {}).get("n_judged")
    return [
        "| judge | prompt set | judge mean | 95% CI | n judged |",
        "|---|---|---|---|---|",
        f"| {head['judge']} | {spec['prompt_set']} (k={spec['k']}) | {head['judge_mean']:.3f} | "
        f"{lo:.3f}–{hi:.3f} | {n} |",
    ]
