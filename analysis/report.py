"""The ablation report: the paper's Figures 5, 6 and 9 from run directories, tables in
Markdown and CSV, and ``report.md`` with the paper's numbers beside ours.

    python -m analysis.report runs/ablations --out reports/ablations [--scale 1/8] [--wandb]

Runs are selected by their configs (data arm, size, init, epochs, few-shot), never by
directory names; each arm's seeds are its replications.
"""

from __future__ import annotations

import argparse
import csv
import json
import math
import sys
from collections import defaultdict
from fractions import Fraction
from pathlib import Path
from typing import Any

import numpy as np
from scipy import stats

from analysis.arms import LENGTH_NOTE, load_arms, per_prompt, scored_lengths
from analysis.selection import collect as selection_rows
from analysis.sources import add_source_args, resolve_runs_dir
from limalab.eval.stats import length_controlled, over_seeds, paired_test
from limalab.tracking.io import atomic_write_json
from limalab.versions import PIPELINE_VERSION, RUBRIC_VERSION, WORLD_VERSION

PAPER_FIG5 = {"se_filtered": 3.83, "wikihow": 3.49, "se_unfiltered": 3.33}
PAPER_FIG6 = "flat at about 3.8 from 2K to 32K examples"
LABELS = {"se_filtered": "filtered Stack Exchange", "wikihow": "wikiHow", "se_unfiltered": "unfiltered Stack Exchange"}
POSITIVE_CONTROL, PC_TEST = "passage_qa", "passage_test"  # conf/data/passage_qa.yaml, sweeps/positive_control.yaml


def _arm_rows(runs_dir: Path) -> list[dict]:
    """One row per (arm, seed): every test evaluation by the run's own judge, each in the arm its
    settings name (the base model's zero- and 3-shot evaluations share one run directory, not one
    arm). Evaluations added later by another judge or rubric (``src/evaluate.py``) are not pooled
    with the run's own: ``analysis.arms`` shows them as arms of their own."""
    arms = load_arms(runs_dir)
    own = {e["run_id"]: e["judge"] for evals in arms.values() for e in evals if e["default"]}
    rows = []
    for name, evals in arms.items():
        for e in evals:
            if e["judge"] != own.get(e["run_id"], e["judge"]):
                continue
            rows.append({**{k: e[k] for k in ("data", "n_examples", "init", "epochs", "few_shot", "seed", "run_id",
                                              "prompt_set")},
                         "arm": name, "mean": e["summary"]["judge_mean"], "eval": e})
    return rows


def _group(rows: list[dict], **match) -> list[dict]:
    return [r for r in rows if all(r[k] == v for k, v in match.items())]


def _stat(rows: list[dict], metric: str = "judge") -> dict:
    """Mean over seeds with a t-interval over seeds, or over prompts when there is one seed;
    ``metric``: the summary's ``<metric>_mean`` (judge, correctness, ...)."""
    if not rows:
        return {"mean": float("nan"), "ci95": [float("nan")] * 2, "n_seeds": 0}
    if len(rows) > 1:
        return over_seeds([r["eval"]["summary"][f"{metric}_mean"] for r in rows])
    s = rows[0]["eval"]["summary"]
    return {"mean": s[f"{metric}_mean"], "ci95": s[f"{metric}_ci95"], "n_seeds": 1}


def _with_length_control(table: list[dict], groups: list[list[dict]]) -> list[dict]:
    """Each row with its length-controlled mean, fitted across the rows of the table."""
    fit = length_controlled({i: scored_lengths([r["eval"] for r in g]) for i, g in enumerate(groups) if g})
    for i, t in enumerate(table):
        lc = fit["arms"].get(i, {})
        t.update({"lc_mean": lc.get("lc_mean", float("nan")), "lc_ci95": lc.get("lc_ci95", [float("nan")] * 2),
                  "lc_slope": fit["slope"], "lc_common_length": fit["common_length"]})
    return table


