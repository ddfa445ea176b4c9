"""Where format saturates: the number of fine-tuning examples (and optimizer steps) from which
a base's EOT rate, format compliance and judge mean stay within a stated tolerance of their
plateau. The definition is fixed before any run (``regime.saturation`` in ``conf/regime/``,
docs/ablations.md, *Base capacity*) and read from the runs' own configs.

- A curve is one base's points ``(n examples, steps, eot_rate, format, judge_mean)``, each the
  mean over the runs (seeds, subset draws) at that size.
- The **plateau** of a metric is its mean over the ``plateau_points`` largest sizes.
- The **saturation point** is the smallest n from which every point, at every larger size too,
  has every metric within its tolerance of the plateau.
- **Not saturated** when the largest sizes do not agree within the tolerance (the curve still
  moves at the top: no plateau to be within), when no size below the plateau's own is within
  the tolerance (a slow rise whose top neighbours agree), or when a metric is missing; the
  result then has no n, and says why, never a number. A curve within tolerance from its
  smallest size on is saturated *at or below* that size (``left_censored``): the grid does not
  show where it began.

Beside the joint point (the definition), each metric's own point under the same rule says
which one holds a curve back; and where the bases' grids cover different sizes, the bases are
also compared on the sizes they all have, so a plateau taken at 4,000 is not set against one
taken at 32,000.

    python -m analysis.saturation runs/saturation --out reports/saturation
"""

from __future__ import annotations

import argparse
import json
import math
import sys
from collections import defaultdict
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import yaml

from analysis.summarize import collect, recipe_legend
from limalab.tracking.io import atomic_write_json

METRICS = ("eot_rate", "format", "judge_mean")
# shown beside the curve, not part of the rule: the test facts the fine-tuned model still recalls
# in the chat format (results.json knowledge_retained), so a falling judge mean can be read
# against forgetting
DIAGNOSTICS = ("retained",)


def saturation(
    points: Sequence[dict[str, Any]], tolerance: dict[str, float], plateau_points: int
) -> dict[str, Any]:
    """The saturation point of one curve (points with ``n``, ``steps`` and every metric of
    ``tolerance``); sizes may repeat (runs at one size are averaged first)."""
    shown = [d for d in DIAGNOSTICS if any(d in p for p in points)]
    curve = mean_by_size(points, [*tolerance, *shown])
    out: dict[str, Any] = {
        "saturated": False,
        "n": None,
        "steps": None,
        "left_censored": False,
        "plateau": {},
        "tolerance": dict(tolerance),
        "plateau_points": plateau_points,
        "curve": curve,
    }
    missing = sorted({m for p in curve for m in tolerance if not _finite(p.get(m))})
    if missing:
        return out | {
            "reason": f"no value of {', '.join(missing)} at some size: nothing to decide on"
        }
    if len(curve) < plateau_points + 1:
        return out | {
            "reason": f"{len(curve)} sizes: the plateau takes the {plateau_points} largest and "
            "at least "
            "one size below it is needed"
        }
    top = curve[-plateau_points:]
    out["plateau"] = plateau = {m: sum(p[m] for p in top) / len(top) for m in tolerance}
    within = [all(abs(p[m] - plateau[m]) <= tolerance[m] for m in tolerance) for p in curve]
    if not all(within[-plateau_points:]):
        moving = [m for m in tolerance if max(abs(p[m] - plateau[m]) for p in top) > tolerance[m]]
        return out | {
            "reason": f"not saturated: the {plateau_points} largest sizes differ by more than the "
            f"tolerance in {', '.join(moving)} (the curve still moves at the top)"
        }
    first = len(within)
    while first > 0 and within[first - 1]:
        first -= 1
    if first >= len(curve) - plateau_points:  # a slow rise also has neighbours that agree
        return out | {
            "reason": f"not saturated: within tolerance only at the {plateau_points} largest sizes "
            "themselves; no smaller size confirms the plateau (the curve may still rise)"
        }
    point = curve[first]
    out |= {
        "saturated": True,
        "n": point["n"],
        "steps": point["steps"],
        "left_censored": first == 0,
    }
    below = "at or below the smallest size" if first == 0 else f"from n = {point['n']:,}"
    return out | {"reason": f"saturated {below}: every larger size within tolerance of the plateau"}


POINT_KEYS = ("saturated", "n", "steps", "left_censored", "reason")  # a point, without its curve


def by_metric(
    points: Sequence[dict[str, Any]], tolerance: dict[str, float], plateau_points: int
) -> dict[str, dict[str, Any]]:
    """Each metric's own saturation point under the same rule (which metric decides)."""
    return {
        m: {k: v for k, v in saturation(points, {m: t}, plateau_points).items() if k in POINT_KEYS}
        for m, t in tolerance.items()
    }


