"""The report of ``make paper``: one section per experiment with the paper's numbers beside
ours, and whether the paper's direction reproduced.

    python -m analysis.paper runs/paper --out reports/paper [--seeds 0] [--smoke] [-- overrides]

Runs are found by their config's run id (limalab.ablations.paper_experiments.run_dirs),
evaluations by their prompt set; nothing is recomputed here but the summaries of existing
judgments.
"""

from __future__ import annotations

import argparse
import csv
import json
import random
from pathlib import Path

import numpy as np

from analysis.runs_dir import add_source_args, resolve_runs_dir
from limalab.ablations.paper_experiments import ARMS, SMOKE, run_dirs
from limalab.ablations.run_grids import ints
from limalab.eval.judges.interface import is_ground_truth, judge_class
from limalab.eval.stats import CATEGORY, over_seeds
from limalab.tracking.io import atomic_write_json, read_jsonl
from limalab.versions import PIPELINE_VERSION, RUBRIC_VERSION, WORLD_VERSION

PAPER = {
    "fig1_vs_alpaca": {"win": 0.53, "tie": 0.21, "loss": 0.26},
    "absolute_test50": {"excellent": 0.50, "pass": 0.38, "fail": 0.12},
    "absolute_ood": {"excellent": 0.45, "pass": 0.35, "fail": 0.20},
    "safety_safe_rate": 0.80,
    "dialogue": {
        "zero_shot": {"excellent": 0.452, "fail": 15 / 42},
        "chains": {"excellent": 0.761, "fail": 1 / 46},
    },
}
ABSOLUTE_SAMPLE = 50  # "50 random test prompts"


def _summaries(rd: Path) -> list[dict]:
    """The run's complete evaluations (one whose judge failed has no headline)."""
    found = [json.loads(p.read_text()) for p in sorted((rd / "evals").glob("*/summary.json"))]
    return [s for s in found if s.get("status", "complete") == "complete"]


def _eval(rd: Path, prompt_set: str) -> dict | None:
    """The ground-truth judge's evaluation of ``prompt_set`` in this run (None if missing)."""
    hits = [
        s
        for s in _summaries(rd)
        if s.get("prompt_set") == prompt_set and is_ground_truth(s.get("judge", ""))
    ]
    return hits[-1] if hits else None


def _judgments(rd: Path, summary: dict) -> list[dict]:
    return read_jsonl(rd / "evals" / summary["eval_id"] / "judgments.jsonl")


def rates(rows: list[dict]) -> dict[str, float]:
    cats = [CATEGORY[int(r["score"])] for r in rows if r.get("score") is not None]
    n = len(cats) or 1
    return {c: cats.count(c) / n for c in ("excellent", "pass", "fail")} | {"n": len(cats)}


def _seeds_mean(values: list[float]) -> dict:
    values = [v for v in values if v is not None and not np.isnan(v)]
    if not values:
        return {"mean": float("nan"), "ci95": [float("nan")] * 2, "n_seeds": 0}
    return (
        over_seeds(values)
        if len(values) > 1
        else {"mean": values[0], "ci95": [values[0]] * 2, "n_seeds": 1}
    )


def fmt(x: float | None, pct: bool = True) -> str:
    if x is None or (isinstance(x, float) and np.isnan(x)):
        return "–"
    return f"{100 * x:.1f}%" if pct else f"{x:.2f}"


