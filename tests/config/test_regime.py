"""The derived regime (limalab.config.regime): its arithmetic against the paper's own numbers,
and every way of starting a run carries it (the default config, hand runs, the sweep files)."""

from __future__ import annotations

import math
from fractions import Fraction
from pathlib import Path

import pytest
import yaml
from hypothesis import given
from hypothesis import strategies as st

from limalab.ablations.grid import load_sweep, parse_scale, wandb_runs
from limalab.config import ConfigError, validate
from limalab.config.compose import CONF_DIR, compose
from limalab.config.regime import (
    batch_size,
    derive,
    markdown,
    scaled_size,
    snapped_scale,
    steps_per_epoch,
    table,
)
from limalab.model.budget import training_budget
from limalab.model.callbacks import window_epochs

REGIME = yaml.safe_load((CONF_DIR / "regime" / "lima_7b_ablation.yaml").read_text())
PAPER_SIZES = (1000, 2000, 4000, 8000, 16000, 32000)
SWEEPS = sorted((Path(__file__).parents[2] / "sweeps").rglob("*.yaml"))


def test_the_paper_numbers() -> None:
    # Fig. 5: 2,000 examples at batch 64 for 15 epochs: about 470 optimizer steps (32 per epoch)
    assert steps_per_epoch(2000, 64) == 32 and pytest.approx(469, abs=1) == 15 * 2000 / 64
    assert batch_size(64, Fraction(1, 8)) == 8 and scaled_size(2000, 64, Fraction(1, 8)) == 250
    assert (
        steps_per_epoch(250, 8) == 32
    )  # the miniature's Fig. 5 arm: the paper's 32, not 48 in all


@given(den=st.integers(1, 64), num=st.integers(1, 64), n=st.sampled_from(PAPER_SIZES))
def test_steps_per_epoch_equal_the_papers_at_every_scale(den: int, num: int, n: int) -> None:
    """For every SCALE in (0, 1] (a non-integer batch included), a paper size trains the paper's
    number of optimizer steps per epoch."""
    scale = Fraction(min(num, den), den)
    b = batch_size(64, scale)
    assert b >= 1 and b == max(1, math.floor(64 * scale + Fraction(1, 2)))
    assert steps_per_epoch(scaled_size(n, 64, scale), b) == steps_per_epoch(n, 64)
    assert abs(snapped_scale(64, scale) - scale) <= Fraction(1, 128) or b == 1


def test_a_non_integer_batch_is_rounded_half_up_and_the_scale_snapped() -> None:
    assert batch_size(64, Fraction(1, 10)) == 6 and snapped_scale(64, "0.1") == Fraction(6, 64)
    assert batch_size(64, Fraction(1, 100)) == 1 and snapped_scale(64, "1/100") == Fraction(1, 64)
    assert batch_size(64, Fraction(5, 128)) == 3  # 2.5 rounds up
    assert scaled_size(2000, 64, "1/100") == 32 and steps_per_epoch(32, 1) == 32
    with pytest.raises(ValueError, match=r"regime.scale: expected a number in \(0, 1\]"):
        batch_size(64, "0")


def test_the_derived_values() -> None:
    mini = compose([])["model"]
    d = derive(REGIME, mini)
    assert (
        d["batch_size"] == 8
        and d["epochs"] == 15
        and window_epochs(15, tuple(d["window"])) == list(range(5, 11))
    )
    assert d["lr"] == pytest.approx(mini["pretrain"]["lr"] / 30)  # 1e-5 of LLaMA-7B's 3e-4
    assert d["max_length"] == mini["arch"]["max_position_embeddings"]  # 2,048 of LLaMA's 2,048
    assert (d["warmup_steps"], d["final_lr_ratio"], d["schedule"]) == (0, 0.1, "linear")
    assert d["lm_head_lr_scale"] == 1.0 and d["residual_dropout"] == mini["residual_dropout"] == 0.2
    llama = compose(["model=llama_7b", "model.path=/x"])["model"]
    assert derive({**REGIME, "scale": 1}, llama)["lr"] == pytest.approx(
        1e-5
    )  # the paper's own value
    assert derive({**REGIME, "scale": 1}, llama)["batch_size"] == 64


