"""Bad configs: one line on stderr naming the key and what was expected, no traceback, no run."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from ..conftest import ROOT, SMOKE

pytestmark = pytest.mark.slow
CASES = [
    (["data.sources.se_stem.reader=nope"], "data.sources.se_stem.reader: unknown reader 'nope'"),
    (["data.size=0"], "data.size: expected a value >= 1, got 0"),
    (["data.size=-3"], "data.size: expected a value >= 1, got -3"),
    (["data.size=abc"], "data.size: expected an integer, got 'abc'"),
    (["data.size=10000000"], "requested but the pool holds"),
    (
        ["data.sources.authors.count=1.5"],
        "data.sources.authors.count: expected an integer, got 1.5",
    ),
    (
        ["data.sources.wikihow.path=/nonexistent/wikihowAll.csv"],
        "data.sources.wikihow.path: /nonexistent/wikihowAll.csv does not exist",
    ),
    (
        ["data.on_bad_record=ignore"],
        "data.on_bad_record: expected one of 'error' or 'skip', got 'ignore'",
    ),
    (["judge.name=nope"], "judge.name: unknown judge 'nope'"),
    (["model.init=weird"], "model.init: expected one of 'pretrained' or 'random', got 'weird'"),
    (["train.budget=flops"], "train.budget: expected one of"),
    (["train.budget=steps"], "train.max_steps: a positive integer is needed"),
]


@pytest.mark.parametrize(
    ("overrides", "message"),
    CASES,
    ids=[c[0][0].split("=")[0] + "=" + c[0][0].split("=")[1][:8] for c in CASES],
)
def test_bad_config_is_one_clear_line(
    overrides: list[str], message: str, cache_dir: Path, tmp_path: Path, smoke_world: Path
) -> None:
    env = {
        **os.environ,
        "LIMALAB_CACHE": str(cache_dir),
        "WANDB_MODE": "offline",
        "TMPDIR": str(tmp_path),
    }
    proc = subprocess.run(
        [
            sys.executable,
            str(ROOT / "src" / "train.py"),
            *SMOKE,
            *overrides,
            f"runs_dir={tmp_path / 'runs'}",
        ],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert proc.returncode != 0
    last = proc.stderr.strip().splitlines()[-1]
    assert last.startswith("error: ") and message in last, proc.stderr[-2000:]
    assert "Traceback" not in proc.stderr
    assert not list((tmp_path / "runs").glob("*/results.json"))


def test_unknown_config_group_option_is_hydras_one_line(tmp_path: Path) -> None:
    proc = subprocess.run(
        [sys.executable, str(ROOT / "src" / "train.py"), "judge=nope", f"runs_dir={tmp_path}"],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert proc.returncode != 0 and "Could not find 'judge/nope'" in proc.stderr
    assert "Available options" in proc.stderr and "reference" in proc.stderr
