"""Source-independent cleaning of a pool: exact and near-duplicate removal, decontamination.

Each step is named, configured in ``data.clean`` (``conf/filters/generic.yaml``), and counts
what it drops in the source's ``filter_stats``. Steps keep the pool's order and drop the later
of two duplicates, so the best-ranked copy stays (a Stack Exchange pool is ranked by votes).
Steps register by name in ``CLEAN_STEPS``: a step is ``fn(pool, ctx, **options) -> pool``; a
user's own is a module in ``plugins:`` doing ``@CLEAN_STEPS.register("my_step")``.

A prompt's text for comparison leaves out ``meta.shared_prompt`` (a Natural Instructions
task's definition, which every example of the task shares), so dedup compares instances.
"""

from __future__ import annotations

import inspect
import json
import re
import zlib
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from limalab.data.example import BadRecords, Example, utf8_lines
from limalab.data.messages import ConversationError, prompt_fields
from limalab.registry import Registry

WORD = re.compile(r"\w+")


def words(text: str) -> list[str]:
    return WORD.findall(text.lower())


def _own_prompt(ex: Example) -> str:
    shared = ex.meta.get("shared_prompt") or ""
    return (
        ex.turns[0].removeprefix(shared).lstrip()
        if shared and ex.turns[0].startswith(shared)
        else ex.turns[0]
    )


FIELDS = ("prompt", "response", "text")


def _field(ex: Example, field: str) -> str:
    if field == "prompt":
        return _own_prompt(ex)
    if field == "response":
        return ex.turns[-1]
    if field == "text":
        return "\n".join([_own_prompt(ex), *ex.turns[1:]])
    raise ValueError(f"data.clean: field: expected one of {FIELDS}, got {field!r}")


def exact_dedup(field: str = "prompt") -> Callable[[Example], bool]:
    """Keep the first example per normalised text (case, punctuation and spacing ignored)."""
    seen: set[int] = set()

    def keep(ex: Example) -> bool:
        key = hash(" ".join(words(_field(ex, field))))
        if key in seen:
            return False
        seen.add(key)
        return True

    return keep


PRIME = (1 << 32) + 15  # > every crc32, so (a * x + b) % PRIME is a universal hash in uint64


class MinHashLSH:
    """Near duplicates: Jaccard similarity of word n-gram sets, estimated by MinHash signatures
    and found through banded locality-sensitive hashing (no all-pairs comparison)."""

    def __init__(
        self,
        threshold: float,
        num_perm: int = 128,
        bands: int = 32,
        shingle: int = 5,
        seed: int = 0,
    ) -> None:
        if num_perm % bands:
            raise ValueError(
                f"data.clean near_dedup: num_perm ({num_perm}) must be a multiple of bands "
                f"({bands})"
            )
        rng = np.random.default_rng(seed)
        self.a = rng.integers(1, PRIME, num_perm, dtype=np.uint64)
        self.b = rng.integers(0, PRIME, num_perm, dtype=np.uint64)
        self.threshold, self.bands, self.rows, self.shingle = (
            threshold,
            bands,
            num_perm // bands,
            shingle,
        )
        self.buckets: list[dict[bytes, list[int]]] = [{} for _ in range(bands)]
        self.signatures: list[np.ndarray] = []

    def signature(self, text: str) -> np.ndarray:
        ws = words(text)
        grams = {
            " ".join(ws[i : i + self.shingle]) for i in range(max(1, len(ws) - self.shingle + 1))
        }
        x = np.fromiter((zlib.crc32(g.encode()) for g in grams), dtype=np.uint64, count=len(grams))
        return ((self.a[:, None] * x[None, :] + self.b[:, None]) % PRIME).min(axis=1)

    def add_if_new(self, text: str) -> bool:
        """Index the text and return True, or return False if a near duplicate is indexed."""
        sig = self.signature(text)
        keys = [sig[i * self.rows : (i + 1) * self.rows].tobytes() for i in range(self.bands)]
        candidates = {
            j for band, key in zip(self.buckets, keys, strict=True) for j in band.get(key, ())
        }
        if any(np.mean(self.signatures[j] == sig) >= self.threshold for j in candidates):
            return False
        for band, key in zip(self.buckets, keys, strict=True):
            band.setdefault(key, []).append(len(self.signatures))
        self.signatures.append(sig)
        return True


def near_dedup(
    field: str = "text",
    threshold: float = 0.8,
    num_perm: int = 128,
    bands: int = 32,
    shingle: int = 5,
) -> Callable[[Example], bool]:
    lsh = MinHashLSH(threshold, num_perm, bands, shingle)
    return lambda ex: lsh.add_if_new(_field(ex, field))


