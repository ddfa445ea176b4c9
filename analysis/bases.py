"""The findings of several bases side by side (issue 21: base capacity as an axis): one column
per base, each finding's effect, 95% CI, p, detectable effect and verdict from that base's own
report, and where format saturates for each base.

    python -m analysis.bases reports/ablations reports/capacity/base-seed-0 \
        reports/capacity/base-seed-1 [--saturation reports/saturation] --out reports/bases

Each report directory is one ``python -m analysis.report --base ...`` (its ``summary.json``
names the base); a finding one base's grid did not test is shown as such, not as a zero.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

from analysis.summarize import recipe_legend


def load_report(path: Path) -> dict[str, Any]:
    summary = path / "summary.json"
    if not summary.exists():
        sys.exit(f"{path}: no summary.json (expected a python -m analysis.report output directory)")
    data = json.loads(summary.read_text())
    if "base" not in data or "findings" not in data:
        sys.exit(f"{summary}: no 'base' or 'findings' (written by an older analysis.report)")
    return data


def _cell(f: dict[str, Any] | None) -> str:
    if f is None:
        return "not in this grid"
    lo, hi = f["ci"]
    p = "nan" if f["p"] is None else f"{f['p']:.3g}"
    return (
        f"{f['effect']:+.3f} ({lo:+.3f} to {hi:+.3f}), p {p}, detectable {f['mde']:.3f}{_test(f)}: "
        f"**{f['verdict']}**"
    )


def _test(f: dict[str, Any]) -> str:
    """The test and its n: bases' grids can differ in replicates (three training seeds on one,
    one on another, whose test then pairs prompts), so a p is read beside what it counted."""
    if not f.get("test"):
        return ""
    n = f.get("n")
    n = " vs ".join(str(x) for x in n) if isinstance(n, list) else n
    return f" ({f['test']}, n {n})" if n is not None else f" ({f['test']})"


def labels(reports: list[dict[str, Any]]) -> list[str]:
    """Each report's base; one label under two recipes (tiny_large seed 0 at two tokens_ratios)
    gets each recipe's hash (``unrecorded`` for a report older than that field), and one recipe
    built on two machines' numerics each build (analysis.summarize.build_label). The same base
    twice is refused: give one report per base."""
    out = [r["base"] for r in reports]
    for key, text, missing in (
        ("base_recipe", "recipe {}", "unrecorded"),
        ("base_build", "{}", "build unrecorded"),
    ):
        values = [text.format(r.get(key) or missing) for r in reports]
        pairs = list(zip(out, values, strict=True))
        differ = {b for b, _ in pairs if len({v for o, v in pairs if o == b}) > 1}
        out = [f"{b}, {v}" if b in differ else b for b, v in zip(out, values, strict=True)]
    if len(set(out)) < len(out):
        sys.exit(f"two reports of the same base ({out}): give one report per base")
    return out


def side_by_side(reports: list[dict[str, Any]]) -> list[str]:
    """A Markdown table: one row per finding (in the order first seen), one column per base."""
    bases = labels(reports)
    names = list(dict.fromkeys(f["finding"] for r in reports for f in r["findings"]))
    by = [{f["finding"]: f for f in r["findings"]} for r in reports]
    paper = {f["finding"]: f for r in reports for f in r["findings"]}
    lines = [
        "| finding | paper | " + " | ".join(bases) + " |",
        "|---|---|" + "---|" * len(bases),
    ]
    for name in names:
        p = paper[name]
        ref = p.get("paper") or ("—" if p["paper_effect"] is None else f"{p['paper_effect']:+.2f}")
        lines.append(f"| {name} | {ref} | " + " | ".join(_cell(b.get(name)) for b in by) + " |")
    return lines


def saturation_lines(path: Path) -> list[str]:
    """Per base: the joint saturation point (the definition) and each metric's own, on the
    base's own grid and, where the bases' grids differ, on the sizes they all have."""
    from analysis.saturation import METRICS, metric_points, point_text

    data = json.loads((path / "saturation.json").read_text())
    lines = [
        "| base | saturates at | optimizer steps | " + " | ".join(METRICS) + " | why |",
        "|---|---|---|" + "---|" * len(METRICS) + "---|",
    ]
    common = []
    for base in sorted(data["bases"]):
        r = data["bases"][base]
        n = f"{r['n']:,} examples" if r["saturated"] else "not saturated"
        each = [point_text(r["by_metric"][m]) if "by_metric" in r else "—" for m in METRICS]
        lines.append(
            f"| {base} | {n} | {r['steps'] or '—'} | " + " | ".join(each) + f" | {r['reason']} |"
        )
        if "common" in r:
            c = r["common"]
            common.append(
                f"- {base} on n = {c['sizes'][0]:,} to {c['sizes'][-1]:,} (the sizes every base "
                f"has): {point_text(c)}; {metric_points(c['by_metric'])}"
            )
    return lines + ([""] + common if common else [])


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    ap.add_argument("reports", type=Path, nargs="+", help="analysis.report output directories")
    ap.add_argument("--saturation", type=Path, help="an analysis.saturation --out directory")
    ap.add_argument("--out", type=Path, required=True)
    args = ap.parse_args(argv)
    reports = [load_report(p) for p in args.reports]
    names = labels(reports)
    md = [
        "# The findings per base",
        "",
        "Each column is one base's own report (its runs only; seeds of different bases are "
        "never pooled): effect (95% CI), p, the smallest effect its grid detects, the verdict.",
        "",
        *side_by_side(reports),
        "",
        *(f"- {b}: {p}" for b, p in zip(names, args.reports, strict=True)),
    ]
    legend = recipe_legend(
        [
            {"base": b, "base_recipe_fields": r.get("base_recipe_fields")}
            for b, r in zip(names, reports, strict=True)
        ]
    )
    if legend:
        md += ["", "What the recipes of one base name differ in:", "", *legend]
    if args.saturation:
        md += ["", "## Where format saturates", "", *saturation_lines(args.saturation)]
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / "bases.md").write_text("\n".join(md) + "\n")
    print("\n".join(md))


if __name__ == "__main__":
    main()
