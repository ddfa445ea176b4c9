"""The ablation report: the paper's Figures 5, 6 and 9 from run directories, tables in
Markdown and CSV, and ``report.md`` with the paper's numbers beside ours.

    python -m analysis.report runs/ablations --out reports/ablations [--scale 1/8] [--wandb]

Runs are selected by their configs (data arm, size, init, epochs, few-shot, budget), never by
directory names; each arm's runs (training seeds x subset draws) are its replications. Which
arms a figure draws comes from the sweep files (``sweeps/``); the paper's numbers and the
decision rule (alpha, power, the equivalence margin of a flat Fig. 6) from the runs' own
``regime`` config, fixed before they ran (``analysis/verdicts.py``).
"""

from __future__ import annotations

import argparse
import csv
import json
import math
import sys
from collections import defaultdict
from pathlib import Path
from typing import Any

import numpy as np
import yaml
from scipy import stats

from analysis.arms import LENGTH_NOTE, load_arms, per_prompt, scored_lengths
from analysis.figures import redraw
from analysis.runs_dir import add_source_args, resolve_runs_dir
from analysis.selection import collect as selection_rows
from analysis.verdicts import (
    compare,
    difference_row,
    flat_row,
    slope_equivalence,
    variance_components,
)
from limalab.ablations.grid import DEFAULT_REGIME, load_sweep, values
from limalab.config.regime import scaled_size
from limalab.eval.stats import length_controlled, over_seeds, paired_test, prompt_means
from limalab.tracking.io import atomic_write_json
from limalab.versions import PIPELINE_VERSION, RUBRIC_VERSION, WORLD_VERSION

SWEEPS = Path(__file__).resolve().parents[1] / "sweeps"
FIG5_BASELINE = "se_filtered"  # the arm every Fig. 5 finding compares with
PAPER_FIG5 = {
    "se_filtered": 3.83,
    "wikihow": 3.49,
    "se_unfiltered": 3.33,
}  # the Fig. 5 ordering the verdict reads
PAPER_FIG6 = "flat at about 3.8 from 2K to 32K examples"
LABELS = {
    "se_filtered": "filtered Stack Exchange",
    "wikihow": "wikiHow",
    "se_unfiltered": "unfiltered Stack Exchange",
    "se_longest": "N longest (unfiltered SE)",
}
POSITIVE_CONTROL, PC_TEST = (
    "passage_qa",
    "passage_test",
)  # conf/data/passage_qa.yaml, sweeps/positive_control.yaml


def sweep_arms(name: str, sweeps_dir: Path = SWEEPS) -> list[str]:
    """The data arms of one grid (``sweeps/<name>.yaml``'s ``data``; none if it has no file)."""
    path = sweeps_dir / f"{name}.yaml"
    return [str(v) for v in values(load_sweep(path)["parameters"]["data"])] if path.exists() else []


def grid_arms(sweeps_dir: Path = SWEEPS) -> dict[str, list[str]]:
    """Each figure's data arms, read from the sweep files that define its grids."""

    def data_of(name: str) -> list[str]:
        return sweep_arms(name, sweeps_dir)

    fig5 = list(dict.fromkeys(data_of("diversity") + data_of("quality") + data_of("long_is_more")))
    return {
        "fig5": fig5 or list(PAPER_FIG5),
        "quantity": (data_of("quantity") or ["se_filtered"])[:1],
        "positive_control": (data_of("positive_control") or [POSITIVE_CONTROL])[:1],
    }


def design(runs_dir: Path, rows: list[dict]) -> dict[str, Any]:
    """The regime the runs recorded (``config.yaml`` -> ``regime``): its scale, the paper's numbers
    and the decision rule. Runs that disagree on them are an error; runs from before the regime
    existed fall back to ``conf/regime``'s."""
    seen: dict[str, dict] = {}
    for rid in sorted({r["run_id"] for r in rows}):
        reg = (yaml.safe_load((runs_dir / rid / "config.yaml").read_text()) or {}).get("regime")
        if reg:
            seen.setdefault(
                json.dumps(
                    {k: reg[k] for k in ("paper", "verdicts", "paper_results")}, sort_keys=True
                ),
                {**reg, "run": rid},
            )
    if len(seen) > 1:
        a, b = list(seen.values())[:2]
        sys.exit(
            f"{runs_dir}: runs {a['run']} and {b['run']} record different regime recipes or "
            "decision rules (regime.paper / verdicts / paper_results); report them separately"
        )
    return next(iter(seen.values()), None) or {
        **yaml.safe_load(DEFAULT_REGIME.read_text()),
        "run": None,
    }


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
            rows.append(
                {
                    **{
                        k: e[k]
                        for k in (
                            "data",
                            "n_examples",
                            "init",
                            "epochs",
                            "few_shot",
                            "seed",
                            "run_id",
                            "prompt_set",
                            "subset_seed",
                            "budget",
                            "base",
                        )
                    },
                    # what tells two bases of one label apart in analysis.bases
                    **{k: e.get(k) for k in ("base_recipe", "base_recipe_fields", "base_build")},
                    "arm": name,
                    "mean": e["summary"]["judge_mean"],
                    "eval": e,
                }
            )
    return rows


