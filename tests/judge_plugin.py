"""A judge defined outside limalab (imported through ``plugins:``): grades by response length."""

from __future__ import annotations

from typing import Any

from limalab.eval.judges.interface import JUDGES, Capabilities, JudgeContext, Judgment


@JUDGES.register("by_length")
class LengthJudge(Capabilities):
    def __init__(self, per_level: int) -> None:
        self.per_level = per_level
        self.id = f"by_length@{per_level}"

    @classmethod
    def from_config(cls, cfg: dict[str, Any], ctx: JudgeContext) -> LengthJudge:
        return cls(int(cfg.get("per_level", 10)))

    def judge(self, prompt: dict, response: str, terminated: bool) -> Judgment:
        return Judgment(
            min(6, 1 + len(response.split()) // self.per_level), {}, "by length", self.id
        )
