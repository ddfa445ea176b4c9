"""What W&B shows of a run, read back from the offline ``.wandb`` records with wandb's own
protobufs (tests/wandb_records.py): the run's readable name, group, tags and job type, the
headline with its CI bounds as summary scalars, the dev score of each candidate, the tables,
and the lineage edges data -> train run -> model -> evaluate run -> evaluation."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from limalab.tracking.loggers import results_artifact
from tests.conftest import the_run
from tests.wandb_records import run_views

pytestmark = pytest.mark.slow


def test_a_synced_run_tells_its_story(smoke_run: tuple[Path, str]) -> None:
    work, stdout = smoke_run
    rd = the_run(work / "runs")
    results = json.loads((rd / "results.json").read_text())
    manifest = json.loads((rd / "manifest.json").read_text())
    views = {v["job_type"]: v for v in run_views(rd / "wandb")}
    assert set(views) == {"train", "evaluate"}
    train, ev = views["train"], views["evaluate"]
    name = f"lima_mix-n60-s0-{rd.name[:6]}"
    assert (train["name"], ev["name"]) == (name, name + "-eval")
    assert train["id"] == results["wandb_run_id"] and train["group"] == ev["group"] == "lima_mix"
    assert {"data:lima_mix", "n:60", "seed:0", "model:miniature-pretrained"} <= set(train["tags"])
    assert train["config"]["run_id"] == rd.name and train["config"]["data.name"] == "lima_mix"
    # the headline with its CI bounds as scalars (a bar chart's error bars), dev numbers apart
    s, m = train["summary"], results["metrics"]
    assert (
        s["test/judge_mean"],
        s["test/judge_ci95_lo"],
        s["test/judge_ci95_hi"],
    ) == pytest.approx((m["judge_mean"], *m["judge_ci95"]))
    assert s["dev/judge_mean"] == pytest.approx(m["dev_judge_mean"]) and s[
        "dev/ppl"
    ] == pytest.approx(m["dev_ppl"])
    assert not any(k.startswith("test/dev_") for k in s)
    assert (
        s["run/status"] == "complete"
        and s["run/selected_checkpoint"] == results["selected_checkpoint"]
    )
    # the dev score of each candidate checkpoint, over select/epoch, and as a table
    cands = sorted(results["selection"], key=lambda c: c["epoch"])
    assert train["history"]["select/dev_judge_mean"] == pytest.approx(
        [c["dev_judge_mean"] for c in cands]
    )
    assert s["select/candidates/nrows"] == len(cands)
    assert s["test/generations/nrows"] == m["n_judged"]
    # lineage: data -> train run -> model -> evaluate run -> evaluation
    logged = {a["type"]: a for a in train["logged"]}
    assert [(a["type"], a["name"]) for a in train["used"]] == [
        ("dataset", f"data-{manifest['sha256'][:16]}")
    ]
    assert (
        logged["model"]["name"] == f"model-{rd.name}"
        and logged["run-results"]["name"] == f"run-{rd.name}"
    )
    assert {p for p, _ in logged["model"]["files"]} >= {
        "config.json",
        "model.safetensors",
        "generation_config.json",
    }
    assert [(a["type"], a["name"], a["digest"]) for a in ev["used"]] == [
        ("model", f"model-{rd.name}", logged["model"]["digest"])
    ]  # the train run's version, not a copy
    [evaluation] = [a for a in ev["logged"] if a["type"] == "evaluation"]
    assert evaluation["name"] == f"eval-{rd.name}-{results['default_eval']}"
    assert {p for p, _ in evaluation["files"]} == {
        "generations.jsonl",
        "judgments.jsonl",
        "summary.json",
    }
    assert ev["summary"]["test/judge_ci95_lo"] == pytest.approx(m["judge_ci95"][0])
    # the run-results artifact rebuilt from the finished run directory is the train run's version
    # (what the report's W&B runs use: analysis/wandb_report.py)
    assert results_artifact(rd, rd / "results.json").digest == logged["run-results"]["digest"]
    # offline: where the records are and how to upload them
    assert (
        f"upload them with: wandb sync {work / 'runs' / rd.name / 'wandb'}/offline-run-*" in stdout
    )
