"""The mix: exact counts per source, scaled to ``data.size`` keeping proportions, drawn as
prefixes of each source's seeded order (so subsets are nested), plus the manifest."""

from __future__ import annotations

import hashlib
import json
import logging
from collections.abc import Callable
from fractions import Fraction
from pathlib import Path
from typing import Any

from limalab.data.clean import clean_pool
from limalab.data.example import Example
from limalab.data.sources import HUB, accounting, check_accounting, source_pool
from limalab.registry import import_plugins
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


WORLD = "world:"


def resolve_path(path: str, world_dir: Path | None) -> Path:
    """``world:<rel>`` points inside the miniature world; anything else is a real path."""
    if path.startswith(WORLD):
        if world_dir is None:
            raise ValueError(f"{path}: a world: path needs the miniature world")
        return world_dir / path.removeprefix(WORLD)
    return Path(path).expanduser()


def needs_world(data_cfg: dict[str, Any]) -> bool:
    """Whether any source, or any cleaning step's eval set, reads from the miniature world."""
    clean = list(data_cfg.get("clean") or [])
    for src in data_cfg["sources"].values():
        steps = list(src.get("clean", clean) or [])
        paths = [str(src.get("path", "")), *(str(p) for s in steps for p in s.get("against", []))]
        if src.get("count") != 0 and any(p.startswith(WORLD) for p in paths):
            return True
    return False


def _fingerprint(path: Path) -> list:
    if str(path).startswith(HUB):
        return [str(path)]
    files = [path] if path.is_file() else sorted(p for p in path.rglob("*") if p.is_file())
    return [
        [
            str(p.relative_to(path)) if p != path else p.name,
            p.stat().st_size,
            int(p.stat().st_mtime),
        ]
        for p in files
    ]


def cached_pool(
    name: str,
    src: dict[str, Any],
    world_dir: Path | None,
    cache_dir: Path,
    subset_seed: int,
    clean: list[dict[str, Any]] | None = None,
    on_bad_record: str = "error",
    world_filters: dict[str, dict] | None = None,
) -> tuple[list[Example], dict[str, int]]:
    """Read, filter and clean a source once per (config, files, seed); later runs load it.
    ``world_filters`` (the miniature's scaled filter parameters) apply to world: paths only."""
    cfg = {**src, "name": name}
    if "path" not in src:
        raise ValueError(
            f"data.sources.{name}.path: missing; expected the source's file or directory"
        )
    if world_filters and str(src["path"]).startswith(WORLD):
        cfg["filter_overrides"] = world_filters
    path = (
        Path(src["path"]) if src["path"].startswith(HUB) else resolve_path(src["path"], world_dir)
    )
    if not str(path).startswith(HUB) and not path.exists():
        raise FileNotFoundError(f"data.sources.{name}.path: {path} does not exist")
    clean = list(src.get("clean", clean or []))
    against = [resolve_path(p, world_dir) for s in clean for p in s.get("against", [])]
    key = config_hash(
        {
            "cfg": cfg,
            "clean": clean,
            "bad": on_bad_record,
            "files": _fingerprint(path),
            "against": [_fingerprint(p) for p in against],
            "seed": subset_seed,
            "v": PIPELINE_VERSION,
        }
    )

    def build(tmp: Path) -> None:
        log.info("reading source %s from %s", name, path)
        pool, stats = source_pool(cfg, path, subset_seed, on_bad_record)
        pool = clean_pool(pool, clean, stats, name, lambda p: resolve_path(p, world_dir))
        check_accounting(name, stats)
        write_jsonl(tmp / "examples.jsonl", (e.to_dict() for e in pool))
        atomic_write_json(tmp / "stats.json", stats)

    # verified on every use (tracking/cache.py): a damaged pool is rebuilt, never used
    cache = cached_entry(cache_dir / "pools" / f"{name}-{key}", build, f"pool of source {name}")
    pool = [Example.from_dict(d) for d in read_jsonl(cache / "examples.jsonl")]
    stats = json.loads((cache / "stats.json").read_text())
    check_accounting(name, stats)
    return pool, stats


