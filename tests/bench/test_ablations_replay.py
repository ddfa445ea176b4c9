"""bench/ablations_budget.py replay: a pool log's measured jobs replayed under the pool's rules,
on a synthetic log with a known answer."""

from __future__ import annotations

import importlib.util
import json
import re

import pytest

from tests.conftest import ROOT

spec = importlib.util.spec_from_file_location("budget", ROOT / "bench" / "ablations_budget.py")
budget = importlib.util.module_from_spec(spec)
spec.loader.exec_module(budget)

LOG = """pool: 6 jobs (5 distinct runs), 2 at a time
[job 1/6] base: run b0: seed=0
[job 1/6] base: run b0 done in 10 s
[job 2/6] q: run r1: data.size=10
[job 3/6] q: run r2: data.size=20
noise [train] step 1/2
[job 2/6] q: run r1 done in 10 s
[job 4/6] q: run r3: data.size=5
[job 4/6] q: run r3 done in 10 s
[job 5/6] d: run r1: data.size=10
[job 5/6] d: run r1 done in 2 s
[job 6/6] lim: run r4: data=long
[job 3/6] q: run r2 done in 20 s
[job 6/6] lim: run r4 done in 40 s
"""


def test_replay_of_a_known_log() -> None:
    out = budget.replay(LOG, 2)
    assert out["jobs"] == 6 and out["job_seconds"] == 92
    # as run: first alone (10); groups r1 (10+2), r2 (20), r3 (10), r4 (40) list-scheduled:
    # w0: 10+12=22 -> r3 32 ; w1: 10+20=30 -> r4 70
    assert out["as_run_s"] == 70
    # longest first: r4 40, r2 20, r1 12, r3 10 -> w0 50, w1 30+12+10=52
    assert out["longest_measured_first_s"] == 52
    assert out["lower_bound_s"] == 51  # 10 + 82 / 2
    assert out["by_grid_s"] == {"base": 10, "q": 40, "d": 2, "lim": 40}


def test_replay_when_the_first_job_queued_with_the_rest() -> None:
    from limalab.ablations.job_pool import QUEUED_ALL

    out = budget.replay(LOG.replace("2 at a time\n", f"2 at a time\npool: {QUEUED_ALL}\n"), 2)
    assert out["first_alone_s"] == 0 and out["lower_bound_s"] == 46  # 92 / 2
    # as run: b0 (10) and r1 (12) start together: w0 10 -> r2 30; w1 12 -> r3 22 -> r4 62
    assert out["as_run_s"] == 62
    # longest first after b0's group: r4 40, r2 20, r1 12, r3 10: w0 10+20+12=42, w1 40+10=50
    assert out["longest_measured_first_s"] == 50


def test_replay_of_the_pools_json_record_matches_the_log() -> None:
    jobs = [
        {"n": int(m[1]), "grid": m[2], "run": m[3], "s": float(m[4]), "threads": 1, "exit": 0}
        for m in re.finditer(r"^\[job (\d+)/\d+\] (\S+): run (\w+) done in (\d+) s", LOG, re.M)
    ]
    record = json.dumps({"first_alone": True, "jobs": jobs[::-1], "wall_s": 70.0})
    assert budget.replay(record, 2) == budget.replay(LOG, 2)
    queued = json.loads(record) | {"first_alone": False}
    assert budget.replay(json.dumps(queued), 2)["as_run_s"] == 62


def test_a_damaged_record_is_one_line_not_a_traceback() -> None:
    for bad in ('{"jobs": [{"n": 1, "grid": "base"', '{"jobs": [{"n": 1}]}', '{"jobs": 3}'):
        with pytest.raises(SystemExit, match=r"^replay: not a pool record") as e:
            budget.replay(bad, 2)
        assert "\n" not in str(e.value)