def one_base(rows: list[dict], base: str | None, runs_dir: Path) -> list[dict]:
    """The rows of one base: ``base`` where given, else the only one there is. Seeds of two
    bases pooled as replicates of one arm would be a wrong result, so that is an error."""
    bases = sorted({r["base"] for r in rows})
    if base is not None:
        if base not in bases:
            sys.exit(f"{runs_dir}: --base {base!r}: no complete runs of it (bases here: {bases})")
        return [r for r in rows if r["base"] == base]
    if len(bases) > 1:
        sys.exit(
            f"{runs_dir}: runs of {len(bases)} bases ({', '.join(bases)}); report each with "
            "--base '<name> seed <n>' (then python -m analysis.bases puts them side by side)"
        )
    return rows


def _group(rows: list[dict], **match) -> list[dict]:
    return [r for r in rows if all(r[k] == v for k, v in match.items())]


def _stat(rows: list[dict], metric: str = "judge") -> dict:
    """Mean over seeds with a t-interval over seeds, or over prompts when there is one seed, and
    the runs it is over; ``metric``: the summary's ``<metric>_mean`` (judge, correctness, ...)."""
    runs = {"run_ids": sorted({r["run_id"] for r in rows})}  # what the row summarises (W&B lineage)
    if not rows:
        return {"mean": float("nan"), "ci95": [float("nan")] * 2, "n_seeds": 0, **runs}
    if len(rows) > 1:
        return over_seeds([r["eval"]["summary"][f"{metric}_mean"] for r in rows]) | runs
    s = rows[0]["eval"]["summary"]
    return {"mean": s[f"{metric}_mean"], "ci95": s[f"{metric}_ci95"], "n_seeds": 1, **runs}


def _with_length_control(table: list[dict], groups: list[list[dict]]) -> list[dict]:
    """Each row with its length-controlled mean, fitted across the rows of the table."""
    fit = length_controlled(
        {i: scored_lengths([r["eval"] for r in g]) for i, g in enumerate(groups) if g}
    )
    for i, t in enumerate(table):
        lc = fit["arms"].get(i, {})
        t.update(
            {
                "lc_mean": lc.get("lc_mean", float("nan")),
                "lc_ci95": lc.get("lc_ci95", [float("nan")] * 2),
                "lc_slope": fit["slope"],
                "lc_common_length": fit["common_length"],
            }
        )
    return table


def fig_rows(rows: list[dict], budget: str = "epochs", **match) -> list[dict]:
    """Fine-tuned runs from the pretrained base, tested on the test set, under a budget policy
    (``epochs``: the paper's design; ``steps``: the compute-matched grid)."""
    return [
        r
        for r in _group(rows, init="pretrained", prompt_set="test", **match)
        if r["epochs"] > 0 and r.get("budget", "epochs") == budget
    ]


def train_lengths(runs_dir: Path, rs: list[dict]) -> dict[str, float]:
    """Response lengths beside a score: the training responses (tokens, from the manifest), how
    many training examples lost their EOT to ``train.max_length``, the generated responses."""
    ms = [
        json.loads(p.read_text())
        for r in rs
        if (p := runs_dir / r["run_id"] / "manifest.json").exists()
    ]
    gen = [v for r in rs if (v := r["eval"]["summary"].get("response_tokens_mean")) is not None]
    nan = float("nan")
    return {
        "train_resp_tokens": float(np.mean([m["n_response_tokens"] / m["n_examples"] for m in ms]))
        if ms
        else nan,
        "n_trimmed": float(np.mean([m.get("n_trimmed", nan) for m in ms])) if ms else nan,
        "gen_tokens": float(np.mean(gen)) if gen else nan,
    }


