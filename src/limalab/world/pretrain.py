"""The miniature's base model: the tiny LLaMA pretrained once on the world's corpus, cached by a
hash of everything that shapes it (and verified on every use), with its knowledge probe.

A base scaled up from another (``model.reference``, e.g. ``model=tiny_large``) is usable only
if it knows at least as many test facts as that reference (``model.derive.gate``): the
reference is built first, the larger base is built and cached (its weights stay for
inspection), and every use compares the two probes and refuses a base below the bar."""

from __future__ import annotations

import json
import logging
import shutil
import time
from pathlib import Path
from typing import Any

import pytorch_lightning as pl
import torch
from pytorch_lightning.callbacks import ModelCheckpoint
from transformers import PreTrainedTokenizerBase

from limalab.data.datamodule import Batching, ChatDataModule
from limalab.model.base import init_width_mult, tiny_llama
from limalab.model.callbacks import KillPoint, ProgressLog, ResumeMidEpoch
from limalab.model.module import CausalLMModule, Recipe
from limalab.tracking.cache import cached_entry
from limalab.tracking.identity import base_recipe
from limalab.tracking.io import atomic_write_json, config_hash
from limalab.versions import PIPELINE_VERSION
from limalab.world.probe import knowledge_probe

log = logging.getLogger(__name__)


def corpus_chunks(
    path: Path, tokenizer: PreTrainedTokenizerBase, seq_len: int
) -> list[tuple[list[int], list[int]]]:
    """The corpus as one stream of ``<s> doc </s>`` packed into ``seq_len`` chunks."""
    docs = path.read_text(encoding="utf-8").splitlines()
    stream: list[int] = []
    for ids in tokenizer(docs, add_special_tokens=False)["input_ids"]:
        stream += [tokenizer.bos_token_id, *ids, tokenizer.eos_token_id]
    return [(stream[i : i + seq_len],) * 2 for i in range(0, len(stream) - seq_len + 1, seq_len)]


def base_hash(model_cfg: dict[str, Any], world_hash: str) -> str:
    keep = {**base_recipe(model_cfg), "init": model_cfg.get("init")}
    return config_hash({"model": keep, "world": world_hash, "v": PIPELINE_VERSION})


class BaseNotUsable(ValueError):
    """A base scaled up from another knows fewer test facts than it (``model.derive.gate``)."""


def base_dir(model_cfg: dict[str, Any], world_dir: Path, cache_dir: Path) -> Path:
    """Where the base of this model config lives in the cache (built or not)."""
    return cache_dir / "base" / base_hash(model_cfg, world_dir.name)


def pretrained_base(
    model_cfg: dict[str, Any],
    world_dir: Path,
    tokenizer: PreTrainedTokenizerBase,
    cache_dir: Path,
    trainer_kwargs: dict[str, Any],
) -> Path:
    """Directory of the pretrained miniature base (``save_pretrained`` format), built once and
    verified on every use (tracking/cache.py). A killed pretraining resumes from its last
    checkpoint (``<key>.work``, used under the entry's lock) on the next call. A base with a
    ``reference`` is built after it and must pass the probe gate (``BaseNotUsable``)."""
    ref = model_cfg.get("reference")
    ref_dir = pretrained_base(ref, world_dir, tokenizer, cache_dir, trainer_kwargs) if ref else None
    out = base_dir(model_cfg, world_dir, cache_dir)
    path = cached_entry(
        out,
        lambda tmp: _pretrain(model_cfg, world_dir, tokenizer, trainer_kwargs, out.name, tmp),
        "base model",
    )
    if ref_dir is not None:
        gate = probe_gate(read_probe(path), read_probe(ref_dir), model_cfg["derive"]["gate"])
        if not gate["passed"]:
            raise BaseNotUsable(gate_failure(model_cfg, path, ref_dir, gate))
        log.info(
            "base model %s passes the probe gate against %s: %s",
            path.name,
            ref_dir.name,
            gate["facts"],
        )
    return path


def build_numerics() -> dict[str, Any]:
    """What decides a CPU build's float sums besides its recipe: the thread count (the order of
    each matmul's sums) and the kernels torch picked for this CPU. Another value of either builds
    another model under the same key (bit-identical only when all three match)."""
    return {
        "torch_threads": torch.get_num_threads(),
        "cpu_capability": torch.backends.cpu.get_cpu_capability(),
        "torch": torch.__version__,
    }


def known_facts(probe: dict, measure: str) -> int:
    """Test facts a base completes under one probe measure (``accuracy``, ``named_accuracy``)."""
    return round(float(probe[measure]) * int(probe["n_facts"]))


def probe_gate(probe: dict, reference: dict, measures: list[str]) -> dict:
    """Per measure, (facts known, the reference's); passed when none falls below the reference.
    The same facts on the same world: a probe over other facts cannot pass."""
    if probe.get("n_facts") != reference.get("n_facts") or probe.get("prompt_set") != reference.get(
        "prompt_set"
    ):
        return {
            "passed": False,
            "facts": {},
            "reason": f"probes over different facts ({probe.get('n_facts')} "
            f"{probe.get('prompt_set')} vs {reference.get('n_facts')} "
            f"{reference.get('prompt_set')})",
        }
    facts = {m: [known_facts(probe, m), known_facts(reference, m)] for m in measures}
    return {
        "passed": all(a >= b for a, b in facts.values()),
        "facts": facts,
        "n_facts": probe["n_facts"],
        "reference": reference.get("base"),
    }


