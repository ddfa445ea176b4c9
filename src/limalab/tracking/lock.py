"""One launcher per run directory at a time: an advisory ``flock`` on
``<runs_dir>/.locks/<run_id>.lock`` (beside the run, so a run that fails before it writes
anything leaves no directory behind).

The kernel drops the lock when its holder dies, so a killed run never leaves a stale lock; a
second launcher waits for the first and then finds the run complete (and skips it)."""

from __future__ import annotations

import fcntl
import logging
import os
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

log = logging.getLogger(__name__)


@contextmanager
def run_lock(run_dir: Path, wait: bool = True) -> Iterator[None]:
    path = run_dir.parent / ".locks" / f"{run_dir.name}.lock"
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("a+") as f:
        try:
            fcntl.flock(f, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            f.seek(0)
            holder = f.read().strip() or "another process"
            if not wait:
                raise RuntimeError(f"{run_dir}: being trained by {holder}") from None
            print(f"waiting: run {run_dir.name} is being trained by {holder}", flush=True)
            fcntl.flock(f, fcntl.LOCK_EX)
        f.seek(0)
        f.truncate()
        f.write(f"pid {os.getpid()} on {os.uname().nodename}\n")
        f.flush()
        try:
            yield
        finally:
            fcntl.flock(f, fcntl.LOCK_UN)
