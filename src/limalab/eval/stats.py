"""Statistics over judged samples: means with confidence intervals, over prompts.

Samples are nested in prompts (k generations per prompt), so the unit of the interval is the
prompt: each prompt's samples are averaged first, then the interval is taken over those means.
Treating k samples as independent would shrink the interval by about sqrt(k) for no reason.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence
from numbers import Real
from typing import Any

import numpy as np
from scipy import stats as _st

BOOTSTRAP_RESAMPLES = 2000
BOOTSTRAP_SEED = 0
_BOOTSTRAP_CHUNK_CELLS = 4_000_000  # resample matrix cells per chunk, bounds memory (~32 MB)


def mean_ci(values: Iterable[float], confidence: float = 0.95) -> dict[str, float]:
    """Mean and two-sided Student-t interval: ``{mean, lo, hi, n, sem}``.

    n = 0 gives NaNs; n = 1 gives a degenerate interval at the value (sem 0).
    """
    x = np.asarray(list(values), dtype=float)
    n = int(x.size)
    if n == 0:
        nan = float("nan")
        return {"mean": nan, "lo": nan, "hi": nan, "n": 0, "sem": nan}
    mean = float(x.mean())
    if n == 1:
        return {"mean": mean, "lo": mean, "hi": mean, "n": 1, "sem": 0.0}
    sem = float(x.std(ddof=1) / math.sqrt(n))
    half = float(_st.t.ppf(0.5 + confidence / 2, df=n - 1)) * sem
    return {"mean": mean, "lo": mean - half, "hi": mean + half, "n": n, "sem": sem}


def bootstrap_ci(
    values: Iterable[float],
    confidence: float = 0.95,
    n_resamples: int = BOOTSTRAP_RESAMPLES,
    seed: int = BOOTSTRAP_SEED,
) -> tuple[float, float]:
    """Percentile bootstrap interval of the mean; deterministic for a given seed."""
    x = np.asarray(list(values), dtype=float)
    n = int(x.size)
    if n == 0:
        return (float("nan"), float("nan"))
    rng = np.random.default_rng(seed)
    rows = max(1, _BOOTSTRAP_CHUNK_CELLS // n)
    means = np.empty(n_resamples)
    for start in range(0, n_resamples, rows):
        stop = min(n_resamples, start + rows)
        means[start:stop] = x[rng.integers(0, n, size=(stop - start, n))].mean(axis=1)
    alpha = (1 - confidence) / 2
    lo, hi = np.quantile(means, [alpha, 1 - alpha])
    return (float(lo), float(hi))


def _is_number(v: Any) -> bool:
    # bools count (as 0/1): rates like "relevant" are means of booleans
    return isinstance(v, Real) and not (isinstance(v, float) and math.isnan(v))


def prompt_means(rows: Iterable[dict], key: str = "score") -> dict[str, float]:
    """Mean of ``row[key]`` per prompt_id over its samples; None (invalid) values are skipped.

    A prompt whose every sample is invalid does not appear.
    """
    sums: dict[str, float] = {}
    counts: dict[str, int] = {}
    for r in rows:
        v = r.get(key)
        if v is None:
            continue
        pid = r["prompt_id"]
        sums[pid] = sums.get(pid, 0.0) + float(v)
        counts[pid] = counts.get(pid, 0) + 1
    return {pid: sums[pid] / counts[pid] for pid in sums}


def _interval(means: Sequence[float]) -> dict[str, Any]:
    ci = mean_ci(means)
    return {
        "mean": ci["mean"],
        "ci95": [ci["lo"], ci["hi"]],
        "ci95_bootstrap": list(bootstrap_ci(means)),
        "n_prompts": ci["n"],
    }


def score_summary(rows: Sequence[dict]) -> dict[str, Any]:
    """Headline numbers for one set of judged samples.

    rows: dicts with ``prompt_id`` and ``score`` (None = invalid judge reply); optionally
    ``type`` (prompt type, for ``by_type``) and ``subscores`` (numeric entries are averaged,
    per prompt first, as ``<name>_mean`` with ``<name>_ci95``).
    """
    rows = list(rows)
    valid = [r for r in rows if r.get("score") is not None]
    means = list(prompt_means(valid).values())
    overall = _interval(means)
    histogram = {str(s): 0 for s in range(1, 7)}
    for r in valid:
        k = str(int(r["score"]))
        histogram[k] = histogram.get(k, 0) + 1

    out: dict[str, Any] = {
        "judge_mean": overall["mean"],
        "judge_ci95": overall["ci95"],
        "judge_ci95_bootstrap": overall["ci95_bootstrap"],
        "n_prompts": overall["n_prompts"],
        "n_judged": len(valid),
        "n_invalid": len(rows) - len(valid),
        "histogram": histogram,
    }

    types = sorted({r["type"] for r in valid if r.get("type") is not None})
    if types:
        out["by_type"] = {
            t: _interval(list(prompt_means(r for r in valid if r.get("type") == t).values()))
            for t in types
        }

    # subscores: flattened to one row per (sample, name), so prompt_means nests them the same way
    names: list[str] = []
    for r in rows:
        for name, v in (r.get("subscores") or {}).items():
            if _is_number(v) and name not in names:
                names.append(name)
    for name in names:
        sub_rows = (
            {"prompt_id": r["prompt_id"], "v": v}
            for r in rows
            if _is_number(v := (r.get("subscores") or {}).get(name))
        )
        ci = mean_ci(prompt_means(sub_rows, key="v").values())
        out[f"{name}_mean"] = ci["mean"]
        out[f"{name}_ci95"] = [ci["lo"], ci["hi"]]
    return out


# ---- categories, lengths, agreement, paired comparisons, seeds ----------------------------

# Likert level -> LIMA's absolute categories (Section 4.3): 1-2 do not meet the prompt's
# requirements (fail), 3-4 meet them (pass), 5-6 are excellent (insightful, well organised).
CATEGORY = {1: "fail", 2: "fail", 3: "pass", 4: "pass", 5: "excellent", 6: "excellent"}


def category_rates(rows: Iterable[dict]) -> dict[str, float]:
    """Shares of fail / pass / excellent among valid judgments (documented mapping CATEGORY)."""
    cats = [CATEGORY[int(r["score"])] for r in rows if r.get("score") is not None]
    n = len(cats) or 1
    return {c: sum(x == c for x in cats) / n for c in ("fail", "pass", "excellent")}


def length_stats(lengths: Sequence[int]) -> dict[str, float]:
    x = np.asarray(lengths, dtype=float)
    if x.size == 0:
        return {"mean": float("nan"), "median": float("nan"), "p95": float("nan"), "n": 0}
    return {
        "mean": float(x.mean()),
        "median": float(np.median(x)),
        "p95": float(np.percentile(x, 95)),
        "n": int(x.size),
    }


def length_bias(scores: Sequence[float], lengths: Sequence[float]) -> dict[str, float]:
    """Spearman correlation of score with response length: judges that reward length show it."""
    if len(scores) < 3 or len(set(scores)) < 2 or len(set(lengths)) < 2:
        return {"spearman": float("nan"), "p": float("nan"), "n": len(scores)}
    r = _st.spearmanr(scores, lengths)
    return {"spearman": float(r.statistic), "p": float(r.pvalue), "n": len(scores)}


def agreement(a: Sequence[int], b: Sequence[int]) -> dict[str, float]:
    """Agreement of two judges on the same responses: rank correlations, exact and within-1."""
    x, y = np.asarray(a, dtype=float), np.asarray(b, dtype=float)
    n = int(x.size)
    if n == 0:
        nan = float("nan")
        return {"n": 0, "spearman": nan, "kendall": nan, "exact": nan, "within_1": nan}
    varied = len(set(a)) > 1 and len(set(b)) > 1
    return {
        "n": n,
        "spearman": float(_st.spearmanr(x, y).statistic) if varied else float("nan"),
        "kendall": float(_st.kendalltau(x, y).statistic) if varied else float("nan"),
        "exact": float(np.mean(x == y)),
        "within_1": float(np.mean(np.abs(x - y) <= 1)),
    }


def paired_test(
    a: dict[str, float], b: dict[str, float], confidence: float = 0.95
) -> dict[str, Any]:
    """Arm a against arm b on the prompts both were judged on (per-prompt means): the mean
    difference with its t-interval, the paired t-test and the Wilcoxon signed-rank test."""
    shared = sorted(set(a) & set(b))
    d = np.asarray([a[p] - b[p] for p in shared], dtype=float)
    ci = mean_ci(d, confidence)
    out: dict[str, Any] = {
        "n_prompts": len(shared),
        "mean_diff": ci["mean"],
        "ci95": [ci["lo"], ci["hi"]],
    }
    if len(shared) >= 2 and np.any(d != 0):
        out["t_p"] = float(_st.ttest_rel([a[p] for p in shared], [b[p] for p in shared]).pvalue)
        out["wilcoxon_p"] = float(_st.wilcoxon(d).pvalue)
    else:
        out["t_p"] = out["wilcoxon_p"] = 1.0 if len(shared) >= 2 else float("nan")
    return out


def over_seeds(seed_means: Sequence[float], confidence: float = 0.95) -> dict[str, Any]:
    """Aggregate an arm over training seeds: the mean of per-seed means with a t-interval over
    seeds (the seed is the unit of replication for training noise)."""
    ci = mean_ci(seed_means, confidence)
    return {
        "mean": ci["mean"],
        "ci95": [ci["lo"], ci["hi"]],
        "n_seeds": ci["n"],
        "sd": float(np.std(seed_means, ddof=1)) if len(seed_means) > 1 else 0.0,
    }


# ---- length control ------------------------------------------------------------------------


def _arm_sums(rows: Sequence[tuple[str, float, float]], index: dict[str, int]) -> np.ndarray:
    """Per prompt: [responses, sum score, sum length, sum length^2, sum score*length]."""
    s = np.zeros((len(index), 5))
    for pid, y, x in rows:
        s[index[pid]] += (1.0, y, x, x * x, y * x)
    return s


def _lc_fit(
    sums: np.ndarray, weights: np.ndarray
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """For prompt weights ``weights`` (resamples x prompts): each arm's mean over prompts, mean
    length over prompts, the common within-arm slope of score on length, and the common length.
    ``sums``: arms x prompts x 5 (``_arm_sums``)."""
    w = weights[:, None, :] * (sums[None, :, :, 0] > 0)  # resamples x arms x prompts
    n = np.maximum(sums[..., 0], 1)
    per_prompt_y, per_prompt_x = sums[..., 1] / n, sums[..., 2] / n
    wsum = np.maximum(w.sum(-1), 1e-12)
    mean_y, mean_x = (w * per_prompt_y).sum(-1) / wsum, (w * per_prompt_x).sum(-1) / wsum
    tot = np.stack(
        [w[:, a, :] @ sums[a] for a in range(sums.shape[0])], axis=1
    )  # response-level sums per arm
    cnt = np.maximum(tot[..., 0], 1e-12)
    sxy = tot[..., 4] - tot[..., 1] * tot[..., 2] / cnt
    sxx = tot[..., 3] - tot[..., 2] ** 2 / cnt
    with np.errstate(invalid="ignore", divide="ignore"):
        slope = sxy.sum(-1) / sxx.sum(-1)
    return mean_y, mean_x, slope, mean_x.mean(-1)


def length_controlled(
    arms: dict[str, Sequence[tuple[str, float, float]]],
    n_resamples: int = BOOTSTRAP_RESAMPLES,
    seed: int = BOOTSTRAP_SEED,
) -> dict[str, Any]:
    """Each arm's mean score read at a common response length, so "longer answers score higher"
    is separated from "better answers score higher" (issue 22).

    ``arms``: arm -> its judged responses ``(prompt_id, score, length)``. The score is regressed
    on length with one intercept per arm and one slope, fitted within arms over every response
    of the compared arms; an arm's length-controlled mean is its mean (over prompts, samples
    averaged first) moved along that slope from its own mean length to the common length (the
    mean of the arms' mean lengths). The 95% interval is a percentile bootstrap over prompts,
    the same resampled prompts for every arm (deterministic for a given seed). A slope that
    cannot be fitted (no length varies within an arm) leaves the controlled means NaN.
    """
    names = list(arms)
    prompts = sorted({pid for rows in arms.values() for pid, _, _ in rows})
    if not names or not prompts:
        return {
            "arms": {},
            "slope": float("nan"),
            "slope_ci95": [float("nan")] * 2,
            "common_length": float("nan"),
        }
    index = {p: i for i, p in enumerate(prompts)}
    sums = np.stack([_arm_sums(arms[a], index) for a in names])
    my, mx, b, common = _lc_fit(sums, np.ones((1, len(prompts))))
    rng = np.random.default_rng(seed)
    boot = rng.multinomial(
        len(prompts), np.full(len(prompts), 1 / len(prompts)), size=n_resamples
    ).astype(float)
    by, bx, bb, bc = _lc_fit(sums, boot)
    lc = my[0] - b[0] * (mx[0] - common[0])
    blc = by - bb[:, None] * (bx - bc[:, None])
    lo, hi = np.nanquantile(blc, [0.025, 0.975], axis=0) if np.isfinite(b[0]) else (lc, lc)
    out = {
        a: {
            "mean": float(my[0, i]),
            "length": float(mx[0, i]),
            "lc_mean": float(lc[i]),
            "lc_ci95": [float(lo[i]), float(hi[i])],
        }
        for i, a in enumerate(names)
    }
    slope_ci = np.nanquantile(bb, [0.025, 0.975]) if np.isfinite(b[0]) else (b[0], b[0])
    return {
        "arms": out,
        "slope": float(b[0]),
        "slope_ci95": [float(x) for x in slope_ci],
        "common_length": float(common[0]),
    }
