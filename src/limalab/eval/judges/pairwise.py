"""LIMA's pairwise preference (Appendix C): which of two responses to one prompt is better,
asked in both orders because LLM judges favour a position. A verdict that flips with the
order is a tie (and counted as a flip: the position-bias rate)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from limalab.eval.judges.interface import (
    BACKENDS,
    JUDGES,
    Capabilities,
    JudgeContext,
    LLMJudgeOptions,
    judge_options,
)
from limalab.eval.judges.llm import (
    CachedAsker,
    ReplyCache,
    Usage,
    parallel_map,
    reply_cache,
)
from limalab.eval.judges.rubric import (
    PAIRWISE_SYSTEM,
    PAIRWISE_VERSION,
    pairwise_prompt,
    parse_pairwise,
    task_text,
)


def combine(first: str | None, second: str | None) -> tuple[str | None, bool]:
    """Verdicts of (a, b) and of (b, a) as one outcome for a: win / tie / loss, and whether the
    two orders disagreed. One invalid order leaves the other; both invalid is invalid."""
    as_a = {"A": "win", "B": "loss", "tie": "tie", None: None}[first]
    swapped = {"A": "loss", "B": "win", "tie": "tie", None: None}[second]
    if as_a is None or swapped is None:
        return as_a or swapped, False
    if as_a == swapped:
        return as_a, False
    return "tie", True


@JUDGES.register("pairwise", options=LLMJudgeOptions)
class LLMPairwiseJudge(Capabilities):
    """``judge.backend``: an LLM backend (api, hf_local, ...) asked both orders, or the name
    of a grading judge (``reference``) whose levels are compared."""

    grades, compares = False, True

    @classmethod
    def from_config(cls, cfg: dict[str, Any], ctx: JudgeContext) -> Any:
        backend = cfg.get("backend") or "api"
        if backend not in BACKENDS and backend in JUDGES:
            from limalab.eval.judges import build_judge

            return LevelsPairwiseJudge(
                build_judge({**cfg, "name": backend}, ctx.world, ctx.cache_dir)
            )
        from limalab.eval.judges import build_backend

        return cls(build_backend(cfg), reply_cache(cfg, ctx), judge_options(cfg))

    def __init__(
        self, backend: Any, cache: ReplyCache, options: LLMJudgeOptions | None = None
    ) -> None:
        o = options or LLMJudgeOptions()
        self.usage = Usage(o.price_in_per_1m, o.price_out_per_1m)
        self.asker = CachedAsker(backend, cache, PAIRWISE_VERSION, self.usage, o.parse_retries)
        self.concurrency = o.concurrency
        self.id = f"pairwise:{backend.model}@{PAIRWISE_VERSION}"

    def verdict(self, prompt: str, a: str, b: str) -> str | None:
        return self.asker.ask(PAIRWISE_SYSTEM, pairwise_prompt(prompt, a, b), parse_pairwise)[0]

    def compare(self, prompt: dict, a: str, b: str) -> dict:
        task = task_text(prompt)
        first, second = self.verdict(task, a, b), self.verdict(task, b, a)
        outcome, flipped = combine(first, second)
        return {"outcome": outcome, "flipped": flipped, "ab": first, "ba": second}

    def compare_all(self, items: Sequence[tuple[dict, str, str]]) -> list[dict]:
        return parallel_map(lambda it: self.compare(*it), items, self.concurrency)


class LevelsPairwiseJudge(Capabilities):
    """Pairwise from a grading judge's levels (``judge.backend=reference``: the miniature's
    ground truth, with no position bias by construction)."""

    grades, compares = False, True

    def __init__(self, reference: Any) -> None:
        self.reference = reference
        self.id = f"pairwise:{reference.id}"
        self.usage = None
        self.needs_world = getattr(reference, "needs_world", False)

    def compare(self, prompt: dict, a: str, b: str) -> dict:
        sa = self.reference.judge(prompt, a, True).score
        sb = self.reference.judge(prompt, b, True).score
        outcome = "win" if sa > sb else "loss" if sa < sb else "tie"
        return {"outcome": outcome, "flipped": False, "ab": None, "ba": None}

    def compare_all(self, items: Sequence[tuple[dict, str, str]]) -> list[dict]:
        return [self.compare(*it) for it in items]
