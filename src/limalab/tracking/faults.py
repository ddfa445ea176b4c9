"""Seeded fault injection for the fault-tolerance tests: ``LIMALAB_KILL_AT=<point>:<n>`` makes
the process SIGKILL itself the n-th time it reaches ``point`` (``train_step``, ``generate_batch``,
``judge_row``...), once per marker file ``LIMALAB_KILL_MARKER`` — so the rerun gets past it.
Points are counted, not timed, so a test kills at the same place on every machine."""

from __future__ import annotations

import os
import signal
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
