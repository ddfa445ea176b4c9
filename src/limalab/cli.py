"""What the entry points print: the run directory and the headline."""

from __future__ import annotations

import logging
import os
from pathlib import Path
from typing import Any

import torch

from limalab.pipeline import run

log = logging.getLogger("limalab")


def quiet_environment(cfg: dict[str, Any]) -> None:
    """Keep temp files, caches and W&B inside the project, and no hub calls."""
    runs = Path(cfg["runs_dir"]).resolve()
    for var in ("HF_HUB_OFFLINE", "HF_DATASETS_OFFLINE", "TRANSFORMERS_OFFLINE"):
        os.environ.setdefault(var, "1")
    os.environ.setdefault("TORCHINDUCTOR_CACHE_DIR", str(Path(cfg["cache_dir"]).resolve() / "inductor"))
    os.environ.setdefault("WANDB_SILENT", "true")
    runs.mkdir(parents=True, exist_ok=True)
    logging.getLogger("pytorch_lightning").setLevel(logging.WARNING)
    logging.getLogger("lightning.pytorch").setLevel(logging.WARNING)
    if torch.get_num_threads() > (os.cpu_count() or 1):
        torch.set_num_threads(os.cpu_count() or 1)


USER_ERRORS = (ValueError, OSError)  # config and data validation, missing paths, unwritable or full disks


def _exit(e: BaseException) -> None:
    """One line naming the key, file or path; HYDRA_FULL_ERROR=1 keeps the traceback."""
    if os.environ.get("HYDRA_FULL_ERROR") == "1":
        raise e
    raise SystemExit(f"error: {e}") from None


def main_run(cfg: dict[str, Any]) -> float:
    try:
        quiet_environment(cfg)
        res = run(cfg)
    except USER_ERRORS as e:  # bad config, bad data, unwritable or full disk: one line, no traceback
        _exit(e)
    if res.get("status") == "worker":  # a data-parallel rank: rank 0 reports the run
        return float("nan")
    head = res["headline_eval"]
    lo, hi = head["judge_ci95"]
    run_dir = Path(cfg["runs_dir"]) / res["run_id"]
    print(f"run directory: {run_dir}")
    print(f"judge mean {head['judge_mean']:.2f} (95% CI {lo:.2f}-{hi:.2f}) on {head['spec']['prompt_set']} "
          f"[{cfg['data']['name']}, {res['n_examples']} examples, selected {res['selected_checkpoint']}]")
    return float(head["judge_mean"])


def main_evaluate(cfg: dict[str, Any], eval_overrides: list[str] | None = None) -> dict:
    from limalab.eval.reevaluate import reevaluate

    try:
        quiet_environment({**cfg, "runs_dir": str(Path(cfg["run_dir"]).parent)})
        s = reevaluate(cfg, eval_overrides)
    except USER_ERRORS as e:
        _exit(e)
    out = Path(cfg["run_dir"]) / "evals" / s["eval_id"]
    print(f"evaluation: {out}")
    if "win" in s:
        print(f"pairwise {s['judge']}: win {s['win']:.0%} tie {s['tie']:.0%} loss {s['loss']:.0%} "
              f"({s['n_pairs']} pairs, {s['n_invalid']} invalid, order flips {s['position_flip_rate']})")
    else:
        lo, hi = s["judge_ci95"]
        print(f"judge mean {s['judge_mean']:.2f} (95% CI {lo:.2f}-{hi:.2f}) by {s['judge']} on {s['prompt_set']} "
              f"({s['n_judged']} judged, {s['n_invalid']} invalid)")
    return s
