"""Statistics over judged samples: intervals over prompts, not samples."""

from __future__ import annotations

import math

import numpy as np
import pytest
from scipy import stats as st

from limalab.eval.stats import bootstrap_ci, mean_ci, prompt_means, score_summary


def test_mean_ci_matches_scipy():
    x = [3.0, 4.0, 4.0, 5.0, 6.0, 2.0, 5.0]
    ci = mean_ci(x)
    lo, hi = st.t.interval(0.95, df=len(x) - 1, loc=np.mean(x), scale=st.sem(x))
    assert ci["n"] == 7
    assert ci["mean"] == pytest.approx(29 / 7)
    assert ci["sem"] == pytest.approx(st.sem(x))
    assert (ci["lo"], ci["hi"]) == pytest.approx((lo, hi))
    ci90 = mean_ci(x, confidence=0.9)
    assert ci["lo"] < ci90["lo"] < ci90["hi"] < ci["hi"]


def test_mean_ci_known_value():
    # mean 2, sd 1, n 3 -> half width t(0.975, 2) / sqrt(3) = 4.302653 / 1.732051 = 2.484138
    ci = mean_ci([1, 2, 3])
    assert ci["lo"] == pytest.approx(2 - 2.484138, abs=1e-6)
    assert ci["hi"] == pytest.approx(2 + 2.484138, abs=1e-6)


def test_mean_ci_edge_cases():
    one = mean_ci([4.0])
    assert one["mean"] == one["lo"] == one["hi"] == 4.0 and one["n"] == 1
    empty = mean_ci([])
    assert empty["n"] == 0
    assert all(math.isnan(empty[k]) for k in ("mean", "lo", "hi", "sem"))
    const = mean_ci([5, 5, 5])
    assert const["lo"] == const["hi"] == 5


def test_bootstrap():
    rng = np.random.default_rng(1)
    x = rng.normal(3.0, 1.0, size=200)
    lo, hi = bootstrap_ci(x)
    assert bootstrap_ci(x) == (lo, hi)  # fixed seed
    t = mean_ci(x)
    assert lo < x.mean() < hi
    assert lo == pytest.approx(t["lo"], abs=0.05) and hi == pytest.approx(t["hi"], abs=0.05)
    assert bootstrap_ci([2.0]) == (2.0, 2.0)
    assert all(math.isnan(v) for v in bootstrap_ci([]))
    # chunking does not change the answer's scale on a large input
    big = rng.normal(0, 1, size=5000)
    blo, bhi = bootstrap_ci(big, n_resamples=2000)
    assert blo < big.mean() < bhi and bhi - blo < 0.1


def test_prompt_means_nesting_and_invalid():
    rows = [
        {"prompt_id": "a", "score": 6},
        {"prompt_id": "a", "score": 4},
        {"prompt_id": "a", "score": None},
        {"prompt_id": "b", "score": 1},
        {"prompt_id": "c", "score": None},
    ]
    assert prompt_means(rows) == {"a": 5.0, "b": 1.0}


def test_summary_counts_each_prompt_once():
    rows = [{"prompt_id": "p0", "score": 6} for _ in range(5)]
    rows += [{"prompt_id": f"p{i}", "score": 2} for i in range(1, 4)]
    s = score_summary(rows)
    assert s["n_prompts"] == 4
    assert s["n_judged"] == 8
    assert s["judge_mean"] == pytest.approx((6 + 2 + 2 + 2) / 4)  # not (30 + 6) / 8
    ci = mean_ci([6, 2, 2, 2])
    assert s["judge_ci95"] == pytest.approx([ci["lo"], ci["hi"]])
    assert s["histogram"] == {"1": 0, "2": 3, "3": 0, "4": 0, "5": 0, "6": 5}


def test_summary_invalid_excluded_and_counted():
    rows = [
        {"prompt_id": "a", "score": 5},
        {"prompt_id": "a", "score": None},
        {"prompt_id": "b", "score": 3},
        {"prompt_id": "c", "score": None},
    ]
    s = score_summary(rows)
    assert s["n_invalid"] == 2 and s["n_judged"] == 2 and s["n_prompts"] == 2
    assert s["judge_mean"] == 4.0
    assert sum(s["histogram"].values()) == 2


