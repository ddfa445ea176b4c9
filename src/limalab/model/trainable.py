"""Which parameters fine-tuning updates (``model.frozen``: name patterns kept fixed).

The paper updates every parameter (the default). Freezing is for partial-tuning ablations
and for memory at scale. Measured on the miniature (2026-11, docs/world.md): freezing
``lm_head`` protects the test entities' values from the softmax push-down but leaves the
end-of-turn token and the assistant's words unlearnable (EOT rate 0.31 vs 0.99).
"""

from __future__ import annotations

from torch import nn


def freeze(model: nn.Module, patterns: list[str] | tuple[str, ...]) -> list[str]:
    """Stop gradients to every parameter whose name contains one of ``patterns``; returns
    the frozen names. A pattern that matches nothing is a config error, not a silent no-op."""
    frozen = []
    for pattern in patterns:
        hits = [name for name, p in model.named_parameters() if pattern in name]
        if not hits:
            names = sorted({n.split(".")[0] if "layers" not in n else "model.layers.N" for n, _ in model.named_parameters()})
            raise ValueError(f"model.frozen: {pattern!r} matches no parameter (top-level names: {names})")
        for name, p in model.named_parameters():
            if pattern in name:
                p.requires_grad_(False)
        frozen += hits
    return sorted(set(frozen))
