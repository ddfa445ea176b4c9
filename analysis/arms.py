"""Arms compared: each arm's score over seeds, paired tests between arms on shared prompts,
Likert histograms, fail/pass/excellent rates, response lengths, and judge validation.

    python -m analysis.arms runs/                      # Markdown to stdout
    python -m analysis.arms runs/ --out report/ --baseline se_filtered

An arm is a (data config, examples, init, epochs, few-shot, judge, decoding, prompt set)
combination; its seeds are replications. Only each run's test evaluations count (dev is for
selection).
"""

from __future__ import annotations

import argparse
import json
import sys
from collections import defaultdict
from pathlib import Path
from typing import Any

import numpy as np

from analysis.runs_dir import add_source_args, resolve_runs_dir
from analysis.summarize import collect
from limalab.eval.drift import drift_records
from limalab.eval.judges.interface import is_ground_truth
from limalab.eval.stats import (
    CATEGORY,
    length_controlled,
    length_stats,
    over_seeds,
    paired_test,
    prompt_means,
    score_summary,
)
from limalab.tracking.io import atomic_write_json, read_jsonl


def arm_name(row: dict) -> str:
    name = f"{row['data']}@{row['n_examples']}"
    if row["init"] != "pretrained":
        name += f" init={row['init']}"
    if row["epochs"] == 0:
        name += f" base {row['few_shot']}-shot"
    if row["rep_penalty"] not in (None, 1.2):
        name += f" rp={row['rep_penalty']}"
    if row["judge"] and not is_ground_truth(row["judge"]):  # another judge, or an older rubric's
        name += f" [{row['judge']}]"
    if row.get("prompt_set") not in (None, "test"):
        name += f" on {row['prompt_set']}"
    return name


def load_arms(runs_dir: Path) -> dict[str, list[dict]]:
    """arm name -> its evaluations (one per seed), each with judgments and generations."""
    arms: dict[str, list[dict]] = defaultdict(list)
    for row in collect(runs_dir):
        d = Path(runs_dir) / row["run_id"] / "evals" / row["eval_id"]
        row = {
            **row,
            "judgments": read_jsonl(d / "judgments.jsonl"),
            "generations": read_jsonl(d / "generations.jsonl"),
            "summary": json.loads((d / "summary.json").read_text()),
            "drift": drift_records(d),
        }
        arms[arm_name(row)].append(row)
    return arms


def scored_lengths(evals: list[dict]) -> list[tuple[str, float, float]]:
    """(prompt_id, score, response tokens) of every validly judged response of an arm."""
    out = []
    for e in evals:
        tokens = {(g["prompt_id"], g["sample"]): g["n_tokens"] for g in e["generations"]}
        out += [
            (j["prompt_id"], float(j["score"]), float(tokens[(j["prompt_id"], j["sample"])]))
            for j in e["judgments"]
            if j["score"] is not None and (j["prompt_id"], j["sample"]) in tokens
        ]
    return out


def length_control(arms: dict[str, list[dict]]) -> dict[str, dict]:
    """Length-controlled means, fitted across the arms compared with each other: those judged
    by the same judge on the same prompt set (``stats.length_controlled``)."""
    groups: dict[tuple, list[str]] = defaultdict(list)
    for name, evals in arms.items():
        groups[(evals[0].get("prompt_set"), evals[0].get("judge"))].append(name)
    out = {}
    for names in groups.values():
        fit = length_controlled({n: scored_lengths(arms[n]) for n in names})
        out |= {
            n: {
                **fit["arms"][n],
                "slope": fit["slope"],
                "slope_ci95": fit["slope_ci95"],
                "common_length": fit["common_length"],
                "compared": len(names),
            }
            for n in names
        }
    return out


