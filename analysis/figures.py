"""The reports' figures, drawn from their recorded tables: every panel has axis labels, n, 95%
CIs and the paper's values where the paper has them (``tests/analysis/test_figures.py`` checks these
on the matplotlib objects). ``analysis.report`` and ``analysis.paper`` write ``summary.json`` /
``paper.json`` and draw from that file, so a recorded report redraws with the current code:

    python -m analysis.figures --from-report docs/results/ablations-world-v5 [--out DIR]

A figure whose table lacks a field is drawn from what the table holds and says what is missing;
a figure whose table is absent is not drawn (one line on stdout says why). Nothing is computed
here but what the draw functions show."""

from __future__ import annotations

import argparse
import math
import os
import sys
import tempfile
from pathlib import Path
from typing import Any

import numpy as np
import yaml

from limalab.ablations.grid import DEFAULT_REGIME
from limalab.tracking.io import read_json

OURS, PAPER, MATCHED, CONTROL = "#4c72b0", "#999999", "#55a868", "#dd8452"
LIKERT = "helpfulness (Likert 1-6)"
FIG5, FIG6, FIG9 = "fig5_diversity_quality.png", "fig6_quantity.png", "fig9_ppl_vs_quality.png"
PAPER_FIGURE = "paper_experiments.png"


def _err(table: list[dict]) -> np.ndarray:
    return np.array(
        [[t["mean"] - t["ci95"][0] for t in table], [t["ci95"][1] - t["mean"] for t in table]]
    )


def draw_fig5(table: list[dict], paper_size: int, plt: Any) -> Any:
    """Bars per arm with 95% CIs and n (runs x prompts) in each label; the paper's bars beside,
    marked as measured at ``paper_size`` examples on LLaMA 7B."""
    fig, ax = plt.subplots(figsize=(6, 3.4))
    x = np.arange(len(table))
    ax.bar(
        x - 0.2,
        [t["mean"] for t in table],
        0.4,
        yerr=np.nan_to_num(_err(table)),
        capsize=4,
        color=OURS,
        label=f"limalab miniature, {table[0]['size'] if table else '?'} examples (95% CI)",
    )
    paper = [
        (i, t["paper"])
        for i, t in enumerate(table)
        if t.get("paper") is not None and not math.isnan(t["paper"])
    ]
    if paper:
        ax.bar(
            [i + 0.2 for i, _ in paper],
            [v for _, v in paper],
            0.4,
            color=PAPER,
            label=f"LIMA paper, LLaMA 7B, {paper_size:,} examples",
        )
    ax.set_xticks(x, [f"{t['label']}\n{_n_label(t)}" for t in table], fontsize=6)
    ax.set_xlabel("training data arm (same N, same regime)", fontsize=7)
    ax.set_ylabel(LIKERT)
    ax.set_ylim(1, 6)
    longest = any(t.get("arm") == "se_longest" for t in table)
    ax.set_title(
        "Fig. 5: diversity, quality and the N longest responses"
        if longest
        else "Fig. 5: diversity and quality",
        fontsize=8,
    )
    ax.legend(fontsize=6, loc="upper right")
    fig.tight_layout()
    return fig


def _n_label(t: dict) -> str:
    """n of a Fig. 5 bar; a table recorded before ``n_runs``/``n_prompts`` existed has its runs
    as ``n_seeds`` (the same count) and no prompt count: the label says so."""
    runs = t.get("n_runs", t.get("n_seeds", "?"))
    if t.get("n_prompts") is None:
        return f"n = {runs} runs\n(prompts per run: not recorded)"
    return f"n = {runs} runs x {t['n_prompts']} prompts"