def gate_failure(model_cfg: dict[str, Any], path: Path, ref_dir: Path, gate: dict) -> str:
    short = "; ".join(
        f"{m}: {a:,} of {gate['n_facts']:,} test facts against {b:,}"
        for m, (a, b) in gate["facts"].items()
        if a < b
    ) or gate.get("reason", "")
    return (
        f"model.derive.gate: base {path.name} ({model_cfg['name']}) knows fewer test facts than "
        f"its reference {ref_dir.name} ({model_cfg['reference']['name']}): {short}; "
        f"not usable (its weights stay in {path})"
    )


def _pretrain(
    model_cfg: dict[str, Any],
    world_dir: Path,
    tokenizer: PreTrainedTokenizerBase,
    trainer_kwargs: dict[str, Any],
    key: str,
    tmp: Path,
) -> None:
    work = tmp.parent / f"{key}.work"
    work.mkdir(parents=True, exist_ok=True)
    pt = model_cfg["pretrain"]
    pl.seed_everything(pt["seed"], workers=True)
    model = tiny_llama(model_cfg["arch"], tokenizer, pt["seed"], init_width_mult(model_cfg))
    chunks = corpus_chunks(world_dir / "corpus" / "pretrain.txt", tokenizer, pt["seq_len"])
    n_params = sum(p.numel() for p in model.parameters())
    log.info(
        "pretraining base %s: %.2fM parameters, %d chunks of %d tokens, %d epochs",
        key,
        n_params / 1e6,
        len(chunks),
        pt["seq_len"],
        pt["epochs"],
    )
    module = CausalLMModule(
        model,
        Recipe(
            lr=pt["lr"],
            final_lr_ratio=pt["final_lr_ratio"],
            schedule="cosine",
            warmup_steps=pt["warmup_steps"],
            weight_decay=0.1,
            input_lr_scale=float(pt.get("input_lr_scale", 1.0)),
        ),
    )
    dm = ChatDataModule(chunks, Batching(pt["batch_size"]), tokenizer.pad_token_id, pt["seed"])
    trainer = _pretraining_trainer(pt, trainer_kwargs, work)
    last = work / "checkpoints" / "last.ckpt"
    t0 = time.time()
    trainer.fit(module, datamodule=dm, ckpt_path=str(last) if last.exists() else None)
    model.save_pretrained(tmp)
    tokenizer.save_pretrained(tmp)
    probe = knowledge_probe(model, tokenizer, world_dir)
    probe.update(
        base=key,
        n_params=n_params,
        pretrain_wall_s=round(time.time() - t0, 1),
        pretrain_tokens=len(chunks) * pt["seq_len"] * pt["epochs"],
        final_loss=float(trainer.callback_metrics.get("train/loss_epoch", float("nan"))),
        build=build_numerics(),
    )
    atomic_write_json(tmp / "probe.json", probe)
    shutil.rmtree(work, ignore_errors=True)
    log.info("base model %s: knowledge probe %.1f%% on test entities", key, 100 * probe["accuracy"])


def _pretraining_trainer(
    pt: dict[str, Any], trainer_kwargs: dict[str, Any], work: Path
) -> pl.Trainer:
    """A Trainer that checkpoints into ``work`` every few steps, so a killed pretraining resumes
    mid-epoch; no logger (the base is a cache entry, not a run)."""
    ckpt = ModelCheckpoint(
        dirpath=work / "checkpoints",
        save_last=True,
        every_n_train_steps=int(pt.get("checkpoint_every_n_steps", 50)),
        save_top_k=0,
        save_on_train_epoch_end=True,
    )
    return pl.Trainer(
        **{
            **trainer_kwargs,
            "max_epochs": pt["epochs"],
            "logger": False,
            "use_distributed_sampler": False,
            "callbacks": [
                ckpt,
                ResumeMidEpoch(),
                KillPoint("pretrain_step"),
                ProgressLog("pretrain"),
            ],
            "enable_checkpointing": True,
            "default_root_dir": str(work),
        }
    )


def read_probe(base_dir: Path | None) -> dict:
    if base_dir is None or not (base_dir / "probe.json").exists():
        return {}
    return json.loads((base_dir / "probe.json").read_text())


def base_probe(
    model_cfg: dict[str, Any], path: Path | None, world_dir: Path, cache_dir: Path
) -> dict:
    """The base's knowledge probe as a run records it; a derived base's with its gate."""
    probe = read_probe(path)
    if probe and model_cfg.get("reference"):
        ref = read_probe(base_dir(model_cfg["reference"], world_dir, cache_dir))
        probe["gate"] = probe_gate(probe, ref, model_cfg["derive"]["gate"])
    return probe