def arm_table(arms: dict[str, list[dict]]) -> list[dict]:
    lc = length_control(arms)
    out = []
    for name, evals in sorted(arms.items()):
        seeds = over_seeds([e["summary"]["judge_mean"] for e in evals])
        pooled = score_summary([j for e in evals for j in e["judgments"]])
        lengths = length_stats([g["n_tokens"] for e in evals for g in e["generations"]])
        valid = [j["score"] for e in evals for j in e["judgments"] if j["score"] is not None]
        cats = {
            c: float(np.mean([CATEGORY[s] == c for s in valid])) if valid else float("nan")
            for c in ("fail", "pass", "excellent")
        }
        out.append(
            {
                "arm": name,
                "seeds": seeds["n_seeds"],
                "mean": seeds["mean"],
                "seed_ci95": seeds["ci95"],
                "prompt_ci95": pooled["judge_ci95"],
                "lc_mean": lc[name]["lc_mean"],
                "lc_ci95": lc[name]["lc_ci95"],
                "lc_slope": lc[name]["slope"],
                "lc_common_length": lc[name]["common_length"],
                "n_invalid": pooled["n_invalid"],
                **cats,
                "eot_rate": float(np.mean([e["summary"]["eot_rate"] for e in evals])),
                "resp_tokens_mean": lengths["mean"],
                "resp_tokens_p95": lengths["p95"],
                "histogram": pooled["histogram"],
            }
        )
    return out


def per_prompt(evals: list[dict]) -> dict[str, float]:
    """Per-prompt means averaged over an arm's seeds (samples nested in prompts, then seeds)."""
    acc: dict[str, list[float]] = defaultdict(list)
    for e in evals:
        for pid, m in prompt_means(e["judgments"]).items():
            acc[pid].append(m)
    return {pid: float(np.mean(v)) for pid, v in acc.items()}


LENGTH_NOTE = (
    "Length-controlled: the score regressed on response length (tokens) with one slope within the "
    "arms judged by the same judge on the same prompts and one intercept per arm, each arm read "
    "at the common length (the mean of those arms' mean lengths); 95% CI by bootstrap over "
    "prompts. A gap between the two means is what length alone would give."
)


def drift_table(arms: dict[str, list[dict]]) -> list[dict]:
    """Each re-judged evaluation: agreement between its two passes (``src/evaluate.py
    drift=true``)."""
    return [
        {
            "arm": name,
            "seed": e.get("seed"),
            **{
                k: d[k]
                for k in (
                    "judge",
                    "n_responses",
                    "n_both_valid",
                    "exact",
                    "within_1",
                    "n_invalid_first",
                    "n_invalid_again",
                )
            },
        }
        for name, evals in sorted(arms.items())
        for e in evals
        for d in e.get("drift", [])
    ]


def _num(v: Any) -> str:
    return f"{v:.2f}" if isinstance(v, float) else str(v)


def _section(title: str, columns: list[str], rows: list[list[Any]]) -> list[str]:
    """A titled Markdown table: a blank line, the title, a blank line, header, rule, rows."""
    return [
        "",
        title,
        "",
        "| " + " | ".join(columns) + " |",
        "|" + "---|" * len(columns),
        *["| " + " | ".join(str(c) for c in row) + " |" for row in rows],
    ]


def _paired_test_lines(tests: list[dict]) -> list[str]:
    f = _num
    return _section(
        "## Paired tests on shared prompts (arm − baseline)",
        ["arm", "baseline", "prompts", "mean diff", "95% CI", "paired t p", "Wilcoxon p"],
        [
            [
                t["arm"],
                t["baseline"],
                t["n_prompts"],
                f(t["mean_diff"]),
                f"{f(t['ci95'][0])}–{f(t['ci95'][1])}",
                f"{t['t_p']:.3g}",
                f"{t['wilcoxon_p']:.3g}",
            ]
            for t in tests
        ],
    )


def _judge_validation_lines(validation: list[dict]) -> list[str]:
    f = _num
    return _section(
        "## Judge validation (against the reference judge, same responses)",
        ["arm", "judge", "valid", "Spearman", "Kendall", "exact", "within 1", "length bias ρ"],
        [
            [
                v["arm"],
                v["judge"],
                f"{v['n_valid']}/{v['n_responses']}",
                f(v["spearman"]),
                f(v["kendall"]),
                f(v["exact"]),
                f(v["within_1"]),
                f(v["length_bias"]),
            ]
            for v in validation
        ],
    )


