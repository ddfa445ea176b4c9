"""Each ablation grid is defined once (sweeps/*.yaml): W&B's expansion and the local Hydra
multirun's agree, at the paper's scale and at the miniature's."""

from __future__ import annotations

from fractions import Fraction
from pathlib import Path

import pytest

from limalab.ablations.grid import (
    expand_hydra,
    hydra_overrides,
    load_sweep,
    parse_scale,
    wandb_runs,
)

SWEEPS = sorted((Path(__file__).parents[2] / "sweeps").rglob("*.yaml"))


def as_strings(runs: list[dict]) -> set[tuple]:
    return {tuple(sorted((k, str(v)) for k, v in r.items())) for r in runs}


@pytest.mark.parametrize("path", SWEEPS, ids=lambda p: p.stem)
@pytest.mark.parametrize("scale", ["1", "1/8"])
def test_wandb_and_hydra_expansions_agree(path: Path, scale: str) -> None:
    sweep = load_sweep(path)
    s = parse_scale(scale)
    extra = {"world.seed": [0, 1]}
    assert as_strings(wandb_runs(sweep, s, extra)) == as_strings(
        expand_hydra(hydra_overrides(sweep, s, extra))
    )
    assert sweep["program"] == "src/train.py" and "${args_no_hyphens}" in sweep["command"]


def test_the_paper_grids() -> None:
    grids = {p.stem: wandb_runs(load_sweep(p)) for p in SWEEPS}
    matched = wandb_runs(
        load_sweep(Path(SWEEPS[0]).parent / "extra" / "quantity_matched.yaml"), Fraction(1, 8)
    )
    assert {r["train.max_steps"] for r in matched} == {
        480
    }  # steps do not scale and {r["train.budget"] for r in matched} == {"steps"}
    assert {r["data"] for r in grids["diversity"]} == {"se_filtered", "wikihow"}
    assert {r["data"] for r in grids["quality"]} == {"se_filtered", "se_unfiltered"}
    assert sorted({r["data.size"] for r in grids["quantity"]}) == [2000, 4000, 8000, 16000, 32000]
    assert all(
        len({r["seed"] for r in grids[g]}) == 3
        for g in ("diversity", "quality", "quantity", "controls")
    )
    pc = grids["positive_control"]  # Fig. 6's range, tested and selected on its own prompt sets
    assert {r["data"] for r in pc} == {"passage_qa"} and {r["data.size"] for r in pc} <= {
        2000,
        4000,
        8000,
        16000,
        32000,
    }
    assert {(r["eval.prompt_set"], r["train.select.prompt_set"]) for r in pc} == {
        ("passage_test", "passage_dev")
    }
    assert {r["eval.few_shot"] for r in grids["base"]} == {0, 3} and {
        r["train.epochs"] for r in grids["base"]
    } == {0}
    assert {r["eval.prompt_set"] for r in grids["base"]} == {"test", "passage_test"}
    mini = wandb_runs(load_sweep(Path(SWEEPS[0]).with_name("quantity.yaml")), Fraction(1, 8))
    assert sorted({r["data.size"] for r in mini}) == [250, 500, 1000, 2000, 4000]
    assert parse_scale("0.125") == parse_scale("1/8") == Fraction(1, 8)


def test_bad_sweep_file(tmp_path: Path) -> None:
    p = tmp_path / "s.yaml"
    p.write_text("method: random\nparameters: {}\n")
    with pytest.raises(ValueError, match="s.yaml: expected a W&B sweep file with method: grid"):
        load_sweep(p)
    p.write_text("method: grid\nparameters:\n  seed: {value: 1, values: [1, 2]}\n")
    with pytest.raises(
        ValueError, match="parameters.seed: expected exactly one of value or values"
    ):
        load_sweep(p)


def test_launcher_configs_compose() -> None:
    """basic (default), the joblib plugin's, and our SLURM config with every field of the plugin's
    schema."""
    import os

    from hydra import compose, initialize_config_dir
    from hydra_plugins.hydra_submitit_launcher.config import SlurmQueueConf
    from omegaconf import OmegaConf

    conf = Path(__file__).parents[2] / "conf"
    with initialize_config_dir(str(conf), version_base=None):
        joblib = compose(
            "train", ["hydra/launcher=joblib", "hydra.launcher.n_jobs=2"], return_hydra_config=True
        )
        assert (
            joblib.hydra.launcher._target_.endswith("JoblibLauncher")
            and joblib.hydra.launcher.n_jobs == 2
        )
        slurm = compose("train", ["hydra/launcher=slurm"], return_hydra_config=True)
        assert (
            slurm.hydra.launcher._target_.endswith("SlurmLauncher")
            and slurm.hydra.launcher.gpus_per_node is None
        )
        assert (
            slurm.hydra.launcher.tasks_per_node == 1
        )  # the default trainer (cpu): tests/slurm/test_slurm.py has the rest
        assert set(slurm.hydra.launcher) == set(OmegaConf.structured(SlurmQueueConf))
    assert os.path.exists(conf / "hydra" / "launcher" / "slurm.yaml")


