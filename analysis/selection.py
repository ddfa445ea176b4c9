"""Perplexity against generation quality over the checkpoints each run considered (LIMA §3:
held-out perplexity does not track quality, so selection uses the dev judge score).

    python -m analysis.selection runs/ [--out report/]     # table to stdout, figure with --out
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from scipy import stats

from analysis.runs_dir import add_source_args, resolve_runs_dir


def collect(runs_dir: Path) -> list[dict]:
    rows = []
    for path in sorted(Path(runs_dir).glob("*/results.json")):
        res = json.loads(path.read_text())
        if res.get("status") != "complete":
            continue
        for s in res.get("selection", []):
            rows.append(
                {
                    "run_id": res["run_id"],
                    "data": res.get("data"),
                    "n_examples": res.get("n_examples"),
                    "epoch": s["epoch"],
                    "dev_ppl": s["dev_ppl"],
                    "dev_judge_mean": s["dev_judge_mean"],
                    "dev_judge_ci95": s.get("dev_judge_ci95"),
                    "selected": f"epoch-{s['epoch']}" == res["selected_checkpoint"],
                }
            )
    return rows


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    ap.add_argument("runs_dir", type=Path, nargs="?", default=Path("runs"))
    add_source_args(ap)
    ap.add_argument("--out", type=Path)
    args = ap.parse_args(argv)
    args.runs_dir = resolve_runs_dir(args)
    rows = collect(args.runs_dir)
    if not rows:
        sys.exit(f"{args.runs_dir}: no complete runs with checkpoint selection")
    print(
        "| run | data | examples | epoch | dev ppl | dev judge | selected "
        "|\n|---|---|---|---|---|---|---|"
    )
    for r in rows:
        print(
            f"| {r['run_id']} | {r['data']} | {r['n_examples']} | {r['epoch']} | "
            f"{r['dev_ppl']:.3f} | {r['dev_judge_mean']:.2f} | {'yes' if r['selected'] else ''} |"
        )
    if len(rows) >= 3:
        rho = stats.spearmanr(
            [r["dev_ppl"] for r in rows], [r["dev_judge_mean"] for r in rows]
        ).statistic
        print(f"\nSpearman(dev perplexity, dev judge mean) over {len(rows)} checkpoints: {rho:.2f}")
    if args.out:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt

        args.out.mkdir(parents=True, exist_ok=True)
        fig, ax = plt.subplots(figsize=(4.5, 3.2))
        for run in sorted({r["run_id"] for r in rows}):
            rs = [r for r in rows if r["run_id"] == run]
            ax.plot(
                [r["dev_ppl"] for r in rs],
                [r["dev_judge_mean"] for r in rs],
                "o-",
                label=f"{rs[0]['data']}@{rs[0]['n_examples']}",
            )
            for r in rs:
                ax.annotate(str(r["epoch"]), (r["dev_ppl"], r["dev_judge_mean"]), fontsize=6)
        ax.set_xlabel("dev perplexity (reference answers)")
        ax.set_ylabel("dev judge mean")
        ax.legend(fontsize=6)
        fig.tight_layout()
        fig.savefig(args.out / "perplexity_vs_quality.png", dpi=120)


if __name__ == "__main__":
    main()
