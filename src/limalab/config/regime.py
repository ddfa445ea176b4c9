"""The paper's training regime at any scale, derived from the recipe's constants and stated
invariants, never tuned (docs/ablations.md, *The derived regime*).

``conf/regime/<name>.yaml`` holds the paper's constants (``regime.paper``), the scale
(``regime.scale``: miniature examples per paper example, ``SCALE``) and the values the paper
does not fix. ``conf/train.yaml`` and ``conf/optim/lima.yaml`` read every derived training value
through the ``limalab.regime`` resolver, so a hand run, ``make ablations`` and a W&B sweep agent
all train the same regime; an explicit override (``train.batch_size=16``) still wins.

The invariants:

- **Steps per epoch.** The batch scales with the data: ``batch = paper batch x scale``, so at
  a paper size N (scaled to N x scale examples) an epoch is ``ceil(N / paper batch)`` optimizer
  steps, the paper's, at every scale. A non-integer batch is rounded half up (at least 1) and the
  scale snapped to ``batch / paper batch`` (``snapped_scale``), sizes rounded up
  (``scaled_size``): then ``ceil(ceil(N b / B) / b) = ceil(N / B)`` holds exactly.
- **Epochs and selection** are the paper's: 15 epochs, candidates at the ends of epochs 5-10.
- **Peak lr** keeps the paper's ratio to the base's own pretraining peak (LLaMA-7B: 1e-5 against
  3e-4, 1/30); linear decay to a tenth, no warmup.
- **max_length** keeps the paper's ratio to the base's context (2,048 of LLaMA's 2,048: nothing
  that fits the model is cut).
- Not fixed by the paper: ``lm_head_lr_scale`` (1.0, the paper's one optimizer: the 0.1 was a
  calibration for an lr 50x the paper's ratio, which the derived lr removes), residual dropout
  (the paper's 0.2 for smaller models), dev samples per prompt (``select_k``).
"""

from __future__ import annotations

import math
from fractions import Fraction
from typing import Any

RESOLVER = "limalab.regime"
DERIVED = (
    "batch_size",
    "epochs",
    "window",
    "max_length",
    "select_k",
    "lr",
    "final_lr_ratio",
    "warmup_steps",
    "schedule",
    "lm_head_lr_scale",
    "residual_dropout",
)


def as_fraction(scale: Any) -> Fraction:
    """``1/8``, ``0.125`` or a Fraction; a positive number at most 1."""
    try:
        s = Fraction(str(scale)).limit_denominator(10_000)
    except (ValueError, ZeroDivisionError):
        raise ValueError(
            f"regime.scale: expected a number in (0, 1] such as 0.125 or 1/8, got {scale!r}"
        ) from None
    if not 0 < s <= 1:
        raise ValueError(f"regime.scale: expected a number in (0, 1], got {scale!r}")
    return s


def batch_size(paper_batch: int, scale: Any) -> int:
    """The paper's batch times the scale, rounded half up, at least 1."""
    return max(1, math.floor(paper_batch * as_fraction(scale) + Fraction(1, 2)))


def snapped_scale(paper_batch: int, scale: Any) -> Fraction:
    """The scale that sizes and batch share: ``batch / paper batch`` (1/100 with batch 64 ->
    1/64)."""
    return Fraction(batch_size(paper_batch, scale), paper_batch)


def scaled_size(n_paper: int, paper_batch: int, scale: Any) -> int:
    """A paper size on the miniature: ``n x snapped scale``, rounded up."""
    return math.ceil(n_paper * snapped_scale(paper_batch, scale))


def steps_per_epoch(n_examples: int, batch: int) -> int:
    """Optimizer steps in one pass (the last batch may be partial, as in ``model/budget.py``)."""
    return max(1, math.ceil(n_examples / batch))


def base_pretrain_lr(model: dict[str, Any]) -> float | None:
    """The base's own pretraining peak: the miniature's ``model.pretrain.lr``, a checkpoint's
    ``model.pretrain_lr`` (its paper's value), or None when the config does not say."""
    pre = model.get("pretrain")
    if isinstance(pre, dict) and pre.get("lr") is not None:
        return float(pre["lr"])
    return float(model["pretrain_lr"]) if model.get("pretrain_lr") is not None else None


