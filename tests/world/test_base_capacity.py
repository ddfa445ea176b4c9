"""The larger miniature base (issue 21): one config key selects it, its pretraining recipe is
derived from the base it scales up, its cache key and run ids hold its shape and seed, and it
is usable only if its knowledge probe knows at least as many test facts as that base's."""

from __future__ import annotations

import time
from pathlib import Path

import pytest
import torch

import limalab.world.pretrain as base_module
from limalab.ablations.grid import expand_hydra, load_sweep, wandb_runs
from limalab.ablations.paper_experiments import chosen_arms
from limalab.ablations.paper_experiments import run_dirs as paper_run_dirs
from limalab.ablations.run_grids import plan
from limalab.config.base_recipe import derive, table
from limalab.config.compose import compose
from limalab.config.validate import validate
from limalab.model.base import tiny_llama
from limalab.model.strategy import split_trainer_config
from limalab.tracking.identity import run_id
from limalab.world.pretrain import (
    BaseNotUsable,
    base_hash,
    base_probe,
    build_numerics,
    gate_failure,
    pretrained_base,
    probe_gate,
)
from limalab.world.tokenizer import world_tokenizer

LARGE = ["model=tiny_large"]
# the larger base's shape on the smoke world, derived from (and gated against) the smoke base
SMOKE_LARGE = ["experiment=smoke", "model=tiny_large", "model@model.reference=tiny_smoke"]


def test_the_larger_base_composes_with_its_recipe_derived_from_todays() -> None:
    tiny, large = compose([])["model"], validate(compose(LARGE))["model"]
    assert large["reference"] == tiny  # the reference is today's base, as the default composes it
    assert large["arch"]["hidden_size"] == 2 * tiny["arch"]["hidden_size"]
    assert large["pretrain"]["lr"] == pytest.approx(
        tiny["pretrain"]["lr"] / 2
    )  # 1/width (muP, Adam) on the hidden and output matrices
    # the input embedding and norm gains keep the reference's lr (muP: their fan-in is fixed)
    assert large["pretrain"]["lr"] * large["pretrain"]["input_lr_scale"] == pytest.approx(
        tiny["pretrain"]["lr"]
    )
    # muP's init too: hidden std / sqrt(width ratio), output std / width ratio
    assert large["pretrain"]["init_width_mult"] == pytest.approx(2.0)
    for key in ("input_lr_scale", "init_width_mult"):  # today's base (and its cache key) unchanged
        assert key not in tiny["pretrain"], key
    for key in ("batch_size", "seq_len", "warmup_steps", "final_lr_ratio"):
        assert large["pretrain"][key] == tiny["pretrain"][key], key
    # tokens seen: tokens_ratio x the reference's (1: the same corpus passes)
    assert large["pretrain"]["epochs"] == round(
        tiny["pretrain"]["epochs"] * large["derive"]["tokens_ratio"]
    )
    # the fine-tuning lr keeps the regime's 1/30 of the base's own pretraining peak
    assert compose(LARGE)["optim"]["lr"] == pytest.approx(large["pretrain"]["lr"] / 30)
    assert [r["derived"] for r in table(large)][:5] == [
        "384 x 6, 1024",
        large["pretrain"]["lr"],
        large["pretrain"]["input_lr_scale"],
        "0.01414 / 0.01",
        large["pretrain"]["epochs"],
    ]


def test_derivation_arithmetic() -> None:
    ref = {"arch": {"hidden_size": 100}, "pretrain": {"lr": 1e-3, "epochs": 13}}
    rule = {"lr_width_exponent": 1.0, "tokens_ratio": 1.5}
    assert derive(ref, {"hidden_size": 400}, rule) == {
        "lr": pytest.approx(2.5e-4),
        "input_lr_scale": pytest.approx(4.0),  # 2.5e-4 x 4: the reference's 1e-3
        "init_width_mult": pytest.approx(4.0),
        "epochs": 20,
    }  # 19.5 half up
    # a reference that is itself derived: its embedding lr is the one kept
    scaled = {**ref, "pretrain": {**ref["pretrain"], "input_lr_scale": 2.0, "init_width_mult": 2.0}}
    assert derive(scaled, {"hidden_size": 400}, rule)["input_lr_scale"] == pytest.approx(8.0)
    assert derive(scaled, {"hidden_size": 400}, rule)["init_width_mult"] == pytest.approx(8.0)
    assert derive(ref, {"hidden_size": 400}, {**rule, "lr_width_exponent": 0.5})[
        "lr"
    ] == pytest.approx(5e-4)