def fig5(rows: list[dict], size: int, out: Path, plt) -> list[dict]:
    table, groups = [], []
    for data, paper in PAPER_FIG5.items():
        group = [r for r in _group(rows, data=data, n_examples=size, init="pretrained", prompt_set="test") if r["epochs"] > 0]
        table.append({"arm": data, "label": LABELS[data], "size": size, **_stat(group), "paper": paper})
        groups.append(group)
    _with_length_control(table, groups)
    fig, ax = plt.subplots(figsize=(5, 3.2))
    x = np.arange(len(table))
    means = [t["mean"] for t in table]
    err = np.array([[t["mean"] - t["ci95"][0] for t in table], [t["ci95"][1] - t["mean"] for t in table]])
    ax.bar(x - 0.2, means, 0.4, yerr=err, capsize=4, label="limalab miniature (95% CI)", color="#4c72b0")
    ax.bar(x + 0.2, [t["paper"] for t in table], 0.4, label="LIMA paper (LLaMA 7B)", color="#bbbbbb")
    ax.set_xticks(x, [t["label"] for t in table], fontsize=7)
    ax.set_ylabel("helpfulness (1-6)")
    ax.set_ylim(1, 6)
    ax.set_title(f"Fig. 5: diversity and quality ({size} examples)", fontsize=8)
    ax.legend(fontsize=6)
    fig.tight_layout()
    fig.savefig(out / "fig5_diversity_quality.png", dpi=130)
    plt.close(fig)
    return table


def slope(rows: list[dict]) -> dict:
    """OLS of per-seed scores on log2(size): the change per doubling, with its 95% CI."""
    x = np.log2([r["n_examples"] for r in rows])
    y = np.array([r["mean"] for r in rows])
    if len(set(x)) < 2 or len(x) < 3:
        return {"slope": float("nan"), "ci95": [float("nan")] * 2, "n": len(x)}
    fit = stats.linregress(x, y)
    half = stats.t.ppf(0.975, len(x) - 2) * fit.stderr
    return {"slope": float(fit.slope), "ci95": [float(fit.slope - half), float(fit.slope + half)], "n": len(x),
            "p": float(fit.pvalue)}


def _sizes(arm: list[dict]) -> dict[int, list[dict]]:
    by_size = defaultdict(list)
    for r in sorted(arm, key=lambda r: r["n_examples"]):
        by_size[r["n_examples"]].append(r)
    return by_size


def _by_size(arm: list[dict]) -> list[dict]:
    return [{"size": n, **_stat(rs)} for n, rs in _sizes(arm).items()]


def _pc_row(size: int | str, rows: list[dict]) -> dict:
    c = _stat(rows, "correctness")
    return {"size": size, **_stat(rows), "correctness": c["mean"], "correctness_ci95": c["ci95"]}


def _curve(ax, table: list[dict], fit: dict, color: str, label: str, title: str) -> None:
    xs = [t["size"] for t in table]
    ax.plot(xs, [t["mean"] for t in table], "o-", color=color, label=label)
    ax.fill_between(xs, [t["ci95"][0] for t in table], [t["ci95"][1] for t in table], alpha=0.2, color=color)
    ax.set_xscale("log", base=2)
    ax.set_xlabel("training examples (log2)")
    ax.set_ylabel("helpfulness (1-6)")
    ax.set_ylim(1, 6)
    ax.set_title(f"{title}\nslope per doubling {fit['slope']:+.2f} (95% CI {fit['ci95'][0]:+.2f} to {fit['ci95'][1]:+.2f})",
                 fontsize=7)
    ax.legend(fontsize=6, loc="upper left")