def eval_texts(paths: Iterable[Path]) -> list[str]:
    """The user-side text of eval prompt files: JSONL rows with a ``prompt`` (the world's
    ``eval/*.jsonl``), or a conversation ending on a user turn (LIMA's test file, chat files)."""
    out = []
    for path in paths:
        for n, line in utf8_lines(path, BadRecords("error")):
            if not line.strip():
                continue
            try:
                row = json.loads(line)
                fields = prompt_fields(row) if isinstance(row, dict) else None
            except (json.JSONDecodeError, ConversationError) as e:
                raise ValueError(f"{path}: line {n}: not an eval prompt ({e})") from None
            if fields is None:
                raise ValueError(f"{path}: line {n}: expected a JSON object")
            out.append("\n".join([*fields.get("history", []), fields["prompt"]]))
    return out


class Decontaminator:
    """Drops training examples sharing a word n-gram with an eval prompt (13 by default: long
    enough that shared templates do not trip it). An eval prompt shorter than n words counts
    as one n-gram of its own length, so short prompts are checked verbatim."""

    def __init__(self, texts: list[str], n: int = 13) -> None:
        self.n = n
        self.grams: dict[int, set[tuple[str, ...]]] = {}
        for t in texts:
            ws = tuple(words(t))
            k = min(n, len(ws))
            if k:
                self.grams.setdefault(k, set()).update(
                    ws[i : i + k] for i in range(len(ws) - k + 1)
                )

    def contaminated(self, text: str) -> bool:
        ws = tuple(words(text))
        return any(
            ws[i : i + k] in grams
            for k, grams in self.grams.items()
            for i in range(len(ws) - k + 1)
        )


@dataclass
class CleanContext:
    source: str  # the mix source's name, for messages
    resolve: Callable[[str], Path]  # world: paths to files


CleanStep = Callable[..., list[Example]]
CLEAN_STEPS: Registry[CleanStep] = Registry("clean step", "data.clean")


@CLEAN_STEPS.register("exact_dedup")
def exact_dedup_step(
    pool: list[Example], ctx: CleanContext, field: str = "prompt"
) -> list[Example]:  # noqa: ARG001
    keep = exact_dedup(field)
    return [ex for ex in pool if keep(ex)]


@CLEAN_STEPS.register("near_dedup")
def near_dedup_step(
    pool: list[Example],
    ctx: CleanContext,
    field: str = "text",
    threshold: float = 0.8,  # noqa: ARG001
    num_perm: int = 128,
    bands: int = 32,
    shingle: int = 5,
) -> list[Example]:
    keep = near_dedup(field, threshold, num_perm, bands, shingle)
    return [ex for ex in pool if keep(ex)]


@CLEAN_STEPS.register("decontaminate")
def decontaminate(
    pool: list[Example],
    ctx: CleanContext,
    against: list[str],
    max_fraction: float = 0.01,
    field: str = "text",
    n: int = 13,
) -> list[Example]:
    paths = [ctx.resolve(p) for p in against]
    dc = Decontaminator(eval_texts(paths), n)
    kept = [ex for ex in pool if not dc.contaminated(_field(ex, field))]
    dropped, before = len(pool) - len(kept), len(pool)
    if before and dropped / before > float(max_fraction):
        raise ValueError(
            f"data.sources.{ctx.source}: {dropped} of {before} examples ({dropped / before:.1%}) "
            f"share a {dc.n}-gram with the eval prompts in {[str(p) for p in paths]}, above "
            f"max_fraction {float(max_fraction):.1%}: the source overlaps the test set"
        )
    return kept


def clean_pool(
    pool: list[Example],
    steps: list[dict[str, Any]],
    stats: dict[str, int],
    source: str,
    resolve: Callable[[str], Path],
) -> list[Example]:
    """Run the configured cleaning steps over a pool, counting drops into ``stats``."""
    ctx = CleanContext(source, resolve)
    for i, s in enumerate(steps):
        s = dict(s)
        name = s.pop("name", None)
        fn = CLEAN_STEPS.get(name, f"data.clean[{i}].name")
        takes = list(inspect.signature(fn).parameters)[2:]
        if unknown := sorted(set(s) - set(takes)):
            raise ValueError(f"data.clean[{i}]: step {name!r} takes {takes}, not {unknown}")
        before = len(pool)
        pool = fn(pool, ctx, **s)
        stats[name] = stats.get(name, 0) + before - len(pool)
    stats["kept"] = len(pool)
    return pool