def _n_prompts(rs: list[dict]) -> int:
    return len(prompt_means(rs[0]["eval"]["judgments"])) if rs else 0


def fig5(rows: list[dict], size: int, d: dict, arms: list[str], runs_dir: Path) -> list[dict]:
    table, groups = [], []
    paper = d["paper_results"]["fig5"]
    for data in arms:
        group = fig_rows(rows, data=data, n_examples=size)
        table.append(
            {
                "arm": data,
                "label": LABELS.get(data, data),
                "size": size,
                **_stat(group),
                "paper": paper.get(data, float("nan")),
                "n_runs": len(group),
                "n_prompts": _n_prompts(group),
                **train_lengths(runs_dir, group),
            }
        )
        groups.append(group)
    return _with_length_control(table, groups)


def slope(rows: list[dict]) -> dict:
    """OLS of per-seed scores on log2(size): the change per doubling, with its 95% CI."""
    x = np.log2([r["n_examples"] for r in rows])
    y = np.array([r["mean"] for r in rows])
    if len(set(x)) < 2 or len(x) < 3:
        return {"slope": float("nan"), "ci95": [float("nan")] * 2, "n": len(x)}
    fit = stats.linregress(x, y)
    half = stats.t.ppf(0.975, len(x) - 2) * fit.stderr
    return {
        "slope": float(fit.slope),
        "ci95": [float(fit.slope - half), float(fit.slope + half)],
        "n": len(x),
        "p": float(fit.pvalue),
    }


def _sizes(arm: list[dict]) -> dict[int, list[dict]]:
    by_size = defaultdict(list)
    for r in sorted(arm, key=lambda r: r["n_examples"]):
        by_size[r["n_examples"]].append(r)
    return by_size


def _by_size(arm: list[dict], runs_dir: Path | None = None) -> list[dict]:
    return [
        {"size": n, **_stat(rs), **(train_lengths(runs_dir, rs) if runs_dir else {})}
        for n, rs in _sizes(arm).items()
    ]


def _pc_row(size: int | str, rows: list[dict]) -> dict:
    c = _stat(rows, "correctness")
    return {"size": size, **_stat(rows), "correctness": c["mean"], "correctness_ci95": c["ci95"]}


def positive_control(rows: list[dict], data: str) -> tuple[list[dict], dict, dict]:
    """The passage-QA curve, its slope and largest-vs-smallest paired test, and the base model
    on the same prompts."""
    ctl = [
        r for r in _group(rows, data=data, init="pretrained", prompt_set=PC_TEST) if r["epochs"] > 0
    ]
    by_size = _sizes(ctl)
    pc, pc_fit = [_pc_row(n, rs) for n, rs in by_size.items()], slope(ctl)
    if len(by_size) >= 2:  # one seed per size leaves the slope a 1-df interval: test on the prompts
        lo, hi = min(by_size), max(by_size)
        pc_fit["largest_vs_smallest"] = {
            "sizes": [hi, lo],
            **paired_test(
                per_prompt([r["eval"] for r in by_size[hi]]),
                per_prompt([r["eval"] for r in by_size[lo]]),
            ),
        }
    base = _pc_row(
        "base, zero-shot", _group(rows, epochs=0, few_shot=0, prompt_set=PC_TEST)
    )  # same prompts
    return pc, pc_fit, base


def fig6(rows: list[dict], arms: dict, runs_dir: Path) -> dict[str, Any]:
    """Fig. 6 (filtered Stack Exchange by size; the compute-matched grid beside it) and the
    positive control (passage QA, a skill only the SFT data teaches) in a panel beside it."""
    arm, matched = (
        fig_rows(rows, data=arms["quantity"][0]),
        fig_rows(rows, "steps", data=arms["quantity"][0]),
    )
    table, fit = _by_size(arm, runs_dir), slope(arm)
    _with_length_control(table, list(_sizes(arm).values()))
    mtable = _by_size(matched, runs_dir)
    pc, pc_fit, base = positive_control(rows, arms["positive_control"][0])
    return {
        "fig6": table,
        "slope": fit,
        "matched": mtable,
        "matched_slope": slope(matched),
        "positive_control": ([base] if base["n_seeds"] else []) + pc,
        "positive_control_slope": pc_fit,
    }


