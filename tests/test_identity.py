"""Run ids are the project's memory: the same config names the same run on every machine and
across refactors. They may move only with a version constant: re-pin them in the commit that
bumps it, and say so. History: computed at d8e2501 (world 5, pipeline 3) and unchanged by the
stages refactor; re-pinned for pipeline 4 (the real-inputs data layer changed the miniature's data);
re-pinned for pipeline 5 (the flat layout under varlen attention, and the attention kernel in
identity); re-pinned for pipeline 6 (the derived regime: the default batch, epochs, lr, lm_head
scale and
max_length moved; every id moves with the version)."""

from __future__ import annotations

import pytest
from hydra import compose, initialize_config_dir
from omegaconf import OmegaConf

from limalab.tracking.identity import run_id
from limalab.versions import PIPELINE_VERSION, WORLD_VERSION
from tests.conftest import ROOT

PINNED_VERSIONS = ("5", "6")  # (WORLD_VERSION, PIPELINE_VERSION) the ids below were computed at
PINNED = {
    "": "5661702c1a",
    "data=se_filtered": "17b47c9d86",
    "data=se_unfiltered": "8a0e609cf3",
    "data=wikihow": "a73529e412",
    "data=alpaca": "ca714539c7",
    "data=lima_dialogue": "3c29dc7220",
    "data=lima_format": "010e3ea17f",
    "data=lima_safety": "33380a774d",
    "data=passage_qa": "f9e4a4106b",
    "data.size=2000": "7feadb4161",
    "data.size=4000": "04343cf765",
    "data=se_filtered data.size=250": "0c6b290d24",
    "seed=1": "9a15c42c0b",
    "data.subset_seed=1": "e569e9ec8c",
    "model.init=random": "f8b2bef155",
    "train.epochs=0": "e5d7c54704",
    "train.epochs=0 eval.few_shot=3": "e5d7c54704",  # the evaluation is not the run's identity
    "experiment=smoke": "67ad549f18",
    "experiment=smoke data.size=40": "bf24028cb1",
    "train.budget=steps train.max_steps=100": "52c69b9c06",
    "world.seed=1": "5e517c750b",
    "experiment=lima_7b_ablation": "9ab939b0a3",
    "experiment=lima_paper": "ca852eb9b6",
}


def test_run_ids_do_not_move(monkeypatch: pytest.MonkeyPatch) -> None:
    if (WORLD_VERSION, PIPELINE_VERSION) != PINNED_VERSIONS:
        pytest.fail(
            f"versions are {(WORLD_VERSION, PIPELINE_VERSION)}, the pinned ids were computed at "
            f"{PINNED_VERSIONS}: re-pin them with the version bump that moved them"
        )
    for var in ("LIMALAB_LLAMA_7B", "LIMALAB_LLAMA_65B"):
        monkeypatch.delenv(var, raising=False)
    with initialize_config_dir(config_dir=str(ROOT / "conf"), version_base="1.3"):
        got = {
            k: run_id(OmegaConf.to_container(compose("train", overrides=k.split()), resolve=True))
            for k in PINNED
        }
    assert got == PINNED