def fig6(rows: list[dict], out: Path, plt) -> tuple[list[dict], dict, list[dict], dict]:
    """Fig. 6 (filtered Stack Exchange by size) and, beside it, the positive control (passage
    QA, a skill only the SFT data teaches): tables, slopes, one figure with both panels."""
    arm = [r for r in _group(rows, data="se_filtered", init="pretrained", prompt_set="test") if r["epochs"] > 0]
    ctl = [r for r in _group(rows, data=POSITIVE_CONTROL, init="pretrained", prompt_set=PC_TEST) if r["epochs"] > 0]
    table, fit = _by_size(arm), slope(arm)
    _with_length_control(table, list(_sizes(arm).values()))
    by_size = _sizes(ctl)
    pc, pc_fit = [_pc_row(n, rs) for n, rs in by_size.items()], slope(ctl)
    if len(by_size) >= 2:  # one seed per size leaves the slope a 1-df interval: test on the prompts
        lo, hi = min(by_size), max(by_size)
        pc_fit["largest_vs_smallest"] = {
            "sizes": [hi, lo], **paired_test(per_prompt([r["eval"] for r in by_size[hi]]),
                                              per_prompt([r["eval"] for r in by_size[lo]]))}
    base = _pc_row("base, zero-shot", _group(rows, epochs=0, few_shot=0, prompt_set=PC_TEST))  # same prompts
    if table or pc:
        fig, axes = plt.subplots(1, 2, figsize=(8, 3.2), sharey=True)
        if table:
            _curve(axes[0], table, fit, "#4c72b0", "filtered Stack Exchange", "Fig. 6: quantity")
        if pc:
            t = pc_fit.get("largest_vs_smallest")
            paired = (f"{t['sizes'][0]} vs {t['sizes'][1]}: {t['mean_diff']:+.2f} (95% CI {t['ci95'][0]:+.2f} to "
                      f"{t['ci95'][1]:+.2f}, paired over prompts)\n") if t else ""
            _curve(axes[1], pc, pc_fit, "#dd8452", "passage QA (positive control)",
                   f"positive control: a skill only SFT teaches\n{paired}".rstrip())
            axes[1].axhline(3, color="#999999", lw=0.6, ls=":")  # a correct answer with nothing extra
            if base["n_seeds"]:
                axes[1].axhline(base["mean"], color="#dd8452", lw=0.8, ls="--", label="base model, zero-shot")
                axes[1].legend(fontsize=6, loc="upper left")
        fig.tight_layout()
        fig.savefig(out / "fig6_quantity.png", dpi=130)
        plt.close(fig)
    return table, fit, ([base] if base["n_seeds"] else []) + pc, pc_fit


def fig9(runs_dir: Path, out: Path, plt) -> float:
    sel = selection_rows(runs_dir)
    if len(sel) < 3:
        return float("nan")
    fig, ax = plt.subplots(figsize=(4.5, 3.2))
    ax.scatter([r["dev_ppl"] for r in sel], [r["dev_judge_mean"] for r in sel], s=10)
    ax.set_xlabel("dev perplexity")
    ax.set_ylabel("dev judge mean")
    ax.set_title("Fig. 9: perplexity does not pick the best checkpoint", fontsize=8)
    fig.tight_layout()
    fig.savefig(out / "fig9_ppl_vs_quality.png", dpi=130)
    plt.close(fig)
    return float(stats.spearmanr([r["dev_ppl"] for r in sel], [r["dev_judge_mean"] for r in sel]).statistic)


def controls(rows: list[dict]) -> list[dict]:
    out = []
    for label, sel in (("base, zero-shot", dict(epochs=0, few_shot=0)), ("base, 3-shot", dict(epochs=0, few_shot=3)),
                       ("LIMA mix, pretrained", dict(data="lima_mix", init="pretrained")),
                       ("LIMA mix, random init", dict(data="lima_mix", init="random"))):
        rs = [r for r in _group(rows, **sel, prompt_set="test") if "epochs" in sel or r["epochs"] > 0]
        if rs:
            out.append({"control": label, "size": rs[0]["n_examples"], **_stat(rs)})
    return out


def by_type(rows: list[dict]) -> dict[str, dict[str, float]]:
    out: dict[str, dict[str, float]] = {}
    for r in rows:
        for t, v in (r["eval"]["summary"].get("by_type") or {}).items():
            out.setdefault(r["arm"], {}).setdefault(t, []).append(v["mean"])  # type: ignore[arg-type]
    return {a: {t: float(np.mean(v)) for t, v in ts.items()} for a, ts in out.items()}


