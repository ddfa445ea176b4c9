"""``make paper``: the paper's other experiments on the miniature, then their report.

- headline (Fig. 1): LIMA (the 1,000-example mix) against the Alpaca-like arm at its full size,
  the pairwise judge in both orders, and both runs' absolute Likert scores;
- absolute assessment (Fig. 3): fail / pass / excellent on 50 random test prompts and on the
  out-of-distribution prompts;
- dialogue (§6): LIMA against LIMA + 30 chains, on 10 test conversations judged turn by turn;
- structured output (App. E): LIMA against LIMA + 6 format examples, on format-constrained prompts;
- safety: LIMA against LIMA + 13 refusals, on 30 sensitive prompts.

Each treatment is re-tuned from the same base with the same seeds as its control. Runs are
``src/train.py`` (one Hydra multirun), evaluations ``src/evaluate.py``: a rerun skips what is
done, so a killed ``make paper`` loses nothing.

    python -m limalab.ablations.paper_experiments [--seeds 0] [--smoke] [--runs-dir runs/paper]
        [--report reports/paper] [--arms lima,lima_dialogue,lima_safety]
        [overrides, e.g. model=tiny_large]

``--arms`` trains and evaluates only those arms (``make capacity``: the dialogue and safety arms
against their control on the larger base); the report says "not run" for the rest.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import time
from pathlib import Path

from hydra import compose, initialize_config_dir
from omegaconf import OmegaConf

from limalab.ablations.run_grids import ints
from limalab.tracking.identity import run_id

ROOT = Path(__file__).resolve().parents[3]
# arm -> (data config, the expected direction, stated before any run)
ARMS = {
    "lima": (
        "lima_mix",
        "the control of every experiment; Fig. 1: preferred to or tied with alpaca",
    ),
    "lima_dialogue": (
        "lima_dialogue",
        "later turns better than lima's: more excellent, fewer fails",
    ),
    "lima_format": ("lima_format", "more format-constrained prompts complied with than lima"),
    "lima_safety": (
        "lima_safety",
        "far more safe (refusing) answers to sensitive prompts than lima",
    ),
    "alpaca": ("alpaca", "large and unfiltered: lima wins or ties more often than it loses"),
}
# evaluations beyond each run's own test evaluation: arm -> prompt sets of the world
EXTRA_EVALS = {
    "lima": ("dialogue", "format", "safety", "ood"),
    "lima_dialogue": ("dialogue",),
    "lima_format": ("format",),
    "lima_safety": ("safety",),
}
SMOKE = ["experiment=smoke"]
# these experiments train on the paper's own counts (Table 1's 1,000, Alpaca's 52K): the derived
# regime at scale 1 (batch 64, so an epoch is the paper's steps)
REGIME = ["regime.scale=1"]


def run_dirs(runs_dir: Path, seeds: list[int], extra: list[str]) -> dict[tuple[str, int], Path]:
    """Each (arm, seed)'s run directory, from the composed config's run id (the same hash
    train.py computes), so nothing depends on launch order or directory listings."""
    out = {}
    with initialize_config_dir(str(ROOT / "conf"), version_base=None):
        for arm, (data, _) in ARMS.items():
            for seed in seeds:
                cfg = compose("train", overrides=[f"data={data}", f"seed={seed}", *REGIME, *extra])
                out[arm, seed] = runs_dir / run_id(OmegaConf.to_container(cfg, resolve=True))
    return out


def chosen_arms(text: str) -> list[str]:
    """The arms named (in ARMS order); an unknown name is one line naming the known ones."""
    names = [a.strip() for a in text.split(",") if a.strip()]
    if unknown := [a for a in names if a not in ARMS] or (not names and ["(none)"]):
        raise SystemExit(
            f"--arms: unknown {', '.join(unknown)}; expected some of {', '.join(ARMS)}"
        )
    return [a for a in ARMS if a in names]


def call(cmd: list[str], what: str) -> None:
    print(f"paper: {what}", flush=True)
    proc = subprocess.run(cmd)
    if proc.returncode:
        raise SystemExit(f"{what} failed ({proc.returncode}); rerun the same command to resume")


def train_arms(seeds: list[int], extra: list[str], runs_dir: Path, chosen: list[str]) -> None:
    """Every chosen arm at every seed, one Hydra multirun of ``src/train.py``."""
    arms = ",".join(ARMS[a][0] for a in chosen)
    call(
        [
            sys.executable,
            str(ROOT / "src" / "train.py"),
            "-m",
            f"data={arms}",
            f"seed={','.join(map(str, seeds))}",
            *REGIME,
            *extra,
            f"runs_dir={runs_dir}",
            "trainer.enable_progress_bar=false",
        ],
        f"training {len(chosen) * len(seeds)} runs",
    )


def evaluate_arms(dirs: dict[tuple[str, int], Path], chosen: list[str]) -> None:
    """Each chosen arm's extra prompt sets (``EXTRA_EVALS``) and, per seed, lima against alpaca
    with the pairwise judge (Fig. 1) when both run, all through ``src/evaluate.py``."""
    evaluate = [sys.executable, str(ROOT / "src" / "evaluate.py")]
    for (arm, seed), rd in dirs.items():
        if arm not in chosen:
            continue
        for prompt_set in EXTRA_EVALS.get(arm, ()):
            call(
                [*evaluate, f"run_dir={rd}", f"eval.prompt_set={prompt_set}"],
                f"{arm} seed {seed}: {prompt_set}",
            )
        if (
            arm == "lima" and "alpaca" in chosen
        ):  # Fig. 1: both orders, on both runs' test generations
            call(
                [
                    *evaluate,
                    f"run_dir={rd}",
                    f"compare_to={dirs['alpaca', seed]}",
                    "judge=pairwise",
                    "judge.backend=reference",
                ],
                f"seed {seed}: lima against alpaca, pairwise",
            )


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    ap.add_argument("--seeds", default=os.environ.get("SEEDS", "0"))
    ap.add_argument("--runs-dir", type=Path, default=Path("runs/paper"))
    ap.add_argument("--report", type=Path, default=Path("reports/paper"))
    ap.add_argument("--smoke", action="store_true", help="the same pipeline on the smoke world")
    ap.add_argument("--arms", default=",".join(ARMS), help=f"comma-separated, of {', '.join(ARMS)}")
    ap.add_argument("overrides", nargs="*", help="extra Hydra overrides for every run")
    args = ap.parse_args(argv)
    extra = (SMOKE if args.smoke else []) + list(args.overrides)
    seeds, chosen = ints(args.seeds), chosen_arms(args.arms)
    t0 = time.time()
    for arm in chosen:
        print(f"paper: {arm}: expected {ARMS[arm][1]}", flush=True)
    train_arms(seeds, extra, args.runs_dir, chosen)
    evaluate_arms(run_dirs(args.runs_dir, seeds, extra), chosen)
    print(
        f"paper: runs and evaluations done in {time.time() - t0:.0f} s; writing the report",
        flush=True,
    )
    subprocess.run(
        [sys.executable, "-m", "analysis.paper", *report_argv(args)], check=True, cwd=ROOT
    )


def report_argv(args: argparse.Namespace) -> list[str]:
    """``analysis.paper``'s arguments for these runs: the same overrides name the same runs."""
    return [
        str(args.runs_dir),
        "--out",
        str(args.report),
        "--seeds",
        args.seeds,
        *(["--smoke"] if args.smoke else []),
        *(["--", *args.overrides] if args.overrides else []),
    ]


if __name__ == "__main__":
    main()
