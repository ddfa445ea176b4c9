"""A judge endpoint that is down, then up: the run ends non-zero with a named status and
nothing recorded as complete; the rerun trains nothing again and asks the judge exactly for the
judgments that are missing, then completes with a number."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
from pathlib import Path

import pytest

from limalab.tracking.io import read_jsonl
from tests.conftest import ROOT, SMOKE
from tests.judge_server import JudgeServer

pytestmark = pytest.mark.slow


def closed_port_url() -> str:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    return f"http://127.0.0.1:{port}/v1"  # nothing listens there once the socket is closed


def likert(url: str, replies: Path) -> list[str]:
    return [
        "judge=likert",
        f"judge.base_url={url}",
        "judge.model=local-judge",
        "judge.max_retries=0",
        "judge.backoff_s=0.01",
        "judge.concurrency=4",
        f"judge.reply_cache={replies}",
    ]


def train(args: list[str], cache_dir: Path, work: Path) -> subprocess.CompletedProcess:
    env = {
        **os.environ,
        "LIMALAB_CACHE": str(cache_dir),
        "WANDB_MODE": "offline",
        "TMPDIR": str(work),
        "OPENAI_API_KEY": "sk-test-judge-down-0123456789",
    }
    return subprocess.run(
        [sys.executable, str(ROOT / "src" / "train.py"), *SMOKE, *args],
        cwd=work,
        env=env,
        capture_output=True,
        text=True,
        timeout=900,
    )


def snapshot_times(run_dir: Path) -> dict[str, int]:
    return {p.name: p.stat().st_mtime_ns for p in (run_dir / "checkpoints").iterdir()}


def test_judge_down_at_selection_then_up(
    cache_dir: Path, smoke_world: Path, tmp_path: Path
) -> None:
    runs, replies = tmp_path / "runs", tmp_path / "replies.sqlite"
    args = [f"runs_dir={runs}", "data.size=40"]
    down = train([*args, *likert(closed_port_url(), replies)], cache_dir, tmp_path)
    assert down.returncode == 3, down.stderr[-3000:]
    assert "judge_failed" in down.stderr and "stage select" in down.stderr
    [rd] = [d for d in runs.iterdir() if not d.name.startswith(".")]
    results = json.loads((rd / "results.json").read_text())
    assert results["status"] == "judge_failed" and results["failed_stage"] == "select"
    assert "NaN" not in (rd / "results.json").read_text()
    assert json.loads((rd / "stages" / "train.json").read_text())["status"] == "complete"
    trained = snapshot_times(rd)
    train_record = (rd / "stages" / "train.json").read_bytes()

    with JudgeServer() as server:
        up = train([*args, *likert(server.url, replies)], cache_dir, tmp_path)
        assert up.returncode == 0, up.stderr[-3000:]
        assert "judge mean 5.00" in up.stdout
        results = json.loads((rd / "results.json").read_text())
        assert results["status"] == "complete" and results["metrics"]["n_invalid"] == 0
        assert (
            snapshot_times(rd) == trained
            and (rd / "stages" / "train.json").read_bytes() == train_record
        )
        # every judgment was missing (the judge never answered): each asked at most once
        judged = sum(len(read_jsonl(d / "judgments.jsonl")) for d in (rd / "evals").iterdir())
        assert 0 < server.total() <= judged
        sent = server.total()
        again = train([*args, *likert(server.url, replies)], cache_dir, tmp_path)
        assert again.returncode == 0 and "skipped" in again.stdout and server.total() == sent


def test_judge_down_at_test_evaluation_then_partly_up(
    smoke_run: tuple[Path, str], cache_dir: Path, tmp_path: Path
) -> None:
    """The trained smoke run re-judged by an LLM judge (another judge is another evaluation: the
    reference judge's headline is never reused): down, then a judge that fails some requests,
    then up. Each rerun asks only for what is still missing."""
    import shutil

    from tests.conftest import the_run

    src = the_run(smoke_run[0] / "runs")
    runs, replies = tmp_path / "runs", tmp_path / "replies.sqlite"
    shutil.copytree(src, runs / src.name)
    rd = runs / src.name
    trained = snapshot_times(rd)
    down = train([f"runs_dir={runs}", *likert(closed_port_url(), replies)], cache_dir, tmp_path)
    assert down.returncode == 3 and "stage evaluate" in down.stderr, down.stderr[-3000:]
    results = json.loads((rd / "results.json").read_text())
    assert results["status"] == "judge_failed" and results["failed_stage"] == "evaluate"
    [failed] = [
        d
        for d in (rd / "evals").iterdir()
        if json.loads((d / "summary.json").read_text())["judge"].startswith("likert")
    ]
    summary = json.loads((failed / "summary.json").read_text())
    n = summary["n_invalid"]
    assert (
        summary["status"] == "judge_failed"
        and summary["judge_mean"] is None
        and summary["n_judged"] == 0
    )

    with JudgeServer(default="always500") as flaky:  # still failing: nothing valid to keep
        still = train([f"runs_dir={runs}", *likert(flaky.url, replies)], cache_dir, tmp_path)
        assert still.returncode == 3 and flaky.total() == n
    with JudgeServer() as server:
        up = train([f"runs_dir={runs}", *likert(server.url, replies)], cache_dir, tmp_path)
        assert up.returncode == 0, up.stderr[-3000:]
        assert 0 < server.total() <= n  # the missing rows only, identical texts paid once
        summary = json.loads((failed / "summary.json").read_text())
        assert (
            summary["status"] == "complete"
            and summary["n_judged"] == n
            and summary["judge_mean"] == 5.0
        )
        assert summary["rejudged"] == n
    assert snapshot_times(rd) == trained
    assert json.loads((rd / "results.json").read_text())["status"] == "complete"
