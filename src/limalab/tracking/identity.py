"""Run identity: a short hash of the semantic config — what changes the result (world, data,
model, recipe, seed, precision, attention kernel, behaviour versions) — and nothing else (paths,
loggers, workers, eval)."""

from __future__ import annotations

from typing import Any

from limalab.tracking.io import config_hash
from limalab.versions import PIPELINE_VERSION, WORLD_VERSION

SEMANTIC_GROUPS = ("world", "data", "model", "optim", "train", "seed")
# Keys inside semantic groups that never change a result.
NON_SEMANTIC = {("data", "num_workers"), ("train", "checkpoint_every_n_steps")}


def semantic_config(cfg: dict[str, Any]) -> dict[str, Any]:
    out = {g: cfg.get(g) for g in SEMANTIC_GROUPS}
    for group, key in NON_SEMANTIC:
        if isinstance(out.get(group), dict):
            out[group] = {k: v for k, v in out[group].items() if k != key}
    trainer = cfg.get("trainer") or {}
    out["precision"] = trainer.get("precision")
    out["attention"] = trainer.get(
        "attn_implementation"
    )  # with train.layout, it decides the batch layout
    # exact, but float rounding and the top layer's dropout draws differ
    out["prune_top_layer"] = bool(trainer.get("prune_top_layer"))
    out["versions"] = {"world": WORLD_VERSION, "pipeline": PIPELINE_VERSION}
    return out


def run_id(cfg: dict[str, Any]) -> str:
    return config_hash(semantic_config(cfg), length=10)


def base_recipe(model_cfg: dict[str, Any]) -> dict[str, Any]:
    """What makes a base this base on any world: its shape, its pretraining recipe (seed
    included) and, for a real checkpoint, its path. How often pretraining checkpoints never
    changes the base."""
    pretrain = model_cfg.get("pretrain")
    if isinstance(pretrain, dict):
        pretrain = {k: v for k, v in pretrain.items() if k != "checkpoint_every_n_steps"}
    return {"arch": model_cfg.get("arch"), "pretrain": pretrain, "path": model_cfg.get("path")}


def base_recipe_id(model_cfg: dict[str, Any]) -> str:
    return config_hash(base_recipe(model_cfg), length=8)
