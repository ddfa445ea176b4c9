"""Verdicts a reader can decide on: where the variance comes from (subset draws, training
seeds, prompts), the smallest effect each comparison can detect, an equivalence test for a
"flat" curve, and one row per finding: effect, CI, p, detectable effect, verdict.

The decision rule is fixed before any run (``regime.verdicts`` in ``conf/regime/``: alpha,
power, the equivalence margin delta) and read from the runs' own configs.

Units of replication: a comparison of arms with several runs each treats the **run** (one subset
draw x one training seed, its test prompts averaged) as the unit: Welch's t on run means, so the
verdict generalises over training randomness and the data draw. With one run per arm it falls
back to the **prompt** (paired t over per-prompt means): that generalises over prompts only,
and says so.
"""

from __future__ import annotations

import math
from collections import defaultdict
from collections.abc import Sequence
from typing import Any

import numpy as np
from scipy import optimize, stats

NAN = float("nan")
VERDICTS = (
    "reproduced",
    "opposite",
    "not detectable with this grid",
    "not reproduced (detectable, not seen)",
)


# ---- variance components --------------------------------------------------------------------


def _two_way(y: np.ndarray) -> dict[str, float]:
    """Mean squares of a runs x prompts table with one value per cell (per-prompt means)."""
    r, p = y.shape
    grand = y.mean()
    ms_run = p * np.sum((y.mean(axis=1) - grand) ** 2) / (r - 1) if r > 1 else NAN
    ms_prompt = r * np.sum((y.mean(axis=0) - grand) ** 2) / (p - 1) if p > 1 else NAN
    resid = y - y.mean(axis=1, keepdims=True) - y.mean(axis=0, keepdims=True) + grand
    df_res = (r - 1) * (p - 1)
    return {
        "ms_run": ms_run,
        "ms_prompt": ms_prompt,
        "ms_res": float(np.sum(resid**2) / df_res) if df_res else NAN,
        "df_run": r - 1,
        "df_prompt": p - 1,
        "df_res": df_res,
    }


def _split_runs(
    run_means: np.ndarray, subsets: Sequence[Any], ms_res: float, n_prompts: int
) -> dict[str, float]:
    """Between-run variance split into subset draws and seeds within a draw (one-way ANOVA of
    run means by subset; a run mean carries the residual over its prompts)."""
    groups: dict[Any, list[float]] = defaultdict(list)
    for m, s in zip(run_means, subsets, strict=True):
        groups[s].append(float(m))
    k, n = len(groups), len(run_means)
    within_df = n - k
    ms_within = (
        sum(np.sum((np.array(g) - np.mean(g)) ** 2) for g in groups.values()) / within_df
        if within_df
        else NAN
    )
    grand = float(np.mean(run_means))
    ms_between = (
        sum(len(g) * (np.mean(g) - grand) ** 2 for g in groups.values()) / (k - 1) if k > 1 else NAN
    )
    n0 = (
        (n - sum(len(g) ** 2 for g in groups.values()) / n) / (k - 1) if k > 1 else NAN
    )  # unbalanced: Searle's n0
    seed = max(0.0, ms_within - ms_res / n_prompts) if within_df else NAN
    subset = max(0.0, (ms_between - ms_within) / n0) if k > 1 and within_df else NAN
    return {"subset": subset, "seed": seed, "df_subset": k - 1, "df_seed": within_df}