def test_summary_by_type_and_subscores():
    rows = []
    for i in range(6):
        t = "fact" if i < 3 else "writing"
        for k in range(2):
            rows.append(
                {
                    "prompt_id": f"p{i}",
                    "type": t,
                    "score": 6 if t == "fact" else 2 + k,
                    "subscores": {
                        "correctness": int(t == "fact"),
                        "format": 0.5 * k,
                        "relevant": True,
                        "note": "text",
                    },
                }
            )
    s = score_summary(rows)
    assert set(s["by_type"]) == {"fact", "writing"}
    assert s["by_type"]["fact"]["mean"] == 6.0 and s["by_type"]["fact"]["n_prompts"] == 3
    assert s["by_type"]["writing"]["mean"] == 2.5
    assert s["by_type"]["writing"]["ci95"] == [2.5, 2.5]  # every writing prompt averages 2.5
    assert s["correctness_mean"] == 0.5
    assert s["format_mean"] == 0.25
    assert s["relevant_mean"] == 1.0
    assert "note_mean" not in s
    lo, hi = s["judge_ci95_bootstrap"]
    assert lo <= s["judge_mean"] <= hi


def test_summary_without_types_or_subscores():
    s = score_summary([{"prompt_id": "a", "score": 3}])
    assert "by_type" not in s and "correctness_mean" not in s
    assert s["judge_ci95"] == [3.0, 3.0] and s["judge_ci95_bootstrap"] == [3.0, 3.0]
    empty = score_summary([])
    assert empty["n_prompts"] == 0 and math.isnan(empty["judge_mean"])


def test_paired_test_matches_scipy():
    from limalab.eval.stats import paired_test

    a = {"p1": 4.0, "p2": 3.5, "p3": 5.0, "p4": 2.0, "p5": 4.5, "only_a": 1.0}
    b = {"p1": 3.0, "p2": 3.5, "p3": 4.0, "p4": 2.5, "p5": 3.0, "only_b": 6.0}
    out = paired_test(a, b)
    xa, xb = [a[p] for p in sorted(b) if p in a], [b[p] for p in sorted(b) if p in a]
    assert out["n_prompts"] == 5 and out["mean_diff"] == pytest.approx(np.mean(np.subtract(xa, xb)))
    assert out["t_p"] == pytest.approx(st.ttest_rel(xa, xb).pvalue)
    assert out["wilcoxon_p"] == pytest.approx(st.wilcoxon(np.subtract(xa, xb)).pvalue)
    d = np.subtract(xa, xb)
    lo, hi = st.t.interval(0.95, df=4, loc=d.mean(), scale=st.sem(d))
    assert out["ci95"] == pytest.approx([lo, hi])


def test_agreement_categories_length_bias_and_seeds():
    from limalab.eval.stats import agreement, category_rates, length_bias, over_seeds

    a, b = [1, 2, 3, 4, 5, 6, 6], [1, 3, 3, 5, 5, 4, 6]
    g = agreement(a, b)
    assert g["spearman"] == pytest.approx(st.spearmanr(a, b).statistic)
    assert g["kendall"] == pytest.approx(st.kendalltau(a, b).statistic)
    assert g["exact"] == pytest.approx(4 / 7) and g["within_1"] == pytest.approx(6 / 7)
    rates = category_rates([{"score": s} for s in (1, 2, 3, 4, 5, 6, None, 6)])
    assert rates == pytest.approx({"fail": 2 / 7, "pass": 2 / 7, "excellent": 3 / 7})
    lb = length_bias([1, 2, 3, 4, 5], [10, 30, 20, 50, 40])
    assert lb["spearman"] == pytest.approx(
        st.spearmanr([1, 2, 3, 4, 5], [10, 30, 20, 50, 40]).statistic
    )
    seeds = over_seeds([3.1, 3.4, 3.2])
    lo, hi = st.t.interval(0.95, df=2, loc=np.mean([3.1, 3.4, 3.2]), scale=st.sem([3.1, 3.4, 3.2]))
    assert seeds["n_seeds"] == 3 and seeds["ci95"] == pytest.approx([lo, hi])


def test_selection_picks_best_dev_score_not_lowest_perplexity():
    from limalab.pipeline.context import StageFailed
    from limalab.pipeline.select_checkpoint import best_candidate

    cands = [
        {"epoch": 2, "dev_judge_mean": 3.1, "dev_ppl": 4.0},  # lowest perplexity
        {"epoch": 3, "dev_judge_mean": 3.6, "dev_ppl": 5.5},  # best generations
        {"epoch": 4, "dev_judge_mean": 3.6, "dev_ppl": 6.0},  # tie: the earlier wins
        {"epoch": 5, "dev_judge_mean": float("nan"), "dev_ppl": 3.0},
        {"epoch": 6, "dev_judge_mean": None, "dev_ppl": 2.0},
    ]
    assert best_candidate(cands)["epoch"] == 3
    for nothing in (
        [],
        [{"epoch": 1, "dev_judge_mean": None}, {"epoch": 2, "dev_judge_mean": float("nan")}],
    ):
        with pytest.raises(StageFailed, match="judge_failed"):  # all-NaN scores select nothing
            best_candidate(nothing)


