"""Judges by name (``judge=reference|likert|hf_local|llama_local|pairwise``, or a plugin's),
built from the judge config through the ``JUDGES`` registry (see ``interface.py``)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from limalab.eval.judges.interface import (
    BACKENDS,
    JUDGES,
    Judge,
    JudgeContext,
    Judgment,
    is_ground_truth,
    judge_class,
    judge_name,
)
from limalab.tracking.faults import kill_point
from limalab.tracking.progress import ProgressLine


def build_backend(cfg: dict[str, Any], default: str = "api") -> Any:
    """The judge's model endpoint ``judge.backend`` (api, hf_local, llama_server, a plugin's)."""
    return BACKENDS.get(cfg.get("backend") or default).from_config(cfg)


def build_judge(
    cfg: dict[str, Any] | str, world: Any = None, cache_dir: str | Path | None = None
) -> Any:
    """The judge ``cfg["name"]`` (a bare name is ``{"name": name}``)."""
    cfg = {"name": cfg} if isinstance(cfg, str) else dict(cfg)
    cls = JUDGES.get(cfg.get("name"))
    return cls.from_config(cfg, JudgeContext(world, Path(cache_dir) if cache_dir else None))


def ground_truth_judge(world: Any) -> Judge:
    """The miniature's exact judge, which LLM judges are validated against."""
    (name,) = [n for n in JUDGES.names() if getattr(JUDGES.get(n), "ground_truth", False)]
    return build_judge(name, world=world)


def judge_all(judge: Judge, items: list[tuple[dict, str, bool]]) -> list[Judgment]:
    """Grade many responses: concurrently where the judge can (LLM judges), else in order; in
    tenths, each followed by a progress line where stdout is not a TTY."""
    progress = ProgressLine(f"judge {getattr(judge, 'id', 'judge')}", len(items), unit="response")
    chunk = max(1, -(-len(items) // 10), 8 * int(getattr(judge, "concurrency", 1) or 1))
    out: list[Judgment] = []
    for i in range(0, len(items), chunk):
        part = items[i : i + chunk]
        if hasattr(judge, "judge_all"):
            out += judge.judge_all(part)
        else:
            for it in part:
                kill_point("judge_row")
                out.append(judge.judge(*it))
        progress.line(len(out), invalid=sum(getattr(j, "score", 0) is None for j in out))
    return out


__all__ = [
    "BACKENDS",
    "JUDGES",
    "Judge",
    "JudgeContext",
    "Judgment",
    "build_backend",
    "build_judge",
    "ground_truth_judge",
    "is_ground_truth",
    "judge_all",
    "judge_class",
    "judge_name",
]
