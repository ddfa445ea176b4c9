"""One evaluation of one checkpoint on one prompt set: ``evals/<eval_id>/`` with generations,
judgments and a summary. The id hashes everything that shapes the numbers, so an existing
evaluation is reused, never overwritten, and a new judge or prompt set adds a new entry."""

from __future__ import annotations

import logging
import time
from pathlib import Path
from typing import Any

import torch
from tqdm import tqdm

from limalab.data.chat import ChatFormat
from limalab.eval.generate import generate
from limalab.eval.judges.base import Judge
from limalab.eval.stats import score_summary
from limalab.tracking.io import atomic_write_json, config_hash, read_jsonl, write_jsonl
from limalab.versions import RUBRIC_VERSION

log = logging.getLogger(__name__)


def eval_id(checkpoint: str, prompts_sha: str, spec: dict[str, Any], judge: Judge) -> str:
    return config_hash({"checkpoint": checkpoint, "prompts": prompts_sha, "spec": spec, "judge": judge.id,
                        "rubric": RUBRIC_VERSION})


def evaluate(run_dir: Path, model: torch.nn.Module, chat: ChatFormat, prompts: list[dict], prompts_sha: str,
             checkpoint: str, spec: dict[str, Any], judge: Judge, few_shot: list[list[str]] | None = None,
             batch_size: int = 16) -> dict:
    """``spec``: prompt_set, k, decoding, max_new_tokens, seed, few_shot (count). Returns the summary."""
    eid = eval_id(checkpoint, prompts_sha, spec, judge)
    d = run_dir / "evals" / eid
    if (d / "summary.json").exists():
        import json

        return json.loads((d / "summary.json").read_text())
    d.mkdir(parents=True, exist_ok=True)
    t0 = time.time()
    gen_path = d / "generations.jsonl"
    expected = len(prompts) * spec["k"]
    gens = read_jsonl(gen_path) if gen_path.exists() else []
    if len(gens) != expected:  # generations are written whole; anything else is regenerated
        gens = generate(model, chat, prompts, spec["k"], spec["decoding"], spec["max_new_tokens"], batch_size,
                        spec["seed"], few_shot, desc=f"generate {spec['prompt_set']}")
        write_jsonl(gen_path, gens)
    by_id = {p["prompt_id"]: p for p in prompts}
    judged = []
    for g in tqdm(gens, desc=f"judge {spec['prompt_set']}", unit="response", leave=False):
        j = judge.judge(by_id[g["prompt_id"]], g["response"], g["terminated"])
        judged.append({"prompt_id": g["prompt_id"], "sample": g["sample"], "type": g["type"], **j.to_dict()})
    write_jsonl(d / "judgments.jsonl", judged)
    summary = score_summary(judged)
    n_tok = [g["n_tokens"] for g in gens]
    summary.update({
        "eval_id": eid, "checkpoint": checkpoint, "judge": judge.id, "rubric_version": RUBRIC_VERSION, **spec,
        "eot_rate": sum(g["terminated"] for g in gens) / max(1, len(gens)),
        "truncation_rate": sum(not g["terminated"] for g in gens) / max(1, len(gens)),
        "response_tokens_mean": sum(n_tok) / max(1, len(n_tok)),
        "wall_s": round(time.time() - t0, 1),
    })
    atomic_write_json(d / "summary.json", summary)  # last: marks the evaluation complete
    return summary
