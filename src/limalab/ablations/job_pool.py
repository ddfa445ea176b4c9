"""The local launcher of ``make ablations --jobs N``: every run of every grid as its own
``src/train.py`` process, N at a time, the cores split between them.

Why not one Hydra multirun per grid: the regime's step (batch 8 of short examples) is too small
to keep two cores busy from one process, and per-grid parallelism (the joblib launcher) leaves a
core idle whenever a grid's last, longest run trains alone. Here the runs of all grids share one
queue, longest first (the classic LPT order), and a run that several grids share (se_filtered at
2,000 in diversity, quality and quantity) trains once: its other grids launch it only after it
has finished, and it is skipped there, which records the grid in its provenance.

The first job runs alone, on every core: it builds the world, the tokenizer and the base that
the rest share.
"""

from __future__ import annotations

import math
import os
import subprocess
import sys
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[3]


@dataclass(frozen=True)
class Job:
    grid: str
    overrides: tuple[str, ...]
    run_id: str
    cost: float  # optimizer steps (+1: an evaluation-only run still costs something)


def _cost(cfg: dict[str, Any]) -> float:
    """A run's size for the queue's order: its optimizer steps under its budget policy."""
    train = cfg["train"]
    epochs, n = int(train["epochs"]), int(cfg["data"]["size"] or 0)
    steps = epochs * math.ceil(n / int(train["batch_size"])) if epochs else 0
    if train.get("budget") == "steps" and train.get("max_steps"):
        steps = int(train["max_steps"])
    return steps + 1.0


def jobs_of(grids: list[tuple[str, list[dict[str, Any]]]], extra: list[str]) -> list[list[Job]]:
    """The grids' runs grouped by run id (a group's first job trains, the others then skip and
    tag it), groups in descending cost; the group holding the very first run stays first."""
    from limalab.ablations.grid import override_value
    from limalab.config.compose import compose
    from limalab.tracking.identity import run_id

    groups: dict[str, list[Job]] = {}
    for grid, runs in grids:
        for run in runs:
            overrides = tuple(f"{k}={override_value(v)}" for k, v in run.items())
            try:
                cfg = compose([*overrides, *extra])
            except Exception as e:  # a bad override: one line naming it, before anything runs
                first = str(e).strip().splitlines()[0] if str(e).strip() else type(e).__name__
                raise SystemExit(
                    f"ablations: grid {grid}: {' '.join([*overrides, *extra])}: {first}"
                ) from None
            rid = run_id(cfg)
            groups.setdefault(rid, []).append(Job(grid, overrides, rid, _cost(cfg)))
    ordered = list(groups.values())
    return ordered[:1] + sorted(ordered[1:], key=lambda g: -g[0].cost)


class _Progress:
    """One line per start and end, numbered over all jobs, safe across worker threads."""

    def __init__(self, total: int) -> None:
        self.total, self.started, self.lock = total, 0, threading.Lock()

    def start(self, job: Job) -> int:
        with self.lock:
            self.started += 1
            print(
                f"[job {self.started}/{self.total}] {job.grid}: run {job.run_id}: "
                f"{' '.join(job.overrides)}",
                flush=True,
            )
            return self.started

    def end(self, n: int, job: Job, code: int, seconds: float) -> None:
        state = "done" if code == 0 else f"FAILED (exit {code})"
        print(f"[job {n}/{self.total}] {job.grid}: run {job.run_id} {state} in {seconds:.0f} s")


def _launch(
    job: Job, extra: list[str], runs_dir: Path, threads: int, launches: Path, n: int
) -> int:
    env = {**os.environ, "OMP_NUM_THREADS": str(threads), "MKL_NUM_THREADS": str(threads)}
    cmd = [
        sys.executable,
        str(ROOT / "src" / "train.py"),
        *job.overrides,
        *extra,
        f"runs_dir={runs_dir}",
        "trainer.enable_progress_bar=false",
        f"hydra.run.dir={launches / str(n)}",  # unique: jobs may start in the same second
    ]
    return subprocess.run(cmd, env=env).returncode


def run_pool(
    groups: list[list[Job]], extra: list[str], runs_dir: Path, jobs: int
) -> list[tuple[str, int]]:
    """Run every group's jobs (in order within a group), ``jobs`` groups at a time after the
    first; the failed (grid, exit code) pairs. A group whose training job failed does not launch
    its other grids' copies (they would only retrain it)."""
    total = sum(len(g) for g in groups)
    progress = _Progress(total)
    threads = max(1, (os.cpu_count() or 1) // jobs)
    launches = runs_dir / ".launches" / f"pool-{time.strftime('%Y-%m-%d_%H-%M-%S')}"
    failed: list[tuple[str, int]] = []

    def run_group(group: list[Job], threads: int = threads) -> bool:
        for i, job in enumerate(group):
            n, t0 = progress.start(job), time.time()
            code = _launch(job, extra, runs_dir, threads, launches, n)
            progress.end(n, job, code, time.time() - t0)
            if code != 0:
                failed.extend((j.grid, code) for j in group[i:])
                return False
        return True

    print(
        f"pool: {total} jobs ({len(groups)} distinct runs), {jobs} at a time, "
        f"{threads} thread(s) each; Hydra logs under {launches}",
        flush=True,
    )
    rest = groups[1:]
    if groups:  # the first job alone, on every core: it builds what the others share
        first, *others = groups[0]
        if not run_group([first], os.cpu_count() or 1):
            failed.extend((j.grid, failed[-1][1]) for j in others)
        elif others:  # the same run's other evaluations (the base grid): queued like the rest
            rest = [others, *rest]
    with ThreadPoolExecutor(max_workers=jobs) as pool:
        list(pool.map(run_group, rest))
    return failed
