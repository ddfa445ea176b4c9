"""One evaluation of one checkpoint on one prompt set: ``evals/<eval_id>/`` with generations,
judgments and a summary. The id hashes everything that shapes the numbers (checkpoint, prompts,
spec, judge, rubric), so another judge or prompt set is another evaluation, never a reuse.

An evaluation is complete only if its headline is valid (``spec.completion``: at most
``eval.max_invalid_fraction`` invalid judgments). Otherwise its summary says ``judge_failed``
and why; a rerun keeps every valid judgment it has and asks the judge only for the missing
ones (LLM judges also cache every reply they were paid for, ``judges/llm.py``). A directory is
trusted only while its record (``.record.json``: each file's SHA-256) matches.

Generations are cached apart from judging, in ``generations/<generation_id>.jsonl`` keyed by
(checkpoint, prompt set, decoding, k, max new tokens, seed, few-shot, batch size, cache) and
checked against their recorded hash: re-judging with another judge never regenerates.
"""

from __future__ import annotations

import logging
import shutil
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch

from limalab.data.chat import ChatFormat
from limalab.eval.generate import generate, generate_vllm
from limalab.eval.judges import judge_all
from limalab.eval.judges.interface import Judge
from limalab.eval.spec import EvalSpec, PromptSet, completion
from limalab.eval.stats import agreement, category_rates, length_bias, length_stats, score_summary
from limalab.tracking.cache import verify, write_record
from limalab.tracking.io import (
    atomic_write_json,
    config_hash,
    file_sha256,
    finite,
    read_json,
    read_jsonl,
    write_jsonl,
)
from limalab.versions import RUBRIC_VERSION

log = logging.getLogger(__name__)

GEN_KEYS = (
    "prompt_set",
    "k",
    "decoding",
    "max_new_tokens",
    "seed",
    "few_shot",
    "max_prompts",
    "backend",
    "batch_size",
    "kv_cache",
    "attention",
)


def generation_id(checkpoint: str, prompts_sha: str, spec: EvalSpec) -> str:
    return config_hash(
        {
            "checkpoint": checkpoint,
            "prompts": prompts_sha,
            **{k: getattr(spec, k) for k in GEN_KEYS},
        }
    )


def eval_id(checkpoint: str, prompts_sha: str, spec: EvalSpec, judge: Judge) -> str:
    return config_hash(
        {
            "checkpoint": checkpoint,
            "prompts": prompts_sha,
            "spec": spec.to_dict(),
            "judge": judge.id,
            "rubric": RUBRIC_VERSION,
        }
    )


@dataclass
class Responder:
    """Makes the generations an evaluation needs. ``load`` is called only when something must
    be generated, so an evaluation whose generations are cached loads no model."""

    load: Callable[[], tuple[torch.nn.Module, ChatFormat]]
    model_dir: Path | None = None  # the save_pretrained export, for eval.backend=vllm
    _loaded: tuple[torch.nn.Module, ChatFormat] | None = field(default=None, repr=False)

    @classmethod
    def of(
        cls,
        model: torch.nn.Module,
        chat: ChatFormat,
        model_dir: Path | None = None,
    ) -> Responder:
        return cls(lambda: (model, chat), model_dir)

    def model(self) -> tuple[torch.nn.Module, ChatFormat]:
        if self._loaded is None:
            self._loaded = self.load()
        return self._loaded

    def generate(
        self, prompts: PromptSet, spec: EvalSpec, few_shot: list[list[str]] | None
    ) -> list[dict]:
        model, chat = self.model()
        if spec.backend == "vllm" and self.model_dir is not None:
            return generate_vllm(str(self.model_dir), chat, prompts.rows, spec, few_shot)
        return generate(
            model,
            chat,
            prompts.rows,
            spec,
            few_shot,
            desc=f"generate {spec.prompt_set}",
        )


def cached_generations(
    run_dir: Path,
    responder: Responder | None,
    prompts: PromptSet,
    checkpoint: str,
    spec: EvalSpec,
    few_shot: list[list[str]] | None = None,
) -> tuple[list[dict], Path]:
    """The generations for this (checkpoint, prompts, decoding): read if complete and unchanged
    since they were written (hash), else made and written whole."""
    path = run_dir / "generations" / f"{generation_id(checkpoint, prompts.sha, spec)}.jsonl"
    record = path.with_suffix(".sha256")
    expected = len(prompts.rows) * spec.k
    if path.exists() and record.exists() and record.read_text().strip() == file_sha256(path):
        gens = read_jsonl(path)
        if len(gens) == expected:
            return gens, path
    if path.exists():
        log.warning("%s: incomplete or changed since it was written: generating again", path)
    if responder is None:
        raise FileNotFoundError(f"{path}: no cached generations and no model to generate them")
    gens = responder.generate(prompts, spec, few_shot)
    write_jsonl(path, gens)
    record.write_text(file_sha256(path) + "\n")
    return gens, path


@dataclass
class Evaluation:
    """One evaluation to run: what is asked, of which checkpoint, graded by which judge."""

    run_dir: Path
    prompts: PromptSet
    checkpoint: str
    spec: EvalSpec
    judge: Judge
    few_shot: list[list[str]] | None = None
    reference: Judge | None = None  # the miniature's ground truth, to validate an LLM judge against
    max_invalid_fraction: float = 0.01

    @property
    def id(self) -> str:
        return eval_id(self.checkpoint, self.prompts.sha, self.spec, self.judge)

    @property
    def dir(self) -> Path:
        return self.run_dir / "evals" / self.id


