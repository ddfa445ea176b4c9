"""One evaluation of one checkpoint on one prompt set: ``evals/<eval_id>/`` with generations,
judgments and a summary. The id hashes everything that shapes the numbers, so an existing
evaluation is reused, never overwritten, and a new judge or prompt set adds a new entry.

Generations are cached apart from judging, in ``generations/<generation_id>.jsonl`` keyed by
(checkpoint, prompt set, decoding, k, max new tokens, seed, few-shot): re-judging with another
judge never regenerates. LLM judges cache their replies on disk as well (``judges/llm.py``).
"""

from __future__ import annotations

import json
import logging
import shutil
import time
from pathlib import Path
from typing import Any

import torch

from limalab.data.chat import ChatFormat
from limalab.eval.generate import generate, generate_vllm
from limalab.eval.judges import judge_all
from limalab.eval.judges.base import Judge
from limalab.eval.stats import agreement, category_rates, length_bias, length_stats, score_summary
from limalab.tracking.io import atomic_write_json, config_hash, read_jsonl, write_jsonl
from limalab.versions import RUBRIC_VERSION

log = logging.getLogger(__name__)

GEN_KEYS = ("prompt_set", "k", "decoding", "max_new_tokens", "seed", "few_shot", "max_prompts", "backend")


def generation_id(checkpoint: str, prompts_sha: str, spec: dict[str, Any]) -> str:
    return config_hash({"checkpoint": checkpoint, "prompts": prompts_sha, **{k: spec.get(k) for k in GEN_KEYS}})


def eval_id(checkpoint: str, prompts_sha: str, spec: dict[str, Any], judge: Judge) -> str:
    return config_hash({"checkpoint": checkpoint, "prompts": prompts_sha, "spec": spec, "judge": judge.id,
                        "rubric": RUBRIC_VERSION})


def cached_generations(run_dir: Path, model: torch.nn.Module | None, chat: ChatFormat | None, prompts: list[dict],
                       prompts_sha: str, checkpoint: str, spec: dict[str, Any], few_shot: list[list[str]] | None,
                       batch_size: int, model_dir: Path | None = None) -> tuple[list[dict], Path]:
    """The generations for this (checkpoint, prompts, decoding): read if complete, else made
    and written whole (a partial file is never trusted)."""
    path = run_dir / "generations" / f"{generation_id(checkpoint, prompts_sha, spec)}.jsonl"
    expected = len(prompts) * spec["k"]
    if path.exists():
        gens = read_jsonl(path)
        if len(gens) == expected:
            return gens, path
    if spec.get("backend", "hf") == "vllm" and model_dir is not None:
        gens = generate_vllm(str(model_dir), chat, prompts, spec["k"], spec["decoding"], spec["max_new_tokens"],
                             spec["seed"], few_shot)
    elif model is None:
        raise FileNotFoundError(f"{path}: no cached generations and no model to generate them")
    else:
        gens = generate(model, chat, prompts, spec["k"], spec["decoding"], spec["max_new_tokens"], batch_size,
                        spec["seed"], few_shot, desc=f"generate {spec['prompt_set']}")
    write_jsonl(path, gens)
    return gens, path


def evaluate(run_dir: Path, model: torch.nn.Module | None, chat: ChatFormat | None, prompts: list[dict],
             prompts_sha: str, checkpoint: str, spec: dict[str, Any], judge: Judge,
             few_shot: list[list[str]] | None = None, batch_size: int = 16, reference: Judge | None = None,
             model_dir: Path | None = None) -> dict:
    """``spec``: prompt_set, k, decoding, max_new_tokens, seed, few_shot (count). Returns the
    summary. ``reference``: a second judge (the miniature's ground truth) to validate ``judge``
    against on the same responses."""
    eid = eval_id(checkpoint, prompts_sha, spec, judge)
    d = run_dir / "evals" / eid
    if (d / "summary.json").exists():
        return json.loads((d / "summary.json").read_text())
    d.mkdir(parents=True, exist_ok=True)
    t0 = time.time()
    gens, gen_path = cached_generations(run_dir, model, chat, prompts, prompts_sha, checkpoint, spec, few_shot,
                                        batch_size, model_dir)
    shutil.copyfile(gen_path, d / "generations.jsonl")
    by_id = {p["prompt_id"]: p for p in prompts}
    items = [(by_id[g["prompt_id"]], g["response"], g["terminated"]) for g in gens]
    judgments = judge_all(judge, items)
    judged = [{"prompt_id": g["prompt_id"], "sample": g["sample"], "type": g["type"], **j.to_dict()}
              for g, j in zip(gens, judgments, strict=True)]
    write_jsonl(d / "judgments.jsonl", judged)
    summary = score_summary(judged)
    n_tok = [g["n_tokens"] for g in gens]
    valid = [(r["score"], len(g["response"].split())) for r, g in zip(judged, gens, strict=True) if r["score"] is not None]
    summary.update({
        "eval_id": eid, "checkpoint": checkpoint, "judge": judge.id, "rubric_version": RUBRIC_VERSION, **spec,
        "generation_id": gen_path.stem,
        "eot_rate": sum(g["terminated"] for g in gens) / max(1, len(gens)),
        "truncation_rate": sum(not g["terminated"] for g in gens) / max(1, len(gens)),
        "response_tokens_mean": sum(n_tok) / max(1, len(n_tok)),
        "response_tokens": length_stats(n_tok),
        "categories": category_rates(judged),
        "length_bias": length_bias([s for s, _ in valid], [n for _, n in valid]),
        "wall_s": round(time.time() - t0, 1),
    })
    if getattr(judge, "usage", None) is not None:
        summary["judge_usage"] = judge.usage.to_dict()
    if reference is not None and reference.id != judge.id:
        ref = judge_all(reference, items)
        pairs = [(j.score, r.score) for j, r in zip(judgments, ref, strict=True) if j.score is not None]
        summary["validation"] = {"against": reference.id, "n_responses": len(items),
                                 "n_valid": len(pairs), **agreement([a for a, _ in pairs], [b for _, b in pairs])}
    atomic_write_json(d / "summary.json", summary)  # last: marks the evaluation complete
    return summary
