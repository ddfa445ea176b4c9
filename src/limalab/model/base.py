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
    arch: dict[str, Any],
    tokenizer: PreTrainedTokenizerBase,
    seed: int,
    init_width_mult: float = 1.0,
) -> LlamaForCausalLM:
    """A tiny LLaMA of shape ``arch`` at HF's init (every matrix N(0, 0.02)), or, for a base
    ``init_width_mult`` times the width of the one it scales up, muP's init relative to it."""
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
    model = LlamaForCausalLM(cfg)
    if init_width_mult != 1.0:
        mup_init(model, init_width_mult)
    return model


@torch.no_grad()
def mup_init(model: LlamaForCausalLM, width_mult: float) -> None:
    """muP's init for Adam (Tensor Programs V, table 3) relative to a base ``width_mult`` times
    narrower: the hidden matrices' std falls as 1/sqrt(width) (their fan-in grows), the output
    layer's as 1/width (its logits sum width terms that align with training), the input
    embedding keeps the base's. The draws are the HF init's, rescaled: the same seed, the same
    directions."""
    for layer in model.model.layers:
        for module in layer.modules():
            if isinstance(module, torch.nn.Linear):
                module.weight.mul_(width_mult**-0.5)
    model.lm_head.weight.mul_(1.0 / width_mult)


def init_width_mult(model_cfg: dict[str, Any]) -> float:
    """The width ratio a base's init is scaled by (muP; 1 for a base not derived from another)."""
    return float(model_cfg["pretrain"].get("init_width_mult", 1.0))


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
        return tiny_llama(model_cfg["arch"], tokenizer, seed, init_width_mult(model_cfg)).train()
    # from_pretrained returns eval mode: dropout would stay off
    return AutoModelForCausalLM.from_pretrained(base_dir, dtype=torch.float32).train()