def headline(dirs: dict, seeds: list[int]) -> tuple[list[str], dict]:
    per_seed = []
    for s in seeds:
        pair = [
            x
            for x in _summaries(dirs["lima", s])
            if getattr(judge_class(x.get("judge", "")), "compares", False)
            and x.get("b") == str(dirs["alpaca", s])
        ]
        if pair:
            per_seed.append(pair[-1])
    out = {k: _seeds_mean([p[k] for p in per_seed]) for k in ("win", "tie", "loss")}
    likert = {
        arm: _seeds_mean([(_eval(dirs[arm, s], "test") or {}).get("judge_mean") for s in seeds])
        for arm in ("lima", "alpaca")
    }
    n_ex = {
        arm: json.loads((dirs[arm, seeds[0]] / "results.json").read_text())["n_examples"]
        for arm in ("lima", "alpaca")
        if (dirs[arm, seeds[0]] / "results.json").exists()
    }
    p = PAPER["fig1_vs_alpaca"]
    lines = [
        "## Fig. 1: LIMA against the Alpaca-like arm (pairwise, both orders)",
        "",
        f"LIMA mix ({n_ex.get('lima', '?')} examples) against the Alpaca-like arm at its full size "
        f"({n_ex.get('alpaca', '?')} examples), the reference pairwise judge asked in both orders; "
        "a preference that flips with the order is a tie.",
        "",
        "| | win | tie | loss |",
        "|---|---|---|---|",
        f"| paper (LIMA vs Alpaca 65B, humans) | {fmt(p['win'])} | {fmt(p['tie'])} | "
        f"{fmt(p['loss'])} |",
        f"| miniature (LIMA vs alpaca, {len(per_seed)} seed(s)) | "
        + " | ".join(fmt(out[k]["mean"]) for k in ("win", "tie", "loss"))
        + " |",
        "",
        "| arm | test Likert mean (1-6) |",
        "|---|---|",
    ]
    lines += [f"| {arm} | {fmt(likert[arm]['mean'], False)} |" for arm in likert]
    won = out["win"]["mean"] > out["loss"]["mean"] if per_seed else None
    lines += [
        "",
        f"**Reproduced:** {'yes' if won else 'no' if won is not None else 'not run'} — the paper's "
        "LIMA wins more often than it loses against Alpaca (53% against 26%).",
    ]
    return lines, {"pairwise": out, "likert": likert, "n_examples": n_ex}


def absolute(dirs: dict, seeds: list[int]) -> tuple[list[str], dict]:
    test50, ood = [], []
    for s in seeds:
        rd = dirs["lima", s]
        test = _eval(rd, "test")
        if test:
            rows = _judgments(rd, test)
            ids = sorted({r["prompt_id"] for r in rows})
            pick = set(random.Random(f"absolute/{s}").sample(ids, min(ABSOLUTE_SAMPLE, len(ids))))
            test50.append(rates([r for r in rows if r["prompt_id"] in pick]))
        o = _eval(rd, "ood")
        if o:
            ood.append(rates(_judgments(rd, o)))
    res = {
        name: {c: _seeds_mean([r[c] for r in rs]) for c in ("excellent", "pass", "fail")}
        for name, rs in (("test50", test50), ("ood", ood))
    }
    lines = [
        "## Fig. 3: absolute assessment (LIMA)",
        "",
        "Each response labelled fail (Likert 1-2), pass (3-4) or excellent (5-6): the reference "
        f"judge's levels mapped as documented in `limalab.eval.stats.CATEGORY`. {ABSOLUTE_SAMPLE} "
        "random test prompts (all samples of each) and the out-of-distribution prompts "
        "(phrasings and requests no source uses).",
        "",
        "| prompts | excellent | pass | fail | paper (excellent / pass / fail) |",
        "|---|---|---|---|---|",
    ]
    for name, key in (
        ("50 random test", "absolute_test50"),
        ("out of distribution", "absolute_ood"),
    ):
        r, p = res["test50" if name.startswith("50") else "ood"], PAPER[key]
        lines.append(
            f"| {name} | {fmt(r['excellent']['mean'])} | {fmt(r['pass']['mean'])} | "
            f"{fmt(r['fail']['mean'])} | {fmt(p['excellent'])} / {fmt(p['pass'])} / "
            f"{fmt(p['fail'])} |"
        )
    t, o = res["test50"]["excellent"]["mean"], res["ood"]["excellent"]["mean"]
    half = t >= 0.5 if not np.isnan(t) else None
    lines += [
        "",
        f"**Reproduced:** {'yes' if half else 'no' if half is not None else 'not run'} — the "
        f"paper: about half of LIMA's answers are excellent (ours {fmt(t)}); out of distribution "
        f"a little lower (ours {fmt(o)}).",
    ]
    return lines, res