BOOKKEEPING = (
    "eval_id",
    "checkpoint",
    "judge",
    "rubric_version",
    "generation_id",
    "wall_s",
    "status",
    "status_reason",
    "max_invalid_fraction",
    "rejudged",
    "histogram",
)


def headline_metrics(summary: dict[str, Any]) -> dict[str, Any]:
    """An evaluation's metrics: its summary without the spec and the bookkeeping."""
    return {
        k: v
        for k, v in summary.items()
        if k not in BOOKKEEPING and k not in EvalSpec.__dataclass_fields__
    }


def finished_summary(d: Path) -> dict | None:
    """The summary of a finished evaluation directory (complete or not) if its files are
    unchanged since they were written; ``None`` if it never finished or was altered."""
    problem = verify(d)
    if problem is not None:
        if (d / "summary.json").exists():
            log.warning("evaluation %s cannot be trusted (%s): judging it again", d.name, problem)
        return None
    return read_json(d / "summary.json")


def evaluate(ev: Evaluation, responder: Responder | None) -> dict:
    """Run (or reuse, or finish) the evaluation; returns its summary, whose ``status`` is
    ``complete`` or says why not."""
    d = ev.dir
    done = finished_summary(d)
    if (
        done is not None
        and completion(
            done["n_judged"] + done["n_invalid"], done["n_invalid"], ev.max_invalid_fraction
        ).complete
    ):
        return done
    t0 = time.time()
    gens, gen_path = cached_generations(
        ev.run_dir, responder, ev.prompts, ev.checkpoint, ev.spec, ev.few_shot
    )
    kept = _valid_judgments(d, gens) if done is not None else {}
    shutil.rmtree(d, ignore_errors=True)  # rewritten whole below; kept rows are in memory
    d.mkdir(parents=True)
    shutil.copyfile(gen_path, d / "generations.jsonl")
    by_id = {p["prompt_id"]: p for p in ev.prompts.rows}
    todo = [g for g in gens if (g["prompt_id"], g["sample"]) not in kept]
    fresh = judge_all(
        ev.judge, [(by_id[g["prompt_id"]], g["response"], g["terminated"]) for g in todo]
    )
    for g, j in zip(todo, fresh, strict=True):
        kept[g["prompt_id"], g["sample"]] = {
            "prompt_id": g["prompt_id"],
            "sample": g["sample"],
            "type": g["type"],
            **j.to_dict(),
        }
    judged = [kept[g["prompt_id"], g["sample"]] for g in gens]
    write_jsonl(d / "judgments.jsonl", judged)
    summary = _summary(ev, gens, judged, gen_path.stem) | {
        "rejudged": len(todo),
        "wall_s": round(time.time() - t0, 1),
    }
    if ev.reference is not None and ev.reference.id != ev.judge.id:
        summary["validation"] = _validation(ev, by_id, gens, judged)
    if getattr(ev.judge, "usage", None) is not None:
        summary["judge_usage"] = ev.judge.usage.to_dict()
    atomic_write_json(d / "summary.json", summary)
    write_record(d)  # last: the evaluation finished (complete or not) and its files are these
    if summary["status"] != "complete":
        log.warning("evaluation %s: %s: %s", d.name, summary["status"], summary["status_reason"])
    return finite(summary)


def _valid_judgments(d: Path, gens: list[dict]) -> dict[tuple[str, int], dict]:
    """A finished (failed) attempt's valid judgments of responses that are still the same."""
    old = {
        (j["prompt_id"], j["sample"]): j
        for j in read_jsonl(d / "judgments.jsonl")
        if j.get("score") is not None
    }
    old_gens = {
        (g["prompt_id"], g["sample"]): g["response"] for g in read_jsonl(d / "generations.jsonl")
    }
    return {
        key: old[key]
        for g in gens
        if (key := (g["prompt_id"], g["sample"])) in old and old_gens.get(key) == g["response"]
    }


def _summary(
    ev: Evaluation, gens: list[dict], judged: list[dict], generation_id: str
) -> dict[str, Any]:
    summary = score_summary(judged)
    state = completion(len(judged), summary["n_invalid"], ev.max_invalid_fraction)
    n_tok = [g["n_tokens"] for g in gens]
    valid = [
        (r["score"], len(g["response"].split()))
        for r, g in zip(judged, gens, strict=True)
        if r["score"] is not None
    ]
    return finite(
        {
            **summary,
            "status": state.status,
            "status_reason": state.reason,
            "max_invalid_fraction": ev.max_invalid_fraction,
            "eval_id": ev.id,
            "checkpoint": ev.checkpoint,
            "judge": ev.judge.id,
            "rubric_version": RUBRIC_VERSION,
            **ev.spec.to_dict(),
            "generation_id": generation_id,
            "eot_rate": sum(g["terminated"] for g in gens) / max(1, len(gens)),
            "truncation_rate": sum(not g["terminated"] for g in gens) / max(1, len(gens)),
            "response_tokens_mean": sum(n_tok) / max(1, len(n_tok)),
            "response_tokens": length_stats(n_tok),
            "categories": category_rates(judged),
            "length_bias": length_bias([s for s, _ in valid], [n for _, n in valid]),
        }
    )


def _validation(
    ev: Evaluation, by_id: dict[str, dict], gens: list[dict], judged: list[dict]
) -> dict[str, Any]:
    ref = judge_all(
        ev.reference, [(by_id[g["prompt_id"]], g["response"], g["terminated"]) for g in gens]
    )
    pairs = [
        (j["score"], r.score) for j, r in zip(judged, ref, strict=True) if j["score"] is not None
    ]
    return {
        "against": ev.reference.id,
        "n_responses": len(gens),
        "n_valid": len(pairs),
        **agreement([a for a, _ in pairs], [b for _, b in pairs]),
    }