def test_the_default_config_is_the_regime_and_an_override_still_wins() -> None:
    cfg = compose([])
    d = derive(cfg["regime"], cfg["model"])
    assert cfg["train"]["batch_size"] == d["batch_size"] and cfg["train"]["epochs"] == d["epochs"]
    assert (
        cfg["train"]["select"]["window"] == d["window"]
        and cfg["train"]["max_length"] == d["max_length"]
    )
    assert cfg["train"]["select"]["k"] == d["select_k"]
    assert {
        k: cfg["optim"][k]
        for k in ("lr", "final_lr_ratio", "schedule", "warmup_steps", "lm_head_lr_scale")
    } == {k: d[k] for k in ("lr", "final_lr_ratio", "schedule", "warmup_steps", "lm_head_lr_scale")}
    # a hand run at another scale, or another base, follows; an explicit value wins
    quarter = compose(["regime.scale=0.25", "model.pretrain.lr=1e-3"])
    assert quarter["train"]["batch_size"] == 16 and quarter["optim"]["lr"] == pytest.approx(
        1e-3 / 30
    )
    assert compose(["train.batch_size=5"])["train"]["batch_size"] == 5
    # the paper's own recipes state their values (scale 1)
    assert compose(["experiment=lima_7b_ablation", "model.path=/x"])["train"]["batch_size"] == 64


def test_a_bad_regime_is_one_line_naming_the_key() -> None:
    cfg = compose(["regime.scale=2"])
    with pytest.raises(ConfigError, match="regime.scale: expected a value <= 1") as err:
        validate(cfg)
    assert "\n" not in str(err.value)


def test_a_budget_under_the_regime_trains_the_papers_steps() -> None:
    cfg = compose(["data=se_filtered", "data.size=250"])
    b = training_budget(cfg["train"], 250, 0)
    assert (b["steps_per_epoch"], b["epochs"], b["steps"]) == (32, 15, 480)


@pytest.mark.parametrize("path", SWEEPS, ids=lambda p: p.stem)
def test_every_sweep_file_carries_the_regime(path: Path) -> None:
    """Online (paper sizes, scale 1) and local (scaled with data.size), a grid says its scale."""
    sweep = load_sweep(path)
    assert sweep["parameters"]["regime.scale"] == {"value": 1}
    paper = wandb_runs(sweep, Fraction(1))
    for scale in ("1", "1/8", "1/100"):
        s = parse_scale(scale)
        for p, run in zip(paper, wandb_runs(sweep, s), strict=True):
            assert run["regime.scale"] == float(snapped_scale(64, s))
            if "data.size" in run:
                assert steps_per_epoch(
                    run["data.size"], batch_size(64, run["regime.scale"])
                ) == steps_per_epoch(p["data.size"], 64)


def test_the_derivation_table_is_in_the_docs() -> None:
    docs = (Path(__file__).parents[2] / "docs" / "ablations.md").read_text()
    for line in markdown(table(REGIME, compose([])["model"])).splitlines():
        assert line in docs, line


def test_the_hpo_space_is_centred_on_the_regime() -> None:
    """Every searched key's range holds the default run's derived value (Optuna explores around
    the regime, never a different recipe), a log-scaled range near its geometric middle."""
    cfg = compose([], name="hpo")
    for key, spec in cfg["hpo"]["space"].items():
        group, name = key.split(".")
        value = cfg[group][name]
        if spec["type"] == "categorical":
            assert value in spec["choices"], key
            continue
        assert spec["low"] <= value <= spec["high"], (key, value, spec)
        if spec.get("log"):
            middle = math.log(value / spec["low"]) / math.log(spec["high"] / spec["low"])
            assert 0.3 <= middle <= 0.7, (key, value, middle)