def _count_or_fraction(name: str, src: dict[str, Any]) -> tuple[int | None, float | None]:
    """A count is an integer; a share of the pool must be written ``fraction:``."""
    c, f = src.get("count"), src.get("fraction")
    if (c is None) == (f is None):
        raise ValueError(
            f"data.sources.{name}: expected exactly one of count (an integer) and fraction "
            f"(a share of the filtered pool, 0 < fraction <= 1), got count={c!r} fraction={f!r}"
        )
    if c is not None and (not isinstance(c, int) or isinstance(c, bool) or c < 0):
        hint = f" (for a share of the pool write fraction: {c})" if isinstance(c, float) else ""
        raise ValueError(
            f"data.sources.{name}.count: expected a non-negative integer, got {c!r}{hint}"
        )
    if f is not None and (isinstance(f, bool) or not isinstance(f, int | float) or not 0 < f <= 1):
        raise ValueError(f"data.sources.{name}.fraction: expected a number in (0, 1], got {f!r}")
    return c, f


DROP_WARNING = (
    0.95  # a step that drops more than this share of what reaches it is likely misconfigured
)


def drop_warnings(name: str, stats: dict[str, int]) -> list[str]:
    """Steps that dropped more than 95% of the rows that reached them (in the order they ran)."""
    reached = stats.get("input", 0) - stats.get("bad_records", 0)
    out = []
    for step, n in stats.items():
        if step in ("input", "bad_records", "kept") or step.startswith("select:"):
            continue
        if reached and n / reached > DROP_WARNING:
            out.append(
                f"data.sources.{name}: step {step!r} dropped {n} of the {reached} rows that "
                f"reached it ({n / reached:.1%}); check its parameters for this source"
            )
        reached -= n
    return out


def _check_no_shared_ids(chosen: dict[str, list[Example]]) -> None:
    """Two sources yielding the same example (same id) would train on it twice: an error."""
    owner: dict[str, str] = {}
    for name, exs in chosen.items():
        for ex in exs:
            if owner.setdefault(ex.id, name) != name:
                raise ValueError(
                    f"data.sources.{name}: example {ex.id} is also drawn by "
                    f"data.sources.{owner[ex.id]}; two sources read the same rows (give them "
                    "disjoint exchanges, labels or files)"
                )


def draw(
    sources: dict[str, Any], pools: dict[str, list[Example]], counts: dict[str, int]
) -> dict[str, list[Example]]:
    """Each source's count as a prefix of its pool's seeded order (nested subsets)."""
    chosen: dict[str, list[Example]] = {}
    for name, src in sources.items():
        want = counts[name]
        if want == 0:
            continue
        pool = pools[name]
        if want > len(pool):
            if not src.get("allow_repeat", False):
                cap = (
                    f" or raise data.sources.{name}.per_task"
                    if src.get("per_task") is not None
                    else ""
                )
                raise ValueError(
                    f"data.sources.{name}: {want} examples requested but the pool holds "
                    f"{len(pool)} after filtering (set data.sources.{name}.allow_repeat=true to "
                    f"upsample{cap})"
                )
            pool = [pool[i % len(pool)] for i in range(want)]  # whole passes first: still nested
        chosen[name] = pool[:want]
    return chosen


SELECTIONS = ("longest",)


def longest(
    pools: dict[str, list[Example]], n: int, response_tokens: Callable[[list[str]], int] | None
) -> dict[str, list[Example]]:
    """``data.select=longest`` (Long Is More for Alignment, Zhao et al. 2024): the ``n`` examples
    with the most response tokens across all the sources' pools (ties: source order, then each
    pool's seeded order, so the ``n`` longest contain the ``n/2`` longest), each source's in its
    pool's order."""
    if response_tokens is None:
        raise ValueError(
            "data.select=longest: ranks examples by response tokens, so it needs the run's "
            "tokenizer"
        )
    ranked = sorted(
        (
            (-response_tokens(ex.turns), i, j)
            for i, pool in enumerate(pools.values())
            for j, ex in enumerate(pool)
        )
    )[:n]
    names = list(pools)
    keep: dict[str, list[int]] = {name: [] for name in names}
    for _, i, j in ranked:
        keep[names[i]].append(j)
    return {name: [pools[name][j] for j in sorted(js)] for name, js in keep.items() if js}


def _filtered_pools(
    data_cfg: dict[str, Any],
    wanted: dict[str, tuple[int | None, float | None]],
    world_dir: Path | None,
    cache_dir: Path,
) -> tuple[dict[str, list[Example]], dict[str, dict]]:
    """Each source's cleaned, filtered, seeded pool (cached) and its filter counts; a source
    asked for zero examples is not read."""
    pools, filter_stats = {}, {}
    for name, src in data_cfg["sources"].items():
        if wanted[name][0] == 0:
            continue
        pools[name], filter_stats[name] = cached_pool(
            name,
            src,
            world_dir,
            cache_dir,
            int(data_cfg.get("subset_seed", 0)),
            data_cfg.get("clean"),
            data_cfg.get("on_bad_record", "error"),
            data_cfg.get("world_filters"),
        )
    return pools, filter_stats


