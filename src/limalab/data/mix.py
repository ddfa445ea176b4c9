"""The mix: exact counts per source, scaled to ``data.size`` keeping proportions, drawn as
prefixes of each source's seeded order (so subsets are nested), plus the manifest."""

from __future__ import annotations

import hashlib
import json
import logging
from fractions import Fraction
from pathlib import Path
from typing import Any

from limalab.data.example import Example
from limalab.data.sources import source_pool
from limalab.tracking.io import atomic_write_json, config_hash, read_jsonl, write_jsonl
from limalab.versions import PIPELINE_VERSION

log = logging.getLogger(__name__)


def scale_counts(counts: dict[str, int], size: int | None) -> dict[str, int]:
    """Counts scaled to sum to ``size``, or unchanged when size is None.

    Balinski and Young's quota method, one example at a time: each count stays within 1 of
    its exact share, shares that come out whole are exact (Table 1 at 2,000 is Table 1 x 2),
    and no source ever loses an example when ``size`` grows, so subsets nest at every size
    (largest remainder does not: a source of 4 in 1,448 got 1 example at size 74, 0 at 159).
    """
    if size is None:
        return dict(counts)
    if not isinstance(size, int) or isinstance(size, bool) or size <= 0:
        raise ValueError(f"data.size: expected a positive integer, got {size!r}")
    total = sum(counts.values())
    order = list(counts)
    out = dict.fromkeys(counts, 0)
    for h in range(1, size + 1):
        # eligible: still under its upper quota at this size; then the largest c / (n + 1)
        eligible = [k for k in order if out[k] * total < counts[k] * h]
        k = max(eligible, key=lambda k: (Fraction(counts[k], out[k] + 1), -order.index(k)))
        out[k] += 1
    return out


def resolve_path(path: str, world_dir: Path | None) -> Path:
    """``world:<rel>`` points inside the miniature world; anything else is a real path."""
    if path.startswith("world:"):
        if world_dir is None:
            raise ValueError(f"{path}: a world: path needs the miniature world")
        return world_dir / path.removeprefix("world:")
    return Path(path).expanduser()


def _fingerprint(path: Path) -> list:
    files = [path] if path.is_file() else sorted(p for p in path.rglob("*") if p.is_file())
    return [[str(p.relative_to(path)) if p != path else p.name, p.stat().st_size, int(p.stat().st_mtime)] for p in files]


def cached_pool(name: str, src: dict[str, Any], world_dir: Path | None, cache_dir: Path,
                subset_seed: int) -> tuple[list[Example], dict[str, int]]:
    """Read and filter a source once per (config, files, seed); later runs load the result."""
    cfg = {**src, "name": name}
    path = resolve_path(src["path"], world_dir)
    if not path.exists():
        raise FileNotFoundError(f"data.sources.{name}.path: {path} does not exist")
    key = config_hash({"cfg": cfg, "files": _fingerprint(path), "seed": subset_seed, "v": PIPELINE_VERSION})
    cache = cache_dir / "pools" / f"{name}-{key}"
    if (cache / "stats.json").exists():
        return [Example.from_dict(d) for d in read_jsonl(cache / "examples.jsonl")], \
            json.loads((cache / "stats.json").read_text())
    log.info("reading source %s from %s", name, path)
    pool, stats = source_pool(cfg, path, subset_seed)
    write_jsonl(cache / "examples.jsonl", (e.to_dict() for e in pool))
    atomic_write_json(cache / "stats.json", stats)  # written last: marks the cache complete
    return pool, stats


def build_mix(data_cfg: dict[str, Any], world_dir: Path | None, cache_dir: Path) -> tuple[list[Example], dict]:
    """The training examples (source order, then each source's order) and the manifest."""
    sources = data_cfg["sources"]
    counts = {}
    for name, src in sources.items():
        c = src.get("count")
        if not isinstance(c, int) or isinstance(c, bool) or c < 0:
            raise ValueError(f"data.sources.{name}.count: expected a non-negative integer, got {c!r}")
        counts[name] = c
    counts = scale_counts(counts, data_cfg.get("size"))
    seed = int(data_cfg.get("subset_seed", 0))
    examples: list[Example] = []
    filter_stats, pool_sizes = {}, {}
    for name, src in sources.items():
        if counts[name] == 0:
            continue
        pool, stats = cached_pool(name, src, world_dir, cache_dir, seed)
        filter_stats[name], pool_sizes[name] = stats, len(pool)
        want = counts[name]
        if want > len(pool):
            if not src.get("allow_repeat", False):
                raise ValueError(
                    f"data.sources.{name}: {want} examples requested but the pool holds {len(pool)} "
                    f"after filtering (set allow_repeat: true to upsample)")
            pool = [pool[i % len(pool)] for i in range(want)]
        examples.extend(pool[:want])
    if not examples:
        raise ValueError(f"data: no examples left; per-source filter drops: {filter_stats}")
    ids = [e.id for e in examples]
    digest = hashlib.sha256(json.dumps([[e.id, e.turns] for e in examples]).encode()).hexdigest()
    manifest = {
        "data": data_cfg.get("name"),
        "sha256": digest,
        "n_examples": len(examples),
        "source_counts": {k: v for k, v in counts.items() if v},
        "pool_sizes": pool_sizes,
        "filter_stats": filter_stats,
        "subset_seed": seed,
        "example_ids": ids,
    }
    return examples, manifest
