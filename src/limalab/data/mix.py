"""The mix: exact counts per source, scaled to ``data.size`` keeping proportions, drawn as
prefixes of each source's seeded order (so subsets are nested), plus the manifest."""

from __future__ import annotations

import hashlib
import json
import logging
from fractions import Fraction
from pathlib import Path
from typing import Any

from limalab.data.clean import clean_pool
from limalab.data.example import Example
from limalab.data.readers.table import HUB
from limalab.data.sources import source_pool
from limalab.tracking.cache import cached_entry
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
    if str(path).startswith(HUB):
        return [str(path)]
    files = [path] if path.is_file() else sorted(p for p in path.rglob("*") if p.is_file())
    return [[str(p.relative_to(path)) if p != path else p.name, p.stat().st_size, int(p.stat().st_mtime)] for p in files]


def cached_pool(name: str, src: dict[str, Any], world_dir: Path | None, cache_dir: Path, subset_seed: int,
                clean: list[dict[str, Any]] | None = None, on_bad_record: str = "error",
                ) -> tuple[list[Example], dict[str, int]]:
    """Read, filter and clean a source once per (config, files, seed); later runs load it."""
    cfg = {**src, "name": name}
    if "path" not in src:
        raise ValueError(f"data.sources.{name}.path: missing; expected the source's file or directory")
    path = Path(src["path"]) if src["path"].startswith(HUB) else resolve_path(src["path"], world_dir)
    if not str(path).startswith(HUB) and not path.exists():
        raise FileNotFoundError(f"data.sources.{name}.path: {path} does not exist")
    clean = list(src.get("clean", clean or []))
    against = [resolve_path(p, world_dir) for s in clean for p in s.get("against", [])]
    key = config_hash({"cfg": cfg, "clean": clean, "bad": on_bad_record, "files": _fingerprint(path),
                       "against": [_fingerprint(p) for p in against], "seed": subset_seed, "v": PIPELINE_VERSION})

    def build(tmp: Path) -> None:
        log.info("reading source %s from %s", name, path)
        pool, stats = source_pool(cfg, path, subset_seed, on_bad_record)
        pool = clean_pool(pool, clean, stats, name, lambda p: resolve_path(p, world_dir))
        write_jsonl(tmp / "examples.jsonl", (e.to_dict() for e in pool))
        atomic_write_json(tmp / "stats.json", stats)

    cache = cached_entry(cache_dir / "pools" / f"{name}-{key}", build, f"pool of source {name}")
    return [Example.from_dict(d) for d in read_jsonl(cache / "examples.jsonl")], \
        json.loads((cache / "stats.json").read_text())


def _count_or_fraction(name: str, src: dict[str, Any]) -> tuple[int | None, float | None]:
    """A count is an integer; a share of the pool must be written ``fraction:``."""
    c, f = src.get("count"), src.get("fraction")
    if (c is None) == (f is None):
        raise ValueError(f"data.sources.{name}: expected exactly one of count (an integer) and fraction "
                         f"(a share of the filtered pool, 0 < fraction <= 1), got count={c!r} fraction={f!r}")
    if c is not None and (not isinstance(c, int) or isinstance(c, bool) or c < 0):
        hint = f" (for a share of the pool write fraction: {c})" if isinstance(c, float) else ""
        raise ValueError(f"data.sources.{name}.count: expected a non-negative integer, got {c!r}{hint}")
    if f is not None and (isinstance(f, bool) or not isinstance(f, int | float) or not 0 < f <= 1):
        raise ValueError(f"data.sources.{name}.fraction: expected a number in (0, 1], got {f!r}")
    return c, f


def build_mix(data_cfg: dict[str, Any], world_dir: Path | None, cache_dir: Path) -> tuple[list[Example], dict]:
    """The training examples (source order, then each source's order) and the manifest."""
    sources = data_cfg["sources"]
    seed = int(data_cfg.get("subset_seed", 0))
    policy = data_cfg.get("on_bad_record", "error")
    wanted = {name: _count_or_fraction(name, src) for name, src in sources.items()}
    pools, filter_stats = {}, {}
    for name, src in sources.items():
        if wanted[name][0] == 0:
            continue
        pools[name], filter_stats[name] = cached_pool(name, src, world_dir, cache_dir, seed,
                                                      data_cfg.get("clean"), policy)
    base = {name: c if c is not None else round(f * len(pools[name])) for name, (c, f) in wanted.items()}
    # scaled: false keeps a source's count whatever data.size is (e.g. "1,000 + 30 dialogue chains")
    fixed = {name for name, src in sources.items() if src.get("scaled", True) is False}
    counts = {**scale_counts({k: v for k, v in base.items() if k not in fixed}, data_cfg.get("size")),
              **{k: base[k] for k in fixed}}
    examples: list[Example] = []
    for name, src in sources.items():
        want = counts[name]
        if want == 0:
            continue
        pool = pools[name]
        if want > len(pool):
            if not src.get("allow_repeat", False):
                raise ValueError(
                    f"data.sources.{name}: {want} examples requested but the pool holds {len(pool)} "
                    f"after filtering (set data.sources.{name}.allow_repeat=true to upsample)")
            pool = [pool[i % len(pool)] for i in range(want)]  # whole passes first: still nested
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
        "pool_sizes": {k: len(v) for k, v in pools.items()},
        "bad_records": {k: v.get("bad_records", 0) for k, v in filter_stats.items()},
        "filter_stats": filter_stats,
        "subset_seed": seed,
        "example_ids": ids,
    }
    return examples, manifest