def variance_components(table: dict[tuple[Any, Any], dict[str, float]]) -> dict[str, Any]:
    """Random-effects variance components of one arm, by the method of moments (ANOVA).

    ``table``: (subset draw, training seed) -> {prompt id: the prompt's mean score in that run}.
    Returns the variances of the subset draw, the seed within a draw, the prompt, and the
    residual (run x prompt interaction plus sampling and judging noise), each >= 0 (truncated),
    with the run-level variance (of one run's mean over its prompts) that a comparison of runs
    sees."""
    runs = sorted(table)
    prompts = sorted(set.intersection(*(set(table[r]) for r in runs))) if runs else []
    if len(runs) < 1 or len(prompts) < 2:
        return {
            "n_runs": len(runs),
            "n_prompts": len(prompts),
            "subset": NAN,
            "seed": NAN,
            "prompt": NAN,
            "residual": NAN,
            "run_level": NAN,
            "df_run": 0,
        }
    y = np.array([[table[r][p] for p in prompts] for r in runs], dtype=float)
    ms = _two_way(y)
    split = (
        _split_runs(y.mean(axis=1), [r[0] for r in runs], ms["ms_res"], len(prompts))
        if len(runs) > 1
        else {"subset": NAN, "seed": NAN, "df_subset": 0, "df_seed": 0}
    )
    prompt = max(0.0, (ms["ms_prompt"] - ms["ms_res"]) / len(runs)) if len(runs) > 1 else NAN
    run_level = (
        float(np.var(y.mean(axis=1), ddof=1)) if len(runs) > 1 else NAN
    )  # what Welch's t sees
    return {
        "n_runs": len(runs),
        "n_prompts": len(prompts),
        "n_subsets": len({r[0] for r in runs}),
        "subset": split["subset"],
        "seed": split["seed"],
        "prompt": prompt,
        "residual": ms["ms_res"] if len(runs) > 1 else NAN,
        "run_level": run_level,
        "df_run": len(runs) - 1,
        "df_subset": split["df_subset"],
        "df_seed": split["df_seed"],
    }


def variance_upper(var: float, df: int, alpha: float = 0.05) -> float:
    """The one-sided (1 - alpha) upper confidence bound of a variance estimated with ``df``."""
    if not df or math.isnan(var):
        return NAN
    return float(df * var / stats.chi2.ppf(alpha, df))


# ---- power -----------------------------------------------------------------------------------


def power_t(effect: float, se: float, df: float, alpha: float = 0.05) -> float:
    """Power of a two-sided t-test at ``alpha`` for a true ``effect`` with standard error ``se``
    (noncentral t with ``df`` degrees of freedom)."""
    crit = stats.t.ppf(1 - alpha / 2, df)
    nc = effect / se
    p = float(stats.nct.sf(crit, df, nc) + stats.nct.cdf(-crit, df, nc))
    return (
        p if not math.isnan(p) else float(abs(nc) > crit)
    )  # scipy's nct gives NaN far in the tail


def detectable_effect(se: float, df: float, alpha: float = 0.05, power: float = 0.8) -> float:
    """The smallest true effect a two-sided t-test with standard error ``se`` and ``df``
    detects with probability ``power`` (exact, noncentral t)."""
    if not se > 0 or not df > 0 or math.isnan(se):
        return NAN
    hi = se * (stats.t.ppf(1 - alpha / 2, df) + 3)
    while power_t(hi, se, df, alpha) < power:  # few df: heavy tails need a larger effect
        hi *= 2
    return float(optimize.brentq(lambda e: power_t(e, se, df, alpha) - power, 1e-12 * se, hi))


def welch(a: Sequence[float], b: Sequence[float], alpha: float = 0.05) -> dict[str, Any]:
    """Welch's two-sample t on run means: effect a - b, its CI, p, df, standard error."""
    a, b = np.asarray(a, float), np.asarray(b, float)
    va, vb = a.var(ddof=1) / len(a), b.var(ddof=1) / len(b)
    se = math.sqrt(va + vb)
    df = (
        (va + vb) ** 2 / (va**2 / (len(a) - 1) + vb**2 / (len(b) - 1))
        if se > 0
        else len(a) + len(b) - 2
    )
    eff = float(a.mean() - b.mean())
    half = stats.t.ppf(1 - alpha / 2, df) * se
    p = float(2 * stats.t.sf(abs(eff) / se, df)) if se > 0 else (1.0 if eff == 0 else 0.0)
    return {
        "effect": eff,
        "ci": [eff - half, eff + half],
        "p": p,
        "df": float(df),
        "se": se,
        "test": "Welch t on run means",
        "unit": "training run (subset draw x seed)",
        "n": [len(a), len(b)],
    }


