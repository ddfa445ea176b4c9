"""Token sequences with the paper's lengths, for benchmarks: Table 1's per-source mean prompt and
response lengths (LIMA.md), each drawn log-normal around its mean. Token ids are random; only
the lengths and the prompt/response split matter to throughput."""

from __future__ import annotations

import math
import random

from limalab.data.chat import IGNORE

# source -> (count, mean input tokens, mean output tokens)
TABLE1 = {
    "se_stem": (200, 117, 523),
    "se_other": (200, 119, 530),
    "wikihow": (200, 12, 1811),
    "writingprompts": (150, 34, 274),
    "natural_instructions": (50, 236, 92),
    "authors": (200, 40, 334),
}
Row = tuple[list[int], list[int]]


def lognormal(rng: random.Random, mean: float, sigma: float = 0.6) -> int:
    return max(1, round(rng.lognormvariate(math.log(mean) - sigma**2 / 2, sigma)))


def table1_rows(vocab: int, max_length: int, seed: int = 0) -> list[Row]:
    """1,000 (input_ids, labels) rows, shuffled, trimmed to ``max_length`` like the paper's."""
    rng = random.Random(seed)
    rows = []
    for count, n_in, n_out in TABLE1.values():
        for _ in range(count):
            prompt = [
                rng.randrange(4, vocab) for _ in range(lognormal(rng, n_in) + 3)
            ]  # + bos and markers
            response = [rng.randrange(4, vocab) for _ in range(lognormal(rng, n_out) + 1)]  # + EOT
            ids = (prompt + response)[:max_length]
            rows.append((ids, ([IGNORE] * len(prompt) + response)[:max_length]))
    rng.shuffle(rows)
    return rows
