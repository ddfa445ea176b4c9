"""A larger miniature base's pretraining recipe, derived from the base it scales up
(``model.reference``) by stated invariants, never tuned (docs/ablations.md, *Base capacity*).

- **Peak lr** follows the width: ``reference lr x (reference width / width) ** lr_width_exponent``.
  With exponent 1 this is muP's rule for Adam on the hidden matrices (the update of a weight
  matrix grows with its fan-in, so the lr that moves features by the same amount falls as
  1/width); GPT-3's published peaks fall about as width^-0.8 over a 16x width range (6e-4 at 768
  to 0.6e-4 at 12,288), LLaMA's halve from 7B to 65B. The fine-tuning lr then follows from this
  peak through the regime (``config/regime.py``: 1/30 of the base's own peak).
- **Per parameter group** (muP's Adam table): the width rule applies to the matrices whose fan-in
  grows with width (attention, MLP, output layer); the input embedding and the norm gains, whose
  fan-in does not grow, keep the reference's lr: ``input_lr_scale`` = width ** exponent multiplies
  the peak back for them (``model/module.py``). The first derivation scaled every parameter; its
  seeds passed the probe gate one in three; with the groups, one in four, each
  seed knowing more (docs/ablations.md).
- **Init** (muP's too): ``init_width_mult`` = width / reference width; the hidden matrices' init
  std falls as 1/sqrt of it, the output layer's as 1/it, the input embedding keeps HF's 0.02
  (``model/base.py``). With the lr groups alone, the larger base started with logits and hidden
  updates sized for neither width; with the init too, three seeds of three pass the probe gate.
- **Tokens seen**: ``tokens_ratio`` times the reference's (1: the same corpus, passes, batch and
  sequence length), so the two bases differ in capacity alone; epochs = reference epochs x ratio,
  rounded half up. The corpus is the world's knowledge: more passes add no new facts. Measured at
  2 (the reference's lr x tokens): the larger base memorizes its corpus (final loss 0.03 against
  0.3-0.4) and both seeds miss test facts in article context (docs/ablations.md).
- Batch, sequence length, warmup and the final lr ratio are the reference's (interpolated in
  ``conf/model/tiny_large.yaml``).

``conf/model/tiny_large.yaml`` reads the derived values through the ``limalab.base`` resolver.
"""

from __future__ import annotations

import math
from typing import Any

RESOLVER = "limalab.base"
DERIVED = ("lr", "input_lr_scale", "init_width_mult", "epochs")


def derive(reference: dict[str, Any], arch: dict[str, Any], rule: dict[str, Any]) -> dict[str, Any]:
    """The derived pretraining values of a base of shape ``arch`` scaled up from ``reference``."""
    ref = reference["pretrain"]
    width = int(arch["hidden_size"]) / int(reference["arch"]["hidden_size"])
    exponent = float(rule["lr_width_exponent"])
    return {
        "lr": float(ref["lr"]) * width**-exponent,
        "input_lr_scale": float(ref.get("input_lr_scale", 1.0)) * width**exponent,
        "init_width_mult": float(ref.get("init_width_mult", 1.0)) * width,
        "epochs": max(1, math.floor(int(ref["epochs"]) * float(rule["tokens_ratio"]) + 0.5)),
    }


def resolve(key: str, reference: Any, arch: Any, rule: Any) -> Any:
    """The resolver: one derived value (None for a node the schema refuses, so validation names
    the bad ``model.*`` key in one line instead of a resolver traceback)."""
    from omegaconf import DictConfig, OmegaConf

    if key not in DERIVED:
        raise ValueError(
            f"${{{RESOLVER}:{key},...}}: unknown base value; expected one of {', '.join(DERIVED)}"
        )
    nodes = [
        OmegaConf.to_container(n, resolve=True) if isinstance(n, DictConfig) else n
        for n in (reference, arch, rule)
    ]
    try:
        return derive(*nodes)[key]
    except (KeyError, TypeError, ValueError, ZeroDivisionError):
        return None


def register_resolver() -> None:
    from omegaconf import OmegaConf

    OmegaConf.register_new_resolver(RESOLVER, resolve, replace=True)


def table(model: dict[str, Any]) -> list[dict[str, Any]]:
    """Reference value, invariant, derived value of a base with a ``reference`` (docs' table)."""
    ref, rule, pre = model["reference"], model["derive"], model["pretrain"]
    width = model["arch"]["hidden_size"] / ref["arch"]["hidden_size"]
    rows = [
        (
            "shape (width x layers, ffn)",
            _shape(ref["arch"]),
            "the capacity axis",
            _shape(model["arch"]),
        ),
        (
            "peak lr",
            ref["pretrain"]["lr"],
            f"x (1/{width:g})^{rule['lr_width_exponent']:g} (muP, Adam)",
            pre["lr"],
        ),
        (
            "lr x, input embedding and norm gains",
            ref["pretrain"].get("input_lr_scale", 1.0),
            f"x {width:g}^{rule['lr_width_exponent']:g}: the reference's lr (muP)",
            pre.get("input_lr_scale", 1.0),
        ),
        (
            "init std: hidden / output matrices",
            "0.02 / 0.02",
            f"/ sqrt({width:g}) / {width:g} (muP)",
            _init_stds(pre.get("init_width_mult", 1.0)),
        ),
        (
            "epochs (corpus passes)",
            ref["pretrain"]["epochs"],
            f"tokens seen x {rule['tokens_ratio']:g}",
            pre["epochs"],
        ),
    ]
    rows += [
        (k, ref["pretrain"][k], "the reference's", pre[k])
        for k in ("batch_size", "seq_len", "warmup_steps", "final_lr_ratio")
    ]
    rows.append(("probe gate", "-", "test facts known >= the reference's", ", ".join(rule["gate"])))
    return [{"value": v, "reference": r, "invariant": inv, "derived": d} for v, r, inv, d in rows]


def _init_stds(width_mult: float, std: float = 0.02) -> str:
    return f"{std * width_mult**-0.5:.4g} / {std / width_mult:.4g}"


def _shape(arch: dict[str, Any]) -> str:
    return f"{arch['hidden_size']} x {arch['num_hidden_layers']}, {arch['intermediate_size']}"


def markdown(rows: list[dict[str, Any]]) -> str:
    lines = ["| value | reference base | invariant | larger base |", "|---|---|---|---|"]
    return "\n".join(
        lines
        + [f"| {r['value']} | {r['reference']} | {r['invariant']} | {r['derived']} |" for r in rows]
    )


def main(argv: list[str] | None = None) -> None:
    """``python -m limalab.config.base_recipe [overrides]``: the derivation table of a derived base
    (``model=tiny_large`` unless the overrides pick another)."""
    import sys

    from limalab.config.compose import compose

    args = list(sys.argv[1:] if argv is None else argv)
    model = compose(
        args if any(a.startswith("model=") for a in args) else ["model=tiny_large", *args]
    )["model"]
    if not model.get("reference"):
        raise SystemExit(
            f"model {model['name']}: not derived from another base (no model.reference)"
        )
    print(markdown(table(model)))


if __name__ == "__main__":
    main()