def test_report_tables_with_mixed_seed_counts(tmp_path):
    from analysis.report import slope, write_csv
    from limalab.eval.stats import over_seeds

    rows = [
        {"size": 250, **over_seeds([2.0, 2.1, 1.9])},
        {"size": 500, "mean": 2.5, "ci95": [2.4, 2.6], "n_seeds": 1},
    ]
    write_csv(tmp_path / "t.csv", rows)
    lines = (tmp_path / "t.csv").read_text().splitlines()
    assert lines[0].split(",") == ["size", "mean", "ci95", "n_seeds", "sd"] and len(lines) == 3
    fit = slope(
        [
            {"n_examples": n, "mean": m}
            for n, m in ((250, 2.0), (500, 2.5), (1000, 3.0), (1000, 3.1))
        ]
    )
    assert fit["slope"] == pytest.approx(
        st.linregress(np.log2([250, 500, 1000, 1000]), [2.0, 2.5, 3.0, 3.1]).slope
    )


def _synthetic_arm(rng, lo, hi, effect=0.0, prompts=80, k=3, seed_evals=1):
    """Responses whose score is 1 + 0.04 x length (+ effect, + noise): length explains it all
    when effect is 0."""
    evals = []
    for _ in range(seed_evals):
        gens, judg = [], []
        for p in range(prompts):
            for s in range(k):
                n = int(rng.integers(lo, hi))
                score = int(np.clip(round(1 + 0.04 * n + effect + rng.normal(0, 0.4)), 1, 6))
                gens.append({"prompt_id": f"p{p}", "sample": s, "n_tokens": n})
                judg.append({"prompt_id": f"p{p}", "sample": s, "score": score})
        evals.append(
            {
                "judgments": judg,
                "generations": gens,
                "prompt_set": "test",
                "judge": "reference@rubric3",
                "summary": {
                    "judge_mean": float(np.mean([j["score"] for j in judg])),
                    "eot_rate": 1.0,
                },
            }
        )
    return evals


def test_length_controlled_means_remove_what_length_alone_explains():
    """Two arms whose scores follow length alone: raw means far apart, length-controlled means
    equal within their intervals; an arm effect at equal length survives the control."""
    from analysis.arms import arm_table, markdown, scored_lengths
    from limalab.eval.stats import length_controlled

    rng = np.random.default_rng(0)
    arms = {"long": _synthetic_arm(rng, 60, 100), "short": _synthetic_arm(rng, 10, 60)}
    fit = length_controlled({a: scored_lengths(e) for a, e in arms.items()})
    long, short = fit["arms"]["long"], fit["arms"]["short"]
    assert long["mean"] - short["mean"] > 1.3  # longer answers score higher ...
    assert abs(long["lc_mean"] - short["lc_mean"]) < 0.15  # ... and length is all there is
    assert long["lc_ci95"][0] < short["lc_mean"] < long["lc_ci95"][1]
    assert 0.03 < fit["slope"] < 0.05 and fit["slope_ci95"][0] < 0.04 < fit["slope_ci95"][1]
    assert fit["common_length"] == pytest.approx((long["length"] + short["length"]) / 2)
    assert (
        length_controlled({a: scored_lengths(e) for a, e in arms.items()}) == fit
    )  # deterministic

    better = {
        "long": _synthetic_arm(rng, 60, 100),
        "short+1": _synthetic_arm(rng, 10, 60, effect=1.0),
    }
    fit = length_controlled({a: scored_lengths(e) for a, e in better.items()})
    assert fit["arms"]["short+1"]["lc_mean"] - fit["arms"]["long"]["lc_mean"] == pytest.approx(
        1.0, abs=0.2
    )
    assert (
        fit["arms"]["short+1"]["mean"] < fit["arms"]["long"]["mean"] + 0.5
    )  # the raw means hide most of it

    table = arm_table(arms)  # the report shows both means
    assert {r["arm"]: round(r["lc_mean"], 6) for r in table} == {
        a: round(v["lc_mean"], 6)
        for a, v in length_controlled({a: scored_lengths(e) for a, e in arms.items()})[
            "arms"
        ].items()
    }
    md = markdown(table, [], [])
    assert "| length-controlled | 95% CI |" in md and "common length" in md


def test_length_control_without_length_variation_is_nan():
    from limalab.eval.stats import length_controlled

    fit = length_controlled(
        {"a": [("p1", 3.0, 10.0), ("p2", 4.0, 10.0)], "b": [("p1", 2.0, 20.0), ("p2", 2.0, 20.0)]}
    )
    assert (
        np.isnan(fit["slope"])
        and np.isnan(fit["arms"]["a"]["lc_mean"])
        and fit["arms"]["a"]["mean"] == 3.5
    )
    assert length_controlled({})["arms"] == {}
