"""The pruned top layer (trainer.prune_top_layer): the same per-label losses and gradients as the
stock model in every layout under both attention kernels, its MLP really runs on the labelled
positions only, and nothing outside training sees a difference (generation, parameter names)."""

from __future__ import annotations

import random

import pytest
import torch
from transformers import LlamaConfig, LlamaForCausalLM

from limalab.data.batching import flat_batch, label_nll, pack_batch, pad_batch
from limalab.data.chat import IGNORE
from limalab.model.attention import NAME as VARLEN
from limalab.model.strategy import prepare_model
from limalab.model.top_layer import prune_top_layer
from tests.conftest import TINY_GQA_LLAMA

PAD = 0
CFG = TINY_GQA_LLAMA


def examples(n: int, seed: int = 0) -> list[tuple[list[int], list[int]]]:
    """Prompts and responses, some with a second labelled turn (labels need not be a suffix)."""
    rng = random.Random(seed)
    out = []
    for _ in range(n):
        ids = [rng.randint(1, 63) for _ in range(rng.randint(4, 40))]
        labels = [t if rng.random() < 0.6 else IGNORE for t in ids]
        labels[0] = IGNORE
        out.append((ids, labels))
    return out


def pair(attn: str) -> tuple[LlamaForCausalLM, LlamaForCausalLM]:
    models = []
    for prune in (False, True):
        torch.manual_seed(0)
        m = LlamaForCausalLM(LlamaConfig(**CFG))
        m.set_attn_implementation(attn)
        if prune:
            prune_top_layer(m)
        models.append(m)
    return models[0], models[1]


def loss_and_grad(m: LlamaForCausalLM, batch: dict) -> tuple[torch.Tensor, torch.Tensor]:
    m.zero_grad()
    nll, _, targets = label_nll(m, batch)
    valid = targets != IGNORE
    ((nll * valid).sum() / valid.sum()).backward()
    return nll.detach(), torch.cat([p.grad.flatten() for p in m.parameters()])


@pytest.mark.parametrize("attn", ["sdpa", VARLEN])
@pytest.mark.parametrize("layout", ["pad", "pack", "flat"])
def test_losses_and_gradients_equal_the_stock_model(attn: str, layout: str) -> None:
    rows = examples(10, seed=3)
    batch = {
        "pad": lambda: pad_batch(rows, PAD),
        "pack": lambda: pack_batch(rows, PAD, 96),
        "flat": lambda: flat_batch(rows, PAD),
    }[layout]()
    stock, pruned = pair(attn)
    (nll_a, grad_a), (nll_b, grad_b) = loss_and_grad(stock, batch), loss_and_grad(pruned, batch)
    assert torch.allclose(nll_a, nll_b, rtol=1e-5, atol=1e-6)
    assert torch.allclose(grad_a, grad_b, rtol=1e-4, atol=1e-6)


def test_the_top_mlp_sees_only_labelled_positions() -> None:
    rows = examples(6, seed=1)
    batch = flat_batch(rows, PAD)
    _, pruned = pair(VARLEN)
    seen: list[int] = []
    pruned.model.layers[-1].mlp.register_forward_hook(
        lambda mod, inp, out: seen.append(inp[0].shape[-2])
    )
    pruned.model.layers[0].mlp.register_forward_hook(
        lambda mod, inp, out: seen.append(inp[0].shape[-2])
    )
    label_nll(pruned, batch)
    labelled = sum(sum(1 for t in labels[1:] if t != IGNORE) for _, labels in rows)
    assert seen == [
        batch["input_ids"].shape[1],
        labelled,
    ]  # bottom: every token; top: the labels only
    assert labelled < 0.8 * batch["input_ids"].shape[1]


def test_outside_training_it_is_the_stock_model() -> None:
    stock, pruned = pair("sdpa")
    assert list(stock.state_dict()) == list(
        pruned.state_dict()
    )  # snapshots load into plain transformers
    ids = torch.tensor([[5, 9, 11, 3, 7]])
    with torch.no_grad():
        assert torch.equal(stock(ids).logits, pruned(ids).logits)
        a = stock.generate(ids, max_new_tokens=6, do_sample=False, pad_token_id=0)
        b = pruned.generate(ids, max_new_tokens=6, do_sample=False, pad_token_id=0)
    assert torch.equal(a, b)
    prune_top_layer(pruned)  # idempotent
    assert type(pruned.model.layers[-1]).__mro__.count(type(stock.model.layers[-1])) == 1


@pytest.mark.parametrize("on", [True, False])
def test_the_trainer_key_decides(on: bool) -> None:
    m = LlamaForCausalLM(LlamaConfig(**CFG))
    prepare_model(m, {"attn_implementation": "varlen", "prune_top_layer": on})
    assert (type(m.model.layers[-1]).__name__ == "TopLayerLlamaDecoderLayer") is on
    assert type(m.model.layers[0]).__name__ == "LlamaDecoderLayer"
