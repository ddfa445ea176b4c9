"""Stage ``data``: read, filter, mix and subset the run's examples, tokenize them, and write
the manifest (the only writer of ``manifest.json``). ``src/prepare.py`` runs this stage alone
(``prepare_alone``): the manifest and a preview, no tokenizer, and no world unless a source reads
from it.

The examples come from verified caches, so the stage always rebuilds them in memory (seconds)
and checks them against the manifest it wrote before: a run never trains on other data than it
recorded."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

from limalab.config import validate
from limalab.data.example import Example
from limalab.data.mix import build_mix, needs_world
from limalab.data.preview import preview
from limalab.data.tokenized import tokenize
from limalab.pipeline.context import RunContext
from limalab.tracking.io import atomic_write_text, config_hash
from limalab.tracking.rundir import RunDir
from limalab.versions import PIPELINE_VERSION, WORLD_VERSION
from limalab.world.build import WorldConfig, build_world

NAME = "data"


def response_counter(tokenizer: Any) -> Callable[[list[str]], int]:
    """A dialogue's assistant tokens (what ``data.select=longest`` ranks by)."""
    return lambda turns: sum(
        len(tokenizer(t, add_special_tokens=False)["input_ids"]) for t in turns[1::2]
    )


def mix_and_tokenize(ctx: RunContext) -> tuple[list[Example], list, dict[str, Any]]:
    """The examples, their (input_ids, labels) rows and the manifest with token counts."""
    cfg = ctx.cfg
    world_dir = ctx.world_dir if needs_world(cfg["data"]) else None
    examples, manifest = build_mix(
        cfg["data"], world_dir, ctx.cache_dir, cfg["plugins"], response_counter(ctx.tokenizer)
    )
    max_length = int(cfg["train"]["max_length"])
    rows, key = tokenize(examples, manifest["sha256"], ctx.chat, max_length, ctx.cache_dir)
    resp = [sum(1 for t in lab if t != -100) for _, lab in rows]
    manifest.update(
        seed=cfg["seed"],
        tokenized_cache=key,
        n_tokens=sum(len(ids) for ids, _ in rows),
        n_response_tokens=sum(resp),
        n_trimmed=sum(1 for ids, _ in rows if len(ids) == max_length),
        response_tokens_p95=float(np.percentile(resp, 95)),
    )
    return examples, rows, manifest


def run(ctx: RunContext) -> None:
    """The examples and manifest into ``ctx``, checked against the manifest the run recorded."""
    ctx.examples, ctx.rows, manifest = mix_and_tokenize(ctx)
    old = ctx.rd.read_manifest()
    if old is not None and old.get("sha256") != manifest["sha256"]:
        raise ValueError(
            f"{ctx.rd.manifest}: this run trained on other data (sha256 "
            f"{old.get('sha256', '?')[:12]}) than its config gives now "
            f"({manifest['sha256'][:12]}): the source files changed; rerun with force=true to "
            "train it again on the current data"
        )
    ctx.manifest = manifest


def record(ctx: RunContext) -> None:
    """Write the manifest (once) and the stage record."""
    done = ctx.rd.stage_record(NAME)
    if done is not None and done.get("sha256") == ctx.manifest["sha256"]:
        ctx.records[NAME] = done
        return
    if ctx.rd.read_manifest() is None:
        ctx.rd.write_manifest(ctx.manifest)
    ctx.records[NAME] = ctx.rd.write_stage(
        NAME,
        "complete",
        [ctx.rd.manifest],
        n_examples=ctx.manifest["n_examples"],
        sha256=ctx.manifest["sha256"],
    )
    print(f"data: {ctx.manifest['n_examples']} examples {ctx.manifest['source_counts']}")


def alone_tokenizer(cfg: dict[str, Any], cache: Path) -> Any:
    """The run's tokenizer without a run (``data.select`` ranks by its tokens)."""
    m = cfg["model"]
    if m["source"] == "checkpoint":
        from limalab.model.checkpoint import chat_tokenizer

        return chat_tokenizer(m["path"], m["eot_token"])
    from limalab.world.tokenizer import world_tokenizer

    return world_tokenizer(build_world(WorldConfig(**cfg["world"]), cache), cache, m["eot_token"])


def prepare_alone(cfg: dict[str, Any]) -> Path:
    """``src/prepare.py``: the arm's manifest and preview in ``<runs_dir>/.data/<key>/``."""
    validate(cfg)
    cache = Path(cfg["cache_dir"])
    world_dir = (
        build_world(WorldConfig(**cfg["world"]), cache) if needs_world(cfg["data"]) else None
    )
    counter = response_counter(alone_tokenizer(cfg, cache)) if cfg["data"].get("select") else None
    examples, manifest = build_mix(cfg["data"], world_dir, cache, cfg["plugins"], counter)
    key = config_hash(
        {"world": cfg["world"], "data": cfg["data"], "v": [WORLD_VERSION, PIPELINE_VERSION]}
    )
    out = RunDir(Path(cfg["runs_dir"]) / ".data" / key)
    out.write_manifest(manifest)
    atomic_write_text(out.path / "preview.md", preview(examples, manifest))
    return out.path