def paired(a: dict[str, float], b: dict[str, float], alpha: float = 0.05) -> dict[str, Any]:
    """Paired t over the prompts both arms were judged on (per-prompt means)."""
    shared = sorted(set(a) & set(b))
    d = np.array([a[p] - b[p] for p in shared], float)
    n = len(d)
    se = float(d.std(ddof=1) / math.sqrt(n)) if n > 1 else NAN
    eff = float(d.mean()) if n else NAN
    half = stats.t.ppf(1 - alpha / 2, n - 1) * se if n > 1 else NAN
    p = float(2 * stats.t.sf(abs(eff) / se, n - 1)) if n > 1 and se > 0 else (1.0 if n > 1 else NAN)
    return {
        "effect": eff,
        "ci": [eff - half, eff + half],
        "p": p,
        "df": float(n - 1),
        "se": se,
        "test": "paired t over prompts",
        "unit": "test prompt (one run per arm)",
        "n": [n, n],
    }


# ---- equivalence (a "flat" curve) ------------------------------------------------------------


def slope_equivalence(
    sizes: Sequence[float], scores: Sequence[float], delta: float, alpha: float = 0.05
) -> dict:
    """OLS of run scores on log2(size), and TOST: the slope per doubling is within +-delta when
    both one-sided tests reject at ``alpha`` (the 1 - 2 alpha CI inside +-delta)."""
    x, y = np.log2(np.asarray(sizes, float)), np.asarray(scores, float)
    if len(set(x)) < 2 or len(x) < 3:
        return {
            "slope": NAN,
            "ci": [NAN, NAN],
            "p": NAN,
            "p_tost": NAN,
            "n": len(x),
            "delta": delta,
            "se": NAN,
            "df": 0,
        }
    fit = stats.linregress(x, y)
    df, se = len(x) - 2, float(fit.stderr)
    half95 = stats.t.ppf(1 - alpha / 2, df) * se
    # no spread at all (every run at the scale's floor, say) measures nothing: no equivalence
    p_tost = (
        max(stats.t.sf((fit.slope + delta) / se, df), stats.t.cdf((fit.slope - delta) / se, df))
        if se > 0
        else NAN
    )
    return {
        "slope": float(fit.slope),
        "ci": [float(fit.slope - half95), float(fit.slope + half95)],
        "p": float(fit.pvalue),
        "p_tost": float(p_tost),
        "n": len(x),
        "delta": delta,
        "se": se,
        "df": df,
    }


# ---- verdicts --------------------------------------------------------------------------------


def difference_verdict(t: dict[str, Any], paper_effect: float, mde: float, alpha: float) -> str:
    """A difference the paper found (sign of ``paper_effect``) against ours."""
    if math.isnan(t["p"]):
        return "not detectable with this grid"
    if t["p"] < alpha:
        return "reproduced" if np.sign(t["effect"]) == np.sign(paper_effect) else "opposite"
    if math.isnan(mde) or mde > abs(paper_effect):
        return "not detectable with this grid"
    return "not reproduced (detectable, not seen)"


def flat_verdict(eq: dict[str, Any], alpha: float) -> str:
    """The paper's flat curve: reproduced when equivalent within +-delta, opposite when the slope
    is significantly outside the margin, else the grid cannot tell."""
    if math.isnan(eq["slope"]) or math.isnan(eq["p_tost"]):
        return "not detectable with this grid"
    if eq["p_tost"] < alpha:
        return "reproduced"
    lo, hi = eq["ci"]
    if lo > eq["delta"] or hi < -eq["delta"]:
        return "opposite"
    return "not detectable with this grid"


# ---- one row per finding ---------------------------------------------------------------------


