"""Every recorded artifact of a finished run, damaged (truncated, bytes flipped, rows dropped):
the same command rebuilds what it can — with the same result — and never uses a damaged file
silently or records a wrong result as complete. ``force=true`` always rescues a run.

Several independent artifacts are damaged per rerun (each rerun costs a pipeline pass); each
artifact is checked on its own afterwards."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import pytest

from limalab.tracking.io import read_jsonl
from tests.conftest import ROOT, SMOKE, the_run

pytestmark = pytest.mark.slow


def truncate(p: Path) -> None:
    data = p.read_bytes()
    p.write_bytes(data[: len(data) // 2])


def flip(p: Path) -> None:
    data = bytearray(p.read_bytes())
    data[len(data) // 2] ^= 0x55
    p.write_bytes(bytes(data))


def drop_rows(p: Path) -> None:
    lines = p.read_text().splitlines(keepends=True)
    p.write_text("".join(lines[: len(lines) - max(1, len(lines) // 4)]))


def train(runs: Path, cache: Path, cwd: Path, *extra: str) -> subprocess.CompletedProcess:
    env = {**os.environ, "LIMALAB_CACHE": str(cache), "WANDB_MODE": "offline", "TMPDIR": str(cwd)}
    return subprocess.run(
        [sys.executable, str(ROOT / "src" / "train.py"), *SMOKE, f"runs_dir={runs}", *extra],
        cwd=cwd,
        env=env,
        capture_output=True,
        text=True,
        timeout=900,
    )


def headline(rd: Path) -> dict:
    r = json.loads((rd / "results.json").read_text())
    return {k: r["metrics"][k] for k in ("judge_mean", "judge_ci95", "n_judged", "dev_ppl")} | {
        "selected": r["selected_checkpoint"],
        "status": r["status"],
    }


@pytest.fixture()
def finished(
    smoke_run: tuple[Path, str], cache_dir: Path, tmp_path: Path
) -> tuple[Path, Path, dict]:
    """A copy of the finished smoke run and of the cache it used, and its headline."""
    src = the_run(smoke_run[0] / "runs")
    rd = tmp_path / "runs" / src.name
    shutil.copytree(src, rd)
    cache = tmp_path / "cache"
    shutil.copytree(cache_dir, cache, ignore=shutil.ignore_patterns("*.lock", "inductor"))
    return rd, cache, headline(rd)


def test_damaged_records_and_outputs_are_rebuilt_to_the_same_result(
    finished, tmp_path: Path
) -> None:
    rd, cache, before = finished
    test_eval = json.loads((rd / "results.json").read_text())["default_eval"]
    gen = json.loads((rd / "evals" / test_eval / "summary.json").read_text())["generation_id"]
    damage: list[tuple[Path, Callable[[Path], None]]] = [
        (rd / "results.json", truncate),
        (rd / "provenance.json", truncate),
        (rd / "manifest.json", flip),
        (rd / "stages" / "select.json", truncate),
        (rd / "model" / "model.safetensors", flip),
        (rd / "evals" / test_eval / "judgments.jsonl", drop_rows),
        (rd / "generations" / f"{gen}.jsonl", drop_rows),
        (rd / "config.yaml", truncate),
    ]
    for path, how in damage:
        how(path)
    proc = train(rd.parent, cache, tmp_path)
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert headline(rd) == before
    for path, _ in damage:  # each rewritten whole: it parses again
        if path.suffix == ".json":
            json.loads(path.read_text())
        elif path.suffix == ".jsonl":
            assert len(read_jsonl(path)) == before["n_judged"]
    assert len(read_jsonl(rd / "evals" / test_eval / "judgments.jsonl")) == before["n_judged"]
    assert (
        "cannot be trusted" in proc.stdout + proc.stderr
        or "changed since" in proc.stdout + proc.stderr
    )


def test_a_damaged_checkpoint_retrains_to_the_same_run(finished, tmp_path: Path) -> None:
    rd, cache, before = finished
    truncate(rd / "checkpoints" / "epoch-001.pt")
    truncate(rd / "checkpoints" / "last.ckpt")
    proc = train(rd.parent, cache, tmp_path)
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert "training it again" in proc.stdout + proc.stderr
    assert headline(rd) == before


def test_damaged_cache_entries_are_rebuilt(finished, tmp_path: Path) -> None:
    rd, cache, before = finished
    [pool] = [
        p for p in (cache / "pools").iterdir() if p.name.startswith("authors-") and p.is_dir()
    ]
    drop_rows(pool / "examples.jsonl")
    tok = (
        cache / "tokenized" / json.loads((rd / "manifest.json").read_text())["tokenized_cache"]
    )  # this run's set
    flip(next(tok.glob("*.arrow")))
    proc = train(rd.parent, cache, tmp_path)
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert "skipped" in proc.stdout  # rebuilt caches give the same data: the run stays complete
    assert (
        len(read_jsonl(pool / "examples.jsonl"))
        == json.loads((pool / "stats.json").read_text())["kept"]
    )
    assert headline(rd) == before
    # the world itself (every pool then follows it: their keys name the world's files)
    world = cache / "worlds" / json.loads((rd / "provenance.json").read_text())["world"]
    truncate(world / "world.json")
    proc = train(rd.parent, cache, tmp_path)
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert "skipped" in proc.stdout and "rebuilding it" in proc.stdout + proc.stderr
    json.loads((world / "world.json").read_text())
    assert headline(rd) == before


def test_force_rescues_a_run_whatever_its_state(finished, tmp_path: Path) -> None:
    rd, cache, _ = finished
    for f in ("results.json", "provenance.json", "manifest.json"):
        (rd / f).write_text("{not json")
    (rd / "stages" / "train.json").write_bytes(b"\xff\xfe garbage")
    proc = train(rd.parent, cache, tmp_path, "force=true")
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert json.loads((rd / "results.json").read_text())["status"] == "complete"
    assert list((rd.parent / ".replaced").iterdir())  # the damaged run was kept aside, not deleted