def fig9(runs_dir: Path) -> dict[str, Any]:
    """Every candidate checkpoint with a dev perplexity and a dev judge score (the figure's
    points), and their Spearman correlation (NaN under 3 checkpoints)."""
    sel = [
        r
        for r in selection_rows(runs_dir)
        if r["dev_ppl"] is not None and r["dev_judge_mean"] is not None
    ]
    rho = (
        float(
            stats.spearmanr(
                [r["dev_ppl"] for r in sel], [r["dev_judge_mean"] for r in sel]
            ).statistic
        )
        if len(sel) >= 3
        else float("nan")
    )
    return {"fig9": sel, "fig9_spearman": rho}


def findings(rows: list[dict], size5: int, d: dict, arms: dict) -> list[dict]:
    """One row per finding: effect, CI, p, the smallest effect the grid detects, the verdict
    (``analysis/verdicts.py``), by the decision rule the runs recorded; ``ablation``: the grid
    (sweep file) that tests it."""
    v, effects = d["verdicts"], d["paper_results"]["effects"]
    ev = {
        data: [r["eval"] for r in fig_rows(rows, data=data, n_examples=size5)]
        for data in arms["fig5"]
    }
    out = []
    for other, what in (("wikihow", "diversity"), ("se_unfiltered", "quality")):
        if ev.get("se_filtered") and ev.get(other):
            out.append(
                {
                    "ablation": what,
                    **difference_row(
                        f"Fig. 5 {what}: filtered SE - {LABELS[other]}",
                        compare(ev["se_filtered"], ev[other], per_prompt, v),
                        effects[what],
                        v["alpha"],
                    ),
                }
            )
    if ev.get("se_longest") and ev.get("se_filtered"):
        out.append(
            {
                "ablation": "long_is_more",
                **difference_row(
                    "Long Is More: N longest - filtered SE (Zhao et al.: longest wins)",
                    compare(ev["se_longest"], ev["se_filtered"], per_prompt, v),
                    None,
                    v["alpha"],
                ),
            }
        )
    for label, budget, grid in (
        ("Fig. 6 flat, epochs (the paper's design)", "epochs", "quantity"),
        ("Fig. 6 flat, fixed steps (compute-matched)", "steps", "quantity_matched"),
    ):
        runs = fig_rows(rows, budget, data=arms["quantity"][0])
        if len({r["n_examples"] for r in runs}) >= 2:
            eq = slope_equivalence(
                [r["n_examples"] for r in runs],
                [r["mean"] for r in runs],
                v["flat_delta"],
                v["alpha"],
            )
            out.append(
                {
                    "ablation": grid,
                    **flat_row(
                        label,
                        eq,
                        v["alpha"],
                        v["power"],
                        f"flat ~{d['paper_results']['fig6_flat']}",
                    ),
                }
            )
    return out


def components(rows: list[dict], size5: int, arms: dict) -> list[dict]:
    """Variance components (subset draw, seed, prompt, residual) of every arm with its runs."""
    groups = [
        (f"{LABELS.get(a, a)} @ {size5}", fig_rows(rows, data=a, n_examples=size5))
        for a in arms["fig5"]
    ]
    groups += [
        (f"{LABELS.get(arms['quantity'][0])} @ {n}", rs)
        for n, rs in _sizes(fig_rows(rows, data=arms["quantity"][0])).items()
        if n != size5
    ]
    return [
        {
            "arm": label,
            **variance_components(
                {(r["subset_seed"], r["seed"]): prompt_means(r["eval"]["judgments"]) for r in rs}
            ),
        }
        for label, rs in groups
        if rs
    ]


def controls(rows: list[dict]) -> list[dict]:
    out = []
    for label, sel in (
        ("base, zero-shot", dict(epochs=0, few_shot=0)),
        ("base, 3-shot", dict(epochs=0, few_shot=3)),
        ("LIMA mix, pretrained", dict(data="lima_mix", init="pretrained")),
        ("LIMA mix, random init", dict(data="lima_mix", init="random")),
    ):
        rs = [
            r for r in _group(rows, **sel, prompt_set="test") if "epochs" in sel or r["epochs"] > 0
        ]
        if rs:
            out.append({"control": label, "size": rs[0]["n_examples"], **_stat(rs)})
    return out


def by_type(rows: list[dict]) -> dict[str, dict[str, float]]:
    out: dict[str, dict[str, float]] = {}
    for r in rows:
        for t, v in (r["eval"]["summary"].get("by_type") or {}).items():
            out.setdefault(r["arm"], {}).setdefault(t, []).append(v["mean"])  # type: ignore[arg-type]
    return {a: {t: float(np.mean(v)) for t, v in ts.items()} for a, ts in out.items()}


