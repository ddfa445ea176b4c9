"""The real commands, end to end, on the smoke config: every file of the run-directory
contract, skip on rerun, and the multirun."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import yaml

from limalab.tracking.io import read_jsonl
from limalab.tracking.loggers import manifest_artifact_name
from tests.conftest import ROOT, SMOKE, run_cli, the_run
from tests.wandb_records import run_views

pytestmark = pytest.mark.slow


def test_run_directory_contract(smoke_run: tuple[Path, str]) -> None:
    work, stdout = smoke_run
    rd = the_run(work / "runs")
    assert (
        f"run directory: {work / 'runs' / rd.name}" in stdout
        and "judge mean" in stdout
        and "95% CI" in stdout
    )
    cfg = yaml.safe_load((rd / "config.yaml").read_text())
    assert cfg["data"]["name"] == "lima_mix" and cfg["data"]["size"] == 60
    prov = json.loads((rd / "provenance.json").read_text())
    assert {
        "git_sha",
        "git_dirty",
        "packages",
        "versions",
        "world",
        "base_model",
        "host",
        "started_at",
        "ended_at",
        "wandb_id",
    } <= set(prov)
    assert {"world", "pipeline", "rubric"} == set(prov["versions"])
    manifest = json.loads((rd / "manifest.json").read_text())
    assert manifest["n_examples"] == len(manifest["example_ids"]) == 60
    assert len(manifest["sha256"]) == 64 and manifest["subset_seed"] == 0 and manifest["seed"] == 0
    assert set(manifest["source_counts"]) == {
        "se_stem",
        "se_other",
        "wikihow",
        "writingprompts",
        "natural_instructions",
        "authors",
    }
    assert manifest["filter_stats"]["se_stem"]["kept"] > 0 and manifest["n_tokens"] > 0
    assert (rd / "checkpoints" / "last.ckpt").exists()
    assert sorted(p.name for p in (rd / "checkpoints").glob("epoch-*.pt")) == [
        "epoch-001.pt",
        "epoch-002.pt",
        "epoch-003.pt",
    ]
    for f in ("config.json", "model.safetensors", "tokenizer.json", "tokenizer_config.json"):
        assert (rd / "model" / f).exists(), f
    results = json.loads((rd / "results.json").read_text())
    assert results["status"] == "complete" and results["run_id"] == rd.name
    m = results["metrics"]
    assert 1 <= m["judge_mean"] <= 6 and m["judge_ci95"][0] <= m["judge_mean"] <= m["judge_ci95"][1]
    assert m["n_judged"] == 24 and m["n_invalid"] == 0 and m["dev_ppl"] > 1
    assert results["selected_checkpoint"] in {
        "epoch-1",
        "epoch-2",
    }  # the window (1/3, 2/3) of 3 epochs
    assert [s["epoch"] for s in results["selection"]] == [1, 2]
    best = max(results["selection"], key=lambda s: s["dev_judge_mean"])
    assert results["selected_checkpoint"] == f"epoch-{best['epoch']}"
    assert results["tokens_trained"] > 0 and results["wandb_run_id"] == prov["wandb_id"]
    assert (
        "accuracy" in results["knowledge_probe"] and "named_accuracy" in results["knowledge_probe"]
    )
    assert (
        0 <= results["knowledge_retained"]["accuracy"] <= 1
        and results["knowledge_retained"]["n_facts"] > 0
    )
    evals = sorted((rd / "evals").iterdir())
    assert len(evals) == 3  # dev for each window epoch, then test
    for e in evals:
        gens, judgments = read_jsonl(e / "generations.jsonl"), read_jsonl(e / "judgments.jsonl")
        summary = json.loads((e / "summary.json").read_text())
        assert len(gens) == len(judgments) == summary["n_judged"]
        assert len({(g["prompt_id"], g["sample"]) for g in gens}) == len(gens)
        assert {"prompt", "response", "decoding", "terminated"} <= set(gens[0])
        assert {"score", "subscores", "judge", "rationale"} <= set(judgments[0])
        assert 0 <= summary["eot_rate"] <= 1 and summary["truncation_rate"] == pytest.approx(
            1 - summary["eot_rate"]
        )
    assert (rd / "logs" / "metrics.csv").exists()
    assert list((rd / "wandb").glob("offline-run-*")), (
        "W&B should log offline inside the run directory"
    )
    # the manifest went to W&B as a dataset artifact named by its hash (offline: in the .wandb file)
    wandb_bytes = b"".join(p.read_bytes() for p in (rd / "wandb").rglob("*.wandb"))
    assert manifest_artifact_name(manifest).encode() in wandb_bytes
    # and the run's readable record, for analysis --source wandb
    assert f"run-{rd.name}".encode() in wandb_bytes and b"run-results" in wandb_bytes


def test_rerun_skips_a_complete_run(smoke_run: tuple[Path, str], cache_dir: Path) -> None:
    work, _ = smoke_run
    rd = the_run(work / "runs")
    before = (rd / "results.json").read_bytes()
    proc = run_cli(
        [str(ROOT / "src" / "train.py"), *SMOKE, f"runs_dir={work / 'runs'}"], cache_dir, work
    )
    assert "skipped" in proc.stdout and rd.name in proc.stdout
    assert (rd / "results.json").read_bytes() == before


def test_multirun_gives_one_directory_per_size(cache_dir: Path, tmp_path: Path) -> None:
    runs = tmp_path / "runs"
    run_cli(
        [str(ROOT / "src" / "train.py"), "-m", "data.size=40,80", *SMOKE, f"runs_dir={runs}"],
        cache_dir,
        tmp_path,
    )
    dirs = [d for d in runs.iterdir() if not d.name.startswith(".")]
    sizes = sorted(json.loads((d / "manifest.json").read_text())["n_examples"] for d in dirs)
    assert sizes == [40, 80] and len({d.name for d in dirs}) == 2
    ids = [
        set(json.loads((d / "manifest.json").read_text())["example_ids"])
        for d in sorted(
            dirs, key=lambda d: json.loads((d / "manifest.json").read_text())["n_examples"]
        )
    ]
    assert ids[0] <= ids[1]  # nested subsets
    assert all(json.loads((d / "results.json").read_text())["status"] == "complete" for d in dirs)
    groups = set()
    for d in dirs:  # one process, two runs: each logged to its own W&B run, in its own directory
        wid = json.loads((d / "provenance.json").read_text())["wandb_id"]
        assert [p.name for p in (d / "wandb").glob("offline-run-*")] and all(
            p.name.endswith(wid) or p.name.endswith(f"{wid}-eval")
            for p in (d / "wandb").glob("offline-run-*")
        ), d
        launch = json.loads((d / "provenance.json").read_text())["launch"]
        assert (Path(launch["dir"]) / "run").resolve() == d.resolve() and launch["job"] in (0, 1)
        views = run_views(d / "wandb")
        assert {v["job_type"] for v in views} == {"train", "evaluate"}
        groups |= {v["group"] for v in views}
    [group] = groups  # the multirun is the group of all its runs (no logger.group set)
    assert (
        group.startswith("multirun-")
        and (runs / ".launches" / group).is_dir()
        and launch["multirun"] == group
    )


def test_summary_table_reads_runs_by_their_config(smoke_run: tuple[Path, str]) -> None:
    from analysis.summarize import collect, markdown

    work, _ = smoke_run
    rows = collect(work / "runs")
    assert len(rows) == 1 and rows[0]["data"] == "lima_mix" and rows[0]["n_examples"] == 60
    assert rows[0]["ci95_lo"] <= rows[0]["judge_mean"] <= rows[0]["ci95_hi"]
    assert "| run_id |" in markdown(rows)
