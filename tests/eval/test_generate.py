"""Generation: the static KV cache samples what the dynamic one does, eager attention decodes what
SDPA does, and everything that shapes the samples (batch size, cache, attention kernel) is part
of the generation's identity."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import pytest
import torch
import yaml

from limalab.config.compose import compose
from limalab.data.chat import ChatFormat
from limalab.eval.evaluation import generation_id
from limalab.eval.generate import decoding_attention, decoding_kernel, generate
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
        for s in (
            spec,
            replace(spec, batch_size=4),
            replace(spec, kv_cache="dynamic"),
            replace(spec, attention="sdpa"),
        )
    }
    assert len(ids) == 4


def test_eager_attention_decodes_what_sdpa_does(setup) -> None:
    """Greedy decoding, so a token differs only if the kernels' rounding flips an argmax."""
    model, chat, rows = setup
    greedy = {**DECODING, "do_sample": False, "repetition_penalty": 1.0}
    spec = EvalSpec("test", 1, greedy, 24, seed=0, batch_size=3)
    eager = generate(model, chat, rows, replace(spec, attention="eager"))
    sdpa = generate(model, chat, rows, replace(spec, attention="sdpa"))
    assert [r["response"] for r in eager] == [r["response"] for r in sdpa]
    assert all(r["n_tokens"] > 0 for r in eager)


def test_decoding_attention_is_eager_on_cpu_and_restores_the_models_own(setup) -> None:
    model, _, _ = setup
    cpu, gpu = torch.device("cpu"), torch.device("cuda")
    assert (decoding_kernel("auto", cpu), decoding_kernel("auto", gpu)) == ("eager", None)
    assert (decoding_kernel("model", cpu), decoding_kernel("sdpa", cpu)) == (None, "sdpa")
    own = model.config._attn_implementation
    with decoding_attention(model, "auto"):
        assert model.config._attn_implementation == "eager"
    assert model.config._attn_implementation == own
    try:
        with decoding_attention(model, "auto"):
            raise RuntimeError("a failed batch")
    except RuntimeError:
        pass
    assert model.config._attn_implementation == own


def test_the_eval_config_carries_batch_size_and_cache_into_the_spec() -> None:
    e = compose(["eval.batch_size=8", "eval.kv_cache=dynamic"])["eval"]
    spec = EvalSpec.from_config(e, 32)
    assert (spec.batch_size, spec.kv_cache) == (8, "dynamic")
    old = {k: v for k, v in e.items() if k != "kv_cache"}  # a run recorded before the key
    assert EvalSpec.from_config(old, 32).kv_cache == "static"
    assert EvalSpec.from_config(e, 32).attention == "auto"
    # a run recorded before eval.attention decoded with the model's own kernel
    assert EvalSpec.from_config({k: v for k, v in e.items() if k != "attention"}, 32).attention == (
        "model"
    )