def _curve(ax: Any, table: list[dict], fit: dict, color: str, label: str) -> None:
    xs = [t["size"] for t in table]
    ax.errorbar(
        xs,
        [t["mean"] for t in table],
        yerr=np.nan_to_num(_err(table)),
        fmt="o-",
        color=color,
        capsize=3,
        label=f"{label}: slope/doubling {fit['slope']:+.2f} (95% CI {fit['ci95'][0]:+.2f} to "
        f"{fit['ci95'][1]:+.2f})",
    )
    ax.fill_between(
        xs, [t["ci95"][0] for t in table], [t["ci95"][1] for t in table], alpha=0.15, color=color
    )
    for t in table:  # above the CI, clear of the error bar
        top = t["ci95"][1] if np.isfinite(t["ci95"][1]) else t["mean"]
        ax.annotate(
            f"n={t['n_seeds']}",
            (t["size"], top),
            textcoords="offset points",
            xytext=(0, 3),
            fontsize=5,
            ha="center",
            color=color,
        )


def _axes(ax: Any, title: str) -> None:
    ax.set_xscale("log", base=2)
    ax.set_xlabel("training examples (log2 scale)", fontsize=7)
    ax.set_ylabel(LIKERT, fontsize=7)
    ax.set_ylim(0.9, 6)  # a mean at the floor (1) shows whole
    ax.set_title(title, fontsize=7)
    if ax.get_legend_handles_labels()[0]:
        ax.legend(fontsize=5, loc="upper left")
    else:
        ax.text(0.5, 0.5, "no runs in this report", transform=ax.transAxes, ha="center", fontsize=7)


def draw_fig6(quantity: dict[str, Any], control: dict[str, Any], plt: Any) -> Any:
    """Left: Fig. 6 (faithful: epochs; beside it the compute-matched curve at fixed steps), the
    paper's flat ~3.8 drawn with the equivalence band +-delta per doubling around our level.
    Right: the positive control, its base model and the level of a bare correct answer."""
    fig, axes = plt.subplots(1, 2, figsize=(9, 3.6), sharey=True)
    ax = axes[0]
    if quantity["table"]:
        _curve(ax, quantity["table"], quantity["fit"], OURS, "epochs (the paper's design)")
    if quantity.get("matched"):
        _curve(
            ax,
            quantity["matched"],
            quantity["matched_fit"],
            MATCHED,
            "fixed steps (compute-matched)",
        )
    ax.axhline(
        quantity["paper_flat"],
        color=PAPER,
        ls="--",
        lw=1,
        label=f"LIMA paper, LLaMA 7B: flat ~{quantity['paper_flat']} (2K-32K examples)",
    )
    _axes(ax, f"Fig. 6: quantity (flat = slope within +-{quantity['delta']} per doubling, TOST)")
    ax = axes[1]
    if control["table"]:
        _curve(ax, control["table"], control["fit"], CONTROL, "passage QA")
        ax.axhline(
            3, color=PAPER, lw=0.6, ls=":", label="a correct answer with nothing extra (level 3)"
        )
        if control.get("base") is not None:
            ax.axhline(
                control["base"], color=CONTROL, lw=0.8, ls="--", label="base model, zero-shot"
            )
    _axes(ax, "positive control: a skill only the SFT data teaches (no paper value)")
    fig.tight_layout()
    return fig


def _pair(ci: Any) -> list[float]:
    return list(ci) if isinstance(ci, list | tuple) else [math.nan, math.nan]