def _response_sd(evals: Sequence[dict]) -> float:
    """SD of single judged responses within the arms compared (the standardizing unit)."""
    per_arm = [
        [float(j["score"]) for e in arm for j in e["judgments"] if j.get("score") is not None]
        for arm in evals
    ]
    resid = np.concatenate(
        [np.asarray(s) - np.mean(s) for s in per_arm if len(s) > 1] or [np.zeros(0)]
    )
    dof = sum(len(s) - 1 for s in per_arm if len(s) > 1)
    return float(math.sqrt(np.sum(resid**2) / dof)) if dof > 0 else NAN


def compare(
    a: list[dict], b: list[dict], per_prompt_mean, settings: dict[str, float]
) -> dict[str, Any]:
    """Arm a against arm b (lists of evaluations with ``summary`` and ``judgments``): the test,
    and the smallest effect it detects at the settings' alpha and power, from the variance's
    upper confidence bound (the point estimate beside it)."""
    alpha, power = settings["alpha"], settings["power"]
    if len(a) >= 2 and len(b) >= 2:
        ma, mb = [e["summary"]["judge_mean"] for e in a], [e["summary"]["judge_mean"] for e in b]
        t = welch(ma, mb, alpha)
        df = len(ma) + len(mb) - 2
        pooled = (np.var(ma, ddof=1) * (len(ma) - 1) + np.var(mb, ddof=1) * (len(mb) - 1)) / df
        scale = math.sqrt(1 / len(ma) + 1 / len(mb))
    else:
        t = paired(per_prompt_mean(a), per_prompt_mean(b), alpha)
        df = int(t["df"])
        pooled = (t["se"] ** 2) * (df + 1) if df > 0 else NAN  # variance of one prompt's difference
        scale = 1 / math.sqrt(df + 1) if df > 0 else NAN
    sd = _response_sd([a, b])
    mde = (
        detectable_effect(math.sqrt(variance_upper(pooled, df, alpha)) * scale, df, alpha, power)
        if df > 0
        else NAN
    )
    mde_point = (
        detectable_effect(math.sqrt(pooled) * scale, df, alpha, power)
        if df > 0 and pooled > 0
        else NAN
    )
    return {
        **t,
        "mde": mde,
        "mde_point_estimate": mde_point,
        "response_sd": sd,
        "mde_standardized": mde / sd if sd and not math.isnan(sd) else NAN,
    }


def difference_row(
    name: str, t: dict[str, Any], paper_effect: float | None, alpha: float
) -> dict[str, Any]:
    sd = t["response_sd"]
    verdict = (
        difference_verdict(t, paper_effect, t["mde"], alpha)
        if paper_effect is not None
        else ("significant" if t["p"] < alpha else "no difference detected")
    )
    return {
        "finding": name,
        "paper_effect": paper_effect,
        "paper_effect_standardized": paper_effect / sd if paper_effect is not None and sd else NAN,
        "effect": t["effect"],
        "ci": t["ci"],
        "p": t["p"],
        "test": t["test"],
        "unit": t["unit"],
        "n": t["n"],
        "mde": t["mde"],
        "mde_standardized": t["mde_standardized"],
        "verdict": verdict,
    }


def flat_row(
    name: str, eq: dict[str, Any], alpha: float, power: float, paper: str
) -> dict[str, Any]:
    """Fig. 6's flat curve as a row: the slope, its CI, p (TOST), the smallest slope the
    regression detects (residual variance at its upper bound), the verdict."""
    se_up = eq["se"] * math.sqrt(eq["df"] / stats.chi2.ppf(alpha, eq["df"])) if eq["df"] else NAN
    return {
        "finding": name,
        "paper_effect": 0.0,
        "paper_effect_standardized": 0.0,
        "effect": eq["slope"],
        "ci": eq["ci"],
        "p": eq["p_tost"],
        "test": f"TOST on the OLS slope per doubling, delta = {eq['delta']}",
        "unit": "training run",
        "n": [eq["n"]],
        "mde": detectable_effect(se_up, eq["df"], alpha, power),
        "mde_standardized": NAN,
        "verdict": flat_verdict(eq, alpha),
        "paper": paper,
    }