def verdicts(f5: list[dict], tests: dict, fit: dict, pc_fit: dict | None = None) -> list[str]:
    m = {t["arm"]: t["mean"] for t in f5}
    lines = []
    if all(not math.isnan(v) for v in m.values()):
        order = sorted(m, key=m.get, reverse=True)
        paper = ["se_filtered", "wikihow", "se_unfiltered"]
        tied = len({round(v, 9) for v in m.values()}) < len(m)  # a tie orders nothing
        lines.append(f"- Fig. 5 ordering: ours {' > '.join(order)}{' (tied)' if tied else ''}; paper {' > '.join(paper)}: "
                     f"**{'reproduced' if order == paper and not tied else 'not reproduced'}**.")
        for k, t in tests.items():
            sig = t["t_p"] < 0.05
            lines.append(f"- {k}: difference {t['mean_diff']:+.2f} (95% CI {t['ci95'][0]:+.2f} to {t['ci95'][1]:+.2f}, "
                         f"paired t p = {t['t_p']:.3g}) — {'significant' if sig else 'not significant'} at 0.05.")
    if not math.isnan(fit.get("slope", float("nan"))):
        flat = fit["ci95"][0] <= 0 <= fit["ci95"][1] or abs(fit["slope"]) < 0.1
        lines.append(f"- Fig. 6: slope {fit['slope']:+.3f} per doubling (95% CI {fit['ci95'][0]:+.3f} to "
                     f"{fit['ci95'][1]:+.3f}, {fit['n']} runs); paper: {PAPER_FIG6}: "
                     f"**{'flat, reproduced' if flat else 'not flat, not reproduced'}** "
                     "(flat = the CI contains 0 or the slope is under 0.1 per doubling).")
    if pc_fit and pc_fit.get("largest_vs_smallest"):
        t = pc_fit["largest_vs_smallest"]
        rises = t["mean_diff"] > 0 and t["t_p"] < 0.05
        lines.append(f"- Positive control (passage QA, a skill only the SFT data teaches): {t['sizes'][0]} examples "
                     f"score {t['mean_diff']:+.2f} over {t['sizes'][1]} (95% CI {t['ci95'][0]:+.2f} to "
                     f"{t['ci95'][1]:+.2f}, paired t over {t['n_prompts']} prompts, p = {t['t_p']:.3g}); slope "
                     f"{pc_fit['slope']:+.3f} per doubling (95% CI {pc_fit['ci95'][0]:+.3f} to {pc_fit['ci95'][1]:+.3f}, "
                     f"{pc_fit['n']} runs): "
                     + ("**rises: the setup can see a quantity effect where one exists**." if rises else
                        "**flat too: at these sizes the setup cannot see quantity effects, so a flat Fig. 6 would "
                        "say nothing**."))
    return lines


def provenance(runs_dir: Path, rows: list[dict]) -> str:
    """What the results came from, read off the runs themselves (not this checkout): versions,
    world and base-model hashes, code commits. More than one value of any is flagged."""
    seen: dict[str, set[str]] = defaultdict(set)
    for rid in {r["run_id"] for r in rows}:
        p = runs_dir / rid / "provenance.json"
        prov = json.loads(p.read_text()) if p.exists() else {}
        for k, v in (prov.get("versions") or {}).items():
            seen[f"{k} version"].add(str(v))
        for k in ("world", "base_model", "git_sha"):
            if prov.get(k):
                seen[k.replace("_", " ")].add(str(prov[k])[:12])
    parts = [f"{k} {', '.join(sorted(v))}" + (" (**mixed**)" if len(v) > 1 else "") for k, v in seen.items()]
    return "; ".join(parts) if parts else (f"world version {WORLD_VERSION}, pipeline version {PIPELINE_VERSION}, "
                                           f"rubric version {RUBRIC_VERSION} (this checkout's; the runs record none)")


def _lc_line(table: list[dict]) -> str:
    if not table or math.isnan(table[0].get("lc_slope", float("nan"))):
        return LENGTH_NOTE
    t = table[0]
    return (f"{LENGTH_NOTE} Here: {t['lc_slope']:+.4f} per token, read at {t['lc_common_length']:.1f} tokens.")


def lengths_of(rows: list[dict], t: dict) -> str:
    """An arm's mean response length (tokens) over its seeds' evaluations."""
    vals = [r["eval"]["summary"].get("response_tokens_mean") for r in rows if r["data"] == t["arm"]
            and r["n_examples"] == t["size"] and r["init"] == "pretrained" and r["epochs"] > 0 and r["prompt_set"] == "test"]
    vals = [v for v in vals if v is not None]
    return f"{np.mean(vals):.1f}" if vals else "nan"


