"""`src/evaluate.py` on a copy of the trained smoke run: re-judging reuses the generations, a
new decoding adds a new evaluation beside the old, pairwise compares two runs, and the API key
never reaches a file. Each complete evaluation is an evaluate W&B run, as the pipeline's
evaluate stage makes one (read back from the offline records)."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from limalab.tracking.io import read_jsonl
from tests.conftest import ROOT, run_cli, the_run
from tests.judge_server import JudgeServer
from tests.wandb_records import run_views

pytestmark = pytest.mark.slow
SECRET = "sk-test-LIMALAB-never-logged-0123456789"


@pytest.fixture()
def run_copy(smoke_run: tuple[Path, str], tmp_path: Path) -> Path:
    src = the_run(smoke_run[0] / "runs")
    dst = tmp_path / "runs" / src.name
    shutil.copytree(src, dst)
    return dst


def run_cli_env(args: list[str], cache_dir: Path, cwd: Path, env: dict | None = None):
    """run_cli with extra environment variables (an API key) for the child only."""
    old = {k: os.environ.get(k) for k in (env or {})}
    os.environ.update(env or {})
    try:
        return run_cli(args, cache_dir, cwd)
    finally:
        for k, v in old.items():
            os.environ.pop(k) if v is None else os.environ.__setitem__(k, v)


def evaluate(args: list[str], cache_dir: Path, cwd: Path, env: dict | None = None):
    return run_cli_env([str(ROOT / "src" / "evaluate.py"), *args], cache_dir, cwd, env)


def test_rejudge_with_likert_reuses_generations_and_leaks_no_key(
    run_copy: Path, cache_dir: Path, tmp_path: Path
) -> None:
    results_before = (run_copy / "results.json").read_bytes()
    default = json.loads(results_before)["default_eval"]
    old = json.loads((run_copy / "evals" / default / "summary.json").read_text())
    gen_file = run_copy / "generations" / f"{old['generation_id']}.jsonl"
    mtime = gen_file.stat().st_mtime_ns
    with JudgeServer() as server:
        # a reply cache of its own: what other tests asked this judge must not answer for it
        args = [
            f"run_dir={run_copy}",
            "judge=likert",
            f"judge.base_url={server.url}",
            "judge.model=local-judge",
            "judge.concurrency=4",
            f"judge.reply_cache={tmp_path / 'replies.sqlite'}",
        ]
        proc = evaluate(args, cache_dir, tmp_path, {"OPENAI_API_KEY": SECRET})
        assert "judge mean 5.00" in proc.stdout and server.auth == {f"Bearer {SECRET}"}
        sent = server.total()
        n = old["n_judged"] + old["n_invalid"]
        # at most one request per response: identical texts are not paid twice
        assert 0 < sent <= n
        new_dir = Path(proc.stdout.split("evaluation: ")[1].split()[0])
        summary = json.loads((new_dir / "summary.json").read_text())
        assert (
            summary["generation_id"] == old["generation_id"]
            and gen_file.stat().st_mtime_ns == mtime
        )
        usage = summary["judge_usage"]
        assert summary["judge"].startswith("likert:local-judge@") and usage["requests"] == sent
        assert usage["requests"] + usage["cache_hits"] == n
        assert summary["judge_usage"]["cost_usd"] > 0
        v = summary["validation"]  # the likert judge checked against the reference judge
        assert v["against"].startswith("reference@") and v["n_valid"] == n and 0 <= v["exact"] <= 1
        # a rerun sends nothing: the evaluation exists, and the replies are cached anyway
        shutil.rmtree(new_dir)
        evaluate(args, cache_dir, tmp_path, {"OPENAI_API_KEY": SECRET})
        assert server.total() == sent
        # judge drift: the same judge and settings once more ask anew, and the two passes are
        # compared
        evaluate([*args, "drift=true"], cache_dir, tmp_path, {"OPENAI_API_KEY": SECRET})
        drift = json.loads((new_dir / "drift_pass2.json").read_text())
        assert server.total() == 2 * sent and drift["n_both_valid"] == n and drift["exact"] == 1.0
        out = subprocess.run(
            [sys.executable, "-m", "analysis.arms", str(run_copy.parent)],
            cwd=ROOT,
            capture_output=True,
            text=True,
            check=True,
        ).stdout
        assert "## Judge drift" in out and "| 1.00 | 1.00 | 0, 0 |" in out
    assert (run_copy / "results.json").read_bytes() == results_before  # never written over
    assert (run_copy / "evals" / default / "summary.json").exists()
    for root in (run_copy, cache_dir, tmp_path):
        for f in root.rglob("*"):
            if f.is_file() and f.stat().st_size < 50_000_000:
                assert SECRET.encode() not in f.read_bytes(), f


def test_new_decoding_is_a_new_evaluation(run_copy: Path, cache_dir: Path, tmp_path: Path) -> None:
    before = set(p.name for p in (run_copy / "evals").iterdir())
    proc = evaluate(
        [f"run_dir={run_copy}", "eval.decoding.repetition_penalty=1.0"], cache_dir, tmp_path
    )
    new = set(p.name for p in (run_copy / "evals").iterdir()) - before
    assert len(new) == 1 and "judge mean" in proc.stdout
    s = json.loads((run_copy / "evals" / new.pop() / "summary.json").read_text())
    assert (
        s["decoding"]["repetition_penalty"] == 1.0 and s["k"] == 2
    )  # the run's own k, one key changed
    assert 0 <= s["eot_rate"] <= 1 and set(s["categories"]) == {"fail", "pass", "excellent"}
    # an evaluate W&B run like the pipeline's: the train run's group and name + -eval-<eval id>, the
    # train run's model version used, the evaluation logged, the headline with its CI in the summary
    results = json.loads((run_copy / "results.json").read_text())
    views = run_views(run_copy / "wandb")
    [train] = [v for v in views if v["job_type"] == "train"]
    [ev] = [
        v for v in views if v["job_type"] == "evaluate" and v["config"]["eval_id"] == s["eval_id"]
    ]
    assert (ev["name"], ev["id"]) == (
        f"{train['name']}-eval-{s['eval_id']}",
        f"{results['wandb_run_id']}-eval-{s['eval_id']}",
    )
    assert ev["group"] == train["group"] and ev["tags"] == train["tags"]
    [model] = [a for a in train["logged"] if a["type"] == "model"]
    assert [(a["type"], a["name"], a["digest"]) for a in ev["used"]] == [
        ("model", model["name"], model["digest"])
    ]
    [evaluation] = ev["logged"]
    assert (evaluation["type"], evaluation["name"]) == (
        "evaluation",
        f"eval-{run_copy.name}-{s['eval_id']}",
    )
    assert {p for p, _ in evaluation["files"]} == {
        "generations.jsonl",
        "judgments.jsonl",
        "summary.json",
    }
    assert (
        ev["summary"]["test/judge_mean"],
        ev["summary"]["test/judge_ci95_lo"],
        ev["summary"]["test/judge_ci95_hi"],
    ) == pytest.approx((s["judge_mean"], *s["judge_ci95"]))
    assert ev["config"]["spec"]["decoding"]["repetition_penalty"] == 1.0
    assert f"wandb sync {run_copy / 'wandb'}/offline-run-*" in proc.stdout
    # the analysis reads both evaluations as two arms, and the selection figure
    out = subprocess.run(
        [
            sys.executable,
            "-m",
            "analysis.arms",
            str(run_copy.parent),
            "--out",
            str(tmp_path / "rep"),
        ],
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    assert (
        "rp=1.0" in out
        and "Paired tests" in out
        and (tmp_path / "rep" / "likert_histograms.png").exists()
    )
    out = subprocess.run(
        [
            sys.executable,
            "-m",
            "analysis.selection",
            str(run_copy.parent),
            "--out",
            str(tmp_path / "rep"),
        ],
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    assert "| yes |" in out and (tmp_path / "rep" / "perplexity_vs_quality.png").exists()


def test_pairwise_compare_with_reference_backend(
    run_copy: Path, cache_dir: Path, tmp_path: Path
) -> None:
    other = run_copy.parent / "other"
    shutil.copytree(run_copy, other)
    proc = evaluate(
        [f"run_dir={run_copy}", f"compare_to={other}", "judge=pairwise", "judge.backend=reference"],
        cache_dir,
        tmp_path,
    )
    assert "pairwise pairwise:reference@" in proc.stdout
    d = next(p for p in (run_copy / "evals").iterdir() if p.name.startswith("pairwise-"))
    s = json.loads((d / "summary.json").read_text())
    pairs = read_jsonl(d / "pairs.jsonl")
    assert s["n_pairs"] == len(pairs) > 0
    assert s["tie"] == 1.0  # the same model's same samples against themselves
    [ev] = [v for v in run_views(run_copy / "wandb") if v["config"].get("eval_id") == d.name]
    assert ev["job_type"] == "evaluate" and [a["type"] for a in ev["used"]] == [
        "model",
        "model",
    ]  # both runs'
    assert {p for p, _ in ev["logged"][0]["files"]} == {"pairs.jsonl", "summary.json"}
    assert ev["summary"]["test/tie"] == 1.0 and ev["summary"]["test/n_pairs"] == s["n_pairs"]


def test_bad_evaluate_configs(run_copy: Path, cache_dir: Path, tmp_path: Path) -> None:
    with pytest.raises(AssertionError, match="holds no finished run"):
        evaluate([f"run_dir={tmp_path}"], cache_dir, tmp_path)
    p = tmp_path / "mine.jsonl"
    p.write_text('{"prompt": "How do I tie a knot?"}\n')
    with pytest.raises(AssertionError, match="judge=reference grades against the world"):
        evaluate([f"run_dir={run_copy}", f"prompts={p}"], cache_dir, tmp_path)
