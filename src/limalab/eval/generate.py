"""Batched, sampled generation with the KV cache (HF ``generate``), k samples per prompt."""

from __future__ import annotations

from typing import Any

import torch
from tqdm import tqdm

from limalab.data.chat import ChatFormat
from limalab.tracking.faults import kill_point


def prompt_turns(row: dict, few_shot: list[list[str]]) -> list[str]:
    """The dialogue a prompt is asked in: optional demonstrations, the conversation so far
    (``history``: alternating user and assistant turns), then the prompt."""
    return [t for ex in few_shot for t in ex[:2]] + list(row.get("history", [])) + [row["prompt"]]


@torch.no_grad()
def generate(model: torch.nn.Module, chat: ChatFormat, rows: list[dict], k: int, decoding: dict[str, Any],
             max_new_tokens: int, batch_size: int = 16, seed: int = 0,
             few_shot: list[list[str]] | None = None, desc: str = "generate") -> list[dict]:
    """One output row per (prompt, sample). Prompts are sorted by length so a batch wastes
    little padding; each batch is seeded, so a rerun gives the same samples."""
    tok = chat.tokenizer
    model.eval()
    encoded = [(row, chat.encode_prompt(prompt_turns(row, few_shot or []))) for row in rows]
    encoded.sort(key=lambda x: len(x[1]))
    out: list[dict] = []
    batches = [encoded[i : i + batch_size] for i in range(0, len(encoded), batch_size)]
    for b, batch in enumerate(tqdm(batches, desc=desc, unit="batch", leave=False)):
        kill_point("generate_batch")
        n = max(len(ids) for _, ids in batch)
        x = torch.full((len(batch), n), tok.pad_token_id)
        mask = torch.zeros_like(x)
        for i, (_, ids) in enumerate(batch):
            x[i, n - len(ids):] = torch.tensor(ids)
            mask[i, n - len(ids):] = 1
        torch.manual_seed(seed * 100003 + b)
        gen = model.generate(
            input_ids=x.to(model.device), attention_mask=mask.to(model.device), max_new_tokens=max_new_tokens, num_return_sequences=k,
            do_sample=bool(decoding.get("do_sample", True)), top_p=decoding.get("top_p", 0.9),
            temperature=decoding.get("temperature", 0.7), repetition_penalty=decoding.get("repetition_penalty", 1.2),
            eos_token_id=chat.eot_id, pad_token_id=tok.pad_token_id, use_cache=True,
        )[:, n:]
        for j, seq in enumerate(gen.tolist()):
            row = batch[j // k][0]
            terminated = chat.eot_id in seq
            body = seq[: seq.index(chat.eot_id)] if terminated else seq
            body = [t for t in body if t != tok.pad_token_id]
            out.append({
                "prompt_id": row["prompt_id"], "sample": j % k, "type": row.get("type"), "prompt": row["prompt"],
                "response": tok.decode(body, skip_special_tokens=True).strip(), "n_tokens": len(body),
                "terminated": terminated, "decoding": {**decoding, "max_new_tokens": max_new_tokens},
            })
    out.sort(key=lambda r: (r["prompt_id"], r["sample"]))
    return out


def generate_vllm(model_dir: str, chat: ChatFormat, rows: list[dict], k: int, decoding: dict[str, Any],
                  max_new_tokens: int, seed: int = 0, few_shot: list[list[str]] | None = None) -> list[dict]:
    """The same rows as ``generate``, from vLLM (GPU machines, ``eval.backend=vllm``) loading the
    run's ``save_pretrained`` export; continuous batching and paged KV cache do the batching."""
    try:
        from vllm import LLM, SamplingParams
    except ImportError as e:
        raise RuntimeError("eval.backend=vllm: vllm is not installed; `pip install vllm` on a GPU machine, "
                           "or use eval.backend=hf") from e
    llm = LLM(model=str(model_dir), seed=seed)
    greedy = not decoding.get("do_sample", True)
    params = SamplingParams(n=k, top_p=1.0 if greedy else decoding.get("top_p", 0.9),
                            temperature=0.0 if greedy else decoding.get("temperature", 0.7),
                            repetition_penalty=decoding.get("repetition_penalty", 1.2), max_tokens=max_new_tokens,
                            stop_token_ids=[chat.eot_id], seed=seed)
    prompts = [{"prompt_token_ids": chat.encode_prompt(prompt_turns(row, few_shot or []))} for row in rows]
    out = []
    for row, result in zip(rows, llm.generate(prompts, params), strict=True):
        for j, c in enumerate(result.outputs):
            ids = [t for t in c.token_ids if t != chat.eot_id]
            out.append({
                "prompt_id": row["prompt_id"], "sample": j, "type": row.get("type"), "prompt": row["prompt"],
                "response": chat.tokenizer.decode(ids, skip_special_tokens=True).strip(), "n_tokens": len(ids),
                "terminated": c.finish_reason == "stop", "decoding": {**decoding, "max_new_tokens": max_new_tokens},
            })
    out.sort(key=lambda r: (r["prompt_id"], r["sample"]))
    return out
