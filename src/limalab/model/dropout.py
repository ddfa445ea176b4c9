"""LIMA's layerwise residual dropout: 0 at the bottom layer rising linearly to p_max at the top.

Applied to each residual branch's output (attention ``o_proj`` and MLP ``down_proj``) by
forward hooks, so the HF model class stays stock and sharding wrappers see plain modules.
"""

from __future__ import annotations

import torch.nn.functional as F
from torch import nn


def layer_rates(n_layers: int, p_max: float) -> list[float]:
    if n_layers == 1:
        return [p_max]
    return [p_max * i / (n_layers - 1) for i in range(n_layers)]


class _BranchDropout:
    def __init__(self, p: float) -> None:
        self.p = p

    def __call__(self, module: nn.Module, inputs: tuple, output):  # noqa: ANN001
        return F.dropout(output, self.p, module.training)


def add_residual_dropout(model: nn.Module, p_max: float) -> list[float]:
    """Hook every decoder layer of a LLaMA-style model; returns the per-layer rates."""
    layers = model.model.layers
    rates = layer_rates(len(layers), p_max)
    for layer, p in zip(layers, rates, strict=True):
        if p > 0:
            layer.self_attn.o_proj.register_forward_hook(_BranchDropout(p))
            layer.mlp.down_proj.register_forward_hook(_BranchDropout(p))
    return rates
