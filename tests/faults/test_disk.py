"""An unwritable or full run directory: a clear error, and no results.json claiming a run."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from ..conftest import ROOT, SMOKE

pytestmark = pytest.mark.slow


@pytest.fixture()
def tiny_fs(tmp_path: Path) -> Iterator[Path]:
    """A 64 KB tmpfs (root in a container allows it; otherwise skip)."""
    mnt = tmp_path / "mnt"
    mnt.mkdir()
    if subprocess.run(
        ["mount", "-t", "tmpfs", "-o", "size=64k", "tmpfs", str(mnt)], capture_output=True
    ).returncode:
        pytest.skip("cannot mount a tmpfs here")
    try:
        yield mnt
    finally:
        subprocess.run(["umount", "-l", str(mnt)], capture_output=True)


def train(runs_dir: Path, cache_dir: Path, cwd: Path) -> subprocess.CompletedProcess:
    env = {
        **os.environ,
        "LIMALAB_CACHE": str(cache_dir),
        "WANDB_MODE": "offline",
        "TMPDIR": str(cwd),
    }
    return subprocess.run(
        [sys.executable, str(ROOT / "src" / "train.py"), *SMOKE, f"runs_dir={runs_dir}"],
        cwd=cwd,
        env=env,
        capture_output=True,
        text=True,
        timeout=900,
    )


def test_full_disk_is_a_clear_error_and_no_results(
    tiny_fs: Path, cache_dir: Path, tmp_path: Path, smoke_world: Path
) -> None:
    proc = train(tiny_fs / "runs", cache_dir, tmp_path)
    assert proc.returncode != 0
    assert "No space left on device" in proc.stderr, proc.stderr[-3000:]
    assert not list((tiny_fs / "runs").glob("*/results.json"))


def test_read_only_runs_dir_is_a_clear_error(
    tiny_fs: Path, cache_dir: Path, tmp_path: Path, smoke_world: Path
) -> None:
    (tiny_fs / "runs").mkdir()
    assert (
        subprocess.run(["mount", "-o", "remount,ro", str(tiny_fs)], capture_output=True).returncode
        == 0
    )
    proc = train(tiny_fs / "runs", cache_dir, tmp_path)
    assert proc.returncode != 0
    assert "Read-only file system" in proc.stderr, proc.stderr[
        -2000:
    ]  # from Hydra's launch dir or ours
    assert not list((tiny_fs / "runs").glob("*/results.json"))
