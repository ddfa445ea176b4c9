"""Progress that shows in files: when stdout is not a terminal (a cluster job's log, ``make
ablations`` piped to a file), a progress bar prints only its last frame, so long phases
(pretraining, training, generation, judging) print one line at a time instead:

    [train] step 40/120 (33%) | loss 2.412 | 3,105 tokens/s | elapsed 14s | ETA 28s

The caller decides when to call ``line``: at its metric-logging interval, with values already
on the host, so progress adds no device synchronisation of its own. ``LIMALAB_PROGRESS``:
``lines`` always, ``off`` never, unset: lines when stdout is not a TTY."""

from __future__ import annotations

import os
import sys
import time
from typing import Any


def lines_wanted() -> bool:
    mode = os.environ.get("LIMALAB_PROGRESS", "auto")
    if mode in ("lines", "off"):
        return mode == "lines"
    isatty = getattr(sys.stdout, "isatty", None)
    return not (isatty and isatty())


def duration(seconds: float) -> str:
    s = int(max(0, seconds))
    return (
        f"{s // 3600}h{s % 3600 // 60:02d}m"
        if s >= 3600
        else f"{s // 60}m{s % 60:02d}s"
        if s >= 60
        else f"{s}s"
    )


class ProgressLine:
    """Lines for one phase: ``what`` (``train``), the unit of ``done`` (``step``) and its total."""

    def __init__(
        self, what: str, total: int | None, unit: str = "step", enabled: bool | None = None
    ) -> None:
        self.what, self.total, self.unit = what, total, unit
        self.enabled = lines_wanted() if enabled is None else enabled
        self.t0, self.done0 = time.perf_counter(), 0

    def start(self, done: int = 0) -> None:
        """(Re)start the clock, e.g. at a resumed step: the rate counts only this process's work."""
        self.t0, self.done0 = time.perf_counter(), done

    def line(self, done: int, rate: tuple[float, str] | None = None, **fields: Any) -> str | None:
        """Print (and return) one line: ``done`` of the total, the fields, ``rate`` (a value and
        its unit, e.g. tokens/s; else ``unit``/s from ``done``), elapsed time and ETA."""
        if not self.enabled:
            return None
        elapsed = time.perf_counter() - self.t0
        per_s = (done - self.done0) / elapsed if elapsed > 0 else 0.0
        parts = [
            f"[{self.what}] {self.unit} {done}"
            + (f"/{self.total} ({100 * done / self.total:.0f}%)" if self.total else "")
        ]
        parts += [f"{k} {v:.3f}" if isinstance(v, float) else f"{k} {v}" for k, v in fields.items()]
        value, unit = rate if rate is not None else (per_s, f"{self.unit}s")
        parts.append(f"{value:,.0f} {unit}/s" if value >= 10 else f"{value:.2f} {unit}/s")
        parts.append(f"elapsed {duration(elapsed)}")
        if self.total and per_s > 0:
            parts.append(f"ETA {duration((self.total - done) / per_s)}")
        text = " | ".join(parts)
        print(text, flush=True)
        return text