def verdicts(f5: list[dict], tests: dict, pc_fit: dict | None = None) -> list[str]:
    m = {t["arm"]: t["mean"] for t in f5 if t["arm"] in PAPER_FIG5}
    lines = []
    if all(not math.isnan(v) for v in m.values()):
        order = sorted(m, key=m.get, reverse=True)
        paper = ["se_filtered", "wikihow", "se_unfiltered"]
        tied = len({round(v, 9) for v in m.values()}) < len(m)  # a tie orders nothing
        lines.append(
            f"- Fig. 5 ordering: ours {' > '.join(order)}{' (tied)' if tied else ''}; paper "
            f"{' > '.join(paper)}: "
            f"**{'reproduced' if order == paper and not tied else 'not reproduced'}**."
        )
        for k, t in tests.items():
            sig = t["t_p"] < 0.05
            lines.append(
                f"- {k}: difference {t['mean_diff']:+.2f} (95% CI {t['ci95'][0]:+.2f} to "
                f"{t['ci95'][1]:+.2f}, paired t over prompts p = {t['t_p']:.3g}) — "
                f"{'significant' if sig else 'not significant'} at 0.05 over prompts (the verdict "
                "table's test is over runs where an arm has several)."
            )
    if (rises := control_rises(pc_fit)) is not None:
        t = pc_fit["largest_vs_smallest"]
        lines.append(
            f"- Positive control (passage QA, a skill only the SFT data teaches): {t['sizes'][0]} "
            f"examples score {t['mean_diff']:+.2f} over {t['sizes'][1]} (95% CI "
            f"{t['ci95'][0]:+.2f} to {t['ci95'][1]:+.2f}, paired t over {t['n_prompts']} prompts, "
            f"p = {t['t_p']:.3g}); slope {pc_fit['slope']:+.3f} per doubling (95% CI "
            f"{pc_fit['ci95'][0]:+.3f} to {pc_fit['ci95'][1]:+.3f}, {pc_fit['n']} runs): "
            + (
                "**rises: the setup can see a quantity effect where one exists**."
                if rises
                else "**flat too: at these sizes the setup cannot see quantity effects, so a flat "
                "Fig. 6 would say nothing**."
            )
        )
    return lines


def control_rises(pc_fit: dict | None) -> bool | None:
    """The positive control's verdict: its largest size scores significantly above its smallest
    (paired over prompts, at 0.05); ``None`` without two sizes."""
    if not pc_fit or not pc_fit.get("largest_vs_smallest"):
        return None
    t = pc_fit["largest_vs_smallest"]
    return bool(t["mean_diff"] > 0 and t["t_p"] < 0.05)


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
    parts = [
        f"{k} {', '.join(sorted(v))}" + (" (**mixed**)" if len(v) > 1 else "")
        for k, v in seen.items()
    ]
    return (
        "; ".join(parts)
        if parts
        else (
            f"world version {WORLD_VERSION}, pipeline version {PIPELINE_VERSION}, "
            f"rubric version {RUBRIC_VERSION} (this checkout's; the runs record none)"
        )
    )


def _lc_line(table: list[dict]) -> str:
    if not table or math.isnan(table[0].get("lc_slope", float("nan"))):
        return LENGTH_NOTE
    t = table[0]
    return (
        f"{LENGTH_NOTE} Here: {t['lc_slope']:+.4f} per token, read at "
        f"{t['lc_common_length']:.1f} tokens."
    )


def write_csv(path: Path, rows: list[dict]) -> None:
    """Rows may differ in keys (an arm with one seed has no seed spread): the header is their
    union."""
    fields = list(dict.fromkeys(k for r in rows for k in r))
    with path.open("w", newline="") as fh:
        w = csv.DictWriter(fh, fieldnames=fields, restval="")
        w.writeheader()
        w.writerows(rows)


def paired_tests(rows: list[dict], size5: int) -> dict[str, dict]:
    """Fig. 5's comparisons, paired over prompts: filtered SE against wikiHow and unfiltered SE."""
    arms: dict[tuple, list] = {(r["data"], r["n_examples"]): [] for r in rows}
    for r in fig_rows(rows):
        arms[(r["data"], r["n_examples"])].append(r["eval"])
    tests = {}
    base = arms.get(("se_filtered", size5))
    for other, what in (("wikihow", "diversity"), ("se_unfiltered", "quality")):
        if base and arms.get((other, size5)):
            tests[f"se_filtered − {other} ({what})"] = paired_test(
                per_prompt(base), per_prompt(arms[(other, size5)])
            )
    return tests