def _dialogue_rates(dirs: dict, seeds: list[int]) -> dict:
    """Per arm: each seed's rates over all turns (with its failed turns), and the seed mean of
    each rate per turn."""
    res: dict = {}
    for arm in ("lima", "lima_dialogue"):
        turns: dict[int, list[dict]] = {}
        overall = []
        for s in seeds:
            d = _eval(dirs[arm, s], "dialogue")
            if not d:
                continue
            rows = _judgments(dirs[arm, s], d)
            overall.append(
                rates(rows)
                | {
                    "n_fail": sum(
                        CATEGORY[int(r["score"])] == "fail" for r in rows if r.get("score")
                    )
                }
            )
            for t in sorted({r["turn"] for r in rows}):
                turns.setdefault(t, []).append(rates([r for r in rows if r["turn"] == t]))
        res[arm] = {
            "overall": overall,
            "turns": {
                t: {c: _seeds_mean([x[c] for x in v]) for c in ("excellent", "pass", "fail")}
                for t, v in turns.items()
            },
        }
    return res


def dialogue(dirs: dict, seeds: list[int]) -> tuple[list[str], dict]:
    res = _dialogue_rates(dirs, seeds)
    p = PAPER["dialogue"]
    lines = [
        "## §6: multi-turn dialogue",
        "",
        "10 test conversations of three turns: an open question naming an entity, a follow-up "
        "asking one attribute by pronoun only, and a comparison with a second entity on that "
        "attribute. Each play follows the model's own earlier answers; every turn is judged with "
        "the history in the prompt.",
        "",
        "| arm | turn | excellent | pass | fail |",
        "|---|---|---|---|---|",
    ]
    for arm in res:
        for t, r in res[arm]["turns"].items():
            lines.append(
                f"| {arm} | {t} | {fmt(r['excellent']['mean'])} | {fmt(r['pass']['mean'])} | "
                f"{fmt(r['fail']['mean'])} |"
            )
    lines += ["", "| all turns | excellent | failed turns | paper |", "|---|---|---|---|"]
    for arm, key in (("lima", "zero_shot"), ("lima_dialogue", "chains")):
        ov = res[arm]["overall"]
        exc = _seeds_mean([o["excellent"] for o in ov])["mean"]
        fails = f"{sum(o['n_fail'] for o in ov)}/{sum(o['n'] for o in ov)}" if ov else "–"
        lines.append(
            f"| {arm} | {fmt(exc)} | {fails} | {fmt(p[key]['excellent'])} excellent, fails "
            f"{fmt(p[key]['fail'])} |"
        )
        res[arm]["excellent"] = exc
    a, b = res["lima"].get("excellent"), res["lima_dialogue"].get("excellent")
    ok = b > a if a is not None and b is not None and not (np.isnan(a) or np.isnan(b)) else None
    lines += [
        "",
        f"**Reproduced:** {'yes' if ok else 'no' if ok is not None else 'not run'} — the paper: 30 "
        "chains raise the share of excellent turns and remove almost every failure.",
    ]
    return lines, res


def _subscore_rate(rd: Path, summary: dict, key: str) -> float:
    rows = _judgments(rd, summary)
    return float(np.mean([bool(r["subscores"].get(key)) for r in rows])) if rows else float("nan")


def constrained(
    dirs: dict, seeds: list[int], prompt_set: str, key: str, title: str, note: str, paper: str
) -> tuple[list[str], dict]:
    res = {}
    for arm in ("lima", f"lima_{prompt_set}"):
        vals, means = [], []
        for s in seeds:
            e = _eval(dirs[arm, s], prompt_set)
            if e:
                vals.append(_subscore_rate(dirs[arm, s], e, key))
                means.append(e["judge_mean"])
        res[arm] = {"rate": _seeds_mean(vals), "likert": _seeds_mean(means)}
    lines = [title, "", note, "", f"| arm | {key} rate | Likert mean |", "|---|---|---|"]
    lines += [
        f"| {arm} | {fmt(r['rate']['mean'])} | {fmt(r['likert']['mean'], False)} |"
        for arm, r in res.items()
    ]
    a, b = res["lima"]["rate"]["mean"], res[f"lima_{prompt_set}"]["rate"]["mean"]
    ok = b > a if not (np.isnan(a) or np.isnan(b)) else None
    lines += [
        "",
        f"Paper: {paper}",
        "",
        f"**Reproduced:** {'yes' if ok else 'no' if ok is not None else 'not run'} — the paper: "
        f"the added examples raise the {key} rate; here {fmt(a)} → {fmt(b)}.",
    ]
    return lines, res


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    """The runs directory, options and the runs' Hydra overrides in any order: intermixed, as
    argparse otherwise gives a trailing ``nargs="*"`` positional nothing once options came
    between it and the first positional (``runs --out r -- model=tiny_large`` was refused)."""
    ap = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    ap.add_argument("runs_dir", type=Path)
    add_source_args(ap)
    ap.add_argument("--out", type=Path, default=Path("reports/paper"))
    ap.add_argument("--seeds", default="0")
    ap.add_argument("--smoke", action="store_true")
    ap.add_argument("overrides", nargs="*")
    return ap.parse_intermixed_args(argv)


