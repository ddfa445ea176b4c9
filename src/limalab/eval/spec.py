"""What an evaluation is: its spec (everything that shapes the numbers), its prompt set, and
the rule that says when its headline is valid. Defined once here; the pipeline's dev selection
and test evaluation and ``src/evaluate.py`` all build their specs with ``EvalSpec.from_config``."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from limalab.tracking.io import config_hash, read_jsonl

ROLES = ("test", "select")


@dataclass(frozen=True)
class EvalSpec:
    prompt_set: str
    k: int
    decoding: dict[str, Any]
    max_new_tokens: int
    seed: int
    few_shot: int = 0
    max_prompts: int | None = None
    backend: str = "hf"
    role: str = "test"  # select: a dev evaluation for checkpoint selection
    # prompts per generate call: HF draws one random stream per batch, so the batching shapes
    # the samples and belongs to the spec (a rerun with another batch size samples anew)
    batch_size: int = 64
    kv_cache: str = "static"  # static: fixed shapes, no per-length kernel set-up (2-3x on CPU)
    # the attention kernel while decoding (eval/generate.py ``decoding_attention``): its
    # rounding differs from another kernel's, so it shapes the samples too
    attention: str = "auto"

    @classmethod
    def from_config(cls, eval_cfg: dict[str, Any], max_new_tokens: int, **changes: Any) -> EvalSpec:
        """The spec of ``eval.*`` (the test evaluation), with ``changes`` (dev selection: its
        prompt set, k and prompt count, ``role="select"``)."""
        base = {
            "prompt_set": eval_cfg["prompt_set"],
            "k": eval_cfg["k"],
            "decoding": dict(eval_cfg["decoding"]),
            "max_new_tokens": max_new_tokens,
            "seed": eval_cfg["seed"],
            "few_shot": eval_cfg["few_shot"],
            "max_prompts": eval_cfg["max_prompts"],
            "backend": eval_cfg["backend"],
            "batch_size": eval_cfg["batch_size"],
            # a run recorded before the key existed: today's default (the same samples)
            "kv_cache": eval_cfg.get("kv_cache", cls.kv_cache),
            # a run recorded before this key decoded with the model's own kernel (SDPA)
            "attention": eval_cfg.get("attention", "model"),
        }
        return cls(**{**base, **changes})

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass(frozen=True)
class PromptSet:
    """Eval prompts: rows (each with ``prompt_id`` and ``prompt``), their hash and a name."""

    rows: list[dict] = field(repr=False)
    sha: str
    name: str

    @classmethod
    def from_rows(cls, rows: list[dict], name: str, max_prompts: int | None = None) -> PromptSet:
        if max_prompts and max_prompts < len(rows):  # evenly spaced, so every prompt type stays in
            rows = [rows[i * len(rows) // max_prompts] for i in range(max_prompts)]
        if not rows:
            raise ValueError(f"prompt set {name!r}: no prompts to evaluate on")
        return cls(rows, config_hash(rows, length=16), name)

    @classmethod
    def from_file(cls, path: Path, name: str, max_prompts: int | None = None) -> PromptSet:
        return cls.from_rows(read_jsonl(path), name, max_prompts)


@dataclass(frozen=True)
class Completion:
    """Whether an evaluation's headline is valid: a number computed from enough valid judgments."""

    status: str  # complete | judge_failed
    reason: str | None = None

    @property
    def complete(self) -> bool:
        return self.status == "complete"


def completion(n_rows: int, n_invalid: int, max_invalid_fraction: float) -> Completion:
    """``complete`` when at most ``max_invalid_fraction`` of the judgments are invalid (and at
    least one is valid); otherwise ``judge_failed`` with the counts."""
    if n_rows == 0:
        return Completion("judge_failed", "nothing was judged (0 responses)")
    if n_invalid == n_rows or n_invalid / n_rows > max_invalid_fraction:
        return Completion(
            "judge_failed",
            f"{n_invalid} of {n_rows} judgments invalid "
            f"({n_invalid / n_rows:.1%}; eval.max_invalid_fraction={max_invalid_fraction:g})",
        )
    return Completion("complete")


def size_max_new_tokens(
    eval_cfg: dict[str, Any], response_lengths: list[int], max_length: int
) -> int:
    """``eval.max_new_tokens``, or sized from the 95th percentile of the training responses'
    lengths (tokens) times ``eval.max_new_tokens_factor``."""
    import math

    import numpy as np

    if eval_cfg["max_new_tokens"]:
        return int(eval_cfg["max_new_tokens"])
    p95 = float(np.percentile(response_lengths, 95)) if response_lengths else max_length / 2
    return int(min(max_length, math.ceil(p95 * eval_cfg["max_new_tokens_factor"])))
