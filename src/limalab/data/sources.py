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

from limalab.data.example import BadRecords, Example
from limalab.data.filters import Candidate, apply_steps
from limalab.data.readers import (
    alpaca,
    lima_jsonl,
    natural_instructions,
    stackexchange,
    table,
    wikihow,
    writingprompts,
)


def _se_pool(cfg: dict[str, Any], path: Path, seed: int, stats: dict[str, int], bad: BadRecords) -> list[Example]:
    """Filtered pairs per exchange, best questions first; exchanges drawn with temperature."""
    wanted = cfg.get("exchanges")  # None = every site found under path
    per_site: dict[str, list[Example]] = {}
    for site_dir in tqdm(stackexchange.site_dirs(path), desc=f"read {cfg['name']}", unit="site", leave=False):
        site = stackexchange.site_name(site_dir)
        if wanted is not None and site not in wanted:
            continue
        threads = stackexchange.read_threads(site_dir, bad, by_score=True)  # best questions first
        kept = apply_steps((Candidate(t) for t in threads), list(cfg.get("filters", [])), stats)
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


def _wikihow_pool(cfg: dict, path: Path, seed: int, stats: dict, bad: BadRecords) -> list[Example]:
    out = []
    for line, title, text in wikihow.read_articles(path, bad):
        prompt = title if title.endswith("?") else title + "?"
        text = text.replace("This article", "The following answer").replace("this article", "the following answer")
        out.append(Example(f"wikihow:{title}", cfg["name"], [prompt, text], {"line": line}))
    stats["input"] = stats["kept"] = len(out)
    return _shuffled(out, seed)


def _wp_pool(cfg: dict, path: Path, seed: int, stats: dict, bad: BadRecords) -> list[Example]:
    split = cfg.get("split", "train")
    out = [Example(f"wp:{split}:{n}", cfg["name"], [p, s], {})
           for n, p, s in writingprompts.read_pairs(path, split, bad)]
    stats["input"] = stats["kept"] = len(out)
    return _shuffled(out, seed)


def _ni_pool(cfg: dict, path: Path, seed: int, stats: dict, bad: BadRecords) -> list[Example]:
    """Round-robin over tasks (one example from each task first, as the paper's 50)."""
    rng = random.Random(f"{seed}/ni")
    per_task = []
    for task, definition, instances in natural_instructions.read_tasks(path, bad):
        xs = [Example(f"ni:{inst['id']}", cfg["name"], [f"{definition}\n\n{inst['input']}", inst["output"][0]],
                      {"task": task}) for inst in instances]
        rng.shuffle(xs)
        per_task.append(xs)
    rng.shuffle(per_task)
    out = [xs[i] for i in range(max(map(len, per_task), default=0)) for xs in per_task if i < len(xs)]
    stats["input"] = stats["kept"] = len(out)
    return out


def _lima_pool(cfg: dict, path: Path, seed: int, stats: dict, bad: BadRecords) -> list[Example]:
    out = [Example(f"{cfg['name']}:{n}", cfg["name"], turns, {"origin": src})
           for n, turns, src in lima_jsonl.read_conversations(path, bad)]
    stats["input"] = stats["kept"] = len(out)
    return _shuffled(out, seed)


def _alpaca_pool(cfg: dict, path: Path, seed: int, stats: dict, bad: BadRecords) -> list[Example]:
    out = [Example(f"alpaca:{i}", cfg["name"], [p, r], {}) for i, p, r in alpaca.read_records(path, bad)]
    stats["input"] = stats["kept"] = len(out)
    return _shuffled(out, seed)


def _table_pool(cfg: dict, path: Path | str, seed: int, stats: dict, bad: BadRecords) -> list[Example]:
    if "columns" not in cfg:
        raise ValueError(f"data.sources.{cfg['name']}.columns: the table reader needs a column mapping, "
                         "e.g. {prompt: instruction, response: output}")
    out = [Example(f"{cfg['name']}:{rid}", cfg["name"], turns, {"at": where})
           for rid, where, turns in table.read_rows(str(path), dict(cfg["columns"]), bad, cfg.get("split", "train"))]
    stats["input"] = stats["kept"] = len(out)
    return _shuffled(out, seed)


READERS = {
    "stackexchange": _se_pool,
    "wikihow": _wikihow_pool,
    "writingprompts": _wp_pool,
    "natural_instructions": _ni_pool,
    "lima_jsonl": _lima_pool,
    "alpaca": _alpaca_pool,
    "table": _table_pool,
}


def source_pool(cfg: dict[str, Any], path: Path, seed: int,
                on_bad_record: str = "error") -> tuple[list[Example], dict[str, int]]:
    """The source's pool in its seeded order, and its counts: ``input``, each filter's drops,
    ``kept``, and ``bad_records`` (skipped with ``data.on_bad_record=skip``)."""
    reader = cfg.get("reader")
    if reader not in READERS:
        raise ValueError(f"data.sources.{cfg['name']}.reader: unknown reader {reader!r}; expected one of {sorted(READERS)}")
    if not str(path).startswith(table.HUB) and not Path(path).exists():
        raise FileNotFoundError(f"data.sources.{cfg['name']}.path: {path} does not exist")
    stats: dict[str, int] = {}
    bad = BadRecords(on_bad_record)
    pool = READERS[reader](cfg, path, seed, stats, bad)
    stats["bad_records"] = bad.count
    return pool, stats


def iter_texts(examples: list[Example]) -> Iterator[str]:
    for ex in examples:
        yield from ex.turns