def _judge_drift_lines(drift: list[dict]) -> list[str]:
    f = _num
    return _section(
        "## Judge drift (the same judge and settings, a second pass over the same responses)",
        ["arm", "seed", "judge", "both valid", "exact", "within 1", "invalid (1st, 2nd)"],
        [
            [
                d["arm"],
                d["seed"],
                d["judge"],
                f"{d['n_both_valid']}/{d['n_responses']}",
                f(d["exact"]),
                f(d["within_1"]),
                f"{d['n_invalid_first']}, {d['n_invalid_again']}",
            ]
            for d in drift
        ],
    )


def markdown(
    table: list[dict], tests: list[dict], validation: list[dict], drift: list[dict] | None = None
) -> str:
    f = _num
    lines = [
        "## Arms (test prompts; CI over seeds when there are several, else over prompts)",
        "",
        "| arm | seeds | mean | 95% CI | length-controlled | 95% CI | fail | pass | excellent | "
        "invalid | EOT | tokens mean | tokens p95 |",
        "|---|---|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    for r in table:
        ci = r["seed_ci95"] if r["seeds"] > 1 else r["prompt_ci95"]
        lines.append(
            f"| {r['arm']} | {r['seeds']} | {f(r['mean'])} | {f(ci[0])}–{f(ci[1])} | "
            f"{f(r['lc_mean'])} | {f(r['lc_ci95'][0])}–{f(r['lc_ci95'][1])} | {f(r['fail'])} | "
            f"{f(r['pass'])} | {f(r['excellent'])} | {r['n_invalid']} | {f(r['eot_rate'])} | "
            f"{f(r['resp_tokens_mean'])} | {f(r['resp_tokens_p95'])} |"
        )
    lines += ["", LENGTH_NOTE]
    if tests:
        lines += _paired_test_lines(tests)
    if validation:
        lines += _judge_validation_lines(validation)
    if drift:
        lines += _judge_drift_lines(drift)
    return "\n".join(lines) + "\n"


def histograms(table: list[dict], path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(
        1, len(table), figsize=(2.6 * len(table), 2.6), sharey=True, squeeze=False
    )
    for ax, r in zip(axes[0], table, strict=True):
        counts = np.array([r["histogram"].get(str(s), 0) for s in range(1, 7)], dtype=float)
        ax.bar(range(1, 7), counts / max(1, counts.sum()), color="#4c72b0")
        ax.set_title(r["arm"], fontsize=7)
        ax.set_xticks(range(1, 7))
    axes[0][0].set_ylabel("share of responses")
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    ap.add_argument("runs_dir", type=Path, nargs="?", default=Path("runs"))
    add_source_args(ap)
    ap.add_argument(
        "--baseline",
        help="data config (or arm name) the paired tests compare against; default the first arm",
    )
    ap.add_argument(
        "--out", type=Path, help="write report.md, arms.json and likert_histograms.png here"
    )
    args = ap.parse_args(argv)
    args.runs_dir = resolve_runs_dir(args)
    arms = load_arms(args.runs_dir)
    if not arms:
        sys.exit(f"{args.runs_dir}: no complete runs")
    table = arm_table(arms)
    names = [r["arm"] for r in table]
    base = next(
        (n for n in names if n == args.baseline or n.split("@")[0] == args.baseline), names[0]
    )
    base_means = per_prompt(arms[base])
    tests = [
        {"arm": n, "baseline": base, **paired_test(per_prompt(arms[n]), base_means)}
        for n in names
        if n != base
    ]
    validation = [
        {
            "arm": n,
            "judge": e["judge"],
            **e["summary"]["validation"],
            "length_bias": e["summary"].get("length_bias", {}).get("spearman"),
        }
        for n in names
        for e in arms[n][:1]
        if "validation" in e["summary"]
    ]
    drift = drift_table(arms)
    report = markdown(table, tests, validation, drift)
    print(report)
    if args.out:
        args.out.mkdir(parents=True, exist_ok=True)
        (args.out / "report.md").write_text(report)
        atomic_write_json(
            args.out / "arms.json",
            {"arms": table, "paired_tests": tests, "validation": validation, "drift": drift},
        )
        histograms(table, args.out / "likert_histograms.png")


if __name__ == "__main__":
    main()