def main(argv: list[str] | None = None) -> None:
    args = parse_args(argv)
    args.runs_dir = resolve_runs_dir(args)
    seeds = ints(args.seeds)
    dirs = run_dirs(args.runs_dir, seeds, (SMOKE if args.smoke else []) + list(args.overrides))
    sections, data = [], {}
    for name, fn in (("headline", headline), ("absolute", absolute), ("dialogue", dialogue)):
        lines, data[name] = fn(dirs, seeds)
        sections.append(lines)
    for prompt_set, key, title, note, paper in (
        (
            "format",
            "form_ok",
            "## App. E: structured output",
            "Test prompts with an explicit constraint: exactly N bullet points, a plan of exactly "
            "N numbered steps, or at most N words; `form_ok` is the judge's compliance check.",
            "6 format examples fixed prompts that ask for a structure (bullets, a plan); no rate "
            "is given.",
        ),
        (
            "safety",
            "safe",
            "## Safety",
            "30 sensitive prompts (harming a creature, stealing from or damaging a realm); `safe`: "
            "the answer refuses (a refusal phrase, no steps to follow).",
            f"{fmt(PAPER['safety_safe_rate'])} safe answers with 13 safety examples among the "
            "1,000.",
        ),
    ):
        lines, data[prompt_set] = constrained(dirs, seeds, prompt_set, key, title, note, paper)
        sections.append(lines)
    args.out.mkdir(parents=True, exist_ok=True)
    head = [
        "# The paper's other experiments on the miniature",
        "",
        f"World v{WORLD_VERSION}, pipeline v{PIPELINE_VERSION}, rubric v{RUBRIC_VERSION}; seeds "
        f"{args.seeds}; runs in `{args.runs_dir}`. Expected directions, stated before the runs "
        "(`limalab.ablations.paper_experiments.ARMS`):",
        "",
    ]
    head += [f"- `{arm}` (data={data_}): {exp}" for arm, (data_, exp) in ARMS.items()]
    text = "\n".join(head + [""] + ["\n".join(s) + "\n" for s in sections])
    write_paper_report(args.out, text, data, dirs)
    print(text)


def write_paper_report(out: Path, text: str, data: dict, dirs: dict) -> None:
    """report.md, paper.json, runs.csv, then the figure drawn from paper.json (as a recorded
    report redraws)."""
    from analysis.figures import redraw

    (out / "report.md").write_text(text)
    atomic_write_json(out / "paper.json", data)
    with (out / "runs.csv").open("w", newline="") as f:
        w = csv.writer(f)
        w.writerow(["arm", "seed", "run_dir"])
        w.writerows([arm, s, str(rd)] for (arm, s), rd in dirs.items())
    redraw(out)


def _seeds(n: int, unit: str = "") -> str:
    return f"n = {n} seed{'s' if n != 1 else ''}{unit}"


NO_CI = "one seed: no CI over seeds"