def common_sizes(curves: dict[str, list[dict[str, Any]]]) -> list[int]:
    """The sizes every base's curve has (empty when there is one base)."""
    if len(curves) < 2:
        return []
    sets = [{int(p["n"]) for p in pts} for pts in curves.values()]
    return sorted(set.intersection(*sets))


def analyse(
    curves: dict[str, list[dict[str, Any]]], rule: dict[str, Any]
) -> dict[str, dict[str, Any]]:
    """Per base: the joint point on its own grid, each metric's point, and (when the bases'
    grids differ) the joint point on the sizes all bases share."""
    tol, top = rule["tolerance"], rule["plateau_points"]
    shared = common_sizes(curves)
    out = {}
    for base, pts in curves.items():
        r = saturation(pts, tol, top)
        r["by_metric"] = by_metric(pts, tol, top)
        if shared and {int(p["n"]) for p in pts} != set(shared):
            on = [p for p in pts if int(p["n"]) in shared]
            c = saturation(on, tol, top)
            r["common"] = {
                "sizes": shared,
                **{k: c[k] for k in POINT_KEYS},
                "by_metric": by_metric(on, tol, top),
            }
        out[base] = r
    return out


def mean_by_size(points: Sequence[dict[str, Any]], metrics: Sequence[str]) -> list[dict[str, Any]]:
    """One point per size, each metric the mean over the runs at it (``runs``: how many)."""
    by_n: dict[int, list[dict]] = defaultdict(list)
    for p in points:
        by_n[int(p["n"])].append(p)
    out = []
    for n, ps in sorted(by_n.items()):
        row = {"n": n, "runs": len(ps), "steps": max(int(p.get("steps") or 0) for p in ps) or None}
        for m in metrics:
            vals = [p.get(m) for p in ps]
            row[m] = sum(vals) / len(vals) if all(_finite(v) for v in vals) else None
        out.append(row)
    return out


def _finite(v: Any) -> bool:
    return isinstance(v, (int, float)) and not isinstance(v, bool) and math.isfinite(v)


# ---- from run directories -------------------------------------------------------------------


def load_curves(runs_dir: Path) -> tuple[dict[str, list[dict]], dict[str, Any]]:
    """Per base (``<model.name> seed <model.pretrain.seed>``), the test points of every complete
    run (its own default evaluation), and the saturation rule the runs recorded (one rule)."""
    curves: dict[str, list[dict]] = defaultdict(list)
    rules: dict[str, dict] = {}
    for row in collect(runs_dir):
        if not row["default"] or row.get("prompt_set") not in (None, "test"):
            continue
        rd = Path(runs_dir) / row["run_id"]
        cfg = yaml.safe_load((rd / "config.yaml").read_text())
        rule = (cfg.get("regime") or {}).get("saturation")
        if rule is None:
            raise ValueError(
                f"{rd / 'config.yaml'}: no regime.saturation: the run predates the rule"
            )
        rules[json.dumps(rule, sort_keys=True)] = rule
        stage = (
            json.loads((rd / "stages" / "train.json").read_text())
            if (rd / "stages" / "train.json").exists()
            else {}
        )
        curves[row["base"]].append(
            {
                "n": row["n_examples"],
                "data": row["data"],
                "steps": (stage.get("budget") or {}).get("steps"),
                **{k: row[k] for k in METRICS},
                "retained": (_results(rd).get("knowledge_retained") or {}).get("accuracy"),
                "run_id": row["run_id"],
            }
        )
    data = {p["data"] for pts in curves.values() for p in pts}
    if len(data) > 1:
        raise ValueError(
            f"{runs_dir}: runs of {len(data)} data configs ({', '.join(sorted(data))}); "
            "a curve is one's"
        )
    if len(rules) > 1:
        raise ValueError(
            f"{runs_dir}: runs recorded {len(rules)} different regime.saturation rules; "
            "report them apart"
        )
    return dict(curves), next(iter(rules.values()), {})


def _results(rd: Path) -> dict[str, Any]:
    return json.loads((rd / "results.json").read_text())


def markdown(results: dict[str, dict]) -> str:
    lines = []
    for base, r in sorted(results.items()):
        n = f"n = {r['n']:,} ({r['steps']} steps)" if r["saturated"] else "not saturated"
        cols = [*METRICS, *(d for d in DIAGNOSTICS if any(d in p for p in r["curve"]))]
        lines += [
            f"### {base}: {n}",
            "",
            r["reason"] + ".",
            "",
            "| n | steps | runs | " + " | ".join(cols) + " |",
            "|---|---|---|" + "---|" * len(cols),
        ]
        lines += [
            f"| {p['n']:,} | {p['steps']} | {p['runs']} | "
            + " | ".join(_fmt(p.get(m)) for m in cols)
            + " |"
            for p in r["curve"]
        ]
        if r["plateau"]:
            lines.append(
                "| plateau | | | " + " | ".join(_fmt(r["plateau"].get(m)) for m in cols) + " |"
            )
        lines.append("")
        if "by_metric" in r:
            lines += [
                f"Each metric alone, the same rule: {metric_points(r['by_metric'])}.",
                "",
            ]
        if "common" in r:
            c = r["common"]
            lines += [
                f"On the sizes every base has ({_span(c['sizes'])}): {point_text(c)}; "
                f"{metric_points(c['by_metric'])}.",
                "",
            ]
    return "\n".join(lines)


