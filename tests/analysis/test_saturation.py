"""The saturation definition (analysis/saturation.py) on synthetic curves with known answers:
monotone, noisy, a dip after an early plateau, never saturating, saturated from the smallest
size, and incomplete curves; and the curves read from run directories."""

from __future__ import annotations

import json
import math
import shutil
from pathlib import Path

import numpy as np
import pytest
import yaml

from analysis.saturation import load_curves, main, saturation
from analysis.summarize import collect, recipe_legend
from limalab.config.compose import compose

RULE = compose([])["regime"]["saturation"]
TOL, TOP = RULE["tolerance"], RULE["plateau_points"]
SIZES = [250 * 2**k for k in range(8)]  # 250 ... 32,000: Fig. 6's doublings and below


def curve(
    eot: list[float], fmt: list[float], judge: list[float], sizes: list[int] = SIZES
) -> list[dict]:
    return [
        {"n": n, "steps": 15 * math.ceil(n / 64), "eot_rate": e, "format": f, "judge_mean": j}
        for n, e, f, j in zip(sizes, eot, fmt, judge, strict=True)
    ]


def test_the_rule_is_in_the_config_before_any_run() -> None:
    assert TOP == 2 and TOL == {"eot_rate": 0.05, "format": 0.05, "judge_mean": 0.1}
    assert (
        TOL["judge_mean"] == compose([])["regime"]["verdicts"]["flat_delta"]
    )  # one margin for "flat"


def test_monotone_curve() -> None:
    eot = [0.1, 0.5, 0.9, 0.97, 0.99, 0.99, 1.0, 0.99]  # plateau 0.995: within 0.05 from 2,000
    fmt = [0.3, 0.6, 0.8, 0.9, 0.92, 0.93, 0.93, 0.94]  # plateau 0.935: from 2,000
    judge = [1.5, 2.5, 3.2, 3.6, 3.75, 3.8, 3.82, 3.8]  # plateau 3.81: 3.6 is 0.21 away, 3.75 0.06
    r = saturation(curve(eot, fmt, judge), TOL, TOP)
    assert r["saturated"] and (r["n"], r["steps"]) == (4000, 15 * 63) and not r["left_censored"]
    assert r["plateau"] == pytest.approx({"eot_rate": 0.995, "format": 0.935, "judge_mean": 3.81})
    # the last metric to settle decides: with judge settled early, format's 0.8 at 1,000 holds it
    early = saturation(curve(eot, fmt, [3.8] * 8), TOL, TOP)
    assert early["n"] == 2000


def test_noisy_curve_has_the_noise_free_answer() -> None:
    """3 runs per size, uniform noise of +-0.01 on every metric: the gaps around the answer
    (judge 0.065 inside, 0.145 outside the 0.1 tolerance) hold for any draw."""
    k = np.arange(8)
    smooth = {
        "eot_rate": 1 - 0.6 * 0.25**k,
        "format": 0.95 - 0.6 * 0.25**k,
        "judge_mean": 3.8 - 1.28 * 0.5**k,
    }
    assert saturation(curve(*smooth.values()), TOL, TOP)["n"] == 4000
    for seed in range(20):
        rng = np.random.default_rng(seed)
        points = [
            {
                "n": n,
                "steps": i,
                **{m: float(v[i] + rng.uniform(-0.01, 0.01)) for m, v in smooth.items()},
            }
            for i, n in enumerate(SIZES)
            for _ in range(3)
        ]
        r = saturation(points, TOL, TOP)
        assert r["saturated"] and r["n"] == 4000, (seed, r["reason"])
        assert [p["runs"] for p in r["curve"]] == [3] * 8


def test_a_dip_after_an_early_plateau_moves_the_point_past_it() -> None:
    judge = [2.0, 3.8, 3.8, 3.8, 3.5, 3.8, 3.8, 3.8]  # within from 500, but 4,000 falls out
    r = saturation(curve([1.0] * 8, [0.9] * 8, judge), TOL, TOP)
    assert r["n"] == 8000


def test_never_saturating_is_said_not_a_number() -> None:
    judge = [1.5 + 0.3 * k for k in range(8)]  # still rising 0.3 per doubling at the top
    r = saturation(curve([1.0] * 8, [0.9] * 8, judge), TOL, TOP)
    assert not r["saturated"] and r["n"] is None and r["steps"] is None
    assert (
        r["reason"].startswith("not saturated")
        and "judge_mean" in r["reason"]
        and "eot_rate" not in r["reason"]
    )
    slow = saturation(curve([0.5 + 0.06 * k for k in range(8)], [0.9] * 8, [3.8] * 8), TOL, TOP)
    # a slow rise: the top two agree (0.03 each from their mean) but the size below is 0.09 away
    assert (
        not slow["saturated"]
        and slow["n"] is None
        and "only at the 2 largest sizes" in slow["reason"]
    )


def test_flat_from_the_smallest_size_is_left_censored() -> None:
    r = saturation(
        curve([1.0] * 8, [0.9] * 8, [3.8, 3.85, 3.75, 3.8, 3.8, 3.8, 3.8, 3.8]), TOL, TOP
    )
    assert (
        r["saturated"]
        and r["n"] == 250
        and r["left_censored"]
        and "at or below the smallest" in r["reason"]
    )


