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

_seen: Counter[tuple[str, str]] = Counter()
STALL_SIGNALS = (signal.SIGTERM, signal.SIGUSR1, signal.SIGUSR2)


def _due(spec_var: str, point: str) -> bool:
    """``$spec_var=<point>:<n>``: whether this call reaches ``point`` for the n-th time."""
    spec = os.environ.get(spec_var)
    if not spec:
        return False
    name, _, n = spec.rpartition(":")
    if name != point:
        return False
    _seen[spec_var, point] += 1
    return _seen[spec_var, point] == int(n)


def _marker(marker_var: str, default: str) -> Path:
    """The fault's marker file: once it exists the fault is spent (so a rerun gets past it);
    one per data-parallel rank, so every rank meets the fault at the same step."""
    marker = Path(os.environ.get(marker_var, default))
    if rank := worker_rank():
        marker = marker.with_name(f"{marker.name}.rank{rank}")
    return marker


def kill_point(point: str) -> None:
    marker = _marker("LIMALAB_KILL_MARKER", ".limalab-killed")
    if _due("LIMALAB_KILL_AT", point) and not marker.exists():
        marker.write_text(
            f"{point}:{os.environ['LIMALAB_KILL_AT'].rpartition(':')[2]} pid {os.getpid()}\n"
        )
        os.kill(os.getpid(), signal.SIGKILL)


def stall_point(point: str) -> None:
    """``LIMALAB_STALL_AT=<point>:<n>``: the n-th time ``point`` is reached, wait there until the
    process is signalled (SIGTERM, SIGUSR1/2: a preemption, a time limit) or
    ``LIMALAB_STALL_S`` seconds pass, once per marker ``LIMALAB_STALL_MARKER`` (written when the
    wait starts). A step that lasts until the scheduler interrupts it, at the same place on every
    machine; the signal then goes on to the process's own handlers."""
    marker = _marker("LIMALAB_STALL_MARKER", ".limalab-stalled")
    if not _due("LIMALAB_STALL_AT", point) or marker.exists():
        return
    got: list[int] = []
    handlers = {
        s: signal.signal(s, lambda signum, frame: got.append(signum)) for s in STALL_SIGNALS
    }
    try:
        marker.write_text(
            f"{os.environ['LIMALAB_STALL_AT']} pid {os.getpid()} job "
            f"{os.environ.get('SLURM_JOB_ID', '-')}\n"
        )
        deadline = time.monotonic() + float(os.environ.get("LIMALAB_STALL_S", 600))
        while not got and time.monotonic() < deadline:
            time.sleep(0.2)
    finally:
        for s, h in handlers.items():
            signal.signal(s, h)
    for signum in got:
        signal.raise_signal(signum)
