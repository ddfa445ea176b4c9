"""Hydra as its users know it: the launch directory and the run directory point at each other
(the run id in the job's log and a ``run`` link; the launch dir and the overrides in
provenance.json), and tab completion imports nothing heavy."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path

import pytest

from tests.conftest import ROOT, SMOKE, the_run

HEAVY = (
    "torch",
    "pytorch_lightning",
    "lightning",
    "transformers",
    "wandb",
    "datasets",
    "limalab.pipeline",
)


def complete(line: str) -> tuple[str, list[str], float]:
    """Hydra's bash completion of ``line`` (what a key press runs): its answer, the modules it
    imported, its wall time."""
    env = {
        **os.environ,
        "COMP_LINE": f"python src/train.py {line}",
        "COMP_POINT": str(len(line) + 20),
    }
    t0 = time.perf_counter()
    proc = subprocess.run(
        [sys.executable, "-X", "importtime", str(ROOT / "src" / "train.py"), "-sc", "query=bash"],
        capture_output=True,
        text=True,
        env=env,
        cwd=ROOT,
        timeout=120,
    )
    wall = time.perf_counter() - t0
    assert proc.returncode == 0, proc.stderr[-2000:]
    mods = [
        ln.split("|")[-1].strip()
        for ln in proc.stderr.splitlines()
        if ln.startswith("import time:")
    ]
    return proc.stdout, mods, wall


@pytest.mark.parametrize("line", ["data=", "data.s", "train.sel", ""])
def test_tab_completion_imports_nothing_heavy(line: str) -> None:
    answer, mods, wall = complete(line)
    assert answer.strip() and mods
    heavy = [m for m in mods if m.split(".")[0] in HEAVY or m.startswith(HEAVY)]
    assert not heavy, f"completing {line!r} imported {heavy[:5]} ({wall:.2f} s)"


@pytest.mark.slow
def test_launch_and_run_directories_point_at_each_other(smoke_run: tuple[Path, str]) -> None:
    work, _ = smoke_run
    rd = the_run(work / "runs")
    prov = json.loads((rd / "provenance.json").read_text())
    launch = Path(prov["launch"]["dir"])
    assert launch.parent == work / "runs" / ".launches" and prov["launch"]["multirun"] is None
    assert prov["launch"]["overrides"] == [*SMOKE, f"runs_dir={work / 'runs'}"]
    assert prov["launches"][0]["dir"] == str(launch)
    assert (launch / "run").resolve() == rd.resolve()  # the job directory's link to its run
    assert f"run {rd.name}: run directory {rd.resolve()}" in (launch / "train.log").read_text()
    assert (launch / ".hydra" / "overrides.yaml").exists()
