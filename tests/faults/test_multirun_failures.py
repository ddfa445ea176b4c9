"""A failing job does not stop a multirun or `make ablations`: the rest finish, and the end
says what failed and why, with a non-zero exit."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from limalab.ablations import run_grids as ablations
from tests.conftest import ROOT, SMOKE, the_run

pytestmark = pytest.mark.slow


def test_multirun_finishes_the_other_jobs_and_lists_the_failure(
    smoke_run: tuple[Path, str], cache_dir: Path, tmp_path: Path
) -> None:
    src = the_run(smoke_run[0] / "runs")
    runs = tmp_path / "runs"
    shutil.copytree(src, runs / src.name)
    env = {
        "LIMALAB_CACHE": str(cache_dir),
        "WANDB_MODE": "offline",
        "TMPDIR": str(tmp_path),
        "PATH": "/usr/bin:/bin",
    }
    # job 0 asks for more examples than the pools hold (fails at once); job 1 is the finished run
    proc = subprocess.run(
        [
            sys.executable,
            str(ROOT / "src" / "train.py"),
            "-m",
            *SMOKE,
            f"runs_dir={runs}",
            "data.size=100000,60",
        ],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert proc.returncode == 2, proc.stderr[-3000:]
    assert "multirun: 1 of 2 jobs complete; failed:" in proc.stderr
    assert "job 0: data.sources.se_stem: 20000 examples requested" in proc.stderr
    assert (
        f"skipped: run {src.name}" in proc.stdout and "judge mean" in proc.stdout
    )  # job 1 ran after job 0 failed
    assert "Traceback" not in proc.stderr
    assert sorted(p.name for p in runs.iterdir() if not p.name.startswith(".")) == [
        src.name
    ]  # nothing half-made


def test_ablations_go_on_after_a_failed_grid_then_exit_non_zero(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture
) -> None:
    sweeps = tmp_path / "sweeps"
    sweeps.mkdir()
    for name in ("diversity", "quality", "quantity"):
        (sweeps / f"{name}.yaml").write_text(
            "method: grid\nparameters:\n  data.size: {values: [2000]}\n"
        )
    calls: list[list[str]] = []

    def fake_run(cmd: list[str], **kwargs: object) -> subprocess.CompletedProcess:
        calls.append(cmd)
        failing = any("train.py" in c for c in cmd) and len(calls) == 2  # the second grid fails
        return subprocess.CompletedProcess(cmd, 3 if failing else 0)

    monkeypatch.setattr(ablations.subprocess, "run", fake_run)
    with pytest.raises(
        SystemExit, match=r"1 of 3 grids had runs that did not complete \(quality \(exit 3\)\)"
    ):
        ablations.main(
            [
                "--sweeps",
                str(sweeps),
                "--runs-dir",
                str(tmp_path / "runs"),
                "--report",
                str(tmp_path / "r"),
            ]
        )
    assert [Path(c[1]).name if "train.py" in c[1] else c[2] for c in calls] == [
        "train.py",
        "train.py",
        "train.py",
        "analysis.report",
    ]  # every grid ran, then the report