def _target_counts(
    data_cfg: dict[str, Any],
    wanted: dict[str, tuple[int | None, float | None]],
    pools: dict[str, list[Example]],
) -> dict[str, int]:
    """Examples per source: counts as given, fractions of the pool, scaled together to
    ``data.size`` except the sources with ``scaled: false``."""
    base = {
        name: c if c is not None else round(f * len(pools[name])) for name, (c, f) in wanted.items()
    }
    # scaled: false keeps a source's count whatever data.size is (e.g. "1,000 + 30 dialogue chains")
    fixed = {name for name, src in data_cfg["sources"].items() if src.get("scaled", True) is False}
    return {
        **scale_counts({k: v for k, v in base.items() if k not in fixed}, data_cfg.get("size")),
        **{k: base[k] for k in fixed},
    }


def _choose_examples(
    data_cfg: dict[str, Any],
    pools: dict[str, list[Example]],
    counts: dict[str, int],
    response_tokens: Callable[[list[str]], int] | None,
) -> tuple[dict[str, list[Example]], dict[str, int]]:
    """Each source's examples and how many: the first ``count`` of each pool, or with
    ``data.select`` the same total chosen across the pools by that rule."""
    if data_cfg.get("select") is None:
        return draw(data_cfg["sources"], pools, counts), counts
    if data_cfg["select"] not in SELECTIONS:
        raise ValueError(
            f"data.select: expected one of {SELECTIONS} or null, got {data_cfg['select']!r}"
        )
    chosen = longest(pools, sum(counts.values()), response_tokens)
    return chosen, {name: len(chosen.get(name, [])) for name in data_cfg["sources"]}


def _manifest(
    data_cfg: dict[str, Any],
    examples: list[Example],
    counts: dict[str, int],
    pools: dict[str, list[Example]],
    filter_stats: dict[str, dict],
    warnings: list[str],
) -> dict[str, Any]:
    """What the mix holds and how it was drawn: its hash, counts, filter drops, example ids."""
    digest = hashlib.sha256(json.dumps([[e.id, e.turns] for e in examples]).encode()).hexdigest()
    return {
        "data": data_cfg.get("name"),
        "sha256": digest,
        "n_examples": len(examples),
        "source_counts": {k: v for k, v in counts.items() if v},
        "pool_sizes": {k: len(v) for k, v in pools.items()},
        "bad_records": {k: v.get("bad_records", 0) for k, v in filter_stats.items()},
        "filter_stats": filter_stats,
        "accounting": {k: accounting(v) for k, v in filter_stats.items()},
        "warnings": warnings,
        "subset_seed": int(data_cfg.get("subset_seed", 0)),
        "select": data_cfg.get("select"),
        "example_ids": [e.id for e in examples],
    }


def build_mix(
    data_cfg: dict[str, Any],
    world_dir: Path | None,
    cache_dir: Path,
    plugins: list[str] | None = None,
    response_tokens: Callable[[list[str]], int] | None = None,
) -> tuple[list[Example], dict]:
    """The training examples (source order, then each source's order) and the manifest.
    ``plugins``: the config's user modules (readers, filters, clean steps) to import first;
    ``response_tokens``: a dialogue's assistant tokens (``data.select=longest`` ranks by them)."""
    import_plugins(plugins)
    wanted = {name: _count_or_fraction(name, src) for name, src in data_cfg["sources"].items()}
    pools, filter_stats = _filtered_pools(data_cfg, wanted, world_dir, cache_dir)
    counts = _target_counts(data_cfg, wanted, pools)
    chosen, counts = _choose_examples(data_cfg, pools, counts, response_tokens)
    _check_no_shared_ids({k: list({e.id: e for e in v}.values()) for k, v in chosen.items()})
    examples = [ex for exs in chosen.values() for ex in exs]
    warnings = [w for name, stats in filter_stats.items() for w in drop_warnings(name, stats)]
    for w in warnings:
        log.warning(w)
    if not examples:
        raise ValueError(f"data: no examples left; per-source filter drops: {filter_stats}")
    return examples, _manifest(data_cfg, examples, counts, pools, filter_stats, warnings)
