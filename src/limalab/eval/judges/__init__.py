"""Judges by name (``judge=reference|likert|hf_local|pairwise``), built from the judge config."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from limalab.eval.judges.base import Judge, Judgment
from limalab.eval.judges.reference import ReferenceJudge
from limalab.tracking.faults import kill_point

JUDGES = ("reference", "likert", "hf_local", "pairwise")


def _backend(cfg: dict[str, Any]) -> Any:
    kind = cfg.get("backend", "api" if cfg["name"] in ("likert", "pairwise") else cfg["name"])
    if kind == "api":
        from limalab.eval.judges.llm import ChatClient

        for key in ("base_url", "model"):
            if not cfg.get(key):
                raise ValueError(f"judge.{key}: required for judge={cfg['name']} (an OpenAI-compatible endpoint)")
        return ChatClient(cfg["base_url"], cfg["model"], cfg.get("api_key_env", "OPENAI_API_KEY"),
                          float(cfg.get("timeout_s", 60)), int(cfg.get("max_retries", 5)), float(cfg.get("backoff_s", 1.0)),
                          float(cfg.get("max_backoff_s", 60)), float(cfg.get("temperature", 0.0)),
                          int(cfg.get("max_tokens", 1024)))
    if kind == "hf_local":
        from limalab.eval.judges.hf_local import HFLocalBackend

        if not cfg.get("model"):
            raise ValueError("judge.model: required for judge=hf_local (a save_pretrained directory)")
        return HFLocalBackend(cfg["model"], int(cfg.get("max_new_tokens", 256)), cfg.get("device", "cpu"),
                              cfg.get("dtype", "float32"))
    raise ValueError(f"judge.backend: expected api or hf_local, got {kind!r}")


def build_judge(cfg: dict[str, Any] | str, world: Any = None, cache_dir: str | Path | None = None) -> Any:
    """The judge ``cfg["name"]`` (a bare name is ``{"name": name}``)."""
    cfg = {"name": cfg} if isinstance(cfg, str) else dict(cfg)
    name = cfg.get("name")
    if name not in JUDGES:
        raise ValueError(f"judge: unknown judge {name!r}; expected one of {list(JUDGES)}")
    if name == "reference" or (name == "pairwise" and cfg.get("backend") == "reference"):
        if world is None:
            raise ValueError(f"judge={name}: the reference judge needs the miniature world's facts")
        ref = ReferenceJudge(world)
        if name == "reference":
            return ref
        from limalab.eval.judges.pairwise import ReferencePairwiseJudge

        return ReferencePairwiseJudge(ref)
    from limalab.eval.judges.llm import LikertJudge, ReplyCache

    cache = ReplyCache(Path(cfg.get("reply_cache") or Path(cache_dir or ".cache/limalab") / "judge_replies.sqlite"))
    common = {"concurrency": int(cfg.get("concurrency", 8)), "parse_retries": int(cfg.get("parse_retries", 1)),
              "price_in_per_1m": float(cfg.get("price_in_per_1m", 0.0)),
              "price_out_per_1m": float(cfg.get("price_out_per_1m", 0.0))}
    if name == "pairwise":
        from limalab.eval.judges.pairwise import LLMPairwiseJudge

        return LLMPairwiseJudge(_backend(cfg), cache, **common)
    return LikertJudge(_backend(cfg), cache, kind=name, **common)


def judge_all(judge: Judge, items: list[tuple[dict, str, bool]]) -> list[Judgment]:
    """Grade many responses: concurrently where the judge can (LLM judges), else in order."""
    if hasattr(judge, "judge_all"):
        return judge.judge_all(items)
    out = []
    for it in items:
        kill_point("judge_row")
        out.append(judge.judge(*it))
    return out


__all__ = ["JUDGES", "Judge", "Judgment", "ReferenceJudge", "build_judge", "judge_all"]
