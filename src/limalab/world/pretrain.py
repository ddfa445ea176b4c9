"""The miniature's base model: the tiny LLaMA pretrained once on the world's corpus, cached by a
hash of everything that shapes it (and verified on every use), with its knowledge probe."""

from __future__ import annotations

import json
import logging
import shutil
import time
from pathlib import Path
from typing import Any

import pytorch_lightning as pl
from pytorch_lightning.callbacks import ModelCheckpoint
from transformers import PreTrainedTokenizerBase

from limalab.data.datamodule import Batching, ChatDataModule
from limalab.model.base import tiny_llama
from limalab.model.callbacks import KillPoint, ProgressLog, ResumeMidEpoch
from limalab.model.module import CausalLMModule, Recipe
from limalab.tracking.cache import cached_entry
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
    keep = {k: model_cfg.get(k) for k in ("arch", "pretrain", "init", "path")}
    if isinstance(keep["pretrain"], dict):  # how often to checkpoint never changes the base
        keep["pretrain"] = {
            k: v for k, v in keep["pretrain"].items() if k != "checkpoint_every_n_steps"
        }
    return config_hash({"model": keep, "world": world_hash, "v": PIPELINE_VERSION})


def pretrained_base(
    model_cfg: dict[str, Any],
    world_dir: Path,
    tokenizer: PreTrainedTokenizerBase,
    cache_dir: Path,
    trainer_kwargs: dict[str, Any],
) -> Path:
    """Directory of the pretrained miniature base (``save_pretrained`` format), built once and
    verified on every use (tracking/cache.py). A killed pretraining resumes from its last
    checkpoint (``<key>.work``, used under the entry's lock) on the next call."""
    key = base_hash(model_cfg, world_dir.name)
    out = cache_dir / "base" / key
    return cached_entry(
        out,
        lambda tmp: _pretrain(model_cfg, world_dir, tokenizer, trainer_kwargs, key, tmp),
        "base model",
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
    model = tiny_llama(model_cfg["arch"], tokenizer, pt["seed"])
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
