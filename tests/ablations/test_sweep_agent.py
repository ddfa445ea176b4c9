"""An online sweep's run, as wandb's own agent launches it (its param file, environment and
command expansion from ``wandb_agent``/``sweeps.utils``; offline, so nothing leaves the
machine): the run directory adopts the agent's run id, the W&B config keeps the composed
nested config beside the sweep's parameters (dotted keys, never replaced by ``data:
<name>``), and a run that a second grid launches again joins that grid too."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from fractions import Fraction
from pathlib import Path

import pytest
from wandb.sdk.launch.sweeps import utils as sweep_utils
from wandb.sdk.lib import config_util

from limalab.ablations.grid import load_sweep, wandb_runs
from tests.conftest import ROOT, SMOKE, run_cli, the_run
from tests.wandb_records import run_views

pytestmark = pytest.mark.slow


def agent_command(
    sweep: dict, run_id: str, params: dict, work: Path, sweep_id: str
) -> tuple[list[str], dict]:
    """What ``wandb.wandb_agent.Agent._command_run`` runs for one of the sweep's runs."""
    command = {
        "type": "run",
        "run_id": run_id,
        "program": sweep["program"],
        "args": {k: {"value": v} for k, v in params.items()},
    }
    param_path = work / "wandb" / f"sweep-{sweep_id}" / f"config-{run_id}.yaml"
    param_path.parent.mkdir(parents=True, exist_ok=True)
    config_util.save_config_file_from_dict(str(param_path), command["args"])
    variables = sweep_utils.create_sweep_command_args(command)
    variables |= {
        "interpreter": ["python"],
        "program": [str(ROOT / command["program"])],
        "env": ["/usr/bin/env"],
    }
    argv = []
    for c in sweep_utils.create_sweep_command(sweep["command"]):
        argv += variables.get(c[2:-1]) or [] if c.startswith("${") and c.endswith("}") else [c]
    env = {
        **os.environ,
        "WANDB_SWEEP_ID": sweep_id,
        "WANDB_RUN_ID": run_id,
        "WANDB_SWEEP_PARAM_PATH": str(param_path),
        "WANDB_MODE": "offline",
        "PATH": f"{Path(sys.executable).parent}:{os.environ['PATH']}",
    }
    return argv, env


def test_an_agents_run_keeps_its_id_and_config_and_joins_every_grid(
    cache_dir: Path, smoke_world: Path, tmp_path: Path
) -> None:
    sweep = load_sweep(ROOT / "sweeps" / "quality.yaml")
    params = wandb_runs(sweep, Fraction(1, 50))[
        0
    ]  # the grid's first run, as the sweep server sends it
    assert params["data"] == "se_filtered" and params["logger.group"] == "quality"
    params |= {"experiment": "smoke", "runs_dir": str(tmp_path / "runs")}
    argv, env = agent_command(sweep, "agentrun0001", params, tmp_path, "sweep0001")
    proc = subprocess.run(
        argv,
        cwd=tmp_path,
        env=env | {"LIMALAB_CACHE": str(cache_dir), "TMPDIR": str(tmp_path)},
        capture_output=True,
        text=True,
        timeout=900,
    )
    assert proc.returncode == 0, proc.stdout[-2000:] + proc.stderr[-3000:]
    rd = the_run(tmp_path / "runs")
    prov = json.loads((rd / "provenance.json").read_text())
    assert prov["wandb_id"] == "agentrun0001" and prov["wandb_ids"] == ["agentrun0001"]
    [train] = run_views(
        rd / "wandb"
    )  # one W&B run: under an agent, every wandb.init is the agent's run
    assert (
        train["id"] == "agentrun0001"
        and train["sweep_id"] == "sweep0001"
        and train["group"] == "quality"
    )
    assert (
        train["name"] == f"se_filtered-n{params['data.size']}-s0-{rd.name[:6]}"
        and train["job_type"] == "train"
    )
    assert {a["type"] for a in train["logged"]} >= {"model", "evaluation", "run-results"}
    cfg = train["config"]
    # the sweep's own keys, as it set them...
    assert (
        cfg["data"] == "se_filtered"
        and cfg["data.size"] == params["data.size"]
        and cfg["seed"] == 0
    )
    # ...beside the composed config, whole: the sweep's `data: se_filtered` replaced none of it
    # (wandb merges the agent's parameters over the run's config key by key: a nested `data` would
    # be lost)
    assert cfg["data.name"] == "se_filtered" and any(k.startswith("data.sources.") for k in cfg), (
        sorted(cfg)[:20]
    )
    assert (
        cfg["model"] == "tiny_smoke"
        and cfg["model.arch.hidden_size"] > 0
        and cfg["train.epochs"] == 3
    )
    results = json.loads((rd / "results.json").read_text())
    assert results["wandb_run_id"] == "agentrun0001" and results["grids"] == ["quality"]

    # the same run in another grid: skipped, and it joins that grid (one group, one tag per grid)
    again = run_cli(
        [
            str(ROOT / "src" / "train.py"),
            *SMOKE,
            "data=se_filtered",
            f"data.size={params['data.size']}",
            "seed=0",
            "logger.group=diversity",
            f"runs_dir={tmp_path / 'runs'}",
        ],
        cache_dir,
        tmp_path,
    )
    assert "skipped" in again.stdout
    assert json.loads((rd / "provenance.json").read_text())["grids"] == ["quality", "diversity"]
    latest = run_views(sorted((rd / "wandb").glob("offline-run-*"))[-1])[0]
    assert (
        latest["id"] == "agentrun0001"
        and latest["group"] == "quality"
        and latest["name"] == train["name"]
    )
    assert {"grid:quality", "grid:diversity"} <= set(latest["tags"])
