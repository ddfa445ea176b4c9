"""A table of finished runs: what each was (from its config) and how it scored.

python -m analysis.summarize runs/            # Markdown to stdout
python -m analysis.summarize runs/ --csv out.csv
"""

from __future__ import annotations

import argparse
import csv
import json
import sys
from pathlib import Path

import yaml

from analysis.runs_dir import add_source_args, resolve_runs_dir
from limalab.tracking.identity import base_recipe, base_recipe_id
from limalab.tracking.loggers import flat_config

COLUMNS = (
    "run_id",
    "data",
    "n_examples",
    "init",
    "epochs",
    "few_shot",
    "seed",
    "subset_seed",
    "budget",
    "judge",
    "rep_penalty",
    "judge_mean",
    "ci95_lo",
    "ci95_hi",
    "n_invalid",
    "excellent",
    "fail",
    "correctness",
    "fact_precision",
    "format",
    "eot_rate",
    "resp_tokens",
    "dev_ppl",
    "selected",
    "probe",
    "retained",
)


def base_label(model: dict) -> str:
    """Which base a run fine-tunes: the model's name and, for a miniature base, its pretraining
    seed (``tiny_large seed 1``), so runs of different bases are never pooled as seeds."""
    name = model.get("name", "?")  # configs written before the model had a name
    if model.get("source", "miniature") != "miniature":
        return str(name)
    return f"{name} seed {(model.get('pretrain') or {}).get('seed', 0)}"


def build_label(build: dict | None) -> str:
    """What a miniature base was built on (``probe.json`` ``build``): on a CPU its weights depend
    on the kernels and the thread count, so one recipe built on two such machines is two models."""
    if not build:
        return "build unrecorded"
    threads = build.get("torch_threads")
    return (
        f"built {build.get('cpu_capability', '?')}, {threads} thread{'s' * (threads != 1)}, "
        f"torch {build.get('torch', '?')}"
    )


def distinguish_bases(rows: list[dict]) -> list[dict]:
    """Two bases that share a label get what tells them apart appended, so their runs are never
    pooled as seeds of one base: their recipe's hash (the same name and pretraining seed under
    another ``model.derive.tokens_ratio``, or another checkpoint path), else, for one recipe
    pretrained on two machines' numerics, their build. A random-init control keeps the label of
    the base it stands beside (its recipe is theirs; it has no pretrained weights to differ)."""
    for field, text in (("base_recipe", "recipe {}"), ("base_build", "{}")):
        told = [r for r in rows if field == "base_recipe" or r["init"] == "pretrained"]
        seen: dict[str, set[str]] = {}
        for r in told:
            seen.setdefault(r["base"], set()).add(r[field])
        for r in told:
            if len(seen[r["base"]]) > 1:
                r["base"] = f"{r['base']}, {text.format(r[field])}"
    return rows


def recipe_fields(model: dict) -> str:
    """A base's recipe as sorted dotted keys in one JSON string (a CSV-safe row field), so a
    report can say what two recipes behind one label differ in, not only their hashes."""
    return json.dumps(flat_config(base_recipe(model)), sort_keys=True, default=str)


def recipe_legend(rows: list[dict]) -> list[str]:
    """One line per base told apart by recipe (``<base>, recipe <hash>``): the keys its recipes
    differ in and each recipe's values (``unset``: a key that recipe predates)."""
    recipes: dict[str, dict[str, dict]] = {}
    for r in rows:
        base, sep, rest = r["base"].partition(", recipe ")
        if sep and r.get("base_recipe_fields"):
            recipes.setdefault(base, {})[rest.split(",")[0]] = json.loads(r["base_recipe_fields"])
    lines = []
    for base, by_hash in sorted(recipes.items()):
        if len(by_hash) < 2:
            continue  # one recipe here (the label carries its hash from elsewhere)
        keys = sorted(
            k
            for k in {k for f in by_hash.values() for k in f}
            if len({json.dumps(f.get(k, "unset")) for f in by_hash.values()}) > 1
        )
        told = "; ".join(
            f"{h}: " + ", ".join(f"{k} {f.get(k, 'unset')}" for k in keys)
            for h, f in sorted(by_hash.items())
        )
        lines.append(f"- `{base}`: recipe {told}")
    return lines