def _pairwise_panel(ax, pw: dict) -> None:
    """Win / tie / loss shares, ours (95% CIs over seeds when there are several) above the
    paper's 65B human study; each share written in its segment."""
    n = max((pw[k].get("n_seeds", 0) for k in ("win", "tie", "loss")), default=0)
    bars = {
        "paper\n(65B, humans)": ({**PAPER["fig1_vs_alpaca"]}, None),
        f"miniature\n{_seeds(n)}" + ("" if n > 1 else f"\n({NO_CI})"): (
            {k: pw[k]["mean"] for k in ("win", "tie", "loss")},
            pw if n > 1 else None,
        ),
    }
    for i, (r, ci) in enumerate(bars.values()):
        left = 0.0
        for k, color in (("win", "#4c72b0"), ("tie", "#bbbbbb"), ("loss", "#dd8452")):
            v = 0.0 if np.isnan(r[k]) else r[k]
            ax.barh(i, v, left=left, color=color, label=k if i == 0 else None)
            if v >= 0.06:
                ax.text(left + v / 2, i, f"{v:.0%}", ha="center", va="center", fontsize=7)
            if ci is not None and not np.isnan(ci[k]["ci95"][0]):
                half = (ci[k]["ci95"][1] - ci[k]["ci95"][0]) / 2
                ax.errorbar(left + v, i, xerr=half, color="black", capsize=3, lw=0.8)
            left += v
    ax.set_yticks([0, 1], list(bars), fontsize=7)
    ax.set_xlim(0, 1)
    ax.set_xlabel(
        "share of pairwise judgments (both orders" + ("; 95% CI over seeds)" if n > 1 else ")"),
        fontsize=7,
    )
    ax.set_title("LIMA vs Alpaca: win / tie / loss", fontsize=8)
    ax.legend(loc="upper center", bbox_to_anchor=(0.5, -0.22), ncol=3, fontsize=6, frameon=False)


def _dialogue_panel(ax, turns: dict) -> None:
    """Excellent turns per dialogue turn (95% CIs over seeds when there are several) and the
    paper's all-turn shares."""
    alone = False
    for arm, style, key, color in (
        ("lima", "o--", "zero_shot", "#4c72b0"),
        ("lima_dialogue", "s-", "chains", "#55a868"),
    ):
        by_turn = {int(t): v for t, v in turns[arm]["turns"].items()}  # JSON keys are strings
        ts = sorted(by_turn)
        ex = [by_turn[t]["excellent"] for t in ts]
        err = np.nan_to_num(
            np.abs([[e["mean"] - e["ci95"][0] for e in ex], [e["ci95"][1] - e["mean"] for e in ex]])
        )
        nseeds = max((e.get("n_seeds", 0) for e in ex), default=0)
        alone |= bool(ex) and nseeds < 2
        ax.errorbar(
            ts,
            [e["mean"] for e in ex],
            yerr=err if ex and nseeds > 1 else None,
            fmt=style,
            color=color,
            capsize=3,
            label=f"{arm} ({_seeds(nseeds, ' x 10 conversations')})",
        )
        paper = PAPER["dialogue"][key]["excellent"]
        label = f"paper, all turns: {paper:.1%} ({key.replace('_', '-')})"
        ax.axhline(paper, color=color, ls=":", lw=1, label=label)
        ax.set_xticks(ts)
    ax.set_xlabel("dialogue turn", fontsize=7)
    ax.set_ylabel("share of excellent turns (Likert 5-6)", fontsize=7)
    ax.set_ylim(0, 1)
    ax.set_title("dialogue: excellent turns" + (f" ({NO_CI})" if alone else ""), fontsize=8)
    ax.legend(fontsize=5, loc="upper right")


def draw_paper_figure(data: dict, plt) -> object:
    """Left: LIMA against Alpaca, win / tie / loss shares (ours with 95% CIs over seeds, n
    seeds; the paper's 65B human study beside). Right: excellent turns per dialogue turn with
    95% CIs over seeds, the paper's all-turn shares (zero-shot 45.2%, with chains 76.1%) drawn.
    One seed has no CI over seeds: the labels say so instead of drawing a zero-width one."""
    fig, axes = plt.subplots(1, 2, figsize=(9.5, 3.6))
    _pairwise_panel(axes[0], data["headline"]["pairwise"])
    _dialogue_panel(axes[1], data["dialogue"])
    fig.tight_layout()
    return fig


if __name__ == "__main__":
    main()
