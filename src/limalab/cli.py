"""What the entry points print and how they end: the run directory and the headline, or one
line saying why not, with a non-zero exit code.

Exit codes: 0 complete; 2 a user-caused error (config, data, paths, disks: one line naming the
key or file); 3 the run ended without a valid result (e.g. ``judge_failed``: rerun the same
command when the judge is back, nothing retrains). In a multirun a failing job does not stop
the others: each job records its outcome in its Hydra job directory, and ``MultirunSummary``
(a Hydra callback) prints what failed and why at the end and exits non-zero.
"""

from __future__ import annotations

import json
import logging
import os
import sys
import traceback
from pathlib import Path
from typing import Any

from hydra.experimental.callback import Callback

log = logging.getLogger("limalab")

EXIT_USER_ERROR, EXIT_NOT_COMPLETE = 2, 3
USER_ERRORS = (
    ValueError,
    OSError,
)  # config and data validation, missing paths, unwritable or full disks
OUTCOME = "outcome.json"


def quiet_environment(cfg: dict[str, Any]) -> None:
    """Keep temp files, caches and W&B inside the project, and no hub calls."""
    import torch

    runs = Path(cfg["runs_dir"]).resolve()
    for var in ("HF_HUB_OFFLINE", "HF_DATASETS_OFFLINE", "TRANSFORMERS_OFFLINE"):
        os.environ.setdefault(var, "1")
    os.environ.setdefault(
        "TORCHINDUCTOR_CACHE_DIR", str(Path(cfg["cache_dir"]).resolve() / "inductor")
    )
    os.environ.setdefault("WANDB_SILENT", "true")
    runs.mkdir(parents=True, exist_ok=True)
    logging.getLogger("pytorch_lightning").setLevel(logging.WARNING)
    logging.getLogger("lightning.pytorch").setLevel(logging.WARNING)
    if torch.get_num_threads() > (os.cpu_count() or 1):
        torch.set_num_threads(os.cpu_count() or 1)


def _fail(
    message: str, code: int, outcome_dir: Path | None, error: BaseException | None = None
) -> float:
    """End a job that did not complete: one line, then exit ``code`` — or, inside a multirun,
    record the outcome and return so the other jobs go on."""
    if error is not None and os.environ.get("HYDRA_FULL_ERROR") == "1":
        raise error
    print(f"error: {message}", file=sys.stderr, flush=True)
    if outcome_dir is None:
        raise SystemExit(code)
    write_outcome(outcome_dir, "failed", message, code)
    return float("nan")


def write_outcome(job_dir: Path, status: str, message: str, code: int = 0) -> None:
    job_dir.mkdir(parents=True, exist_ok=True)
    (job_dir / OUTCOME).write_text(
        json.dumps({"status": status, "message": message, "exit_code": code}) + "\n"
    )


def main_run(
    cfg: dict[str, Any], multirun_job_dir: Path | None = None, launch: dict[str, Any] | None = None
) -> float:
    """``src/train.py``. ``multirun_job_dir``: the Hydra job directory when inside a multirun;
    ``launch``: Hydra's job directory and overrides (linked with the run directory both ways)."""
    from limalab.pipeline.run import run

    try:
        quiet_environment(cfg)
        res = run(cfg, launch=launch)
    except (
        USER_ERRORS
    ) as e:  # bad config, bad data, unwritable or full disk: one line, no traceback
        return _fail(str(e), EXIT_USER_ERROR, multirun_job_dir, e)
    except Exception as e:  # a bug: the traceback goes to the log; a multirun goes on
        if multirun_job_dir is None:
            raise
        log.error("run crashed:\n%s", traceback.format_exc())
        return _fail(f"crashed: {type(e).__name__}: {e}", 1, multirun_job_dir)
    if res.get("status") == "worker":  # a data-parallel rank: rank 0 reports the run
        return float("nan")
    run_dir = Path(cfg["runs_dir"]) / res["run_id"]
    print(f"run directory: {run_dir}")
    if res["status"] != "complete":
        return _fail(
            f"run {res['run_id']}: {res['status']} at stage {res['failed_stage']}: "
            f"{res['status_reason']}. Rerun the same command to finish it (nothing already "
            "trained or judged is redone)",
            EXIT_NOT_COMPLETE,
            multirun_job_dir,
        )
    head = res["headline_eval"]
    lo, hi = head["judge_ci95"]
    print(
        f"judge mean {head['judge_mean']:.2f} (95% CI {lo:.2f}-{hi:.2f}) on "
        f"{head['spec']['prompt_set']} [{cfg['data']['name']}, {res['n_examples']} examples, "
        f"selected {res['selected_checkpoint']}]"
    )
    if multirun_job_dir is not None:
        write_outcome(
            multirun_job_dir,
            "complete",
            f"run {res['run_id']}: judge mean {head['judge_mean']:.2f}",
        )
    return float(head["judge_mean"])