def _base_build(model: dict, results: dict) -> str | None:
    """The build of a miniature base (None for a checkpoint: its weights are a file)."""
    if model.get("source", "miniature") != "miniature":
        return None
    return build_label((results.get("knowledge_probe") or {}).get("build"))


def collect(runs_dir: Path) -> list[dict]:
    """One row per test evaluation of every complete run under ``runs_dir``: the run's own and
    any added later by ``src/evaluate.py`` (other judges, decodings, prompt sets)."""
    rows = []
    for results_path in sorted(Path(runs_dir).glob("*/results.json")):
        res = json.loads(results_path.read_text())
        if res.get("status") != "complete":
            continue
        cfg = yaml.safe_load((results_path.parent / "config.yaml").read_text())
        for path in sorted((results_path.parent / "evals").glob("*/summary.json")):
            summary = json.loads(path.read_text())
            if (
                "judge_mean" not in summary
                or summary.get("role") == "select"
                or summary.get("prompt_set") == "dev"
            ):
                continue  # pairwise comparisons and checkpoint selection have their own reports
            if summary.get("status", "complete") != "complete":
                continue  # a judge that failed: no headline (a rerun of its command finishes it)
            cats = summary.get("categories") or {}
            rows.append(
                {
                    "run_id": res["run_id"],
                    "eval_id": summary["eval_id"],
                    "default": summary["eval_id"] == res["default_eval"],
                    "data": cfg["data"]["name"],
                    "n_examples": res["n_examples"],
                    "init": cfg["model"].get("init", "pretrained"),
                    "epochs": cfg["train"]["epochs"],
                    "few_shot": summary.get("few_shot", 0),
                    "seed": cfg["seed"],
                    "judge": summary.get("judge"),
                    "subset_seed": cfg["data"].get("subset_seed", 0),
                    "base": base_label(cfg["model"]),
                    "base_recipe": base_recipe_id(cfg["model"]),
                    "base_recipe_fields": recipe_fields(cfg["model"]),
                    "base_build": _base_build(cfg["model"], res),
                    "budget": cfg["train"].get("budget", "epochs"),
                    "prompt_set": summary.get("prompt_set"),
                    "rep_penalty": (summary.get("decoding") or {}).get("repetition_penalty"),
                    "n_invalid": summary.get("n_invalid"),
                    "excellent": cats.get("excellent"),
                    "fail": cats.get("fail"),
                    "resp_tokens": summary.get("response_tokens_mean"),
                    "judge_mean": summary["judge_mean"],
                    "ci95_lo": summary["judge_ci95"][0],
                    "ci95_hi": summary["judge_ci95"][1],
                    "correctness": summary.get("correctness_mean"),
                    "fact_precision": summary.get("fact_precision_mean"),
                    "format": summary.get("format_mean"),
                    "eot_rate": summary.get("eot_rate"),
                    "dev_ppl": res["metrics"].get("dev_ppl"),
                    "selected": res["selected_checkpoint"],
                    "probe": res.get("knowledge_probe", {}).get("accuracy"),
                    "retained": res.get("knowledge_retained", {}).get("accuracy"),
                }
            )
    return distinguish_bases(rows)


def markdown(rows: list[dict]) -> str:
    def fmt(v: object) -> str:
        return f"{v:.3f}" if isinstance(v, float) else str(v)

    lines = ["| " + " | ".join(COLUMNS) + " |", "|" + "---|" * len(COLUMNS)]
    lines += ["| " + " | ".join(fmt(r.get(c)) for c in COLUMNS) + " |" for r in rows]
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    ap.add_argument("runs_dir", type=Path, nargs="?", default=Path("runs"))
    add_source_args(ap)
    ap.add_argument("--csv", type=Path, help="also write the table as CSV")
    args = ap.parse_args(argv)
    args.runs_dir = resolve_runs_dir(args)
    rows = collect(args.runs_dir)
    if not rows:
        sys.exit(f"{args.runs_dir}: no complete runs")
    print(markdown(rows))
    if args.csv:
        with args.csv.open("w", newline="") as f:
            w = csv.DictWriter(
                f, fieldnames=COLUMNS, extrasaction="ignore"
            )  # rows also carry ids the table omits
            w.writeheader()
            w.writerows(rows)


if __name__ == "__main__":
    main()