def test_the_larger_base_has_several_times_the_parameters(
    smoke_world: Path, cache_dir: Path
) -> None:
    tok = world_tokenizer(smoke_world, cache_dir, "<|eot|>")
    n = {
        m: sum(p.numel() for p in tiny_llama(compose(o)["model"]["arch"], tok, 0).parameters())
        for m, o in (("tiny", []), ("large", LARGE))
    }
    assert 4 <= n["large"] / n["tiny"] <= 8, n


def test_base_choice_and_pretraining_seed_are_in_cache_key_and_run_id() -> None:
    cfgs = {
        k: compose(o)
        for k, o in (
            ("tiny", []),
            ("tiny0", ["model.pretrain.seed=0"]),
            ("large", LARGE),
            ("large1", [*LARGE, "model.pretrain.seed=1"]),
        )
    }
    keys = {k: base_hash(c["model"], "w") for k, c in cfgs.items()}
    ids = {k: run_id(c) for k, c in cfgs.items()}
    assert keys["tiny"] == keys["tiny0"] and ids["tiny"] == ids["tiny0"]  # the default is unchanged
    assert len({keys["tiny"], keys["large"], keys["large1"]}) == 3
    assert len({ids["tiny"], ids["large"], ids["large1"]}) == 3
    assert (
        cfgs["large1"]["model"]["reference"]["pretrain"]["seed"] == 0
    )  # the bar stays today's base


def _probe(accuracy: float, named: float, n: int = 400, base: str = "b") -> dict:
    return {
        "prompt_set": "test",
        "n_facts": n,
        "accuracy": accuracy,
        "named_accuracy": named,
        "base": base,
    }


def test_probe_gate_known_answers() -> None:
    ref = _probe(1.0, 0.83, base="ref")
    assert probe_gate(_probe(1.0, 0.5), ref, ["accuracy"])["passed"]  # named is not gated here
    assert not probe_gate(_probe(1.0, 0.5), ref, ["accuracy", "named_accuracy"])["passed"]
    low = probe_gate(_probe(0.9975, 0.9), ref, ["accuracy"])  # one fact fewer of 400
    assert not low["passed"] and low["facts"] == {"accuracy": [399, 400]}
    assert probe_gate(_probe(0.9, 0.9), _probe(0.9, 0.9), ["accuracy"])["passed"]  # as many: usable
    other = probe_gate(
        _probe(1.0, 1.0, n=300), ref, ["accuracy"]
    )  # not the same facts: cannot pass
    assert not other["passed"] and "different facts" in other["reason"]
    cfg = {"name": "tiny_large", "reference": {"name": "tiny_llama"}}
    msg = gate_failure(cfg, Path("/c/base/abc"), Path("/c/base/ref"), low)
    assert (
        msg.startswith("model.derive.gate: base abc (tiny_large)")
        and "399 of 400 test facts against 400" in msg
    )


