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
