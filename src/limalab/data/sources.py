"""Turn one configured source into its pool: examples in a fixed, seeded order.

A subset of size N is the first N of that order, so for one ``subset_seed`` the subset of size
N is contained in the subset of size 2N (nested), and the order is what the mix draws from.
"""

from __future__ import annotations

import random
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from tqdm import tqdm

from limalab.data.example import Example
from limalab.data.filters import Candidate, apply_steps
from limalab.data.readers import (
    lima_jsonl,
    natural_instructions,
    stackexchange,
    wikihow,
    writingprompts,
)


def _se_pool(cfg: dict[str, Any], path: Path, seed: int, stats: dict[str, int]) -> list[Example]:
    """Filtered pairs per exchange, best questions first; exchanges drawn with temperature."""
    wanted = cfg.get("exchanges")  # None = every site found under path
    per_site: dict[str, list[Example]] = {}
    for site_dir in tqdm(stackexchange.site_dirs(path), desc=f"read {cfg['name']}", unit="site", leave=False):
        site = stackexchange.site_name(site_dir)
        if wanted is not None and site not in wanted:
            continue
        threads = sorted(stackexchange.read_threads(site_dir), key=lambda t: (-t.score, int(t.id)))
        kept = apply_steps((Candidate(t) for t in threads), list(cfg["filters"]), stats)
        per_site[site] = [
            Example(f"se:{site}:q{c.thread.id}:a{c.answer.id}", cfg["name"], [c.prompt, c.response],
                    {"exchange": site, "question_score": c.thread.score, "answer_score": c.answer.score})
            for c in kept
        ]
    if wanted is not None and (missing := set(wanted) - set(per_site)):
        raise FileNotFoundError(f"{path}: no dump for exchanges {sorted(missing)} (found {sorted(per_site)})")
    return temperature_order(per_site, float(cfg.get("temperature", 3.0)), seed)


def temperature_order(per_group: dict[str, list[Example]], tau: float, seed: int) -> list[Example]:
    """Draw groups with p ∝ size^(1/tau) (sizes of the full pools), then the group's next
    example; an exhausted group leaves the draw. tau = 1 is proportional, large tau uniform."""
    rng = random.Random(f"{seed}/temperature")
    weights = {g: len(xs) ** (1.0 / tau) for g, xs in per_group.items() if xs}
    cursors = dict.fromkeys(weights, 0)
    order = []
    while weights:
        groups = sorted(weights)
        g = rng.choices(groups, weights=[weights[x] for x in groups])[0]
        order.append(per_group[g][cursors[g]])
        cursors[g] += 1
        if cursors[g] == len(per_group[g]):
            del weights[g]
    return order


def _shuffled(examples: list[Example], seed: int) -> list[Example]:
    random.Random(f"{seed}/shuffle").shuffle(examples)
    return examples


def _wikihow_pool(cfg: dict, path: Path, seed: int, stats: dict) -> list[Example]:
    out = []
    for line, title, text in wikihow.read_articles(path):
        prompt = title if title.endswith("?") else title + "?"
        text = text.replace("This article", "The following answer").replace("this article", "the following answer")
        out.append(Example(f"wikihow:{title}", cfg["name"], [prompt, text], {"line": line}))
    stats["input"] = stats["kept"] = len(out)
    return _shuffled(out, seed)


def _wp_pool(cfg: dict, path: Path, seed: int, stats: dict) -> list[Example]:
    split = cfg.get("split", "train")
    out = [Example(f"wp:{split}:{n}", cfg["name"], [p, s], {}) for n, p, s in writingprompts.read_pairs(path, split)]
    stats["input"] = stats["kept"] = len(out)
    return _shuffled(out, seed)


def _ni_pool(cfg: dict, path: Path, seed: int, stats: dict) -> list[Example]:
    """Round-robin over tasks (one example from each task first, as the paper's 50)."""
    rng = random.Random(f"{seed}/ni")
    per_task = []
    for task, definition, instances in natural_instructions.read_tasks(path):
        xs = [Example(f"ni:{inst['id']}", cfg["name"], [f"{definition}\n\n{inst['input']}", inst["output"][0]],
                      {"task": task}) for inst in instances]
        rng.shuffle(xs)
        per_task.append(xs)
    rng.shuffle(per_task)
    out = [xs[i] for i in range(max(map(len, per_task), default=0)) for xs in per_task if i < len(xs)]
    stats["input"] = stats["kept"] = len(out)
    return out


def _lima_pool(cfg: dict, path: Path, seed: int, stats: dict) -> list[Example]:
    out = [Example(f"{cfg['name']}:{n}", cfg["name"], turns, {"origin": src})
           for n, turns, src in lima_jsonl.read_conversations(path)]
    stats["input"] = stats["kept"] = len(out)
    return _shuffled(out, seed)


READERS = {
    "stackexchange": _se_pool,
    "wikihow": _wikihow_pool,
    "writingprompts": _wp_pool,
    "natural_instructions": _ni_pool,
    "lima_jsonl": _lima_pool,
}


def source_pool(cfg: dict[str, Any], path: Path, seed: int) -> tuple[list[Example], dict[str, int]]:
    reader = cfg["reader"]
    if reader not in READERS:
        raise ValueError(f"data.sources.{cfg['name']}.reader: unknown reader {reader!r}; expected one of {sorted(READERS)}")
    if not path.exists():
        raise FileNotFoundError(f"data.sources.{cfg['name']}.path: {path} does not exist")
    stats: dict[str, int] = {}
    return READERS[reader](cfg, path, seed, stats), stats


def iter_texts(examples: list[Example]) -> Iterator[str]:
    for ex in examples:
        yield from ex.turns
