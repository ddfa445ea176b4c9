"""How long a fine-tuning run trains: the paper's fixed epochs, or a compute-matched budget."""

from __future__ import annotations

import math
from typing import Any

BUDGETS = ("epochs", "steps", "tokens")


def training_budget(train: dict[str, Any], n_examples: int, n_tokens: int) -> dict[str, Any]:
    """How long to train: ``train.budget=epochs`` (the paper: a fixed number of passes, so more
    data is more compute), ``steps`` (``train.max_steps`` optimizer steps whatever the size) or
    ``tokens`` (``train.max_tokens`` tokens seen), so a size sweep can be compute-matched."""
    policy = train["budget"]
    if policy not in BUDGETS:
        raise ValueError(f"train.budget: expected one of {BUDGETS}, got {policy!r}")
    per_epoch = max(1, math.ceil(n_examples / int(train["batch_size"])))
    if int(train["epochs"]) == 0:  # the base-model controls stay untrained under any policy
        return {
            "policy": policy,
            "epochs": 0,
            "max_steps": -1,
            "steps": 0,
            "steps_per_epoch": per_epoch,
        }
    if policy == "epochs":
        epochs = int(train["epochs"])
        return {
            "policy": policy,
            "epochs": epochs,
            "max_steps": -1,
            "steps": epochs * per_epoch,
            "steps_per_epoch": per_epoch,
        }
    if policy == "steps":
        steps = train.get("max_steps")
        if not isinstance(steps, int) or steps <= 0:
            raise ValueError(
                "train.max_steps: a positive integer is needed with train.budget=steps, got "
                f"{steps!r}"
            )
    else:
        tokens = train.get("max_tokens")
        if not isinstance(tokens, int) or tokens <= 0:
            raise ValueError(
                "train.max_tokens: a positive integer is needed with train.budget=tokens, got "
                f"{tokens!r}"
            )
        steps = max(1, math.ceil(tokens / max(1, n_tokens) * per_epoch))
    return {
        "policy": policy,
        "epochs": math.ceil(steps / per_epoch),
        "max_steps": steps,
        "steps": steps,
        "steps_per_epoch": per_epoch,
    }
