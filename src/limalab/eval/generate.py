"""Batched, sampled generation with the KV cache (HF ``generate``), k samples per prompt."""

from __future__ import annotations

import time
from collections.abc import Iterator
from contextlib import contextmanager

import torch
from tqdm import tqdm

from limalab.data.chat import ChatFormat
from limalab.eval.spec import EvalSpec
from limalab.tracking.faults import kill_point
from limalab.tracking.progress import ProgressLine


def prompt_turns(row: dict, few_shot: list[list[str]]) -> list[str]:
    """The dialogue a prompt is asked in: optional demonstrations, the conversation so far
    (``history``: alternating user and assistant turns), then the prompt."""
    return [t for ex in few_shot for t in ex[:2]] + list(row.get("history", [])) + [row["prompt"]]


def _left_padded(ids: list[list[int]], pad_id: int) -> tuple[torch.Tensor, torch.Tensor]:
    """Token ids padded on the left (generation continues from the right edge) and their mask."""
    n = max(len(x) for x in ids)
    x = torch.full((len(ids), n), pad_id)
    mask = torch.zeros_like(x)
    for i, row in enumerate(ids):
        x[i, n - len(row) :] = torch.tensor(row)
        mask[i, n - len(row) :] = 1
    return x, mask


def decoding_kernel(attention: str, device: torch.device) -> str | None:
    """The attention implementation to decode with (``eval.attention``); ``None``: the model's
    own. ``auto`` is eager on a CPU: a decoding step's query is one token against the whole
    static cache, which SDPA's CPU flash kernel reads as one matrix-vector product per sequence
    and head, while eager attention batches them (1.2-1.4x the tokens per second of a whole
    generation, bench/generation.py). Elsewhere SDPA's fused kernels win."""
    if attention == "auto":
        return "eager" if device.type == "cpu" else None
    return None if attention == "model" else attention


@contextmanager
def decoding_attention(model: torch.nn.Module, attention: str) -> Iterator[None]:
    """``model`` decodes with ``decoding_kernel``'s attention inside the block; its own (e.g. the
    training's varlen kernel, during checkpoint selection) is restored after it."""
    want = decoding_kernel(attention, model.device)
    own = model.config._attn_implementation
    if want is None or want == own:
        yield
        return
    model.set_attn_implementation(want)
    try:
        yield
    finally:
        model.set_attn_implementation(own)


def _sample(
    model: torch.nn.Module, chat: ChatFormat, x: torch.Tensor, mask: torch.Tensor, spec: EvalSpec
) -> torch.Tensor:
    """``spec.k`` continuations per row (new tokens only), stopping at the end-of-turn token."""
    decoding = spec.decoding
    return model.generate(
        input_ids=x.to(model.device),
        attention_mask=mask.to(model.device),
        max_new_tokens=spec.max_new_tokens,
        num_return_sequences=spec.k,
        do_sample=bool(decoding["do_sample"]),
        top_p=decoding["top_p"],
        temperature=decoding["temperature"],
        repetition_penalty=decoding["repetition_penalty"],
        eos_token_id=chat.eot_id,
        pad_token_id=chat.tokenizer.pad_token_id,
        use_cache=True,
        cache_implementation=None if spec.kv_cache == "dynamic" else spec.kv_cache,
    )[:, x.shape[1] :]


