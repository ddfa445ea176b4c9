"""Check a data arm before training: read → filter → mix → subset exactly as ``train.py``
does (``build_mix``), then write the manifest and a preview a person can read."""

from __future__ import annotations

from collections import defaultdict
from pathlib import Path
from typing import Any

from limalab.data.example import Example
from limalab.data.mix import build_mix, needs_world
from limalab.tracking.io import atomic_write_json, atomic_write_text, config_hash
from limalab.versions import PIPELINE_VERSION, WORLD_VERSION
from limalab.world.build import WorldConfig, build_world

BINS = (0, 100, 200, 400, 800, 1600, 3200, 6400)


def data_dir(cfg: dict[str, Any]) -> Path:
    """``<runs_dir>/.data/<hash of world and data config>``: one folder per arm and size, beside
    the run directories (hidden like ``.launches``, so only runs show as runs)."""
    key = config_hash({"world": cfg["world"], "data": cfg["data"], "v": [WORLD_VERSION, PIPELINE_VERSION]})
    return Path(cfg["runs_dir"]) / ".data" / key


def prepare(cfg: dict[str, Any], per_source: int = 2) -> Path:
    """The data stage alone; the miniature world is built only when a source reads from it."""
    world_dir = build_world(WorldConfig(**cfg["world"]), cfg["cache_dir"]) if needs_world(cfg["data"]) else None
    examples, manifest = build_mix(cfg["data"], world_dir, Path(cfg["cache_dir"]), cfg.get("plugins"))
    out = data_dir(cfg)
    atomic_write_json(out / "manifest.json", manifest)
    atomic_write_text(out / "preview.md", preview(examples, manifest, per_source))
    return out


def length_histogram(lengths: list[int]) -> list[tuple[str, int]]:
    edges = [*BINS, float("inf")]
    rows = []
    for lo, hi in zip(edges, edges[1:], strict=False):
        label = f"{lo}-{hi - 1}" if hi != float("inf") else f"{lo}+"
        rows.append((label, sum(1 for n in lengths if lo <= n < hi)))
    return rows


def preview(examples: list[Example], manifest: dict, per_source: int = 2) -> str:
    """Counts, per-filter drops, response-length histograms and a few examples per source."""
    by_source: dict[str, list[Example]] = defaultdict(list)
    for ex in examples:
        by_source[ex.source].append(ex)
    lines = [f"# Data arm `{manifest['data']}`: {manifest['n_examples']} examples "
             f"(subset seed {manifest['subset_seed']}, sha256 {manifest['sha256'][:12]})", "",
             "| source | examples | pool after filters |", "|---|---|---|"]
    lines += [f"| {s} | {n} | {manifest['pool_sizes'].get(s)} |" for s, n in manifest["source_counts"].items()]
    lines += [f"\n**Warning:** {w}" for w in manifest.get("warnings", [])]
    for source, stats in manifest["filter_stats"].items():
        lines += ["", f"## Filters of `{source}` (rows in = kept + each step's drops + bad records)", "",
                  "| step | rows |", "|---|---|", *[f"| {k} | {v} |" for k, v in stats.items()]]
    for source, exs in by_source.items():
        lengths = [len(ex.turns[-1]) for ex in exs]
        peak = max(n for _, n in length_histogram(lengths)) or 1
        lines += ["", f"## `{source}`: response length (characters)", "", "```"]
        lines += [f"{label:>10} {n:6d} {'#' * round(40 * n / peak)}" for label, n in length_histogram(lengths)]
        lines += ["```"]
        for ex in exs[:per_source]:
            lines += ["", f"**{ex.id}**", "", "> " + ex.turns[0].replace("\n", "\n> "), "",
                      "```", ex.turns[-1], "```"]
    return "\n".join(lines) + "\n"
