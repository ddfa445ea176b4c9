"""Source-independent cleaning of a pool: exact and near-duplicate removal, decontamination.

Each step is named, configured in ``data.clean`` (``conf/filters/generic.yaml``), and counts
what it drops in the source's ``filter_stats``. Steps keep the pool's order and drop the later
of two duplicates, so the best-ranked copy stays (a Stack Exchange pool is ranked by votes).
"""

from __future__ import annotations

import json
import re
import zlib
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any

import numpy as np

from limalab.data.example import Example

WORD = re.compile(r"\w+")


def words(text: str) -> list[str]:
    return WORD.findall(text.lower())


def _field(ex: Example, field: str) -> str:
    if field == "prompt":
        return ex.turns[0]
    if field == "response":
        return ex.turns[-1]
    if field == "text":
        return "\n".join(ex.turns)
    raise ValueError(f"data.clean: field: expected prompt, response or text, got {field!r}")


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

    def __init__(self, threshold: float, num_perm: int = 128, bands: int = 32, shingle: int = 5, seed: int = 0) -> None:
        if num_perm % bands:
            raise ValueError(f"data.clean near_dedup: num_perm ({num_perm}) must be a multiple of bands ({bands})")
        rng = np.random.default_rng(seed)
        self.a = rng.integers(1, PRIME, num_perm, dtype=np.uint64)
        self.b = rng.integers(0, PRIME, num_perm, dtype=np.uint64)
        self.threshold, self.bands, self.rows, self.shingle = threshold, bands, num_perm // bands, shingle
        self.buckets: list[dict[bytes, list[int]]] = [{} for _ in range(bands)]
        self.signatures: list[np.ndarray] = []

    def signature(self, text: str) -> np.ndarray:
        ws = words(text)
        grams = {" ".join(ws[i:i + self.shingle]) for i in range(max(1, len(ws) - self.shingle + 1))}
        x = np.fromiter((zlib.crc32(g.encode()) for g in grams), dtype=np.uint64, count=len(grams))
        return ((self.a[:, None] * x[None, :] + self.b[:, None]) % PRIME).min(axis=1)

    def add_if_new(self, text: str) -> bool:
        """Index the text and return True, or return False if a near duplicate is indexed."""
        sig = self.signature(text)
        keys = [sig[i * self.rows:(i + 1) * self.rows].tobytes() for i in range(self.bands)]
        candidates = {j for band, key in zip(self.buckets, keys, strict=True) for j in band.get(key, ())}
        if any(np.mean(self.signatures[j] == sig) >= self.threshold for j in candidates):
            return False
        for band, key in zip(self.buckets, keys, strict=True):
            band.setdefault(key, []).append(len(self.signatures))
        self.signatures.append(sig)
        return True


def near_dedup(field: str = "text", threshold: float = 0.8, num_perm: int = 128, bands: int = 32,
               shingle: int = 5) -> Callable[[Example], bool]:
    lsh = MinHashLSH(threshold, num_perm, bands, shingle)
    return lambda ex: lsh.add_if_new(_field(ex, field))


def eval_texts(paths: Iterable[Path], field: str = "prompt") -> list[str]:
    """The prompts of the eval sets (JSONL with a ``prompt`` field, as ``world:eval/*.jsonl``)."""
    out = []
    for path in paths:
        for n, line in enumerate(path.read_text(encoding="utf-8").splitlines(), start=1):
            if line.strip():
                row = json.loads(line)
                if field not in row:
                    raise ValueError(f"{path}: line {n}: no {field!r} field to decontaminate against")
                out.append(row[field])
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
                self.grams.setdefault(k, set()).update(ws[i:i + k] for i in range(len(ws) - k + 1))

    def contaminated(self, text: str) -> bool:
        ws = tuple(words(text))
        return any(ws[i:i + k] in grams for k, grams in self.grams.items() for i in range(len(ws) - k + 1))


def clean_pool(pool: list[Example], steps: list[dict[str, Any]], stats: dict[str, int], source: str,
               resolve: Callable[[str], Path]) -> list[Example]:
    """Run the configured cleaning steps over a pool, counting drops into ``stats``."""
    for s in steps:
        s = dict(s)
        name = s.pop("name")
        before = len(pool)
        if name == "exact_dedup":
            keep = exact_dedup(**s)
            pool = [ex for ex in pool if keep(ex)]
        elif name == "near_dedup":
            keep = near_dedup(**s)
            pool = [ex for ex in pool if keep(ex)]
        elif name == "decontaminate":
            against = [resolve(p) for p in s.pop("against")]
            max_fraction = float(s.pop("max_fraction", 0.01))
            field = s.pop("field", "text")
            dc = Decontaminator(eval_texts(against), **s)
            pool = [ex for ex in pool if not dc.contaminated(_field(ex, field))]
            dropped = before - len(pool)
            if before and dropped / before > max_fraction:
                raise ValueError(
                    f"data.sources.{source}: {dropped} of {before} examples ({dropped / before:.1%}) share a "
                    f"{dc.n}-gram with the eval prompts in {[str(p) for p in against]}, above max_fraction "
                    f"{max_fraction:.1%}: the source overlaps the test set")
        else:
            raise ValueError(f"data.clean: unknown step {name!r}; expected exact_dedup, near_dedup or decontaminate")
        stats[name] = stats.get(name, 0) + before - len(pool)
    stats["kept"] = len(pool)
    return pool