def main_evaluate(cfg: dict[str, Any], eval_overrides: list[str] | None = None) -> dict:
    """``src/evaluate.py``: the evaluate stage alone on a finished run."""
    from limalab.config import validate
    from limalab.config.schema import EvaluateConfig
    from limalab.pipeline.reevaluate import reevaluate

    try:
        validate(cfg, EvaluateConfig)
        quiet_environment({**cfg, "runs_dir": str(Path(cfg["run_dir"]).parent)})
        s = reevaluate(cfg, eval_overrides)
    except USER_ERRORS as e:
        _fail(str(e), EXIT_USER_ERROR, None, e)
    out = Path(cfg["run_dir"]) / "evals" / s["eval_id"]
    print(f"evaluation: {out}")
    if s.get("status", "complete") != "complete":
        _fail(
            f"evaluation {s['eval_id']}: {s['status']}: {s['status_reason']}. Rerun the same "
            "command to judge what is missing (valid judgments are kept)",
            EXIT_NOT_COMPLETE,
            None,
        )
    if "win" in s:
        print(
            f"pairwise {s['judge']}: win {s['win']:.0%} tie {s['tie']:.0%} loss {s['loss']:.0%} "
            f"({s['n_pairs']} pairs, {s['n_invalid']} invalid, order flips "
            f"{s['position_flip_rate']})"
        )
    else:
        lo, hi = s["judge_ci95"]
        print(
            f"judge mean {s['judge_mean']:.2f} (95% CI {lo:.2f}-{hi:.2f}) by {s['judge']} on "
            f"{s['prompt_set']} ({s['n_judged']} judged, {s['n_invalid']} invalid)"
        )
    return s


class LaunchChecks(Callback):
    """Hydra callbacks around a launch. Before Hydra writes anything: its launch directory must
    be creatable (else one line naming it, not Hydra's traceback). At the end of a multirun:
    what each job ended with (from its ``outcome.json``), and a non-zero exit if any job did not
    complete — for every launcher, since the jobs' directories are under the sweep directory."""

    def on_run_start(self, config: Any, **kwargs: Any) -> None:
        _creatable(Path(config.hydra.run.dir), "hydra.run.dir")

    def on_multirun_start(self, config: Any, **kwargs: Any) -> None:
        _creatable(Path(config.hydra.sweep.dir), "hydra.sweep.dir")

    def on_multirun_end(self, config: Any, **kwargs: Any) -> None:
        sweep = Path(config.hydra.sweep.dir)
        outcomes = []
        for path in sorted(
            sweep.glob(f"*/{OUTCOME}"), key=lambda p: (len(p.parent.name), p.parent.name)
        ):
            outcomes.append((path.parent.name, json.loads(path.read_text())))
        failed = [(job, o) for job, o in outcomes if o["status"] != "complete"]
        if not failed:
            return
        print(
            f"\nmultirun: {len(outcomes) - len(failed)} of {len(outcomes)} jobs complete; failed:",
            file=sys.stderr,
        )
        for job, o in failed:
            print(f"  job {job}: {o['message']}", file=sys.stderr)
        print(
            f"(job directories under {sweep}; rerun the same command to finish the failed jobs)",
            file=sys.stderr,
        )
        sys.stderr.flush()
        raise SystemExit(max(o["exit_code"] for _, o in failed))


def _creatable(path: Path, key: str) -> None:
    try:
        path.mkdir(parents=True, exist_ok=True)
        probe = path / f".write-test-{os.getpid()}"
        probe.write_text("")
        probe.unlink()
    except OSError as e:
        print(
            f"error: {key}: cannot write {path} ({e.strerror}); set runs_dir to a writable "
            "directory",
            file=sys.stderr,
            flush=True,
        )
        raise SystemExit(EXIT_USER_ERROR) from None