def draw_fig9(sel: list[dict], rho: float, plt: Any) -> Any:
    """Every candidate checkpoint's dev perplexity against its dev judge score, perplexity on a
    log axis (a few diverged checkpoints no longer squeeze the rest), rho and n in the legend,
    and the paper's observation (App. B: perplexity 5 -> 10 while quality 3.9 -> 4.1)."""
    fig, ax = plt.subplots(figsize=(5, 3.4))
    ppl = np.array([r["dev_ppl"] for r in sel], float)
    score = np.array([r["dev_judge_mean"] for r in sel], float)
    ci = np.array([_pair(r.get("dev_judge_ci95")) for r in sel], float).reshape(len(sel), 2)
    err = np.nan_to_num(np.abs(np.stack([score - ci[:, 0], ci[:, 1] - score])))
    ax.errorbar(
        ppl,
        score,
        yerr=err,
        fmt="o",
        ms=3,
        elinewidth=0.5,
        color=OURS,
        label=f"candidate checkpoints, 95% CI over dev prompts (n = {len(sel)}; Spearman rho = "
        f"{rho:+.2f})",
    )
    ax.plot(
        [5, 10],
        [3.9, 4.1],
        "--",
        color=PAPER,
        label="LIMA paper (App. B): ppl 5 -> 10, quality 3.9 -> 4.1",
    )
    ax.set_xscale("log")
    ax.set_xlabel("dev perplexity of the reference responses (log scale)", fontsize=7)
    ax.set_ylabel(f"dev judge mean, {LIKERT}", fontsize=7)
    ax.set_title("Fig. 9: perplexity does not pick the best checkpoint", fontsize=8)
    ax.legend(fontsize=5, loc="lower right")
    fig.tight_layout()
    return fig


def footnote(fig: Any, lines: list[str]) -> None:
    """What the figure's tables lack or where a value came from, in small print at its foot."""
    if not lines:
        return
    fig.text(0.005, 0.005, "\n".join(lines), fontsize=5, color="#555555", va="bottom")
    fig.tight_layout(rect=(0, (7 * len(lines) + 4) / (72 * fig.get_figheight()), 1, 1))


def missing_as_nan(obj: Any) -> Any:
    """A recorded table with its missing numbers as NaN again (strict JSON writes them as null:
    ``limalab.tracking.io.finite``)."""
    if obj is None:
        return math.nan
    if isinstance(obj, dict):
        return {k: missing_as_nan(v) for k, v in obj.items()}
    if isinstance(obj, list):
        return [missing_as_nan(v) for v in obj]
    return obj


def recorded_design(summary: dict) -> tuple[dict, dict, list[str]]:
    """The paper's numbers and the decision rule as the report recorded them, and the names of
    those it did not record (a summary from before they were): those come from ``conf/regime``,
    the report's own fallback for runs from before the regime."""
    regime = yaml.safe_load(DEFAULT_REGIME.read_text())
    paper, rule = summary.get("paper_results"), summary.get("decision_rule")
    lacks = [k for k, v in (("paper_results", paper), ("decision_rule", rule)) if not v]
    return paper or regime["paper_results"], rule or regime["verdicts"], lacks


def _from_conf(what: str, lacks: list[str]) -> list[str]:
    return (
        [
            f"{what}: from conf/regime/{DEFAULT_REGIME.name}; this report's summary.json records "
            f"no {' or '.join(lacks)}"
        ]
        if lacks
        else []
    )


def _control(s: dict) -> tuple[list[dict], list[dict]]:
    """The positive control's base-model rows (size "base, zero-shot": a level line) and its
    curve."""
    pc = s.get("positive_control") or []
    return [r for r in pc if isinstance(r["size"], str)], [
        r for r in pc if not isinstance(r["size"], str)
    ]


def _fig6_of(s: dict, paper: dict, rule: dict, plt: Any) -> Any:
    base, curve = _control(s)
    return draw_fig6(
        {
            "table": s.get("fig6") or [],
            "fit": s.get("slope"),
            "matched": s.get("matched") or [],
            "matched_fit": s.get("matched_slope"),
            "paper_flat": paper["fig6_flat"],
            "delta": rule["flat_delta"],
        },
        {
            "table": curve,
            "fit": s.get("positive_control_slope"),
            "base": base[0]["mean"] if base else None,
        },
        plt,
    )


