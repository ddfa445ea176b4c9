"""Which parameters fine-tuning updates (``model.frozen``: name patterns kept fixed).

The paper updates every parameter (the default). Freezing is for partial-tuning ablations
and for memory at scale. Measured on the miniature (2026-11, docs/world.md): freezing
``lm_head`` protects the test entities' values from the softmax push-down but leaves the
end-of-turn token and the assistant's words unlearnable (EOT rate 0.31 vs 0.99); the
miniature uses a slower output layer instead (``optim.lm_head_lr_scale``).
"""

from __future__ import annotations

from torch import nn


def freeze(model: nn.Module, patterns: list[str] | tuple[str, ...]) -> list[str]:
    """Stop gradients to every parameter whose name contains one of ``patterns``; returns
    the frozen names. A pattern that matches nothing is a config error, not a silent no-op."""
    params = dict(model.named_parameters())
    frozen: set[str] = set()
    for pattern in patterns:
        hits = {name for name in params if pattern in name}
        if not hits:
            raise ValueError(
                f"model.frozen: {pattern!r} matches no parameter name (e.g. {next(iter(params))!r})"
            )
        frozen |= hits
    for name in frozen:
        params[name].requires_grad_(False)
    return sorted(frozen)