def _f(v: float) -> str:
    return f"{v:.2f}"


def _ci(t: dict, key: str = "ci95") -> str:
    return f"{_f(t[key][0])}–{_f(t[key][1])}"


def _p(v: float) -> str:
    return "nan" if v is None or math.isnan(v) else f"{v:.3g}"


def verdict_table(tables: dict[str, Any], d: dict) -> list[str]:
    v = d["verdicts"]
    md = [
        f"Decision rule fixed before the runs (`regime.verdicts`): alpha = {v['alpha']} two-sided, "
        f"power {v['power']}; a flat Fig. 6 = slope per doubling within +-{v['flat_delta']} "
        "(TOST). The detectable effect is the smallest true effect the test finds with that "
        "power, from the variance's one-sided 95% upper bound; standardized = divided by the SD "
        "of single judged responses in the arms compared (the paper's effects divided by the "
        "same SD beside it).",
        "",
        "| finding | paper | ours | 95% CI | p | test (unit, n) | detectable effect (points / "
        "std.) | paper effect std. | verdict |",
        "|---|---|---|---|---|---|---|---|---|",
    ]
    for f in tables["findings"]:
        paper = f.get("paper") or (
            "—" if f["paper_effect"] is None else f"{f['paper_effect']:+.2f}"
        )
        md.append(
            f"| {f['finding']} | {paper} | {f['effect']:+.3f} | {f['ci'][0]:+.3f} to "
            f"{f['ci'][1]:+.3f} | {_p(f['p'])} | {f['test']} ({f['unit']}, n = "
            f"{' vs '.join(map(str, f['n']))}) | {f['mde']:.3f} / {_f(f['mde_standardized'])} | "
            f"{_f(f['paper_effect_standardized'])} | **{f['verdict']}** |"
        )
    md += [
        "",
        "### Variance components (method of moments; seeds nested in subset draws)",
        "",
        "| arm | runs | subset draws | prompts | subset draw | seed | prompt | residual | one "
        "run's mean |",
        "|---|---|---|---|---|---|---|---|---|",
    ]
    md += [
        f"| {c['arm']} | {c['n_runs']} | {c.get('n_subsets', 0)} | {c['n_prompts']} | "
        f"{_p(c['subset'])} | {_p(c['seed'])} | {_p(c['prompt'])} | {_p(c['residual'])} | "
        f"{_p(c['run_level'])} |"
        for c in tables["components"]
    ]
    return md + [
        "",
        "Variances in squared Likert points. 'one run's mean': the variance of a run's mean score "
        "between runs of the arm (what a comparison of runs sees); nan where the grid has no "
        "replicate of that kind.",
    ]


def budget_policies(runs_dir: Path, rows: list[dict]) -> list[str]:
    """The training budget policies the runs used (``results.json``'s ``budget.policy``)."""
    budgets = sorted(
        {
            json.dumps(
                json.loads((runs_dir / r["run_id"] / "results.json").read_text())
                .get("budget", {})
                .get("policy", "epochs")
            )
            for r in rows
        }
    )
    return [json.loads(b) for b in budgets]


def fig5_section(tables: dict[str, Any], d: dict) -> list[str]:
    """Figure 5: each diversity and quality arm's score, length-controlled score and lengths."""
    return [
        f"## Figure 5: diversity and quality ({tables['size5']} examples; the paper's at "
        f"{d['paper_results']['fig5_size']:,})",
        "",
        "![](fig5_diversity_quality.png)",
        "",
        "| arm | runs | ours | 95% CI | length-controlled | 95% CI | generated tokens | "
        "training response tokens | trimmed (lost EOT) | paper (LLaMA 7B) |",
        "|---|---|---|---|---|---|---|---|---|---|",
        *[
            f"| {t['label']} | {t['n_seeds']} | {_f(t['mean'])} | {_ci(t)} | {_f(t['lc_mean'])} | "
            f"{_ci(t, 'lc_ci95')} | {t['gen_tokens']:.1f} | {t['train_resp_tokens']:.1f} | "
            f"{t['n_trimmed']:.0f} of {t['size']} | {_f(t['paper'])} |"
            for t in tables["fig5"]
        ],
        "",
        _lc_line(tables["fig5"]),
        "",
    ]