def report_figures(summary: dict, plt: Any) -> tuple[dict[str, Any], list[str]]:
    """The ablation report's figures from its ``summary.json`` (file name -> figure), and one line
    for each figure its tables cannot draw."""
    s = missing_as_nan(summary)
    paper, rule, lacks = recorded_design(s)
    figs, skipped = {}, []
    if s.get("fig5"):
        figs[FIG5] = draw_fig5(s["fig5"], paper["fig5_size"], plt)
        footnote(
            figs[FIG5],
            _from_conf(
                f"the paper's example count ({paper['fig5_size']:,})",
                [k for k in lacks if k == "paper_results"],
            ),
        )
    else:
        skipped.append(f"{FIG5}: not drawn: summary.json has no fig5 rows")
    if s.get("fig6") or s.get("matched") or _control(s)[1]:
        figs[FIG6] = _fig6_of(s, paper, rule, plt)
        footnote(
            figs[FIG6],
            _from_conf(
                f"the paper's flat {paper['fig6_flat']} and the +-{rule['flat_delta']} rule", lacks
            ),
        )
    else:
        skipped.append(f"{FIG6}: not drawn: summary.json has no fig6, matched or control rows")
    sel, rho = s.get("fig9"), s.get("fig9_spearman", math.nan)
    if sel and len(sel) >= 3:
        figs[FIG9] = draw_fig9(sel, rho, plt)
    else:
        held = "no per-checkpoint rows (fig9)" if sel is None else f"{len(sel)} checkpoints"
        skipped.append(
            f"{FIG9}: not drawn: summary.json holds {held}, 3 needed "
            f"(recorded Spearman rho = {rho:.2f})"
        )
    return figs, skipped


def paper_figures(data: dict, plt: Any) -> tuple[dict[str, Any], list[str]]:
    """``make paper``'s figure from its ``paper.json``."""
    from analysis.paper import draw_paper_figure  # analysis.paper draws through this module

    return {PAPER_FIGURE: draw_paper_figure(missing_as_nan(data), plt)}, []


def pyplot() -> Any:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def save(fig: Any, path: Path) -> None:
    """The PNG through a temp file beside it: a killed redraw leaves the old figure whole."""
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    os.close(fd)
    try:
        fig.savefig(tmp, dpi=130, format="png")
        os.chmod(tmp, 0o644)  # mkstemp makes 0600: a shared report folder must read it
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def redraw(report_dir: Path, out: Path | None = None) -> list[str]:
    """Every figure a report folder's recorded tables hold, drawn by this code into ``out``
    (default: the folder itself, replacing the figures there); one line per figure written or
    not drawn."""
    report_dir, out = Path(report_dir), Path(out or report_dir)
    kinds = (("summary.json", report_figures), ("paper.json", paper_figures))
    found = [(report_dir / name, draw) for name, draw in kinds if (report_dir / name).exists()]
    if not found:
        raise FileNotFoundError(
            f"{report_dir}: no summary.json (analysis.report) or paper.json (analysis.paper) "
            "to draw from"
        )
    src, draw = found[0]
    plt = pyplot()
    try:
        figs, lines = draw(read_json(src), plt)
    except (KeyError, TypeError, IndexError) as e:
        raise ValueError(f"{src}: a table lacks what its figure needs ({e!r})") from e
    out.mkdir(parents=True, exist_ok=True)
    for name, fig in figs.items():
        save(fig, out / name)
        plt.close(fig)
    return [f"wrote {out / name}" for name in figs] + lines


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    ap.add_argument(
        "--from-report",
        type=Path,
        required=True,
        help="a report folder: analysis.report's (summary.json) or analysis.paper's (paper.json)",
    )
    ap.add_argument("--out", type=Path, help="where the PNGs go (default: the report folder)")
    args = ap.parse_args(argv)
    try:
        lines = redraw(args.from_report, args.out)
    except (FileNotFoundError, ValueError) as e:  # CorruptFile is a ValueError
        sys.exit(str(e))
    print("\n".join(lines))


if __name__ == "__main__":
    main()
