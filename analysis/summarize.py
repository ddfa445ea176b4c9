"""A table of finished runs: what each was (from its config) and how it scored.

    python analysis/summarize.py runs/            # Markdown to stdout
    python analysis/summarize.py runs/ --csv out.csv
"""

from __future__ import annotations

import argparse
import csv
import json
import sys
from pathlib import Path

import yaml

COLUMNS = ("run_id", "data", "n_examples", "init", "epochs", "few_shot", "seed", "judge_mean", "ci95_lo", "ci95_hi",
           "correctness", "fact_precision", "format", "eot_rate", "dev_ppl", "selected", "probe", "retained")


def collect(runs_dir: Path) -> list[dict]:
    """One row per evaluation of every complete run under ``runs_dir``."""
    rows = []
    for results_path in sorted(Path(runs_dir).glob("*/results.json")):
        res = json.loads(results_path.read_text())
        if res.get("status") != "complete":
            continue
        cfg = yaml.safe_load((results_path.parent / "config.yaml").read_text())
        for eid, ev in res["evals"].items():
            summary = json.loads((results_path.parent / "evals" / eid / "summary.json").read_text())
            rows.append({
                "run_id": res["run_id"], "data": cfg["data"]["name"], "n_examples": res["n_examples"],
                "init": cfg["model"].get("init", "pretrained"), "epochs": cfg["train"]["epochs"],
                "few_shot": ev["spec"].get("few_shot", 0), "seed": cfg["seed"],
                "judge_mean": summary["judge_mean"], "ci95_lo": summary["judge_ci95"][0],
                "ci95_hi": summary["judge_ci95"][1], "correctness": summary.get("correctness_mean"),
                "fact_precision": summary.get("fact_precision_mean"),
                "format": summary.get("format_mean"), "eot_rate": summary.get("eot_rate"),
                "dev_ppl": res["metrics"].get("dev_ppl"), "selected": res["selected_checkpoint"],
                "probe": res.get("knowledge_probe", {}).get("accuracy"),
                "retained": res.get("knowledge_retained", {}).get("accuracy"),
            })
    return rows


def markdown(rows: list[dict]) -> str:
    def fmt(v: object) -> str:
        return f"{v:.3f}" if isinstance(v, float) else str(v)

    lines = ["| " + " | ".join(COLUMNS) + " |", "|" + "---|" * len(COLUMNS)]
    lines += ["| " + " | ".join(fmt(r.get(c)) for c in COLUMNS) + " |" for r in rows]
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("runs_dir", type=Path, nargs="?", default=Path("runs"))
    ap.add_argument("--csv", type=Path, help="also write the table as CSV")
    args = ap.parse_args(argv)
    rows = collect(args.runs_dir)
    if not rows:
        sys.exit(f"{args.runs_dir}: no complete runs")
    print(markdown(rows))
    if args.csv:
        with args.csv.open("w", newline="") as f:
            w = csv.DictWriter(f, fieldnames=COLUMNS)
            w.writeheader()
            w.writerows(rows)


if __name__ == "__main__":
    main()
