"""The whole slice for one run: world → data → base model → fine-tune → select → export →
evaluate, each stage writing into the run directory so a rerun picks up where it stopped."""

from __future__ import annotations

import json
import logging
import math
import time
import uuid
from pathlib import Path
from typing import Any

import numpy as np
import pytorch_lightning as pl
import torch
from transformers import AutoTokenizer, PreTrainedTokenizerBase

from limalab.data.chat import ChatFormat
from limalab.data.datamodule import ChatDataModule
from limalab.data.mix import build_mix
from limalab.data.tokenized import tokenize
from limalab.data.tokenizer import CHAT_TEMPLATE, train_word_tokenizer
from limalab.eval.evaluate import evaluate
from limalab.eval.judges import ReferenceJudge, build_judge
from limalab.eval.perplexity import response_perplexity
from limalab.eval.probe import retention_probe
from limalab.eval.selection import select_checkpoint
from limalab.model.base import load_base, pretrained_base, read_probe
from limalab.model.callbacks import EpochSnapshot, KillPoint, ResumeMidEpoch, snapshot_paths
from limalab.model.checkpoint import chat_tokenizer
from limalab.model.dropout import add_residual_dropout
from limalab.model.module import CausalLMModule
from limalab.model.strategy import build_strategy, is_sharded, prepare_model, split_trainer_config
from limalab.model.throughput import Throughput
from limalab.model.trainable import freeze
from limalab.ranks import worker_rank
from limalab.tracking.identity import run_id as make_run_id
from limalab.tracking.identity import semantic_config
from limalab.tracking.io import atomic_write_json, config_hash, file_sha256, read_jsonl
from limalab.tracking.lock import run_lock
from limalab.tracking.loggers import (
    finish_wandb,
    log_eval_table,
    log_manifest_artifact,
    log_results_artifact,
    make_loggers,
)
from limalab.tracking.rundir import RunDir, now, provenance, redact, update_provenance, write_config
from limalab.world.build import WorldConfig, build_world, load_world

log = logging.getLogger(__name__)


def world_tokenizer(world_dir: Path, cache_dir: Path, eot: str) -> PreTrainedTokenizerBase:
    out = cache_dir / "tokenizers" / config_hash({"world": world_dir.name, "eot": eot, "template": CHAT_TEMPLATE})
    if not (out / "tokenizer_config.json").exists():
        tmp = out.with_name(out.name + ".tmp")
        train_word_tokenizer([world_dir / "corpus" / "pretrain.txt", world_dir / "corpus" / "lexicon.txt"], tmp, eot)
        tmp.rename(out)
    return AutoTokenizer.from_pretrained(out)


def single_process(kwargs: dict[str, Any]) -> dict[str, Any]:
    """The same Trainer on one device: for building the miniature's base, which every rank
    then reads from the cache."""
    out = {k: v for k, v in kwargs.items() if k not in ("strategy", "num_nodes")}
    return out | {"devices": 1}