def derive(regime: dict[str, Any], model: dict[str, Any]) -> dict[str, Any]:
    """Every training value of the regime for this base (``model``) at ``regime.scale``. A base
    whose pretraining peak the config does not state trains at the paper's lr as is."""
    p = regime["paper"]
    lo, hi = p["select_epochs"]
    own = base_pretrain_lr(model)
    context = (model.get("arch") or {}).get("max_position_embeddings")
    return {
        "batch_size": batch_size(int(p["batch_size"]), regime["scale"]),
        "epochs": int(p["epochs"]),
        "window": [lo / p["epochs"], hi / p["epochs"]],
        "max_length": int(p["max_length"] * context // p["base_context"])
        if context
        else int(p["max_length"]),
        "select_k": int(regime["select_k"]),
        "lr": float(p["lr"]) * own / float(p["base_pretrain_lr"]) if own else float(p["lr"]),
        "final_lr_ratio": float(p["final_lr_ratio"]),
        "warmup_steps": int(p["warmup_steps"]),
        "schedule": str(p["schedule"]),
        "lm_head_lr_scale": float(regime["lm_head_lr_scale"]),
        "residual_dropout": float(p["residual_dropout"]),
    }


def resolve(key: str, regime: Any, model: Any) -> Any:
    """The resolver: one derived value. A regime node the schema refuses gives None here, so
    validation names the bad ``regime.*`` key in one line instead of a resolver traceback."""
    from omegaconf import DictConfig, OmegaConf

    if key not in DERIVED:
        raise ValueError(
            f"${{{RESOLVER}:{key},...}}: unknown regime value; expected one of {', '.join(DERIVED)}"
        )
    regime = (
        OmegaConf.to_container(regime, resolve=True) if isinstance(regime, DictConfig) else regime
    )
    model = OmegaConf.to_container(model, resolve=True) if isinstance(model, DictConfig) else model
    try:
        return derive(regime, model)[key]
    except (KeyError, TypeError, ValueError, ZeroDivisionError):
        return None


def register_resolver() -> None:
    from omegaconf import OmegaConf

    OmegaConf.register_new_resolver(RESOLVER, resolve, replace=True)


def _step_budget_rows(
    regime: dict[str, Any], sizes: tuple[int, ...], d: dict[str, Any]
) -> list[tuple[Any, ...]]:
    """Batch, steps and epochs: the optimizer-step budget the miniature keeps equal."""
    p, b = regime["paper"], d["batch_size"]
    rows = [
        (
            "batch size",
            p["batch_size"],
            "batch = paper batch x scale (half up, >= 1; scale snapped to batch/64)",
            b,
        )
    ]
    rows += [
        (
            f"steps per epoch at {n:,}",
            steps_per_epoch(n, p["batch_size"]),
            "equal at every scale",
            steps_per_epoch(scaled_size(n, p["batch_size"], regime["scale"]), b),
        )
        for n in sizes
    ]
    n5 = scaled_size(2000, p["batch_size"], regime["scale"])
    return rows + [
        ("epochs", p["epochs"], "the paper's", d["epochs"]),
        (
            "optimizer steps at 2,000",
            p["epochs"] * steps_per_epoch(2000, p["batch_size"]),
            "equal at every scale",
            d["epochs"] * steps_per_epoch(n5, b),
        ),
    ]


def _optimization_rows(
    p: dict[str, Any], d: dict[str, Any], model: dict[str, Any]
) -> list[tuple[Any, ...]]:
    """Selection window, learning rate, schedule, length, dropout and dev sampling."""
    window = f"epochs {p['select_epochs'][0]}-{p['select_epochs'][1]}"
    return [
        (
            "selection window",
            window,
            "the paper's epochs",
            f"{window} ({d['window'][0]:.4f}-{d['window'][1]:.4f})",
        ),
        (
            "peak lr",
            p["lr"],
            f"1/{p['base_pretrain_lr'] / p['lr']:.0f} of the base's own pretraining peak "
            f"(LLaMA-7B {p['base_pretrain_lr']:g}; this base {base_pretrain_lr(model)})",
            d["lr"],
        ),
        (
            "lr schedule",
            f"{p['schedule']} to {p['final_lr_ratio']}x, warmup {p['warmup_steps']}",
            "the paper's",
            f"{d['schedule']} to {d['final_lr_ratio']}x, warmup {d['warmup_steps']}",
        ),
        (
            "max length",
            p["max_length"],
            f"same share of the base's context (paper {p['base_context']})",
            d["max_length"],
        ),
        (
            "residual dropout (top)",
            p["residual_dropout"],
            "the paper's (smaller models)",
            d["residual_dropout"],
        ),
        (
            "lm_head lr scale",
            "1 (one optimizer)",
            "the paper's (0.1 offset an lr 50x the paper's ratio)",
            d["lm_head_lr_scale"],
        ),
        (
            "dev samples per prompt",
            "not stated",
            "not fixed by the paper: 2 per dev prompt per candidate",
            d["select_k"],
        ),
    ]


def table(
    regime: dict[str, Any], model: dict[str, Any], sizes: tuple[int, ...] = (2000, 32000)
) -> list[dict[str, Any]]:
    """The derivation table: paper value, invariant, miniature value (docs/ablations.md)."""
    d = derive(regime, model)
    rows = _step_budget_rows(regime, sizes, d) + _optimization_rows(regime["paper"], d, model)
    return [{"value": v, "paper": pv, "invariant": inv, "miniature": mv} for v, pv, inv, mv in rows]


def _fmt(v: Any) -> str:
    return f"{v:.4g}" if isinstance(v, float) else f"{v:,}" if isinstance(v, int) else str(v)


def markdown(rows: list[dict[str, Any]]) -> str:
    lines = ["| value | paper (LLaMA 7B, §3/§5) | invariant | miniature |", "|---|---|---|---|"]
    return "\n".join(
        lines
        + [
            f"| {r['value']} | {_fmt(r['paper'])} | {r['invariant']} | {_fmt(r['miniature'])} |"
            for r in rows
        ]
    )


def main(argv: list[str] | None = None) -> None:
    """``python -m limalab.config.regime [overrides]``: the derivation table of the composed
    config."""
    import sys

    from limalab.config.compose import compose

    cfg = compose(list(sys.argv[1:] if argv is None else argv))
    print(
        f"regime {cfg['regime']['name']} at scale {cfg['regime']['scale']} on model "
        f"{cfg['model']['name']}\n"
    )
    print(markdown(table(cfg["regime"], cfg["model"])))


if __name__ == "__main__":
    main()
