"""Run ids are the project's memory: the same config names the same run on every machine and
across refactors. They may move only with a version constant: re-pin them in the commit that
bumps it, and say so. History: computed at d8e2501 (world 5, pipeline 3) and unchanged by the
stages refactor; re-pinned for pipeline 4 (the real-inputs data layer changed the miniature's data);
re-pinned for pipeline 5 (the flat layout under varlen attention, and the attention kernel in identity)."""

from __future__ import annotations

import pytest
from hydra import compose, initialize_config_dir
from omegaconf import OmegaConf

from limalab.tracking.identity import run_id
from limalab.versions import PIPELINE_VERSION, WORLD_VERSION
from tests.conftest import ROOT

PINNED_VERSIONS = ("5", "5")  # (WORLD_VERSION, PIPELINE_VERSION) the ids below were computed at
PINNED = {
    "": "c4d92d4f2d",
    "data=se_filtered": "ef4774fc31",
    "data=se_unfiltered": "07a19eff15",
    "data=wikihow": "4c85608733",
    "data=alpaca": "12376016b7",
    "data=lima_dialogue": "349f1a5c59",
    "data=lima_format": "1d58cd28b8",
    "data=lima_safety": "6d228f6d7c",
    "data=passage_qa": "707569c692",
    "data.size=2000": "85a4df943d",
    "data.size=4000": "e22e53c56a",
    "data=se_filtered data.size=250": "0a3c47d488",
    "seed=1": "d0907f653f",
    "data.subset_seed=1": "28a25f138b",
    "model.init=random": "b9b36279a0",
    "train.epochs=0": "ec1fcfd1fa",
    "train.epochs=0 eval.few_shot=3": "ec1fcfd1fa",  # the evaluation is not the run's identity
    "experiment=smoke": "f73df91643",
    "experiment=smoke data.size=40": "0dbb4af8ca",
    "train.budget=steps train.max_steps=100": "a04df8126c",
    "world.seed=1": "954d29f045",
    "experiment=lima_7b_ablation": "f9b1162112",
    "experiment=lima_paper": "1fc26b1096",
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