def write_csv(path: Path, rows: list[dict]) -> None:
    """Rows may differ in keys (an arm with one seed has no seed spread): the header is their union."""
    fields = list(dict.fromkeys(k for r in rows for k in r))
    with path.open("w", newline="") as fh:
        w = csv.DictWriter(fh, fieldnames=fields, restval="")
        w.writeheader()
        w.writerows(rows)


def paired_tests(rows: list[dict], size5: int) -> dict[str, dict]:
    """Fig. 5's comparisons, paired over prompts: filtered SE against wikiHow and unfiltered SE."""
    arms: dict[tuple, list] = {(r["data"], r["n_examples"]): [] for r in rows}
    for r in rows:
        if r["init"] == "pretrained" and r["epochs"] > 0 and r["prompt_set"] == "test":
            arms[(r["data"], r["n_examples"])].append(r["eval"])
    tests = {}
    base = arms.get(("se_filtered", size5))
    for other, what in (("wikihow", "diversity"), ("se_unfiltered", "quality")):
        if base and arms.get((other, size5)):
            tests[f"se_filtered − {other} ({what})"] = paired_test(per_prompt(base), per_prompt(arms[(other, size5)]))
    return tests


def _f(v: float) -> str:
    return f"{v:.2f}"


def _ci(t: dict, key: str = "ci95") -> str:
    return f"{_f(t[key][0])}–{_f(t[key][1])}"


def markdown(args: argparse.Namespace, rows: list[dict], tables: dict[str, Any]) -> str:
    f5, f6, pc, ctl, tests = tables["fig5"], tables["fig6"], tables["positive_control"], tables["controls"], tables["tests"]
    budgets = sorted({json.dumps(json.loads((args.runs_dir / r["run_id"] / "results.json").read_text()).get("budget", {})
                                 .get("policy", "epochs")) for r in rows})
    md = [f"# LIMA ablations on limalab ({args.runs_dir})", "",
          f"From: {provenance(args.runs_dir, rows)}. Sizes at scale "
          f"{args.scale} of the paper's; training budget policy: {', '.join(json.loads(b) for b in budgets)}. "
          "CIs are over seeds when an arm has several, else over prompts.", "", "## Findings", "",
          *verdicts(f5, tests, tables["slope"], tables["positive_control_slope"]), "",
          f"## Figure 5: diversity and quality ({tables['size5']} examples)", "", "![](fig5_diversity_quality.png)", "",
          "| arm | seeds | ours | 95% CI | length-controlled | 95% CI | tokens | paper (LLaMA 7B) |",
          "|---|---|---|---|---|---|---|---|",
          *[f"| {t['label']} | {t['n_seeds']} | {_f(t['mean'])} | {_ci(t)} | {_f(t['lc_mean'])} | {_ci(t, 'lc_ci95')} | "
            f"{lengths_of(rows, t)} | {t['paper']} |" for t in f5], "", _lc_line(f5), "",
          "## Figure 6: quantity (filtered Stack Exchange)", "", "![](fig6_quantity.png)", "",
          "| examples | seeds | ours | 95% CI | length-controlled | 95% CI |", "|---|---|---|---|---|---|",
          *[f"| {t['size']} | {t['n_seeds']} | {_f(t['mean'])} | {_ci(t)} | {_f(t['lc_mean'])} | {_ci(t, 'lc_ci95')} |"
            for t in f6], "", _lc_line(f6), "", f"Paper: {PAPER_FIG6}.", "",
          "### Positive control: passage QA (right panel)", "",
          "Questions answered from a passage in the prompt, about entities pretraining never saw; only the SFT data "
          "teaches the skill (world/passages.py). Tested on passage_test, checkpoints selected on passage_dev. "
          "A correct answer with nothing extra is level 3; correctness = states the asked fact and no false one.", "",
          "| examples | seeds | judge mean | 95% CI | correctness | 95% CI |", "|---|---|---|---|---|---|",
          *[f"| {t['size']} | {t['n_seeds']} | {_f(t['mean'])} | {_ci(t)} | {_f(t['correctness'])} | "
            f"{_ci(t, 'correctness_ci95')} |" for t in pc], "",
          "## Controls", "", "| control | examples | seeds | ours | 95% CI |", "|---|---|---|---|---|",
          *[f"| {c['control']} | {c['size']} | {c['n_seeds']} | {_f(c['mean'])} | {_ci(c)} |" for c in ctl], "",
          "## Figure 9: perplexity against quality", "",
          f"Spearman correlation of dev perplexity with the dev judge score over every checkpoint considered: "
          f"{tables['fig9_spearman']:.2f} (the paper: perplexity keeps falling while quality does not follow).", "",
          "![](fig9_ppl_vs_quality.png)", "", "## Scores per test-prompt type", ""]
    types = tables["by_type"]
    all_types = sorted({t for ts in types.values() for t in ts})
    md += ["| arm | " + " | ".join(all_types) + " |", "|---|" + "---|" * len(all_types)]
    md += [f"| {a} | " + " | ".join(_f(ts.get(t, float('nan'))) for t in all_types) + " |" for a, ts in sorted(types.items())]
    return "\n".join(md) + "\n"


