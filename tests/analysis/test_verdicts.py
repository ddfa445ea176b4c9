"""The verdict statistics against cases with a known answer: variance components of an exactly
constructed table and of a large simulated design, the power of t-tests against the textbook
sample sizes, the equivalence test, and the verdict rules."""

from __future__ import annotations

import math

import numpy as np
import pytest

from analysis.verdicts import (
    compare,
    detectable_effect,
    difference_verdict,
    flat_verdict,
    power_t,
    slope_equivalence,
    variance_components,
    variance_upper,
    welch,
)


def table_of(y: np.ndarray) -> dict:
    """(subset, seed) -> {prompt: score} from an array [subset, seed, prompt]."""
    s, t, p = y.shape
    return {
        (i, j): {f"p{k}": float(y[i, j, k]) for k in range(p)} for i in range(s) for j in range(t)
    }


def test_an_exact_table_gives_its_components_exactly() -> None:
    a = np.array([0.0, 0.6, -0.3, 0.9])  # subset draws
    c = np.array([1.0, -1.0, 0.5, 0.0, 2.0, -0.5])  # prompts
    y = (
        a[:, None, None] + c[None, None, :] + np.zeros((4, 3, 6))
    )  # 3 seeds with no effect, no noise
    v = variance_components(table_of(y))
    assert v["subset"] == pytest.approx(np.var(a, ddof=1))
    assert v["prompt"] == pytest.approx(np.var(c, ddof=1))
    assert v["seed"] == pytest.approx(0.0, abs=1e-12) and v["residual"] == pytest.approx(
        0.0, abs=1e-12
    )
    assert (v["n_runs"], v["n_prompts"], v["n_subsets"]) == (12, 6, 4)
    # seeds only (one subset draw): all run-to-run variance is the seed's
    b = np.array([0.2, -0.4, 0.1, 0.5])
    v = variance_components(table_of(b[None, :, None] + c[None, None, :] + np.zeros((1, 4, 6))))
    assert v["seed"] == pytest.approx(np.var(b, ddof=1)) and math.isnan(v["subset"])


def test_a_simulated_design_recovers_its_components() -> None:
    rng = np.random.default_rng(0)
    s, t, p = 60, 4, 150
    sd = {"subset": 0.3, "seed": 0.2, "prompt": 0.5, "residual": 0.4}
    y = (
        rng.normal(0, sd["subset"], (s, 1, 1))
        + rng.normal(0, sd["seed"], (s, t, 1))
        + rng.normal(0, sd["prompt"], (1, 1, p))
        + rng.normal(0, sd["residual"], (s, t, p))
    )
    v = variance_components(table_of(y))
    for k, want in sd.items():
        assert v[k] == pytest.approx(want**2, rel=0.3), k


def test_power_matches_the_textbook_sample_sizes() -> None:
    # two-sample t, d = 0.5, alpha 0.05 two-sided: 64 per group gives power 0.8015 (Cohen 1988;
    # G*Power)
    assert power_t(0.5, math.sqrt(2 / 64), 126) == pytest.approx(0.8015, abs=0.001)
    # one-sample (paired) t, d = 0.5: n = 34 gives 0.8078
    assert power_t(0.5, 1 / math.sqrt(34), 33) == pytest.approx(0.8078, abs=0.001)
    mde = detectable_effect(math.sqrt(2 / 64), 126)
    assert 0.49 < mde < 0.5 and power_t(mde, math.sqrt(2 / 64), 126) == pytest.approx(0.8, abs=1e-6)
    # the normal approximation (z_0.975 + z_0.8) x se is the large-df limit
    assert detectable_effect(0.1, 10_000) == pytest.approx((1.959964 + 0.841621) * 0.1, rel=1e-3)


def test_the_variance_upper_bound() -> None:
    # 10 df, s^2 = 1: the 95% upper bound is 10 / chi2_0.05(10) = 10 / 3.940 = 2.538
    assert variance_upper(1.0, 10) == pytest.approx(2.538, abs=0.001)


def test_welch_against_scipy() -> None:
    from scipy import stats

    a, b = [3.1, 3.3, 2.9, 3.4], [2.8, 2.7, 3.0]
    t = welch(a, b)
    assert t["p"] == pytest.approx(stats.ttest_ind(a, b, equal_var=False).pvalue)
    assert t["ci"][0] < t["effect"] < t["ci"][1]


def evals(means: list[float], n_prompts: int = 20, noise: float = 0.5, seed: int = 0) -> list[dict]:
    rng = np.random.default_rng(seed)
    out = []
    for m in means:
        scores = np.clip(np.round(m + rng.normal(0, noise, n_prompts)), 1, 6)
        js = [{"prompt_id": f"p{i}", "sample": 0, "score": float(s)} for i, s in enumerate(scores)]
        out.append({"summary": {"judge_mean": float(np.mean(scores))}, "judgments": js})
    return out