def test_incomplete_curves_decide_nothing() -> None:
    missing = curve([1.0] * 8, [0.9] * 8, [3.8] * 7 + [float("nan")])
    r = saturation(missing, TOL, TOP)
    assert not r["saturated"] and r["n"] is None and "judge_mean" in r["reason"]
    short = saturation(curve([1.0] * 2, [0.9] * 2, [3.8] * 2, SIZES[:2]), TOL, TOP)
    assert not short["saturated"] and "2 sizes" in short["reason"]


def _run(
    root: Path,
    run_id: str,
    model: str,
    pseed: int,
    n: int,
    seed: int,
    judge: float,
    data: str = "se_filtered",
    model_extra: dict | None = None,
    build: dict | None = None,
) -> None:
    """A complete run directory with what analysis reads (results, config, train stage, test
    summary)."""
    rd = root / run_id
    (rd / "evals" / "e1").mkdir(parents=True)
    (rd / "stages").mkdir()
    (rd / "results.json").write_text(
        json.dumps(
            {
                "status": "complete",
                "run_id": run_id,
                "n_examples": n,
                "default_eval": "e1",
                "metrics": {},
                "selected_checkpoint": "epoch-010.pt",
                "knowledge_probe": {"build": build} if build else {},
                "knowledge_retained": {"accuracy": 1.0 - n / 1000},
            }
        )
    )
    (rd / "config.yaml").write_text(
        yaml.safe_dump(
            {
                "data": {"name": data, "subset_seed": 0},
                "seed": seed,
                "model": {
                    "name": model,
                    "init": "pretrained",
                    "pretrain": {"seed": pseed},
                    **(model_extra or {}),
                },
                "train": {"epochs": 15, "budget": "epochs"},
                "regime": {"saturation": RULE},
            }
        )
    )
    (rd / "stages" / "train.json").write_text(
        json.dumps({"status": "complete", "budget": {"steps": 15 * n // 8}})
    )
    (rd / "evals" / "e1" / "summary.json").write_text(
        json.dumps(
            {
                "eval_id": "e1",
                "status": "complete",
                "prompt_set": "test",
                "judge": "reference@likert-2",
                "judge_mean": judge,
                "judge_ci95": [judge - 0.1, judge + 0.1],
                "n_invalid": 0,
                "format_mean": 0.9,
                "eot_rate": 1.0,
                "categories": {},
            }
        )
    )


def test_curves_from_run_directories(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    judges = {"tiny_llama": [2.0, 3.0, 3.8, 3.8, 3.8], "tiny_large": [3.0, 3.8, 3.8, 3.8, 3.8]}
    sizes = [32, 63, 125, 250, 500]
    for model, js in judges.items():
        for n, j in zip(sizes, js, strict=True):
            for seed in (0, 1):
                _run(tmp_path / "runs", f"{model}-{n}-{seed}", model, 0, n, seed, j + 0.01 * seed)
    curves, rule = load_curves(tmp_path / "runs")
    assert rule == RULE and sorted(curves) == ["tiny_large seed 0", "tiny_llama seed 0"]
    main([str(tmp_path / "runs"), "--out", str(tmp_path / "out")])
    res = json.loads((tmp_path / "out" / "saturation.json").read_text())["bases"]
    assert (res["tiny_llama seed 0"]["n"], res["tiny_large seed 0"]["n"]) == (
        125,
        63,
    )  # the stronger base sooner
    assert res["tiny_large seed 0"]["steps"] == 15 * 63 // 8
    out = capsys.readouterr().out
    assert "### tiny_large seed 0: n = 63" in out
    # what the fine-tuned model still recalls, beside the curve (not part of the rule)
    assert "| n | steps | runs | eot_rate | format | judge_mean | retained |" in out
    assert "| 500 | 937 | 2 | 1.000 | 0.900 | 3.805 | 0.500 |" in out
    assert "retained" not in res["tiny_large seed 0"]["plateau"]
    png = (tmp_path / "out" / "saturation.png").read_bytes()
    assert png.startswith(b"\x89PNG") and len(png) > 10_000  # the curves, drawn
    _run(tmp_path / "runs", "other", "tiny_llama", 0, 32, 0, 3.0, data="wikihow")
    with pytest.raises(ValueError, match="runs of 2 data configs"):
        load_curves(tmp_path / "runs")


def test_each_metric_says_which_one_holds_the_curve_back() -> None:
    """Format and EOT settle at 2,000 while the judge mean falls at the top (a small base
    forgetting): the joint point is 'not saturated', and each metric's own point says why."""
    from analysis.saturation import by_metric

    eot = [0.0, 0.2, 0.97, 0.99, 1.0, 1.0, 1.0, 1.0]
    fmt = [0.6, 0.65, 0.9, 0.92, 0.93, 0.92, 0.93, 0.92]
    judge = [1.8, 1.9, 2.9, 3.2, 3.35, 2.75, 1.45, 1.40]  # falls after 4,000
    pts = curve(eot, fmt, judge)
    assert not saturation(pts, TOL, TOP)["saturated"]
    each = by_metric(pts, TOL, TOP)
    assert (each["eot_rate"]["n"], each["format"]["n"]) == (1000, 1000)
    assert each["eot_rate"]["steps"] == 15 * 16
    assert not each["judge_mean"]["saturated"]


def test_bases_on_different_grids_are_also_compared_on_the_sizes_they_share() -> None:
    """A base run to 4,000 and one run to 32,000: each gets its own point and the point on
    250-4,000, where both plateaus are taken at the same sizes."""
    from analysis.saturation import analyse, common_sizes

    small = curve([1.0] * 8, [0.9] * 8, [2.0, 2.5, 3.05, 3.1, 3.15, 2.0, 1.5, 1.4])
    large = curve([1.0] * 5, [0.9] * 5, [2.0, 3.02, 3.05, 3.1, 3.1], SIZES[:5])
    curves = {"tiny seed 0": small, "large seed 0": large}
    assert common_sizes(curves) == SIZES[:5]
    out = analyse(curves, {"tolerance": TOL, "plateau_points": TOP})
    assert not out["tiny seed 0"]["saturated"]  # falls at the top of its own grid
    shared = out["tiny seed 0"]["common"]
    assert shared["sizes"] == SIZES[:5] and shared["saturated"] and shared["n"] == 1000
    assert "common" not in out["large seed 0"]  # its own grid is the shared one
    assert out["large seed 0"]["n"] == 500
    assert common_sizes({"one": small}) == []


def test_one_base_name_and_seed_under_two_recipes_is_two_bases(tmp_path: Path) -> None:
    """tiny_large seed 0 pretrained at tokens_ratio 1 and at 2 are different bases: their runs
    are two curves, never one curve with twice the runs; the random-init control and the
    checkpointing frequency do not make another base."""
    runs = tmp_path / "runs"
    for n, j in zip((32, 63, 125), (2.0, 3.0, 3.5), strict=True):
        for epochs in (13, 26):
            pre = {"seed": 0, "epochs": epochs}
            _run(runs, f"e{epochs}-{n}", "tiny_large", 0, n, 0, j, model_extra={"pretrain": pre})
    curves, _ = load_curves(runs)
    assert len(curves) == 2 and all(
        name.startswith("tiny_large seed 0, recipe ") for name in curves
    ), sorted(curves)
    assert [len(c) for c in curves.values()] == [3, 3]
    # the hashes say two recipes; the legend says what differs between them
    (legend,) = recipe_legend(collect(runs))
    assert legend.startswith("- `tiny_large seed 0`: recipe ")
    assert "pretrain.epochs 13" in legend and "pretrain.epochs 26" in legend
    assert "pretrain.seed" not in legend  # only the keys that differ
    main([str(runs), "--out", str(tmp_path / "out")])
    assert legend in (tmp_path / "out" / "saturation.md").read_text()
    # one recipe: the plain label, whatever else differs
    shutil.rmtree(runs)
    _run(runs, "a", "tiny_large", 0, 32, 0, 2.0, model_extra={"init": "random"})
    every = {"seed": 0, "checkpoint_every_n_steps": 10}
    _run(runs, "b", "tiny_large", 0, 32, 1, 2.0, model_extra={"pretrain": every})
    _run(runs, "c", "tiny_large", 0, 32, 2, 2.0)
    assert {r["base"] for r in collect(runs)} == {"tiny_large seed 0"}


def test_one_recipe_built_on_two_machines_numerics_is_two_bases(tmp_path: Path) -> None:
    """The same cache key built at another thread count or CPU kernel is another model (its
    weights differ; the named cloze moved by 20-35 facts): its runs are another curve, not more
    seeds; the random-init control stays beside the base's label; one build is the plain label."""
    runs = tmp_path / "runs"
    avx512 = {"torch_threads": 1, "cpu_capability": "AVX512", "torch": "2.13.0"}
    avx2 = {**avx512, "torch_threads": 2, "cpu_capability": "AVX2"}
    for n, j in zip((32, 63), (2.0, 3.0), strict=True):
        _run(runs, f"a{n}", "tiny_large", 0, n, 0, j, build=avx512)
        _run(runs, f"b{n}", "tiny_large", 0, n, 0, j, build=avx2)
    _run(runs, "r", "tiny_large", 0, 32, 0, 1.0, model_extra={"init": "random"})
    got = {r["run_id"]: r["base"] for r in collect(runs)}
    assert got["a32"] == got["a63"] == "tiny_large seed 0, built AVX512, 1 thread, torch 2.13.0"
    assert got["b32"] == "tiny_large seed 0, built AVX2, 2 threads, torch 2.13.0"
    assert got["r"] == "tiny_large seed 0"
    curves, _ = load_curves(runs)
    assert sorted(len(c) for name, c in curves.items() if "built" in name) == [2, 2]
    shutil.rmtree(runs)
    for n in (32, 63):
        _run(runs, f"a{n}", "tiny_large", 0, n, 0, 2.0, build=avx512)
    assert {r["base"] for r in collect(runs)} == {"tiny_large seed 0"}
