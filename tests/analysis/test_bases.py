"""Bases are never pooled as seeds: a report of a runs directory holding two bases asks which one
(analysis.report --base), the label names the model and its pretraining seed, and
analysis.bases puts one report per base side by side."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from analysis import bases, report
from analysis.report import one_base
from analysis.summarize import base_label
from limalab.tracking.identity import base_recipe_id
from tests.analysis.test_redraw import write_run


def test_the_base_label_names_the_model_and_its_pretraining_seed() -> None:
    assert base_label({"name": "tiny_llama", "pretrain": {"seed": 0}}) == "tiny_llama seed 0"
    assert base_label({"name": "tiny_large", "source": "miniature", "pretrain": {"seed": 1}}) == (
        "tiny_large seed 1"
    )
    assert base_label({"name": "llama_7b", "source": "checkpoint"}) == "llama_7b"


def test_a_report_over_two_bases_must_be_told_which(tmp_path: Path) -> None:
    rows = [{"base": "tiny_large seed 0", "seed": s} for s in range(3)]
    rows += [{"base": "tiny_large seed 1", "seed": s} for s in range(3)]
    with pytest.raises(SystemExit, match="2 bases .*--base"):
        one_base(rows, None, tmp_path)
    assert [r["seed"] for r in one_base(rows, "tiny_large seed 1", tmp_path)] == [0, 1, 2]
    with pytest.raises(SystemExit, match="no complete runs of it"):
        one_base(rows, "tiny_llama seed 0", tmp_path)
    assert one_base(rows[:3], None, tmp_path) == rows[:3]


def _finding(name: str, effect: float, verdict: str, paper: float | None = 0.34) -> dict:
    return {
        "finding": name,
        "paper_effect": paper,
        "effect": effect,
        "ci": [effect - 0.1, effect + 0.1],
        "p": 0.01,
        "mde": 0.2,
        "verdict": verdict,
    }


def _report(
    path: Path,
    base: str,
    findings: list[dict],
    recipe: str | None = None,
    build: str | None = None,
    recipe_fields: dict | None = None,
) -> Path:
    path.mkdir(parents=True)
    summary = (
        {"base": base, "findings": findings}
        | ({"base_recipe": recipe} if recipe else {})
        | ({"base_build": build} if build else {})
        | ({"base_recipe_fields": json.dumps(recipe_fields)} if recipe_fields else {})
    )
    (path / "summary.json").write_text(json.dumps(summary))
    return path


def test_the_findings_side_by_side_with_saturation(tmp_path: Path) -> None:
    small = _report(
        tmp_path / "small",
        "tiny_llama seed 0",
        [_finding("Fig. 5 diversity", 0.05, "not detectable with this grid")],
    )
    large = _report(
        tmp_path / "large",
        "tiny_large seed 0",
        [
            _finding("Fig. 5 diversity", 0.4, "reproduced")
            | {"test": "paired t over prompts", "n": 128},
            _finding("Long Is More", -0.2, "opposite", None),
        ],
    )
    sat = tmp_path / "sat"
    sat.mkdir()
    (sat / "saturation.json").write_text(
        json.dumps(
            {
                "rule": {},
                "bases": {
                    "tiny_llama seed 0": {
                        "saturated": False,
                        "n": None,
                        "steps": None,
                        "reason": "not saturated: the curve still moves at the top",
                    },
                    "tiny_large seed 0": {
                        "saturated": True,
                        "n": 1000,
                        "steps": 240,
                        "reason": "saturated from n = 1,000",
                    },
                },
            }
        )
    )
    bases.main([str(small), str(large), "--saturation", str(sat), "--out", str(tmp_path / "o")])
    md = (tmp_path / "o" / "bases.md").read_text()
    assert "| finding | paper | tiny_llama seed 0 | tiny_large seed 0 |" in md
    row = next(line for line in md.splitlines() if line.startswith("| Fig. 5 diversity"))
    assert "+0.34" in row and "**not detectable with this grid**" in row
    assert "+0.400 (+0.300 to +0.500)" in row and "**reproduced**" in row
    assert "detectable 0.200 (paired t over prompts, n 128)" in row  # what the p counted
    lim = next(line for line in md.splitlines() if line.startswith("| Long Is More"))
    assert "| — |" in lim and "not in this grid" in lim  # the small base's grid did not test it
    assert "| tiny_large seed 0 | 1,000 examples | 240 |" in md
    assert "| tiny_llama seed 0 | not saturated | — |" in md


def test_two_reports_of_one_base_or_an_old_summary_are_refused(tmp_path: Path) -> None:
    a = _report(tmp_path / "a", "tiny_llama seed 0", [])
    b = _report(tmp_path / "b", "tiny_llama seed 0", [])
    with pytest.raises(SystemExit, match="same base"):
        bases.main([str(a), str(b), "--out", str(tmp_path / "o")])
    c = _report(tmp_path / "c", "tiny_llama seed 0", [], recipe="1234abcd")
    with pytest.raises(SystemExit, match="same base"):  # the same recipe twice
        bases.main(
            [
                str(c),
                str(_report(tmp_path / "d", "tiny_llama seed 0", [], "1234abcd")),
                "--out",
                str(tmp_path / "o"),
            ]
        )
    old = tmp_path / "old"
    old.mkdir()
    (old / "summary.json").write_text(json.dumps({"findings": []}))
    with pytest.raises(SystemExit, match="older analysis.report"):
        bases.main([str(old), "--out", str(tmp_path / "o")])


def test_saturation_per_metric_and_on_the_shared_sizes(tmp_path: Path) -> None:
    from analysis.saturation import analyse

    sizes = [250 * 2**k for k in range(6)]
    pts = [
        {"n": n, "steps": 15 * -(-n // 64), "eot_rate": 1.0, "format": 0.9, "judge_mean": j}
        for n, j in zip(sizes, [2.0, 3.05, 3.1, 3.15, 2.0, 1.4], strict=True)
    ]
    results = analyse(
        {"tiny_llama seed 0": pts, "tiny_large seed 0": pts[:4]},
        {"tolerance": {"eot_rate": 0.05, "format": 0.05, "judge_mean": 0.1}, "plateau_points": 2},
    )
    sat = tmp_path / "sat"
    sat.mkdir()
    (sat / "saturation.json").write_text(json.dumps({"rule": {}, "bases": results}))
    small = _report(tmp_path / "s", "tiny_llama seed 0", [_finding("Fig. 5", 0.1, "reproduced")])
    bases.main([str(small), "--saturation", str(sat), "--out", str(tmp_path / "o")])
    md = (tmp_path / "o" / "bases.md").read_text()
    assert "| base | saturates at | optimizer steps | eot_rate | format | judge_mean | why |" in md
    row = next(line for line in md.splitlines() if line.startswith("| tiny_llama seed 0 |"))
    assert "| not saturated |" in row and "at or below n = 250 (60 steps)" in row
    assert "- tiny_llama seed 0 on n = 250 to 2,000 (the sizes every base has): from n = 500" in md


def test_one_base_label_under_two_recipes_is_two_columns(tmp_path: Path) -> None:
    f = [_finding("Fig. 5 quality", 0.5, "reproduced")]
    one = _report(tmp_path / "r1", "tiny_large seed 0", f)  # written before base_recipe existed
    two = _report(tmp_path / "r2", "tiny_large seed 0", f, recipe="5e6f7a8b")
    bases.main([str(one), str(two), "--out", str(tmp_path / "o")])
    md = (tmp_path / "o" / "bases.md").read_text()
    cols = "tiny_large seed 0, recipe unrecorded | tiny_large seed 0, recipe 5e6f7a8b"
    assert f"| finding | paper | {cols} |" in md
    assert "differ in" not in md  # the older report does not say its recipe: no legend


def test_the_recipes_of_one_label_say_what_they_differ_in(tmp_path: Path) -> None:
    f = [_finding("Fig. 5 quality", 0.5, "reproduced")]
    groups = {"arch.hidden_size": 384, "pretrain.lr": 0.001, "pretrain.seed": 0}
    full = {**groups, "pretrain.init_width_mult": 2.0}
    one = _report(tmp_path / "r1", "tiny_large seed 0", f, "1a2b3c4d", recipe_fields=groups)
    two = _report(tmp_path / "r2", "tiny_large seed 0", f, "5e6f7a8b", recipe_fields=full)
    bases.main([str(one), str(two), "--out", str(tmp_path / "o")])
    md = (tmp_path / "o" / "bases.md").read_text()
    assert (
        "- `tiny_large seed 0`: recipe 1a2b3c4d: pretrain.init_width_mult unset; "
        "5e6f7a8b: pretrain.init_width_mult 2.0"
    ) in md


def test_one_recipe_built_on_two_machines_is_two_columns(tmp_path: Path) -> None:
    """A CPU base's weights depend on the kernels and threads it was built with: one recipe
    built on two machines is two bases, not the same base twice."""
    f = [_finding("Fig. 5 quality", 0.5, "reproduced")]
    a, b = "built AVX512, 1 thread, torch 2.13.0", "built AVX2, 2 threads, torch 2.13.0"
    one = _report(tmp_path / "r1", "tiny_large seed 0", f, recipe="5e6f7a8b", build=a)
    two = _report(tmp_path / "r2", "tiny_large seed 0", f, recipe="5e6f7a8b", build=b)
    bases.main([str(one), str(two), "--out", str(tmp_path / "o")])
    md = (tmp_path / "o" / "bases.md").read_text()
    assert f"| finding | paper | tiny_large seed 0, {a} | tiny_large seed 0, {b} |" in md
    three = _report(tmp_path / "r3", "tiny_large seed 0", f, recipe="5e6f7a8b", build=a)
    with pytest.raises(SystemExit, match="two reports of the same base"):
        bases.main([str(one), str(three), "--out", str(tmp_path / "o2")])


def test_two_recipes_of_one_label_from_their_runs_to_the_side_by_side(tmp_path: Path) -> None:
    """End to end: runs of tiny_large seed 0 under two recipes -> one analysis.report per recipe
    -> analysis.bases gives each its column and says what the recipes differ in (the reports
    record the recipe they were made from, not only the label)."""
    runs = tmp_path / "runs"
    models = [
        {"name": "tiny_large", "init": "pretrained", "pretrain": {"seed": 0, "epochs": e}}
        for e in (13, 26)
    ]
    for m, model in enumerate(models):
        for i, (n, seed) in enumerate([(250, 0), (250, 1), (500, 0), (500, 1)]):
            write_run(runs, f"m{m}r{i}", n, seed, 3.0 + 0.2 * i, model)
    outs = []
    for m, model in enumerate(models):
        label = f"tiny_large seed 0, recipe {base_recipe_id(model)}"
        outs.append(tmp_path / f"report{m}")
        report.main([str(runs), "--out", str(outs[-1]), "--scale", "1/8", "--base", label])
    bases.main([*map(str, outs), "--out", str(tmp_path / "o")])
    md = (tmp_path / "o" / "bases.md").read_text()
    a, b = (base_recipe_id(m) for m in models)
    assert f"| tiny_large seed 0, recipe {a} | tiny_large seed 0, recipe {b} |" in md
    assert f"recipe {a}: pretrain.epochs 13; {b}: pretrain.epochs 26" in md or (
        f"recipe {b}: pretrain.epochs 26; {a}: pretrain.epochs 13" in md
    )
