"""The per-run lock: a second holder waits (or is refused), and a killed holder frees it."""

from __future__ import annotations

import subprocess
import sys
import time
from pathlib import Path

import pytest

from limalab.tracking.lock import run_lock

HOLD = """
import sys, time
from pathlib import Path
from limalab.tracking.lock import run_lock
with run_lock(Path(sys.argv[1])):
    print("held", flush=True)
    time.sleep(60)
"""


def test_lock_refuses_a_second_launcher_and_frees_on_kill(tmp_path: Path) -> None:
    holder = subprocess.Popen(
        [sys.executable, "-c", HOLD, str(tmp_path / "run")], stdout=subprocess.PIPE, text=True
    )
    try:
        assert holder.stdout.readline().strip() == "held"
        with (
            pytest.raises(RuntimeError, match=rf"being trained by pid {holder.pid}"),
            run_lock(tmp_path / "run", wait=False),
        ):
            pass
    finally:
        holder.kill()  # SIGKILL: no cleanup runs, the kernel drops the lock
        holder.wait()
    t0 = time.time()
    with run_lock(tmp_path / "run", wait=False):
        assert time.time() - t0 < 5