def per_prompt(es: list[dict]) -> dict[str, float]:
    acc: dict[str, list[float]] = {}
    for e in es:
        for j in e["judgments"]:
            acc.setdefault(j["prompt_id"], []).append(j["score"])
    return {k: float(np.mean(v)) for k, v in acc.items()}


def test_compare_uses_runs_when_it_has_them_and_prompts_otherwise() -> None:
    settings = {"alpha": 0.05, "power": 0.8}
    runs = compare(
        evals([3.8, 3.9, 3.7], seed=1), evals([3.3, 3.2, 3.4], seed=2), per_prompt, settings
    )
    assert runs["unit"].startswith("training run") and runs["n"] == [3, 3]
    assert runs["mde"] > runs["mde_point_estimate"] > 0  # the upper bound is the conservative one
    one = compare(evals([3.8], seed=1), evals([3.3], seed=2), per_prompt, settings)
    assert one["unit"].startswith("test prompt") and one["n"] == [20, 20]


def test_equivalence_and_verdicts() -> None:
    sizes = [250, 500, 1000, 2000, 4000] * 3
    flat = slope_equivalence(sizes, [3.8 + 0.01 * ((i * 7) % 3 - 1) for i in range(15)], delta=0.1)
    assert flat["p_tost"] < 0.05 and flat_verdict(flat, 0.05) == "reproduced"
    rising = slope_equivalence(
        sizes,
        [2 + 0.4 * math.log2(n / 250) + 0.01 * (i % 2) for i, n in enumerate(sizes)],
        delta=0.1,
    )
    assert flat_verdict(rising, 0.05) == "opposite"
    floor = slope_equivalence(sizes, [1.0] * 15, delta=0.1)  # no spread at all: nothing measured
    assert flat_verdict(floor, 0.05) == "not detectable with this grid"
    noisy = slope_equivalence([250, 4000, 1000], [2.0, 3.5, 1.5], delta=0.1)
    assert flat_verdict(noisy, 0.05) == "not detectable with this grid"
    sig = {"p": 0.01, "effect": 0.4}
    assert difference_verdict(sig, 0.34, 0.3, 0.05) == "reproduced"
    assert difference_verdict({**sig, "effect": -0.4}, 0.34, 0.3, 0.05) == "opposite"
    assert (
        difference_verdict({"p": 0.4, "effect": 0.1}, 0.34, 0.6, 0.05)
        == "not detectable with this grid"
    )
    assert (
        difference_verdict({"p": 0.4, "effect": 0.1}, 0.5, 0.2, 0.05)
        == "not reproduced (detectable, not seen)"
    )


def test_the_reports_rows_on_a_replicated_grid() -> None:
    """The report's findings and variance components over runs (2 subset draws x 3 seeds per
    arm): a clear diversity gap is reproduced, a quality gap of zero is not, a flat curve is
    flat."""
    import yaml

    from analysis.report import components, findings, grid_arms
    from limalab.ablations.grid import DEFAULT_REGIME

    rng = np.random.default_rng(1)
    rows = []

    def add(data: str, n: int, level: float) -> None:
        for subset in (0, 1):
            for seed in (0, 1, 2):
                e = evals(
                    [level + 0.05 * subset + rng.normal(0, 0.03)],
                    n_prompts=60,
                    noise=0.6,
                    seed=int(rng.integers(1 << 30)),
                )[0]
                rows.append(
                    {
                        "data": data,
                        "n_examples": n,
                        "init": "pretrained",
                        "epochs": 15,
                        "prompt_set": "test",
                        "budget": "epochs",
                        "subset_seed": subset,
                        "seed": seed,
                        "mean": e["summary"]["judge_mean"],
                        "eval": e,
                    }
                )

    for data, level in (
        ("se_filtered", 3.5),
        ("wikihow", 2.5),
        ("se_unfiltered", 3.5),
        ("se_longest", 3.5),
    ):
        add(data, 250, level)
    for n in (500, 1000, 2000, 4000):
        add("se_filtered", n, 3.5)
    d = yaml.safe_load(DEFAULT_REGIME.read_text())
    got = {f["finding"].split(":")[0]: f for f in findings(rows, 250, d, grid_arms())}
    assert got["Fig. 5 diversity"]["verdict"] == "reproduced" and got["Fig. 5 diversity"]["n"] == [
        6,
        6,
    ]
    assert got["Fig. 5 diversity"]["unit"].startswith("training run")
    assert got["Fig. 5 quality"]["verdict"] in (
        "not reproduced (detectable, not seen)",
        "not detectable with this grid",
    )
    assert got["Fig. 6 flat, epochs (the paper's design)"]["verdict"] == "reproduced"
    comps = {c["arm"]: c for c in components(rows, 250, grid_arms())}
    c = comps["filtered Stack Exchange @ 250"]
    assert (c["n_runs"], c["n_subsets"], c["n_prompts"]) == (6, 2, 60) and c["residual"] > c["seed"]
