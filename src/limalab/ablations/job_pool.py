"""The local launcher of ``make ablations --jobs N``: every run of every grid as its own
``src/train.py`` process, N at a time, the cores split between them.

Why not one Hydra multirun per grid: the regime's step (batch 8 of short examples) is too small
to keep two cores busy from one process, and per-grid parallelism (the joblib launcher) leaves a
core idle whenever a grid's last, longest run trains alone. Here the runs of all grids share one
queue, longest first (the classic LPT order), and a run that several grids share (se_filtered at
2,000 in diversity, quality and quantity) trains once: its other grids launch it only after it
has finished, and it is skipped there, which records the grid in its provenance.

The first job runs alone, on every core, when it has something to build: the world and the
base that the rest share (a base pretrains much faster on every core than on one while the
others wait for it). When both are already in the cache, it queues with the rest.
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

from limalab.tracking.io import atomic_write_json

ROOT = Path(__file__).resolve().parents[3]
# the pool's line when the first job does not run alone (bench/ablations_budget.py replay reads it)
QUEUED_ALL = "the world and base are cached: the first job queues with the rest"
JOBS_RECORD = "jobs.json"  # each finished job's measured seconds, in the pool's launch directory


@dataclass(frozen=True)
class Job:
    grid: str
    overrides: tuple[str, ...]
    run_id: str
    cost: float  # optimizer steps (+1: an evaluation-only run still costs something)
    builds: bool = True  # its world or base is not in the cache yet (``_builds_shared``)


def _cost(cfg: dict[str, Any]) -> float:
    """A run's size for the queue's order: its optimizer steps under its budget policy."""
    train = cfg["train"]
    epochs, n = int(train["epochs"]), int(cfg["data"]["size"] or 0)
    steps = epochs * math.ceil(n / int(train["batch_size"])) if epochs else 0
    if train.get("budget") == "steps" and train.get("max_steps"):
        steps = int(train["max_steps"])
    return steps + 1.0


def _builds_shared(cfg: dict[str, Any]) -> bool:
    """Whether a run would build the world or the base (or the base it is derived from) that
    other runs share: their cache entries have no record yet. Only the record's presence is
    checked, not its hashes: this decides scheduling alone, and every run verifies its entries
    when it uses them (a damaged one is rebuilt there, under the entry's lock)."""
    from limalab.tracking.cache import RECORD
    from limalab.world.build import WorldConfig
    from limalab.world.pretrain import base_dir

    cache = Path(cfg["cache_dir"])
    world = cache / "worlds" / WorldConfig(**cfg["world"]).hash()
    entries = [world]
    model: dict[str, Any] | None = cfg["model"]
    while model and model.get("source") == "miniature" and model.get("init") == "pretrained":
        entries.append(base_dir(model, world, cache))
        model = model.get("reference")
    return not all((e / RECORD).exists() for e in entries)


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
            job = Job(grid, overrides, rid, _cost(cfg), _builds_shared(cfg))
            groups.setdefault(rid, []).append(job)
    ordered = list(groups.values())
    return ordered[:1] + sorted(ordered[1:], key=lambda g: -g[0].cost)


class _Progress:
    """One line per start and end, numbered over all jobs, safe across worker threads; every
    finished job's measured seconds also go to each of ``records`` (JSON, rewritten after each
    job: what ``bench/ablations_budget.py replay`` reads, and what a recorded report keeps)."""

    def __init__(self, total: int, records: list[Path], first_alone: bool) -> None:
        self.total, self.started, self.lock = total, 0, threading.Lock()
        self.records, self.t0 = records, time.time()
        self.summary: dict[str, Any] = {"first_alone": first_alone, "jobs": []}
        self._write()  # an unwritable record fails here, before any job runs, not after one

    def _write(self) -> None:
        for path in self.records:
            try:
                atomic_write_json(path, self.summary)
            except OSError as e:
                raise SystemExit(f"ablations: cannot write the pool's record {path}: {e}") from None

    def start(self, job: Job) -> int:
        with self.lock:
            self.started += 1
            print(
                f"[job {self.started}/{self.total}] {job.grid}: run {job.run_id}: "
                f"{' '.join(job.overrides)}",
                flush=True,
            )
            return self.started

    def end(self, n: int, job: Job, code: int, seconds: float, threads: int) -> None:
        state = "done" if code == 0 else f"FAILED (exit {code})"
        print(f"[job {n}/{self.total}] {job.grid}: run {job.run_id} {state} in {seconds:.0f} s")
        with self.lock:
            self.summary["jobs"].append(
                {
                    "n": n,
                    "grid": job.grid,
                    "run": job.run_id,
                    "overrides": list(job.overrides),
                    "threads": threads,
                    "start_s": round(time.time() - seconds - self.t0, 1),
                    "s": round(seconds, 1),
                    "exit": code,
                }
            )
            self.summary["jobs"].sort(key=lambda j: j["n"])
            self.summary["wall_s"] = round(time.time() - self.t0, 1)
            self._write()


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
    groups: list[list[Job]], extra: list[str], runs_dir: Path, jobs: int, record: Path | None = None
) -> list[tuple[str, int]]:
    """Run every group's jobs (in order within a group), ``jobs`` groups at a time after the
    first; the failed (grid, exit code) pairs. A group whose training job failed does not launch
    its other grids' copies (they would only retrain it). Each finished job's seconds go to the
    launch directory's ``jobs.json`` and to ``record``, if given."""
    total = sum(len(g) for g in groups)
    threads = max(1, (os.cpu_count() or 1) // jobs)
    launches = runs_dir / ".launches" / f"pool-{time.strftime('%Y-%m-%d_%H-%M-%S')}"
    first_alone = bool(groups) and groups[0][0].builds
    records = [launches / JOBS_RECORD, *([record] if record else [])]
    progress = _Progress(total, records, first_alone)
    failed: list[tuple[str, int]] = []

    def run_group(group: list[Job], threads: int = threads) -> bool:
        for i, job in enumerate(group):
            n, t0 = progress.start(job), time.time()
            code = _launch(job, extra, runs_dir, threads, launches, n)
            progress.end(n, job, code, time.time() - t0, threads)
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
    if groups and not first_alone:  # what the others share is built: one queue for all
        print(f"pool: {QUEUED_ALL}", flush=True)
        rest = groups
    elif groups:  # the first job alone, on every core: it builds what the others share
        first, *others = groups[0]
        if not run_group([first], os.cpu_count() or 1):
            failed.extend((j.grid, failed[-1][1]) for j in others)
        elif others:  # the same run's other evaluations (the base grid): queued like the rest
            rest = [others, *rest]
    with ThreadPoolExecutor(max_workers=jobs) as pool:
        list(pool.map(run_group, rest))
    return failed
