"""Judge drift: an evaluation judged again by the same judge with the same settings, and the
agreement between the two passes (exact and within one level), so an API judge's
nondeterminism is measured, not assumed.

An LLM judge's second pass asks anew (``for_pass``: its cache keys carry the pass number, so
the first pass's cached replies are not read back); a deterministic judge (the reference
judge) is simply run again and agrees with itself by construction. The second pass's judgments
go to ``evals/<eval_id>/judgments_pass<n>.jsonl`` and the comparison to ``drift_pass<n>.json``
beside the evaluation; the evaluation itself is never changed.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from limalab.eval.judges import judge_all
from limalab.eval.stats import agreement
from limalab.tracking.io import atomic_write_json, read_jsonl, write_jsonl


def rejudge(eval_dir: Path, prompts: list[dict], judge: Any, pass_no: int = 2) -> dict:
    """Judge ``eval_dir``'s generations again (pass ``pass_no``) and compare with its judgments."""
    path = eval_dir / f"drift_pass{pass_no}.json"
    if path.exists():
        return json.loads(path.read_text())
    summary = json.loads((eval_dir / "summary.json").read_text())
    if summary.get("status", "complete") != "complete":
        raise ValueError(
            f"drift: {eval_dir} is not complete ({summary.get('status_reason')}); rerun it first"
        )
    if summary.get("judge") != judge.id:
        raise ValueError(
            f"drift: {eval_dir} was judged by {summary.get('judge')!r}, not {judge.id!r}; "
            "re-judge with the same judge and settings"
        )
    gens, first = (
        read_jsonl(eval_dir / "generations.jsonl"),
        read_jsonl(eval_dir / "judgments.jsonl"),
    )
    by_id = {p["prompt_id"]: p for p in prompts}
    again = judge.for_pass(pass_no) if hasattr(judge, "for_pass") else judge
    second = judge_all(
        again, [(by_id[g["prompt_id"]], g["response"], g["terminated"]) for g in gens]
    )
    rows = [
        {"prompt_id": g["prompt_id"], "sample": g["sample"], **j.to_dict()}
        for g, j in zip(gens, second, strict=True)
    ]
    write_jsonl(eval_dir / f"judgments_pass{pass_no}.jsonl", rows)
    pairs = [
        (a["score"], b.score)
        for a, b in zip(first, second, strict=True)
        if a["score"] is not None and b.score is not None
    ]
    out = {
        "eval_id": summary["eval_id"],
        "judge": judge.id,
        "pass": pass_no,
        "n_responses": len(gens),
        "n_both_valid": len(pairs),
        "n_invalid_first": sum(a["score"] is None for a in first),
        "n_invalid_again": sum(b.score is None for b in second),
        **agreement([a for a, _ in pairs], [b for _, b in pairs]),
    }
    if getattr(again, "usage", None) is not None:
        out["judge_usage"] = again.usage.to_dict()
    atomic_write_json(path, out)
    return out


def drift_records(eval_dir: Path) -> list[dict]:
    """Every drift comparison recorded beside an evaluation."""
    return [json.loads(p.read_text()) for p in sorted(eval_dir.glob("drift_pass*.json"))]
