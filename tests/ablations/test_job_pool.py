"""The local parallel launcher of `make ablations --jobs N` (limalab.ablations.job_pool): one
queue over all grids, a shared run trained once, the first run alone, never more than N at
once, a failed run's other grids not launched."""

from __future__ import annotations

import json
import threading
import time
from pathlib import Path

import pytest

from limalab.ablations import job_pool
from limalab.ablations.job_pool import Job, jobs_of, run_pool
from limalab.ablations.run_grids import plan, plan_runs

from ..conftest import ROOT


def test_the_default_grids_become_one_queue_of_distinct_runs_longest_first() -> None:
    grids = plan_runs(ROOT / "sweeps", "1/8", [0, 1, 2], [0])
    assert [g for g, _ in grids] == [g for g, _, _ in plan(ROOT / "sweeps", "1/8", [0, 1, 2], [0])]
    groups = jobs_of(grids, [])
    assert sum(len(g) for g in groups) == sum(len(r) for _, r in grids)
    assert len({g[0].run_id for g in groups}) == len(groups)  # one group per run id
    assert groups[0][0].grid == "base"  # builds the world and the base: first, alone
    costs = [g[0].cost for g in groups[1:]]
    assert costs == sorted(costs, reverse=True)
    # 4,000 examples at batch 8 for 15 epochs: the paper's 7,500 steps at 32,000
    assert groups[1][0].cost == 7500 + 1 and "data.size=4000" in groups[1][0].overrides
    shared = [g for g in groups if len(g) == 3 and g[0].grid == "diversity"]
    assert len(shared) == 3  # se_filtered at 250, one per seed: trained once, then skipped twice
    assert [j.grid for j in shared[0]] == ["diversity", "quality", "quantity"]


def _job(grid: str, rid: str, cost: float = 1.0) -> Job:
    return Job(grid, (f"id={rid}",), rid, cost)