def _output_rows(
    sequences: list[list[int]], prompts: list[dict], chat: ChatFormat, spec: EvalSpec
) -> list[dict]:
    """One output row per sampled sequence (``spec.k`` per prompt, in order): the response up
    to the end-of-turn token, and whether it got there."""
    tok, k = chat.tokenizer, spec.k
    out = []
    for j, seq in enumerate(sequences):
        row = prompts[j // k]
        terminated = chat.eot_id in seq
        body = seq[: seq.index(chat.eot_id)] if terminated else seq
        body = [t for t in body if t != tok.pad_token_id]
        out.append(
            {
                "prompt_id": row["prompt_id"],
                "sample": j % k,
                "type": row.get("type"),
                "prompt": row["prompt"],
                "response": tok.decode(body, skip_special_tokens=True).strip(),
                "n_tokens": len(body),
                "terminated": terminated,
                "decoding": {**spec.decoding, "max_new_tokens": spec.max_new_tokens},
            }
        )
    return out


@torch.no_grad()
def generate(
    model: torch.nn.Module,
    chat: ChatFormat,
    rows: list[dict],
    spec: EvalSpec,
    few_shot: list[list[str]] | None = None,
    desc: str = "generate",
) -> list[dict]:
    """``spec.k`` output rows per prompt, sampled with ``spec.decoding`` up to
    ``spec.max_new_tokens``, ``spec.batch_size`` prompts per call. Prompts are sorted by length
    so a batch wastes little padding; each batch is seeded from ``spec.seed``, so a rerun gives
    the same samples."""
    batch_size = spec.batch_size
    model.eval()
    encoded = [(row, chat.encode_prompt(prompt_turns(row, few_shot or []))) for row in rows]
    encoded.sort(key=lambda x: len(x[1]))
    out: list[dict] = []
    batches = [encoded[i : i + batch_size] for i in range(0, len(encoded), batch_size)]
    progress, new_tokens = ProgressLine(desc, len(batches), unit="batch"), 0
    for b, batch in enumerate(
        tqdm(batches, desc=desc, unit="batch", leave=False, disable=progress.enabled)
    ):
        kill_point("generate_batch")
        x, mask = _left_padded([ids for _, ids in batch], chat.tokenizer.pad_token_id)
        torch.manual_seed(spec.seed * 100003 + b)
        with decoding_attention(model, spec.attention):
            gen = _sample(model, chat, x, mask, spec)
        rows_out = _output_rows(gen.tolist(), [row for row, _ in batch], chat, spec)
        out += rows_out
        new_tokens += sum(r["n_tokens"] for r in rows_out)
        # the batch is on the host already: no extra sync
        elapsed = time.perf_counter() - progress.t0
        progress.line(b + 1, rate=(new_tokens / max(elapsed, 1e-9), "new tokens"), samples=len(out))
    out.sort(key=lambda r: (r["prompt_id"], r["sample"]))
    return out


def generate_vllm(
    model_dir: str,
    chat: ChatFormat,
    rows: list[dict],
    spec: EvalSpec,
    few_shot: list[list[str]] | None = None,
) -> list[dict]:
    """The same rows as ``generate``, from vLLM (GPU machines, ``eval.backend=vllm``) loading the
    run's ``save_pretrained`` export; continuous batching and paged KV cache do the batching."""
    try:
        from vllm import LLM, SamplingParams
    except ImportError as e:
        raise RuntimeError(
            "eval.backend=vllm: vllm is not installed; `pip install vllm` on a GPU machine, "
            "or use eval.backend=hf"
        ) from e
    decoding, max_new_tokens = spec.decoding, spec.max_new_tokens
    llm = LLM(model=str(model_dir), seed=spec.seed)
    greedy = not decoding["do_sample"]
    params = SamplingParams(
        n=spec.k,
        top_p=1.0 if greedy else decoding["top_p"],
        temperature=0.0 if greedy else decoding["temperature"],
        repetition_penalty=decoding["repetition_penalty"],
        max_tokens=max_new_tokens,
        stop_token_ids=[chat.eot_id],
        seed=spec.seed,
    )
    prompts = [
        {"prompt_token_ids": chat.encode_prompt(prompt_turns(row, few_shot or []))} for row in rows
    ]
    out = []
    for row, result in zip(rows, llm.generate(prompts, params), strict=True):
        for j, c in enumerate(result.outputs):
            ids = [t for t in c.token_ids if t != chat.eot_id]
            out.append(
                {
                    "prompt_id": row["prompt_id"],
                    "sample": j,
                    "type": row.get("type"),
                    "prompt": row["prompt"],
                    "response": chat.tokenizer.decode(ids, skip_special_tokens=True).strip(),
                    "n_tokens": len(ids),
                    "terminated": c.finish_reason == "stop",
                    "decoding": {**decoding, "max_new_tokens": max_new_tokens},
                }
            )
    out.sort(key=lambda r: (r["prompt_id"], r["sample"]))
    return out
