"""Seeded fault injection for the fault-tolerance tests: ``LIMALAB_KILL_AT=<point>:<n>`` makes
the process SIGKILL itself the n-th time it reaches ``point`` (``train_step``, ``generate_batch``,
``judge_row``...), once per marker file ``LIMALAB_KILL_MARKER`` — so the rerun gets past it;
``LIMALAB_STALL_AT=<point>:<n>`` holds it there until a scheduler's signal arrives (the SLURM
tests). Points are counted, not timed, so a test interrupts at the same place on every machine."""

from __future__ import annotations

import os
import signal
import time
from collections import Counter
from pathlib import Path

from limalab.ranks import worker_rank

_seen: Counter[str] = Counter()


def kill_point(point: str) -> None:
    spec = os.environ.get("LIMALAB_KILL_AT")
    if not spec:
        return
    name, _, n = spec.rpartition(":")
    if name != point:
        return
    _seen[point] += 1
    marker = Path(os.environ.get("LIMALAB_KILL_MARKER", ".limalab-killed"))
    if rank := worker_rank():  # every data-parallel rank dies at the same step
        marker = marker.with_name(f"{marker.name}.rank{rank}")
    if _seen[point] == int(n) and not marker.exists():
        marker.write_text(f"{point}:{n} pid {os.getpid()}\n")
        os.kill(os.getpid(), signal.SIGKILL)


STALL_SIGNALS = (signal.SIGTERM, signal.SIGUSR1, signal.SIGUSR2)


def stall_point(point: str) -> None:
    """``LIMALAB_STALL_AT=<point>:<n>``: the n-th time ``point`` is reached, wait there until the
    process is signalled (SIGTERM, SIGUSR1/2: a preemption, a time limit) or
    ``LIMALAB_STALL_S`` seconds pass, once per marker ``LIMALAB_STALL_MARKER`` (written when the
    wait starts). A step that lasts until the scheduler interrupts it, at the same place on every
    machine; the signal then goes on to the process's own handlers."""
    spec = os.environ.get("LIMALAB_STALL_AT")
    if not spec:
        return
    name, _, n = spec.rpartition(":")
    if name != point:
        return
    _seen[f"stall:{point}"] += 1
    marker = Path(os.environ.get("LIMALAB_STALL_MARKER", ".limalab-stalled"))
    if rank := worker_rank():
        marker = marker.with_name(f"{marker.name}.rank{rank}")
    if _seen[f"stall:{point}"] != int(n) or marker.exists():
        return
    got: list[int] = []
    handlers = {s: signal.signal(s, lambda signum, frame: got.append(signum)) for s in STALL_SIGNALS}
    try:
        marker.write_text(f"{point}:{n} pid {os.getpid()} job {os.environ.get('SLURM_JOB_ID', '-')}\n")
        deadline = time.monotonic() + float(os.environ.get("LIMALAB_STALL_S", 600))
        while not got and time.monotonic() < deadline:
            time.sleep(0.2)
    finally:
        for s, h in handlers.items():
            signal.signal(s, h)
    for signum in got:
        signal.raise_signal(signum)
