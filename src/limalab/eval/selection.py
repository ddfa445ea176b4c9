"""Checkpoint selection by generation quality on the dev prompts (LIMA §3: perplexity on
held-out data does not track generation quality, so it is recorded, never used to choose)."""

from __future__ import annotations

import math


def select_checkpoint(candidates: list[dict]) -> dict:
    """The candidate with the best ``dev_judge_mean`` (ties: the earlier epoch). NaN means
    (every dev reply invalid) never win."""
    if not candidates:
        raise ValueError("checkpoint selection: no candidates in the window (train.select.window)")

    def key(c: dict) -> tuple[float, int]:
        m = c["dev_judge_mean"]
        return (-math.inf if m is None or math.isnan(m) else m, -c["epoch"])

    return max(candidates, key=key)
