"""Generation: the static KV cache samples what the dynamic one does, and everything that shapes
the samples (batch size, cache) is part of the generation's identity."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import pytest
import yaml

from limalab.config.compose import compose
from limalab.data.chat import ChatFormat
from limalab.eval.evaluation import generation_id
from limalab.eval.generate import generate
from limalab.eval.spec import EvalSpec
from limalab.model.base import tiny_llama
from limalab.tracking.io import read_jsonl
from limalab.world.tokenizer import world_tokenizer
from tests.conftest import ROOT

DECODING = {"do_sample": True, "top_p": 0.9, "temperature": 0.7, "repetition_penalty": 1.2}


@pytest.fixture(scope="module")
def setup(smoke_world: Path, cache_dir: Path):
    tok = world_tokenizer(smoke_world, cache_dir, "<|eot|>")
    arch = yaml.safe_load((ROOT / "conf" / "model" / "tiny.yaml").read_text())["arch"]
    rows = read_jsonl(smoke_world / "eval" / "test.jsonl")[:6]
    return tiny_llama(arch, tok, seed=0).eval(), ChatFormat(tok), rows


def test_the_static_cache_samples_the_same_tokens_as_the_dynamic_one(setup) -> None:
    model, chat, rows = setup
    spec = EvalSpec("test", 2, DECODING, 24, seed=3, batch_size=4)
    static = generate(model, chat, rows, replace(spec, kv_cache="static"))
    dynamic = generate(model, chat, rows, replace(spec, kv_cache="dynamic"))
    assert [r["response"] for r in static] == [r["response"] for r in dynamic]
    assert len(static) == len(rows) * 2 and all(r["n_tokens"] > 0 for r in static)


def test_a_rerun_samples_the_same_and_the_batch_size_is_part_of_the_identity(setup) -> None:
    model, chat, rows = setup
    spec = EvalSpec("test", 2, DECODING, 16, seed=1, batch_size=2)
    assert generate(model, chat, rows, spec) == generate(model, chat, rows, spec)
    ids = {
        generation_id("ckpt", "prompts", s)
        for s in (spec, replace(spec, batch_size=4), replace(spec, kv_cache="dynamic"))
    }
    assert len(ids) == 3


def test_the_eval_config_carries_batch_size_and_cache_into_the_spec() -> None:
    e = compose(["eval.batch_size=8", "eval.kv_cache=dynamic"])["eval"]
    spec = EvalSpec.from_config(e, 32)
    assert (spec.batch_size, spec.kv_cache) == (8, "dynamic")
    old = {k: v for k, v in e.items() if k != "kv_cache"}  # a run recorded before the key
    assert EvalSpec.from_config(old, 32).kv_cache == "static"