def test_full_adds_subset_draws_and_the_extra_grids() -> None:
    from limalab.ablations.run_grids import plan

    sweeps = Path(SWEEPS[0]).parent
    default = {name: (o, n) for name, o, n in plan(sweeps, "1/8", [0, 1, 2], [0])}
    full = {
        name: (o, n) for name, o, n in plan(sweeps, "1/8", [0, 1, 2], [0], [0, 1, 2], full=True)
    }
    assert "quantity_matched" not in default and full["quantity_matched"][1] == 45
    assert (
        full["quantity"][1] == 3 * default["quantity"][1]
        and "data.subset_seed=0,1,2" in full["quantity"][0]
    )
    assert (
        full["positive_control"] == default["positive_control"]
    )  # one seed: not a replicated grid
    assert default["long_is_more"][1] == 3 and "data=se_longest" in default["long_is_more"][0]


def test_where_slices_a_grid_in_the_sweep_files_units() -> None:
    """``--where data.size=...`` names the paper's sizes; the slice is scaled like the grid,
    keeps the sweep's order and never adds an axis; a grid left empty is not run."""
    from limalab.ablations.grid import parse_where, restrict
    from limalab.ablations.run_grids import plan_runs

    root = Path(__file__).parents[2] / "sweeps"
    where = parse_where(["data.size=4000,250", "model=tiny_large"])
    [(name, runs)] = plan_runs(root / "saturation", "1/8", [0], [0], where=where)
    assert name == "saturation"
    assert [r["data.size"] for r in runs] == [32, 500, 32, 500]  # 250 and 4,000 at 1/8
    assert {r["model"] for r in runs} == {"tiny_large"}
    assert {r["model.pretrain.seed"] for r in runs} == {0, 1}  # not sliced: both bases
    sweep = load_sweep(root / "quantity.yaml")
    assert restrict(sweep, {"model": ["tiny"]}) == sweep  # a key it does not vary: unchanged
    assert restrict(sweep, {"data.size": ["3"]}) is None
    grids = [g for g, _ in plan_runs(root, "1/8", [0], [0], where=parse_where(["data=wikihow"]))]
    assert "diversity" in grids and "quality" not in grids and "base" in grids


@pytest.mark.parametrize(
    "args, message",
    [
        (["--where", "data.size"], "expected KEY=V1,V2"),
        (["--where", "=250"], "expected KEY=V1,V2"),
        (["--where", "dta.size=250"], "--where dta.size: no grid in"),
    ],
)
def test_where_refuses_a_malformed_or_unknown_key(args: list[str], message: str) -> None:
    from limalab.ablations.run_grids import main

    with pytest.raises(SystemExit, match=message):
        main(["--sweeps", str(Path(__file__).parents[2] / "sweeps" / "saturation"), *args])


def test_reuse_copies_only_a_complete_run_whose_config_is_the_same_run(tmp_path: Path) -> None:
    """A run another runs directory holds complete is copied (whole, under its id) instead of
    trained again; an unfinished one, or one whose config does not give its directory's id, is
    not."""
    import json

    from limalab.ablations.grid import parse_where
    from limalab.ablations.job_pool import jobs_of
    from limalab.ablations.run_grids import plan_runs, reuse_runs
    from limalab.config.compose import compose
    from limalab.tracking.rundir import RunDir, write_config

    root = Path(__file__).parents[2] / "sweeps"
    runs = plan_runs(
        root / "saturation",
        "1/8",
        [0],
        [0],
        where=parse_where(["model=tiny", "model.pretrain.seed=0", "data.size=250,500,1000"]),
    )
    jobs = [g[0] for g in jobs_of(runs, [])]
    assert len(jobs) == 3
    src = tmp_path / "ablations"
    for job, status in zip(jobs, ["complete", "failed", "complete"], strict=True):
        rd = RunDir(src / job.run_id)
        rd.path.mkdir(parents=True)
        cfg = compose(list(job.overrides))
        if job is jobs[2]:
            cfg["seed"] = 99  # not the run its directory names
        write_config(rd, cfg)
        (rd.path / "results.json").write_text(json.dumps({"status": status}))
        (rd.path / "model").mkdir()
        (rd.path / "model" / "weights").write_text("w")
    dst = tmp_path / "saturation"
    assert reuse_runs(runs, [], dst, [tmp_path / "missing", src]) == [jobs[0].run_id]
    assert (dst / jobs[0].run_id / "model" / "weights").read_text() == "w"
    assert sorted(p.name for p in dst.iterdir()) == [jobs[0].run_id]  # no temporary left
    assert reuse_runs(runs, [], dst, [src]) == []  # already there: nothing copied over it