# pretrains the 11.6M-parameter shape for one smoke pass (10 steps): ~50 s on 2 busy cores
@pytest.mark.slow
def test_the_larger_base_builds_on_the_smoke_world_through_the_probe_gate(
    smoke_world: Path, cache_dir: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    cfg = validate(compose(SMOKE_LARGE))
    m = cfg["model"]
    tok = world_tokenizer(smoke_world, cache_dir, m["eot_token"])
    tkw = {
        k: v
        for k, v in split_trainer_config(cfg["trainer"])[0].items()
        if k not in ("strategy", "num_nodes")
    }
    t0 = time.time()
    try:
        path, error = pretrained_base(m, smoke_world, tok, tmp_path, tkw), None
    except BaseNotUsable as e:
        path, error = tmp_path / "base" / base_hash(m, smoke_world.name), str(e)
    wall = time.time() - t0
    probe = base_probe(m, path, smoke_world, tmp_path)
    ref = base_probe(
        m["reference"],
        tmp_path / "base" / base_hash(m["reference"], smoke_world.name),
        smoke_world,
        tmp_path,
    )
    passes = m["pretrain"]["epochs"] / m["reference"]["pretrain"]["epochs"]  # tokens_ratio's
    assert passes == m["derive"]["tokens_ratio"]
    assert (
        probe["n_params"] > 4 * ref["n_params"]
        and probe["pretrain_tokens"] == ref["pretrain_tokens"] * passes
    )
    assert probe["n_facts"] == ref["n_facts"] > 0 and 0 <= probe["accuracy"] <= 1
    # CPU float sums depend on the thread count and kernels: a base records what it was built on
    assert probe["build"] == ref["build"] == build_numerics()
    assert probe["build"]["torch_threads"] == torch.get_num_threads()
    gate = probe["gate"]
    assert gate["reference"] == ref["base"] and set(gate["facts"]) == {"accuracy"}
    # usable exactly when it knows as many test facts; else one line naming the key, weights kept
    assert (error is None) == gate["passed"], (error, gate)
    if error:
        assert (
            error.startswith("model.derive.gate: ")
            and "\n" not in error
            and (path / "model.safetensors").exists()
        )
    # a reference that knows more: the cached base is refused on use, in one line, not retrained
    ref_dir, real = tmp_path / "base" / ref["base"], base_module.read_probe
    monkeypatch.setattr(
        base_module,
        "read_probe",
        lambda d: {**real(d), "accuracy": 1.0} if d == ref_dir else real(d),
    )
    mtime = (path / "model.safetensors").stat().st_mtime_ns
    with pytest.raises(
        BaseNotUsable, match=r"^model\.derive\.gate: .*accuracy: \d+ of 100 test facts against 100"
    ):
        pretrained_base(m, smoke_world, tok, tmp_path, tkw)
    assert (path / "model.safetensors").stat().st_mtime_ns == mtime
    print(
        f"larger smoke base: {probe['n_params']:,} parameters vs {ref['n_params']:,}; "
        f"gate {gate}; {wall:.1f} s"
    )


GRIDS = Path(__file__).parents[2] / "sweeps"


def _overrides(run: dict) -> list[str]:
    return [f"{k}={v}" for k, v in run.items()]


def test_capacity_and_saturation_grids_compose_on_the_smoke_world() -> None:
    """Every run the capacity and saturation targets launch composes and validates (on the smoke
    world, at the smallest scale the regime holds at), on the base its grid names."""
    # one training seed: the seed axis changes no composition (the grids' own seed lists stay 3)
    plans = {name: plan(GRIDS / name, "1/64", [0], [0]) for name in ("capacity", "saturation")}
    assert [g for g, _, _ in plans["capacity"]] == ["capacity_fig5", "capacity_fig6"]
    for grids in plans.values():
        for _, overrides, n in grids:
            runs = expand_hydra(overrides)
            assert len(runs) == n
            for run in runs:
                cfg = validate(compose(["experiment=smoke", *_overrides(run)]))
                assert (
                    cfg["model"]["name"]
                    == {"tiny": "tiny_llama", "tiny_large": "tiny_large"}[run["model"]]
                )
                assert cfg["model"]["pretrain"]["seed"] == int(run["model.pretrain.seed"])
    sat = load_sweep(GRIDS / "saturation" / "saturation.yaml")
    assert {r["model"] for r in wandb_runs(sat)} == {"tiny", "tiny_large"}
    assert sorted({r["data.size"] for r in wandb_runs(sat)}) == [250 * 2**k for k in range(8)]
    assert all(
        len({r["seed"] for r in wandb_runs(load_sweep(p))}) == 3
        for p in [GRIDS / "saturation" / "saturation.yaml", *(GRIDS / "capacity").glob("*.yaml")]
    )


def test_the_capacity_paper_report_reads_the_runs_it_trained() -> None:
    """make capacity's paper step ends in analysis.paper with the runs' overrides (the larger
    base's): its parser must take them after the options, or the report names other runs (it
    was refused: "unrecognized arguments: -- model=tiny_large ...", after 70 minutes of runs)."""
    from argparse import Namespace

    from analysis.paper import parse_args
    from limalab.ablations.paper_experiments import report_argv

    overrides = ["model=tiny_large", "model.pretrain.seed=1"]
    args = Namespace(
        runs_dir=Path("runs/cp"), report=Path("out"), seeds="0,1", smoke=False, overrides=overrides
    )
    got = parse_args(report_argv(args))
    assert (got.runs_dir, got.out, got.seeds, got.overrides) == (
        Path("runs/cp"),
        Path("out"),
        "0,1",
        overrides,
    )
    assert parse_args(report_argv(Namespace(**{**vars(args), "overrides": []}))).overrides == []
    assert parse_args(["runs", *overrides, "--seeds", "2"]).overrides == overrides


def test_the_capacity_paper_arms_are_the_sweep_files_runs() -> None:
    """make capacity trains the dialogue and safety arms with
    limalab.ablations.paper_experiments --arms: the same run ids as
    sweeps/capacity/paper/capacity_paper.yaml launches online."""
    sweep = load_sweep(GRIDS / "capacity" / "paper" / "capacity_paper.yaml")
    for pseed in (0, 1):
        extra = ["model=tiny_large", f"model.pretrain.seed={pseed}"]
        dirs = paper_run_dirs(Path("r"), [0], extra)
        ours = {dirs[a, 0].name for a in chosen_arms("lima,lima_dialogue,lima_safety")}
        online = {
            run_id(compose(_overrides(r)))
            for r in wandb_runs(sweep)
            if r["model.pretrain.seed"] == pseed
        }
        assert ours == online and len(ours) == 3