def load_eval_prompts(path: Path, max_prompts: int | None) -> tuple[list[dict], str]:
    rows = read_jsonl(path)
    if max_prompts and max_prompts < len(rows):  # evenly spaced, so every prompt type stays in
        rows = [rows[i * len(rows) // max_prompts] for i in range(max_prompts)]
    return rows, config_hash(rows, length=16)


BUDGETS = ("epochs", "steps", "tokens")


def training_budget(train: dict[str, Any], n_examples: int, n_tokens: int) -> dict[str, Any]:
    """How long to train: ``train.budget=epochs`` (the paper: a fixed number of passes, so more
    data is more compute), ``steps`` (``train.max_steps`` optimizer steps whatever the size) or
    ``tokens`` (``train.max_tokens`` tokens seen), so a size sweep can be compute-matched."""
    policy = train.get("budget", "epochs")
    if policy not in BUDGETS:
        raise ValueError(f"train.budget: expected one of {BUDGETS}, got {policy!r}")
    per_epoch = max(1, math.ceil(n_examples / int(train["batch_size"])))
    if int(train["epochs"]) == 0:  # the base-model controls stay untrained under any policy
        return {"policy": policy, "epochs": 0, "max_steps": -1, "steps": 0, "steps_per_epoch": per_epoch}
    if policy == "epochs":
        epochs = int(train["epochs"])
        return {"policy": policy, "epochs": epochs, "max_steps": -1, "steps": epochs * per_epoch,
                "steps_per_epoch": per_epoch}
    if policy == "steps":
        steps = train.get("max_steps")
        if not isinstance(steps, int) or steps <= 0:
            raise ValueError(f"train.max_steps: a positive integer is needed with train.budget=steps, got {steps!r}")
    else:
        tokens = train.get("max_tokens")
        if not isinstance(tokens, int) or tokens <= 0:
            raise ValueError(f"train.max_tokens: a positive integer is needed with train.budget=tokens, got {tokens!r}")
        steps = max(1, math.ceil(tokens / max(1, n_tokens) * per_epoch))
    return {"policy": policy, "epochs": math.ceil(steps / per_epoch), "max_steps": steps, "steps": steps,
            "steps_per_epoch": per_epoch}


def max_new_tokens(eval_cfg: dict, response_lengths: list[int], max_length: int) -> int:
    """Sized from the 95th percentile of the training responses' lengths (tokens)."""
    if eval_cfg.get("max_new_tokens"):
        return int(eval_cfg["max_new_tokens"])
    p95 = float(np.percentile(response_lengths, 95)) if response_lengths else max_length / 2
    return int(min(max_length, math.ceil(p95 * eval_cfg.get("max_new_tokens_factor", 1.25))))


def run(cfg: dict[str, Any], callbacks: list[pl.Callback] | None = None) -> dict:
    """Run (or resume, or skip) one training run; returns its results. ``callbacks`` join the
    Trainer's (e.g. an Optuna pruning callback)."""
    t0 = time.time()
    cache_dir, runs_dir = Path(cfg["cache_dir"]), Path(cfg["runs_dir"])
    rid = make_run_id(cfg)
    rd = RunDir(runs_dir / rid)
    eot = cfg["model"].get("eot_token", "<|eot|>")

    world_dir = build_world(WorldConfig(**cfg["world"]), cache_dir)
    source = cfg["model"].get("source", "miniature")
    tkw, extras = split_trainer_config(cfg["trainer"])
    base_dir = None
    if source == "checkpoint":  # a real model: its own tokenizer, with EOT and chat template added
        tokenizer = chat_tokenizer(cfg["model"].get("path"), eot)
    elif source == "miniature":
        tokenizer = world_tokenizer(world_dir, cache_dir, eot)
        if cfg["model"].get("init", "pretrained") == "pretrained":
            base_dir = pretrained_base(cfg["model"], world_dir, tokenizer, cache_dir, single_process(tkw))
    else:
        raise ValueError(f"model.source: expected miniature or checkpoint, got {source!r}")
    chat = ChatFormat(tokenizer, eot)
    probe = read_probe(base_dir)
    world = load_world(world_dir)
    judge = build_judge(cfg["judge"], world=world, cache_dir=cache_dir)
    if not hasattr(judge, "judge"):
        raise ValueError("judge=pairwise compares two runs: train with a Likert judge, then "
                         "python src/evaluate.py run_dir=<a> compare_to=<b> judge=pairwise")
    reference = ReferenceJudge(world)  # the ground truth an LLM judge is validated against
    test_prompts, test_sha = load_eval_prompts(world_dir / "eval" / f"{cfg['eval']['prompt_set']}.jsonl",
                                               cfg["eval"].get("max_prompts"))

    skipped = _skip_if_complete(cfg, rd)
    if skipped:
        return skipped
    if worker_rank() != 0:  # a data-parallel worker started by the launcher: it trains, rank 0 does the rest
        return _train_and_evaluate(cfg, rd, rid, t0, world_dir, base_dir, tokenizer, chat, tkw, probe, judge,
                                   reference, test_prompts, test_sha, cache_dir, callbacks or [], extras)
    with run_lock(rd.path):  # a second launcher of the same run waits here, then skips it
        skipped = _skip_if_complete(cfg, rd)
        if skipped:
            return skipped
        if cfg.get("force") and rd.results.exists():
            _set_aside(rd)
        return _train_and_evaluate(cfg, rd, rid, t0, world_dir, base_dir, tokenizer, chat, tkw, probe, judge,
                                   reference, test_prompts, test_sha, cache_dir, callbacks or [], extras)


def _set_aside(rd: RunDir) -> Path:
    """force=true: the finished run's files move to ``<runs_dir>/.replaced/<id>-<n>/`` (kept,
    not deleted), so the run trains from scratch in its own directory."""
    replaced = rd.path.parent / ".replaced"
    n = len(list(replaced.glob(f"{rd.path.name}-*"))) if replaced.exists() else 0
    dest = replaced / f"{rd.path.name}-{n}"
    dest.mkdir(parents=True)
    for p in rd.path.iterdir():
        if p.name != ".lock":
            p.rename(dest / p.name)
    print(f"force: the previous run {rd.path.name} moved to {dest}")
    return dest


def _skip_if_complete(cfg: dict[str, Any], rd: RunDir) -> dict | None:
    done = rd.read_results()
    if done and not cfg.get("force", False):
        wanted = _test_spec(cfg, done["max_new_tokens"])
        existing = [s for s in done["evals"].values() if s["spec"] == wanted]
        if existing:
            log.info("run %s is complete: skipped (rerun with force=true to redo it)", rd.path.name)
            print(f"skipped: run {rd.path.name} is already complete in {rd.path}")
            return done | {"skipped": True, "headline_eval": existing[0]}
    return None


def _train_and_evaluate(cfg: dict[str, Any], rd: RunDir, rid: str, t0: float, world_dir: Path, base_dir: Path | None,
                        tokenizer: PreTrainedTokenizerBase, chat: ChatFormat, tkw: dict, probe: dict, judge: Any,
                        reference: Any, test_prompts: list[dict], test_sha: str, cache_dir: Path,
                        callbacks: list[pl.Callback], extras: dict[str, Any]) -> dict:
    worker = worker_rank() != 0
    if not worker:
        rd.path.mkdir(parents=True, exist_ok=True)
        write_config(rd, cfg)
    prov = json.loads(rd.provenance.read_text()) if rd.provenance.exists() else {}
    wandb_id = prov.get("wandb_id") or uuid.uuid4().hex[:12]
    base_name = base_dir.name if base_dir else cfg["model"].get("path")
    if not worker:
        update_provenance(rd, **provenance({"world": world_dir.name, "base_model": base_name, "run_id": rid}),
                          wandb_id=wandb_id, started_at=prov.get("started_at", now()),
                          resumed_at=now() if prov else None)

    # --- data
    examples, manifest = build_mix(cfg["data"], world_dir, cache_dir)
    max_length = int(cfg["train"]["max_length"])
    rows, tokenized_key = tokenize(examples, manifest["sha256"], chat, max_length, cache_dir)
    resp_lens = [sum(1 for t in lab if t != -100) for _, lab in rows]
    manifest.update(
        seed=cfg["seed"], tokenized_cache=tokenized_key, n_tokens=sum(len(ids) for ids, _ in rows), n_response_tokens=sum(resp_lens),
        n_trimmed=sum(1 for ex, (ids, _) in zip(examples, rows, strict=True) if len(ids) == max_length),
        response_tokens_p95=float(np.percentile(resp_lens, 95)),
    )
    if not worker:
        atomic_write_json(rd.manifest, manifest)
        print(f"data: {manifest['n_examples']} examples {manifest['source_counts']}")

    # --- fine-tune
    pl.seed_everything(cfg["seed"], workers=True)
    model = load_base(cfg["model"], base_dir, tokenizer, cfg["seed"])
    budget = training_budget(cfg["train"], len(rows), sum(len(ids) for ids, _ in rows))
    epochs = budget["epochs"]
    loggers = [] if worker else make_loggers(rd.path, rid, wandb_id, cfg, redact(cfg))
    log_manifest_artifact(loggers, rd.manifest, manifest)
    tokens_trained = 0
    if epochs > 0:
        add_residual_dropout(model, float(cfg["model"].get("residual_dropout", 0.0)))
        freeze(model, list(cfg["model"].get("frozen") or []))
        prepare_model(model, extras)
        o = cfg["optim"]
        module = CausalLMModule(model, lr=o["lr"], final_lr_ratio=o["final_lr_ratio"], betas=tuple(o["betas"]),
                                weight_decay=o["weight_decay"], schedule=o["schedule"],
                                warmup_steps=o.get("warmup_steps", 0), fused=o.get("fused", False),
                                lm_head_lr_scale=o.get("lm_head_lr_scale", 1.0))
        dm = ChatDataModule(rows, cfg["train"]["batch_size"], tokenizer.pad_token_id, cfg["seed"],
                            cfg["data"].get("num_workers", 0), layout=cfg["train"].get("layout", "pad"),
                            order=cfg["train"].get("order", "random"), max_length=max_length,
                            attention=extras.get("attn_implementation"),
                            pad_to_multiple_of=cfg["train"].get("pad_to_multiple_of"))
        last = rd.checkpoints / "last.ckpt"
        ckpt = pl.callbacks.ModelCheckpoint(dirpath=rd.checkpoints, save_last=True, save_top_k=0,
                                            every_n_train_steps=cfg["train"]["checkpoint_every_n_steps"])
        tput = Throughput(**(extras.get("throughput") or {}))
        trainer = pl.Trainer(**{**tkw, "strategy": build_strategy(extras.get("strategy"), model, tkw)},
                             max_epochs=epochs, max_steps=budget["max_steps"], logger=loggers or False,
                             use_distributed_sampler=False,
                             callbacks=[ckpt, EpochSnapshot(rd.checkpoints), ResumeMidEpoch(), KillPoint(), tput,
                                        *callbacks],
                             default_root_dir=str(rd.path))
        trainer.fit(module, datamodule=dm, ckpt_path=str(last) if last.exists() else None)
        tokens_trained = module.tokens_seen
        if worker:
            return {"run_id": rid, "status": "worker", "rank": trainer.global_rank}
        if trainer.world_size > 1 or is_sharded(module.model):  # evaluate unsharded weights on rank 0 alone
            model = load_base(cfg["model"], base_dir, tokenizer, cfg["seed"])
            add_residual_dropout(model, float(cfg["model"].get("residual_dropout", 0.0)))
            model.load_state_dict(torch.load(rd.checkpoints / f"epoch-{epochs:03d}.pt", map_location="cpu",
                                             weights_only=True))
    model.to(eval_device(tkw))
    # --- select a checkpoint on dev by generation quality (never by perplexity)
    select = cfg["train"]["select"]
    dev_prompts, dev_sha = load_eval_prompts(world_dir / "eval" / f"{select.get('prompt_set', 'dev')}.jsonl",
                                             select.get("max_prompts"))
    mnt = max_new_tokens(cfg["eval"], resp_lens, max_length)
    selection = []
    snaps = snapshot_paths(rd.checkpoints, epochs, tuple(select["window"]))
    for epoch, path in snaps:
        model.load_state_dict(torch.load(path, map_location="cpu", weights_only=True))
        selection.append(_dev_eval(rd, model, chat, dev_prompts, dev_sha, f"epoch-{epoch}:{file_sha256(path)[:16]}",
                                   cfg, mnt, judge, max_length) | {"epoch": epoch})
    if selection:
        best = select_checkpoint(selection)
        model.load_state_dict(torch.load(rd.checkpoints / f"epoch-{best['epoch']:03d}.pt", map_location="cpu",
                                         weights_only=True))
        selected, ckpt_id = f"epoch-{best['epoch']}", best["checkpoint"]
    else:  # no fine-tuning (base-model controls) or an empty window: the last weights
        ckpt_id = f"{'base:' + base_dir.name if epochs == 0 and base_dir else 'final'}:{config_hash(semantic_config(cfg))}"
        selected = "base" if epochs == 0 else "final"
        best = _dev_eval(rd, model, chat, dev_prompts, dev_sha, ckpt_id, cfg, mnt, judge, max_length) | {"epoch": epochs}
        selection.append(best)
    _export(rd, model, tokenizer)
    retention = retention_probe(model, chat, world_dir) if source_is_miniature(cfg) else {}

    # --- test evaluation of the selected checkpoint
    spec = _test_spec(cfg, mnt)
    few_shot = [ex.turns for ex in examples[: spec["few_shot"]]]
    summary = evaluate(rd.path, model, chat, test_prompts, test_sha, ckpt_id, spec, judge, few_shot,
                       cfg["eval"].get("batch_size", 16), reference, rd.model)
    prev = rd.read_results() or {}
    evals = {**prev.get("evals", {}), summary["eval_id"]: {"spec": spec, "judge_mean": summary["judge_mean"],
                                                           "judge_ci95": summary["judge_ci95"]}}
    metrics = prev.get("metrics") or {
        k: summary.get(k) for k in ("judge_mean", "judge_ci95", "judge_ci95_bootstrap", "n_judged", "n_invalid",
                                    "n_prompts", "correctness_mean", "fact_precision_mean", "has_required_mean",
                                    "format_mean", "eot_rate", "truncation_rate",
                                    "response_tokens_mean", "response_tokens", "categories", "length_bias",
                                    "by_type", "judge_usage", "validation")}
    metrics["dev_ppl"] = best["dev_ppl"]
    metrics["dev_judge_mean"] = best["dev_judge_mean"]
    results = {
        "run_id": rid, "status": "complete", "metrics": metrics, "default_eval": prev.get("default_eval", summary["eval_id"]),
        "evals": evals, "max_new_tokens": mnt, "selected_checkpoint": selected,
        "selection": selection, "tokens_trained": tokens_trained or prev.get("tokens_trained", 0), "budget": budget,
        "wall_s": round(time.time() - t0, 1) + (prev.get("wall_s", 0) if prev else 0),
        "wandb_run_id": wandb_id, "tags": list(cfg.get("tags") or []), "knowledge_probe": probe,
        "knowledge_retained": retention,
        "data": manifest["data"], "n_examples": manifest["n_examples"],
    }
    log_eval_table(loggers, rd.evals / summary["eval_id"])
    log_results_artifact(loggers, rd.path, results)
    for lg in loggers:
        if hasattr(lg, "log_metrics"):
            lg.log_metrics({f"test/{k}": v for k, v in metrics.items() if isinstance(v, int | float)})
            lg.finalize("success")
    finish_wandb()
    update_provenance(rd, ended_at=now())
    atomic_write_json(rd.results, results)  # last: marks the run complete
    return results | {"headline_eval": evals[summary["eval_id"]]}


def source_is_miniature(cfg: dict) -> bool:
    return cfg["model"].get("source", "miniature") == "miniature"


def eval_device(tkw: dict[str, Any]) -> torch.device:
    """Generation runs on one device: the first GPU when training used GPUs, else the CPU."""
    gpu = tkw.get("accelerator") in ("gpu", "cuda") or (tkw.get("accelerator") == "auto" and torch.cuda.is_available())
    return torch.device("cuda", 0) if gpu and torch.cuda.is_available() else torch.device("cpu")


def _test_spec(cfg: dict, mnt: int) -> dict:
    e = cfg["eval"]
    return {"prompt_set": e["prompt_set"], "k": e["k"], "decoding": dict(e["decoding"]), "max_new_tokens": mnt,
            "seed": e["seed"], "few_shot": e.get("few_shot", 0), "max_prompts": e.get("max_prompts"),
            "backend": e.get("backend", "hf")}


def _dev_eval(rd: RunDir, model, chat: ChatFormat, prompts: list[dict], sha: str, ckpt_id: str, cfg: dict, mnt: int,
              judge, max_length: int) -> dict:
    s = cfg["train"]["select"]
    spec = {"prompt_set": s.get("prompt_set", "dev"), "role": "select", "k": s["k"], "decoding": dict(cfg["eval"]["decoding"]),
            "max_new_tokens": mnt, "seed": cfg["eval"]["seed"], "few_shot": 0, "max_prompts": s.get("max_prompts")}
    summary = evaluate(rd.path, model, chat, prompts, sha, ckpt_id, spec, judge, None, cfg["eval"].get("batch_size", 16))
    ppl = response_perplexity(model, chat, [[p["prompt"], p["reference"]] for p in prompts], max_length)
    return {"checkpoint": ckpt_id, "eval_id": summary["eval_id"], "dev_judge_mean": summary["judge_mean"],
            "dev_judge_ci95": summary["judge_ci95"], "dev_ppl": ppl}


def _export(rd: RunDir, model: torch.nn.Module, tokenizer: PreTrainedTokenizerBase) -> None:
    """The selected checkpoint as a ``save_pretrained`` directory (model, tokenizer, chat template)."""
    import shutil

    tmp = rd.path / "model.tmp"
    shutil.rmtree(tmp, ignore_errors=True)
    model.save_pretrained(tmp)
    tokenizer.save_pretrained(tmp)
    shutil.rmtree(rd.model, ignore_errors=True)
    tmp.rename(rd.model)