def test_the_pool_runs_the_first_alone_shares_nothing_it_should_not_and_caps_concurrency(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    lock, running, log = threading.Lock(), set(), []
    peak = [0]

    def fake_launch(job: Job, extra, runs_dir, threads, launches, n) -> int:
        with lock:
            running.add(job)
            peak[0] = max(peak[0], len(running))
            log.append(("start", job.grid, job.run_id, threads, frozenset(running)))
        time.sleep(0.05)
        with lock:
            running.discard(job)
            log.append(("end", job.grid, job.run_id))
        return 3 if job.run_id == "bad" else 0

    monkeypatch.setattr(job_pool, "_launch", fake_launch)
    monkeypatch.setattr(job_pool.os, "cpu_count", lambda: 4)
    groups = [
        [_job("base", "b0"), _job("base3shot", "b0")],  # one run, two evaluations
        [_job("quantity", "big", 9), _job("quantity2", "big", 9)],
        [_job("diversity", "s", 5), _job("quality", "s", 5), _job("quantity", "s", 5)],
        [_job("controls", "bad", 4), _job("controls2", "bad", 4)],
        [_job("controls", "c", 2)],
    ]
    failed = run_pool(groups, [], tmp_path, jobs=2)
    assert failed == [("controls", 3), ("controls2", 3)]  # the failed run's copy never launched
    starts = [e for e in log if e[0] == "start"]
    assert starts[0][1:3] == ("base", "b0") and starts[0][3] == 4  # alone, on every core
    assert log[1] == ("end", "base", "b0")
    assert peak[0] == 2
    assert all(e[3] == 2 for e in starts[1:])  # 4 cores / 2 jobs
    # the base's second evaluation waits for the first job only, then runs beside the others
    assert any(
        {(j.grid, j.run_id) for j in e[4]} == {("base3shot", "b0"), ("quantity", "big")}
        for e in starts
    )
    assert ("controls2", "bad") not in {(e[1], e[2]) for e in starts}
    order = [(e[0], e[1]) for e in log if e[2] == "s"]
    assert order == [
        ("start", "diversity"),
        ("end", "diversity"),
        ("start", "quality"),
        ("end", "quality"),
        ("start", "quantity"),
        ("end", "quantity"),
    ]  # a shared run's other grids launch only after it has trained


def test_a_bad_override_is_one_line_naming_the_grid_before_anything_runs() -> None:
    grids = [("diversity", [{"data": "se_filtered", "data.size": 250}])]
    with pytest.raises(SystemExit, match=r"^ablations: grid diversity: .*no_such_key=1: ") as e:
        jobs_of(grids, ["no_such_key=1"])
    assert "\n" not in str(e.value)


def test_with_the_world_and_base_cached_the_first_job_queues_with_the_rest(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    starts: list[tuple[str, int]] = []

    def fake_launch(job: Job, extra, runs_dir, threads, launches, n) -> int:
        starts.append((job.run_id, threads))
        time.sleep(0.05)
        return 0

    monkeypatch.setattr(job_pool, "_launch", fake_launch)
    monkeypatch.setattr(job_pool.os, "cpu_count", lambda: 4)
    first = Job("base", ("id=b0",), "b0", 1.0, builds=False)
    groups = [[first], [_job("quantity", "big", 9)], [_job("quality", "s", 5)]]
    record = tmp_path / "report" / "pool.json"
    assert run_pool(groups, [], tmp_path, jobs=2, record=record) == []
    assert starts[0] == ("b0", 2)  # no core of its own: nothing to build
    assert {rid for rid, _ in starts[:2]} == {"b0", "big"}  # both workers start at once
    # every job's measured seconds, in the launch directory and beside the report
    (launched,) = tmp_path.glob(".launches/pool-*/jobs.json")
    assert json.loads(launched.read_text()) == json.loads(record.read_text())
    rec = json.loads(record.read_text())
    assert rec["first_alone"] is False and [j["n"] for j in rec["jobs"]] == [1, 2, 3]
    assert {j["run"] for j in rec["jobs"]} == {"b0", "big", "s"}
    assert all(j["s"] >= 0.05 and j["exit"] == 0 and j["threads"] == 2 for j in rec["jobs"])
    assert rec["wall_s"] >= max(j["start_s"] + j["s"] for j in rec["jobs"]) - 0.2


def test_a_run_builds_what_is_shared_until_its_world_and_every_base_it_needs_are_cached(
    tmp_path: Path,
) -> None:
    from limalab.config.compose import compose
    from limalab.tracking.cache import RECORD
    from limalab.world.build import WorldConfig
    from limalab.world.pretrain import base_dir

    def cfg(*overrides: str) -> dict:
        return compose([f"cache_dir={tmp_path}", *overrides])

    def record(entry: Path) -> None:
        entry.mkdir(parents=True)
        (entry / RECORD).write_text("{}")

    tiny, large, random_init = cfg(), cfg("model=tiny_large"), cfg("model.init=random")
    world = tmp_path / "worlds" / WorldConfig(**tiny["world"]).hash()
    assert all(job_pool._builds_shared(c) for c in (tiny, large, random_init))
    record(world)
    assert not job_pool._builds_shared(random_init)  # no base: the world is all it shares
    assert job_pool._builds_shared(tiny)
    record(base_dir(tiny["model"], world, tmp_path))
    assert not job_pool._builds_shared(tiny)
    # the larger base is derived from tiny's and gated on it: both must be there
    assert job_pool._builds_shared(large)
    record(base_dir(large["model"], world, tmp_path))
    assert not job_pool._builds_shared(large)
    (base_dir(tiny["model"], world, tmp_path) / RECORD).unlink()  # a build that never finished
    assert job_pool._builds_shared(large)


def test_an_unwritable_record_stops_the_pool_before_any_job(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    launched: list[str] = []
    monkeypatch.setattr(job_pool, "_launch", lambda job, *a: launched.append(job.run_id) or 0)
    (tmp_path / "report").write_text("a file where the report directory should be")
    with pytest.raises(
        SystemExit, match=r"^ablations: cannot write the pool's record .*pool\.json"
    ):
        run_pool(
            [[_job("base", "b0")]], [], tmp_path, jobs=2, record=tmp_path / "report" / "pool.json"
        )
    assert launched == []