def fig6_section(tables: dict[str, Any]) -> list[str]:
    """Figure 6: score against the number of examples, at the epoch budget and at fixed steps."""
    return [
        "## Figure 6: quantity (filtered Stack Exchange)",
        "",
        "![](fig6_quantity.png)",
        "",
        "| examples | budget | runs | ours | 95% CI | length-controlled | 95% CI | "
        "generated tokens | trimmed |",
        "|---|---|---|---|---|---|---|---|---|",
        *[
            f"| {t['size']} | epochs | {t['n_seeds']} | {_f(t['mean'])} | {_ci(t)} | "
            f"{_f(t['lc_mean'])} | {_ci(t, 'lc_ci95')} | {t['gen_tokens']:.1f} | "
            f"{t['n_trimmed']:.0f} |"
            for t in tables["fig6"]
        ],
        *[
            f"| {t['size']} | fixed steps | {t['n_seeds']} | {_f(t['mean'])} | {_ci(t)} | | | "
            f"{t['gen_tokens']:.1f} | {t['n_trimmed']:.0f} |"
            for t in tables["matched"]
        ],
        "",
        _lc_line(tables["fig6"]),
        "",
        f"Paper: {PAPER_FIG6}.",
        "",
    ]


def markdown(args: argparse.Namespace, rows: list[dict], tables: dict[str, Any]) -> str:
    d = tables["design"]
    md = [
        f"# LIMA ablations on limalab ({args.runs_dir})",
        "",
        f"Base: {tables['base']}. From: {provenance(args.runs_dir, rows)}. "
        f"Regime {d.get('name', '?')} at scale "
        f"{tables['scale']} of the paper's sizes (`docs/ablations.md`, *The derived regime*); "
        f"training budget policy: {', '.join(budget_policies(args.runs_dir, rows))}. "
        "CIs are over runs when an arm has several, else over prompts.",
        "",
        "## Verdicts",
        "",
        *verdict_table(tables, d),
        "",
        "## Findings",
        "",
        *verdicts(tables["fig5"], tables["tests"], tables["positive_control_slope"]),
        "",
        *fig5_section(tables, d),
        *fig6_section(tables),
    ]
    return "\n".join(md + rest(tables, tables["positive_control"], tables["controls"])) + "\n"


def rest(tables: dict[str, Any], pc: list[dict], ctl: list[dict]) -> list[str]:
    """The positive control, controls, Fig. 9 and scores per prompt type."""
    md = [
        "### Positive control: passage QA (right panel)",
        "",
        "Questions answered from a passage in the prompt, about entities pretraining never saw; "
        "only the SFT data teaches the skill (world/passages.py). Tested on passage_test, "
        "checkpoints selected on passage_dev. A correct answer with nothing extra is level 3; "
        "correctness = states the asked fact and no false one.",
        "",
        "| examples | seeds | judge mean | 95% CI | correctness | 95% CI |",
        "|---|---|---|---|---|---|",
        *[
            f"| {t['size']} | {t['n_seeds']} | {_f(t['mean'])} | {_ci(t)} | {_f(t['correctness'])} "
            f"| {_ci(t, 'correctness_ci95')} |"
            for t in pc
        ],
        "",
        "## Controls",
        "",
        "| control | examples | seeds | ours | 95% CI |",
        "|---|---|---|---|---|",
        *[
            f"| {c['control']} | {c['size']} | {c['n_seeds']} | {_f(c['mean'])} | {_ci(c)} |"
            for c in ctl
        ],
        "",
        "## Figure 9: perplexity against quality",
        "",
        "Spearman correlation of dev perplexity with the dev judge score over every checkpoint "
        f"considered: {tables['fig9_spearman']:.2f} (the paper: perplexity keeps falling while "
        "quality does not follow).",
        "",
        "![](fig9_ppl_vs_quality.png)",
        "",
        "## Scores per test-prompt type",
        "",
    ]
    types = tables["by_type"]
    all_types = sorted({t for ts in types.values() for t in ts})
    md += ["| arm | " + " | ".join(all_types) + " |", "|---|" + "---|" * len(all_types)]
    return md + [
        f"| {a} | " + " | ".join(_f(ts.get(t, float("nan"))) for t in all_types) + " |"
        for a, ts in sorted(types.items())
    ]


