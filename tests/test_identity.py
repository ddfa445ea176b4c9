"""Run ids are the project's memory: the same config names the same run on every machine and
across refactors. These ids were computed by the code before the stages refactor (commit
d8e2501); they may move only with a version constant (re-pin them in the same commit and say so)."""

from __future__ import annotations

import pytest
from hydra import compose, initialize_config_dir
from omegaconf import OmegaConf

from limalab.tracking.identity import run_id
from limalab.versions import PIPELINE_VERSION, WORLD_VERSION
from tests.conftest import ROOT

PINNED_VERSIONS = ("5", "3")  # (WORLD_VERSION, PIPELINE_VERSION) the ids below were computed at
PINNED = {
    "": "eef7128c55",
    "data=se_filtered": "ee6f93a03a",
    "data=se_unfiltered": "3df240057b",
    "data=wikihow": "1557eda073",
    "data=alpaca": "945f3d0dcf",
    "data=lima_dialogue": "3e9f5982be",
    "data=lima_format": "d5740c8c69",
    "data=lima_safety": "f7434d3843",
    "data=passage_qa": "e71f0dbf0f",
    "data.size=2000": "d887b70f74",
    "data.size=4000": "774dae58b8",
    "data=se_filtered data.size=250": "728b3f6e20",
    "seed=1": "1dffae32be",
    "data.subset_seed=1": "44756e99a4",
    "model.init=random": "e80d610f93",
    "train.epochs=0": "3940c83428",
    "train.epochs=0 eval.few_shot=3": "3940c83428",  # the evaluation is not the run's identity
    "experiment=smoke": "9a0b5fa23a",
    "experiment=smoke data.size=40": "3579020282",
    "train.budget=steps train.max_steps=100": "0850edf1dd",
    "world.seed=1": "d65cbb7b23",
    "experiment=lima_7b_ablation": "e5a683beed",
    "experiment=lima_paper": "4672a39404",
}


def test_run_ids_do_not_move(monkeypatch: pytest.MonkeyPatch) -> None:
    if (WORLD_VERSION, PIPELINE_VERSION) != PINNED_VERSIONS:
        pytest.fail(f"versions are {(WORLD_VERSION, PIPELINE_VERSION)}, the pinned ids were computed at "
                    f"{PINNED_VERSIONS}: re-pin them with the version bump that moved them")
    for var in ("LIMALAB_LLAMA_7B", "LIMALAB_LLAMA_65B"):
        monkeypatch.delenv(var, raising=False)
    with initialize_config_dir(config_dir=str(ROOT / "conf"), version_base="1.3"):
        got = {k: run_id(OmegaConf.to_container(compose("train", overrides=k.split()), resolve=True))
               for k in PINNED}
    assert got == PINNED