def tables_of(args: argparse.Namespace, rows: list[dict], plt: Any) -> dict[str, Any]:
    """Every figure drawn and every table computed, by name."""
    size5 = int(2000 * Fraction(args.scale))
    f6, fit, pc, pc_fit = fig6(rows, args.out, plt)
    lengths = [{"arm": r["arm"], "seed": r["seed"], "resp_tokens_mean": r["eval"]["summary"].get("response_tokens_mean"),
                "eot_rate": r["eval"]["summary"].get("eot_rate"), "truncation_rate": r["eval"]["summary"].get("truncation_rate")}
               for r in rows]
    return {"size5": size5, "fig5": fig5(rows, size5, args.out, plt), "tests": paired_tests(rows, size5), "fig6": f6,
            "slope": fit, "positive_control": pc, "positive_control_slope": pc_fit,
            "fig9_spearman": fig9(args.runs_dir, args.out, plt), "controls": controls(rows), "by_type": by_type(rows),
            "lengths": lengths}


def write_outputs(out: Path, tables: dict[str, Any], report: str) -> None:
    (out / "report.md").write_text(report)
    for name in ("fig5", "fig6", "positive_control", "controls", "lengths"):
        write_csv(out / f"{name}.csv", tables[name])
    atomic_write_json(out / "summary.json", {"fig5": tables["fig5"], "paired_tests": tables["tests"],
                                             **{k: tables[k] for k in ("fig6", "slope", "positive_control",
                                                                       "positive_control_slope", "controls",
                                                                       "fig9_spearman")}})


def log_to_wandb(out: Path, tables: dict[str, Any]) -> None:
    import wandb

    run = wandb.init(project="limalab", job_type="analysis", name=f"report-{out.name}")
    run.log({p.stem: wandb.Image(str(p)) for p in out.glob("*.png")})
    run.log({name: wandb.Table(dataframe=None, columns=list(tables[name][0]), data=[list(r.values()) for r in tables[name]])
             for name in ("fig5", "fig6", "positive_control", "controls") if tables[name]})
    run.finish()


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("runs_dir", type=Path)
    add_source_args(ap)
    ap.add_argument("--out", type=Path, required=True)
    ap.add_argument("--scale", default="1/8", help="the size scale the grid ran at (Fig. 5 size = 2000 x scale)")
    ap.add_argument("--wandb", action="store_true", help="also log figures and tables to W&B (job_type analysis)")
    args = ap.parse_args(argv)
    args.runs_dir = resolve_runs_dir(args)
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    rows = _arm_rows(args.runs_dir)
    if not rows:
        sys.exit(f"{args.runs_dir}: no complete runs")
    args.out.mkdir(parents=True, exist_ok=True)
    tables = tables_of(args, rows, plt)
    write_outputs(args.out, tables, markdown(args, rows, tables))
    if args.wandb:
        log_to_wandb(args.out, tables)
    print((args.out / "report.md").read_text())


if __name__ == "__main__":
    main()
