"""An ablation arm added from the test tree only, as a user adds one: its data config in their own
config directory (``tests/conf/data/se_wikihow.yaml``, put on Hydra's search path by an
override) and its name on the data line of a sweep file. ``make ablations``' runner trains it
with the rest of the grid and the report draws it in Figure 5, with no edit to limalab or
analysis (the report reads which arms a figure draws from the sweep files)."""

from __future__ import annotations

import csv
import json
from pathlib import Path

import pytest

from tests.conftest import ROOT, run_cli

pytestmark = pytest.mark.slow

ARM = "se_wikihow"  # tests/conf/data/se_wikihow.yaml
DATA_LINE = "  data: {values: [se_filtered, wikihow]}\n"


def sweeps_with_the_arm(tmp_path: Path) -> Path:
    """A copy of the diversity grid whose data line also names the new arm."""
    grid = (ROOT / "sweeps" / "diversity.yaml").read_text()
    assert DATA_LINE in grid, "sweeps/diversity.yaml's data line changed: update this test"
    sweeps = tmp_path / "sweeps"
    sweeps.mkdir()
    (sweeps / "diversity.yaml").write_text(
        grid.replace(DATA_LINE, f"  data: {{values: [se_filtered, wikihow, {ARM}]}}\n")
    )
    return sweeps


def test_an_arm_from_the_test_tree_reaches_the_report(cache_dir: Path, tmp_path: Path) -> None:
    runs, report = tmp_path / "runs", tmp_path / "report"
    proc = run_cli(
        [
            "-m",
            "limalab.ablations.run_grids",
            "--smoke",
            "--jobs",  # the local pool (limalab.ablations.job_pool) end to end: real processes
            "2",
            "--sweeps",
            str(sweeps_with_the_arm(tmp_path)),
            "--runs-dir",
            str(runs),
            "--report",
            str(report),
            f"hydra.searchpath=[file://{ROOT / 'tests' / 'conf'}]",
        ],
        cache_dir,
        tmp_path,
        timeout=1500,
    )
    assert "ablations: 1 grids, 3 runs" in proc.stdout

    # the arm trained on its own mix: both Stack Exchange halves and wikiHow
    manifests = [json.loads(p.read_text()) for p in runs.glob("*/manifest.json")]
    ours = [m for m in manifests if m["data"] == ARM]
    assert len(manifests) == 3 and len(ours) == 1
    assert set(ours[0]["source_counts"]) == {"se_stem", "se_other", "wikihow"}

    # ...and the report draws it beside the paper's two, with its run and a valid score
    with (report / "fig5.csv").open() as f:
        fig5 = {r["arm"]: r for r in csv.DictReader(f)}
    assert list(fig5) == ["se_filtered", "wikihow", ARM]
    assert fig5[ARM]["n_runs"] == "1" and 1 <= float(fig5[ARM]["mean"]) <= 6
    md = (report / "report.md").read_text()
    row = next(line for line in md.splitlines() if line.startswith(f"| {ARM} | 1 | "))
    assert f"{float(fig5[ARM]['mean']):.2f}" in row
