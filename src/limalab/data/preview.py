"""A data arm as a person reads it before training: counts, per-filter drops, length
histograms and a few examples per source (``src/prepare.py`` writes it beside the manifest)."""

from __future__ import annotations

from collections import defaultdict

from limalab.data.example import Example

BINS = (0, 100, 200, 400, 800, 1600, 3200, 6400)


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
    lines = [
        f"# Data arm `{manifest['data']}`: {manifest['n_examples']} examples "
        f"(subset seed {manifest['subset_seed']}, sha256 {manifest['sha256'][:12]})",
        "",
        "| source | examples | pool after filters |",
        "|---|---|---|",
    ]
    lines += [
        f"| {s} | {n} | {manifest['pool_sizes'].get(s)} |"
        for s, n in manifest["source_counts"].items()
    ]
    lines += [f"\n**Warning:** {w}" for w in manifest.get("warnings", [])]
    for source, stats in manifest["filter_stats"].items():
        lines += [
            "",
            f"## Filters of `{source}` (rows in = kept + each step's drops + bad records)",
            "",
            "| step | rows |",
            "|---|---|",
            *[f"| {k} | {v} |" for k, v in stats.items()],
        ]
    for source, exs in by_source.items():
        lengths = [len(ex.turns[-1]) for ex in exs]
        peak = max(n for _, n in length_histogram(lengths)) or 1
        lines += ["", f"## `{source}`: response length (characters)", "", "```"]
        lines += [
            f"{label:>10} {n:6d} {'#' * round(40 * n / peak)}"
            for label, n in length_histogram(lengths)
        ]
        lines += ["```"]
        for ex in exs[:per_source]:
            lines += [
                "",
                f"**{ex.id}**",
                "",
                "> " + ex.turns[0].replace("\n", "\n> "),
                "",
                "```",
                ex.turns[-1],
                "```",
            ]
    return "\n".join(lines) + "\n"