def tables_of(args: argparse.Namespace, rows: list[dict]) -> dict[str, Any]:
    """Every table computed, by name (the figures are drawn from them once they are written)."""
    d, arms = design(args.runs_dir, rows), grid_arms(args.sweeps)
    scale = args.scale if args.scale is not None else d["scale"]
    size5 = scaled_size(d["paper_results"]["fig5_size"], d["paper"]["batch_size"], scale)
    lengths = [
        {
            "arm": r["arm"],
            "seed": r["seed"],
            "subset_seed": r["subset_seed"],
            "resp_tokens_mean": r["eval"]["summary"].get("response_tokens_mean"),
            "eot_rate": r["eval"]["summary"].get("eot_rate"),
            "truncation_rate": r["eval"]["summary"].get("truncation_rate"),
        }
        for r in rows
    ]
    return {
        "design": d,
        "base": rows[0]["base"],
        "base_recipe": rows[0].get("base_recipe"),
        "base_recipe_fields": rows[0].get("base_recipe_fields"),
        "base_build": rows[0].get("base_build"),
        "scale": scale,
        "size5": size5,
        "fig5": fig5(rows, size5, d, arms["fig5"], args.runs_dir),
        "tests": paired_tests(rows, size5),
        **fig6(rows, arms, args.runs_dir),
        "findings": findings(rows, size5, d, arms),
        "components": components(rows, size5, arms),
        **fig9(args.runs_dir),
        "controls": controls(rows),
        "by_type": by_type(rows),
        "lengths": lengths,
    }


def write_outputs(out: Path, tables: dict[str, Any], report: str) -> None:
    """report.md, the CSV tables and summary.json, then the figures drawn from summary.json (by
    the code that redraws a recorded report: ``python -m analysis.figures --from-report``)."""
    (out / "report.md").write_text(report)
    for name in (
        "fig5",
        "fig6",
        "matched",
        "positive_control",
        "controls",
        "lengths",
        "findings",
        "components",
        "fig9",
    ):
        write_csv(out / f"{name}.csv", tables[name])
    atomic_write_json(
        out / "summary.json",
        {
            "fig5": tables["fig5"],
            "paired_tests": tables["tests"],
            **{
                k: tables[k]
                for k in (
                    "fig6",
                    "slope",
                    "matched",
                    "matched_slope",
                    "positive_control",
                    "positive_control_slope",
                    "controls",
                    "fig9_spearman",
                    "fig9",
                    "findings",
                    "components",
                    "scale",
                    "size5",
                    "base",
                    "base_recipe",  # what analysis.bases tells two bases of one label apart by
                    "base_recipe_fields",
                    "base_build",
                )
            },
            "decision_rule": tables["design"].get("verdicts"),
            "paper_results": tables["design"].get("paper_results"),
        },
    )
    redraw(out)


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    ap.add_argument("runs_dir", type=Path)
    add_source_args(ap)
    ap.add_argument("--out", type=Path, required=True)
    ap.add_argument(
        "--scale",
        default=None,
        help="the size scale the grid ran at (default: the runs' regime.scale; Fig. 5 size = 2000 "
        "x scale)",
    )
    ap.add_argument(
        "--sweeps",
        type=Path,
        default=SWEEPS,
        help="the sweep files that say which arms each figure draws",
    )
    ap.add_argument(
        "--base",
        help="report the runs of this base only ('tiny_large seed 1'; the bases are the model's "
        "name and pretraining seed, with ', recipe <hash>' where two recipes share them): runs "
        "of different bases are never pooled as seeds",
    )
    ap.add_argument(
        "--wandb",
        action="store_true",
        help="also log to W&B: one run per ablation (job type report, the ablation's group) "
        "with its figures, tables, verdicts and the runs it summarises (analysis/wandb_report.py)",
    )
    args = ap.parse_args(argv)
    args.runs_dir = resolve_runs_dir(args)
    rows = one_base(_arm_rows(args.runs_dir), args.base, args.runs_dir)
    if not rows:
        sys.exit(f"{args.runs_dir}: no complete runs")
    args.out.mkdir(parents=True, exist_ok=True)
    tables = tables_of(args, rows)
    write_outputs(args.out, tables, markdown(args, rows, tables))
    if args.wandb:
        from analysis.wandb_report import log_report

        log_report(args.runs_dir, args.out, tables, args.sweeps)
    print((args.out / "report.md").read_text())


if __name__ == "__main__":
    main()