def metric_points(by: dict[str, dict[str, Any]]) -> str:
    return "; ".join(f"{m} {point_text(v)}" for m, v in by.items())


def point_text(r: dict[str, Any]) -> str:
    if not r["saturated"]:
        return "not saturated"
    at = "at or below" if r["left_censored"] else "from"
    return f"{at} n = {r['n']:,} ({r['steps']} steps)"


def _span(sizes: list[int]) -> str:
    return f"n = {sizes[0]:,} to {sizes[-1]:,}, {len(sizes)} sizes" if sizes else "none"


def _fmt(v: Any) -> str:
    return f"{v:.3f}" if _finite(v) else "-"


PANELS = (
    ("eot_rate", "EOT rate (responses that end)", (-0.03, 1.03)),
    ("format", "format compliance (0-1)", (-0.03, 1.03)),
    ("judge_mean", "judge mean (Likert 1-6)", (0.9, 6.0)),
    ("retained", "test facts recalled after fine-tuning", (-0.03, 1.03)),
)


def draw(results: dict[str, dict], rule: dict[str, Any], plt: Any) -> Any:
    """One panel per metric, one line per base over the examples (log2); each base's own
    saturation point of that metric as a dashed line, its plateau band where it has one."""
    fig, axes = plt.subplots(1, len(PANELS), figsize=(12, 3.2))
    colors = plt.rcParams["axes.prop_cycle"].by_key()["color"]
    for ax, (metric, label, ylim) in zip(axes, PANELS, strict=True):
        for i, (base, r) in enumerate(sorted(results.items())):
            pts = [p for p in r["curve"] if _finite(p.get(metric))]
            if not pts:
                continue
            c = colors[i % len(colors)]
            ax.plot(
                [p["n"] for p in pts], [p[metric] for p in pts], "o-", color=c, ms=3, label=base
            )
            own = r.get("by_metric", {}).get(metric)
            if own and own["saturated"]:
                ax.axvline(own["n"], color=c, ls="--", lw=0.8)
            tol = rule["tolerance"].get(metric)
            if tol is not None and _finite(r["plateau"].get(metric)):
                level = r["plateau"][metric]
                ax.axhspan(level - tol, level + tol, color=c, alpha=0.12, lw=0)
        ax.set_xscale("log", base=2)
        ax.set_ylim(*ylim)
        ax.set_xlabel("fine-tuning examples (log2)", fontsize=7)
        ax.set_title(label, fontsize=8)
        ax.tick_params(labelsize=6)
    axes[0].legend(fontsize=6, loc="upper left")
    fig.suptitle(
        "Where format saturates, per base: band = plateau +- tolerance (mean of the "
        f"{rule['plateau_points']} largest sizes); dashed = that metric's saturation point",
        fontsize=8,
    )
    fig.tight_layout()
    return fig


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    ap.add_argument("runs_dir", type=Path)
    ap.add_argument("--out", type=Path, help="write saturation.md and saturation.json here")
    args = ap.parse_args(argv)
    try:
        curves, rule = load_curves(args.runs_dir)
    except ValueError as e:
        sys.exit(str(e))
    if not curves:
        sys.exit(f"{args.runs_dir}: no complete runs with a test evaluation")
    results = analyse(curves, rule)
    md = (
        "Rule (`regime.saturation`, fixed before the runs): plateau = mean of the "
        f"{rule['plateau_points']} largest "
        f"sizes; tolerance {rule['tolerance']}.\n\n" + markdown(results)
    )
    legend = recipe_legend(collect(args.runs_dir))
    if legend:
        md += "\n\nWhat the recipes of one base name differ in:\n\n" + "\n".join(legend)
    print(md)
    if args.out:
        args.out.mkdir(parents=True, exist_ok=True)
        (args.out / "saturation.md").write_text(md + "\n")
        atomic_write_json(args.out / "saturation.json", {"rule": rule, "bases": results})
        from analysis.figures import pyplot, save

        plt = pyplot()
        fig = draw(results, rule, plt)
        save(fig, args.out / "saturation.png")
        plt.close(fig)


if __name__ == "__main__":
    main()
