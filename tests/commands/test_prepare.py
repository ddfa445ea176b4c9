"""`src/prepare.py`: the data stage alone, on the named ablation arms of the smoke world."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tests.conftest import ROOT, run_cli

pytestmark = pytest.mark.slow
PAPER_FILTERS = {
    "title_self_contained",
    "top_answer",
    "min_score",
    "strip_html",
    "length",
    "first_person",
    "references_other_answers",
    "prompt_title_or_description",
}


def prepared(out: str) -> Path:
    return Path(out.strip().splitlines()[-1].removeprefix("manifest and preview: "))


@pytest.mark.parametrize(
    ("arm", "sources"),
    [
        ("se_filtered", {"se_stem", "se_other"}),
        ("se_unfiltered", {"se_stem", "se_other"}),
        ("wikihow", {"wikihow"}),
    ],
)
def test_prepare_writes_manifest_and_preview_of_each_arm(
    arm: str, sources: set[str], cache_dir: Path, tmp_path: Path
) -> None:
    proc = run_cli(
        [
            str(ROOT / "src" / "prepare.py"),
            "experiment=smoke",
            f"data={arm}",
            "data.size=40",
            f"runs_dir={tmp_path / 'runs'}",
        ],
        cache_dir,
        tmp_path,
    )
    out = prepared(proc.stdout)
    manifest = json.loads((out / "manifest.json").read_text())
    assert (
        manifest["data"] == arm
        and manifest["n_examples"] == 40
        and set(manifest["source_counts"]) == sources
    )
    preview = (out / "preview.md").read_text()
    assert f"Data arm `{arm}`: 40 examples" in preview and "response length" in preview
    if arm == "se_filtered":  # each paper filter is a step with its drops counted
        stats = manifest["filter_stats"]["se_stem"]
        assert set(stats) >= PAPER_FILTERS
        # every content filter has work: each defect is built to reach the filter meant for it
        for step in (
            "title_self_contained",
            "min_score",
            "length",
            "first_person",
            "references_other_answers",
        ):
            assert stats[step] > 0, step
    if arm == "se_unfiltered":  # no vote or style selection
        assert not {"min_score", "top_answer", "length", "first_person"} & set(
            manifest["filter_stats"]["se_stem"]
        )


def test_unfiltered_pool_is_larger_than_the_filtered_one(cache_dir: Path, tmp_path: Path) -> None:
    pools = {}
    for arm in ("se_filtered", "se_unfiltered"):
        proc = run_cli(
            [
                str(ROOT / "src" / "prepare.py"),
                "experiment=smoke",
                f"data={arm}",
                "data.size=40",
                f"runs_dir={tmp_path / 'runs'}",
            ],
            cache_dir,
            tmp_path,
        )
        pools[arm] = json.loads((prepared(proc.stdout) / "manifest.json").read_text())["pool_sizes"]
    for source in ("se_stem", "se_other"):
        assert pools["se_unfiltered"][source] > pools["se_filtered"][source]
