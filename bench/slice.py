"""Wall-clock budget of the vertical slice on this machine, measured by running the real
commands: cold (world, tokenizer and base model built), warm (all cached), and the multirun.

    python bench/slice.py [--out bench/latest.json] [--skip-cold]

Budgets (issue 2, 2 cores): cold <= 600 s, warm <= 300 s, multirun 2000,4000 <= 720 s.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
BUDGETS = {"cold_train_s": 600, "warm_train_s": 300, "warm_multirun_2000_4000_s": 720}


def timed(args: list[str], env: dict[str, str], cwd: Path) -> tuple[float, str]:
    t0 = time.time()
    proc = subprocess.run(
        [sys.executable, str(ROOT / "src" / "train.py"), *args],
        env=env,
        cwd=cwd,
        capture_output=True,
        text=True,
    )
    if proc.returncode != 0:
        raise SystemExit(f"{args} failed:\n{proc.stderr[-4000:]}")
    return round(time.time() - t0, 1), proc.stdout.strip().splitlines()[-1]


def main() -> None:
    ap = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    ap.add_argument("--out", type=Path, default=ROOT / "bench" / "latest.json")
    ap.add_argument(
        "--cache", type=Path, help="reuse this cache for the warm runs (implies --skip-cold)"
    )
    args = ap.parse_args()
    work = Path(tempfile.mkdtemp(prefix="limalab-bench-", dir=os.environ.get("TMPDIR")))
    cache = args.cache or work / "cache"
    env = {**os.environ, "LIMALAB_CACHE": str(cache), "WANDB_MODE": "offline"}
    common = ["trainer.enable_progress_bar=false"]
    results: dict[str, object] = {
        "host": platform.node(),
        "cpus": os.cpu_count(),
        "started": time.ctime(),
    }
    if args.cache is None:
        results["cold_train_s"], results["cold_headline"] = timed(
            [*common, f"runs_dir={work / 'cold'}"], env, work
        )
    results["warm_train_s"], results["warm_headline"] = timed(
        [*common, f"runs_dir={work / 'warm'}"], env, work
    )
    results["warm_multirun_2000_4000_s"], results["multirun_headline"] = timed(
        ["-m", "data.size=2000,4000", *common, f"runs_dir={work / 'multi'}"], env, work
    )
    results["within_budget"] = {k: results[k] <= v for k, v in BUDGETS.items() if k in results}
    args.out.parent.mkdir(parents=True, exist_ok=True)
    old = json.loads(args.out.read_text()) if args.out.exists() else {}  # other benches' keys stay
    args.out.write_text(json.dumps({**old, **results}, indent=2) + "\n")
    rows = [f"| {k} | {results[k]} | {v} |" for k, v in BUDGETS.items() if k in results]
    args.out.with_suffix(".md").write_text(
        "| measure | seconds | budget |\n|---|---|---|\n" + "\n".join(rows) + "\n"
    )
    print(json.dumps(results, indent=2))


if __name__ == "__main__":
    main()
