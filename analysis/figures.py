"""The ablation report's figures, drawn from its tables: every panel has axis labels, n, 95%
CIs and the paper's values where the paper has them (``tests/analysis/test_figures.py`` checks these
on the matplotlib objects). Each function returns the figure; the report saves and closes it."""

from __future__ import annotations

import math
from typing import Any

import numpy as np

OURS, PAPER, MATCHED, CONTROL = "#4c72b0", "#999999", "#55a868", "#dd8452"
LIKERT = "helpfulness (Likert 1-6)"


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
    ax.set_xticks(
        x,
        [f"{t['label']}\nn = {t['n_runs']} runs x {t['n_prompts']} prompts" for t in table],
        fontsize=6,
    )
    ax.set_xlabel("training data arm (same N, same regime)", fontsize=7)
    ax.set_ylabel(LIKERT)
    ax.set_ylim(1, 6)
    ax.set_title("Fig. 5: diversity, quality, and the N longest responses", fontsize=8)
    ax.legend(fontsize=6, loc="upper right")
    fig.tight_layout()
    return fig


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
    for t in table:
        ax.annotate(
            f"n={t['n_seeds']}",
            (t["size"], t["mean"]),
            textcoords="offset points",
            xytext=(0, 6),
            fontsize=5,
            ha="center",
            color=color,
        )


def _axes(ax: Any, title: str) -> None:
    ax.set_xscale("log", base=2)
    ax.set_xlabel("training examples (log2 scale)", fontsize=7)
    ax.set_ylabel(LIKERT, fontsize=7)
    ax.set_ylim(1, 6)
    ax.set_title(title, fontsize=7)
    ax.legend(fontsize=5, loc="upper left")


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


def draw_fig9(sel: list[dict], rho: float, plt: Any) -> Any:
    """Every candidate checkpoint's dev perplexity against its dev judge score, perplexity on a
    log axis (a few diverged checkpoints no longer squeeze the rest), rho and n in the legend,
    and the paper's observation (App. B: perplexity 5 -> 10 while quality 3.9 -> 4.1)."""
    fig, ax = plt.subplots(figsize=(5, 3.4))
    ppl = np.array([r["dev_ppl"] for r in sel], float)
    score = np.array([r["dev_judge_mean"] for r in sel], float)
    ci = np.array([r.get("dev_judge_ci95") or [math.nan, math.nan] for r in sel], float).reshape(
        len(sel), 2
    )
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
