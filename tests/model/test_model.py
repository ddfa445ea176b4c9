"""The LightningModule's schedule and the layerwise residual dropout."""

from __future__ import annotations

from types import SimpleNamespace

import pytest
import torch
from transformers import LlamaConfig, LlamaForCausalLM

from limalab.model.callbacks import window_epochs
from limalab.model.dropout import add_residual_dropout, layer_rates
from limalab.model.module import CausalLMModule, Recipe, lr_lambda
from limalab.model.trainable import freeze


def test_dropout_rises_linearly_from_zero_to_p_max() -> None:
    assert layer_rates(4, 0.3) == pytest.approx([0.0, 0.1, 0.2, 0.3])
    assert layer_rates(32, 0.2)[0] == 0.0 and layer_rates(32, 0.2)[-1] == pytest.approx(0.2)
    assert layer_rates(1, 0.2) == [0.2]


def test_dropout_hooks_act_in_training_only() -> None:
    torch.manual_seed(0)
    model = LlamaForCausalLM(
        LlamaConfig(
            vocab_size=50,
            hidden_size=16,
            num_hidden_layers=3,
            num_attention_heads=2,
            intermediate_size=32,
        )
    )
    x = torch.randint(0, 50, (2, 8))
    model.eval()
    clean = model(input_ids=x).logits
    rates = add_residual_dropout(model, 0.5)
    assert rates == pytest.approx([0.0, 0.25, 0.5])
    assert torch.equal(model(input_ids=x).logits, clean)  # eval: hooks are identity
    model.train()
    assert not torch.allclose(model(input_ids=x).logits, clean)
    # the bottom layer has rate 0: no hook there
    assert not model.model.layers[0].self_attn.o_proj._forward_hooks
    assert model.model.layers[2].mlp.down_proj._forward_hooks


def test_linear_decay_to_a_tenth_with_no_warmup() -> None:
    f = lr_lambda("linear", total=100, warmup=0, final_ratio=0.1)
    assert f(0) == 1.0 and f(99) == pytest.approx(0.1)
    assert f(50) == pytest.approx(1 - 0.9 * 50 / 99)


def test_selection_window_matches_the_paper() -> None:
    assert window_epochs(15, (1 / 3, 2 / 3)) == [5, 6, 7, 8, 9, 10]
    assert window_epochs(15, (0.3333, 0.6667)) == [5, 6, 7, 8, 9, 10]
    assert window_epochs(6, (0.3333, 0.6667)) == [2, 3, 4]


def _toy_llama() -> LlamaForCausalLM:
    """A two-layer LLaMA of width 16 with its own output layer (untied, as the miniature's)."""
    return LlamaForCausalLM(
        LlamaConfig(
            vocab_size=50,
            hidden_size=16,
            num_hidden_layers=2,
            num_attention_heads=2,
            intermediate_size=32,
            tie_word_embeddings=False,
        )
    )


def test_freeze_stops_gradients_and_names_bad_patterns() -> None:
    model = _toy_llama()
    assert freeze(model, ["lm_head"]) == ["lm_head.weight"]
    head = model.lm_head.weight.detach().clone()
    opt = torch.optim.AdamW([p for p in model.parameters() if p.requires_grad], lr=1e-2)
    x = torch.randint(0, 50, (2, 8))
    model(input_ids=x, labels=x).loss.backward()
    opt.step()
    assert torch.equal(model.lm_head.weight, head)
    with pytest.raises(ValueError, match="model.frozen: 'lm_haed'"):
        freeze(model, ["lm_haed"])


def test_lm_head_learns_at_its_own_scaled_lr() -> None:
    model = _toy_llama()
    module = CausalLMModule(model, Recipe(lr=1e-3, lm_head_lr_scale=0.1))
    module.trainer = SimpleNamespace(estimated_stepping_batches=10)
    opt = module.configure_optimizers()["optimizer"]
    head = [g for g in opt.param_groups if any(p is model.lm_head.weight for p in g["params"])]
    assert len(head) == 1 and len(head[0]["params"]) == 1 and head[0]["lr"] == pytest.approx(1e-4)
    others = [g for g in opt.param_groups if g is not head[0]]
    assert all(g["lr"] == pytest.approx(1e-3) for g in others)
    assert sum(len(g["params"]) for g in opt.param_groups) == len(list(model.parameters()))


def test_input_embedding_and_norm_gains_learn_at_the_input_lr() -> None:
    """muP's Adam rule (config/base_recipe.py): only matrices whose fan-in grows with width take
    the width-scaled peak; the input embedding and norm gains take ``input_lr_scale`` x it."""
    model = _toy_llama()
    module = CausalLMModule(model, Recipe(lr=1e-3, input_lr_scale=2.0, weight_decay=0.1))
    module.trainer = SimpleNamespace(estimated_stepping_batches=10)
    opt = module.configure_optimizers()["optimizer"]
    group = {id(p): g for g in opt.param_groups for p in g["params"]}
    for name, p in model.named_parameters():
        g = group[id(p)]
        if name == "model.embed_tokens.weight":
            assert (g["lr"], g["weight_decay"]) == (pytest.approx(2e-3), 0.1), name
        elif "norm" in name:
            assert (g["lr"], g["weight_decay"]) == (pytest.approx(2e-3), 0.0), name
        else:  # attention, MLP and the output layer
            assert (g["lr"], g["weight_decay"]) == (pytest.approx(1e-3), 0.1), name
    assert len(group) == len(list(model.parameters()))


def test_mup_init_rescales_hidden_and_output_matrices_of_the_same_draws() -> None:
    """A base 4x the width of its reference (config/base_recipe.py): hidden matrices' std / 2,
    the output layer's / 4, the input embedding and norm gains as HF draws them."""
    from limalab.model.base import mup_init

    torch.manual_seed(0)
    plain = _toy_llama()
    torch.manual_seed(0)
    scaled = _toy_llama()
    mup_init(scaled, 4.0)
    ratio = {
        name: (p / q)[q != 0].unique()
        for (name, p), q in zip(scaled.named_parameters(), plain.parameters(), strict=True)
    }
    for name, r in ratio.items():
        expected = (
            0.25
            if name == "lm_head.weight"
            else 1.0
            if name == "model.embed_tokens.weight" or "norm" in name
            else 0.5
        )
        assert torch.allclose(r, torch.tensor(expected)), (name, r)


def test_training_budget_policies() -> None:
    from limalab.model.budget import training_budget

    base = {"epochs": 6, "batch_size": 32, "budget": "epochs"}
    assert training_budget(base, 1000, 50_000) == {
        "policy": "epochs",
        "epochs": 6,
        "max_steps": -1,
        "steps": 192,
        "steps_per_epoch": 32,
    }
    steps = training_budget({**base, "budget": "steps", "max_steps": 100}, 1000, 50_000)
    assert steps["max_steps"] == 100 and steps["epochs"] == 4  # 3 whole epochs and a partial one
    assert (
        training_budget({**base, "budget": "steps", "max_steps": 100}, 4000, 200_000)["epochs"] == 1
    )
    tok = training_budget({**base, "budget": "tokens", "max_tokens": 100_000}, 1000, 50_000)
    assert tok["max_steps"] == 64 and tok["epochs"] == 2  # two passes over 50k tokens
    assert training_budget({**base, "epochs": 0, "budget": "steps"}, 1000, 1)["epochs"] == 0
    with pytest.raises(ValueError, match="train.max_steps: a positive integer"):
        training_budget({**base, "budget": "steps"}, 1000, 1)
    with pytest.raises(ValueError, match="train.budget: expected one of"):
        training_budget({**base, "budget": "flops"}, 1000, 1)
