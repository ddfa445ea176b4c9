"""The model to fine-tune: a tiny LLaMA of a given shape (the miniature's base, pretrained by
``world/pretrain.py``), a random init of that shape, or any local HF LLaMA checkpoint."""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

import torch
from transformers import (
    AutoModelForCausalLM,
    LlamaConfig,
    LlamaForCausalLM,
    PreTrainedTokenizerBase,
)

from limalab.model.checkpoint import fit_embeddings, load_causal_lm

log = logging.getLogger(__name__)


def tiny_llama(
    arch: dict[str, Any], tokenizer: PreTrainedTokenizerBase, seed: int
) -> LlamaForCausalLM:
    torch.manual_seed(seed)
    cfg = LlamaConfig(
        vocab_size=len(tokenizer),
        pad_token_id=tokenizer.pad_token_id,
        bos_token_id=tokenizer.bos_token_id,
        eos_token_id=tokenizer.eos_token_id,
        tie_word_embeddings=False,
        attn_implementation="sdpa",
        **arch,
    )
    return LlamaForCausalLM(cfg)


def load_base(
    model_cfg: dict[str, Any], base_dir: Path | None, tokenizer: PreTrainedTokenizerBase, seed: int
) -> torch.nn.Module:
    """The model to fine-tune: the pretrained base, a random init of the same shape (control),
    or a local HF checkpoint (``model.source=checkpoint``) grown to the chat tokenizer."""
    init = model_cfg.get("init", "pretrained")
    if init not in ("pretrained", "random"):
        raise ValueError(f"model.init: expected 'pretrained' or 'random', got {init!r}")
    if model_cfg.get("source", "miniature") == "checkpoint":
        model = load_causal_lm(
            model_cfg.get("path"),
            model_cfg.get("dtype", "float32"),
            random_init=init == "random",
            seed=seed,
        )
        fit_embeddings(model, tokenizer)
        return model.train()
    if init == "random":
        return tiny_llama(model_cfg["arch"], tokenizer, seed).train()
    # from_pretrained returns eval mode: dropout would stay off
    return AutoModelForCausalLM.from_pretrained(base_dir, dtype=torch.float32).train()
