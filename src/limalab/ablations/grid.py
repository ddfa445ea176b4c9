"""A W&B sweep file is the one definition of an ablation grid. Online, ``wandb agent`` runs it;
locally, the same file becomes a Hydra multirun. Both expansions are computed here so a test
can prove they agree.

On the miniature, ``data.size`` values (and token budgets, and ``regime.scale`` itself) are
multiplied by one scale factor (1/8: the paper's 2,000-32,000 become 250-4,000); ``scale=1`` runs
the paper's sizes. The factor is the derived regime's (``limalab.config.regime``): snapped to
``batch / paper batch`` and sizes rounded up, so an epoch keeps the paper's optimizer steps;
step budgets therefore do not scale.
"""

from __future__ import annotations

import itertools
import math
from fractions import Fraction
from pathlib import Path
from typing import Any

import yaml

from limalab.config.compose import CONF_DIR
from limalab.config.regime import snapped_scale

# quantities of data: all multiplied by the scale (steps are the regime's invariant: never scaled)
SCALED_KEYS = ("data.size", "train.max_tokens", "regime.scale")
DEFAULT_REGIME = CONF_DIR / "regime" / "lima_7b_ablation.yaml"


def paper_batch(regime_file: Path = DEFAULT_REGIME) -> int:
    return int(yaml.safe_load(regime_file.read_text())["paper"]["batch_size"])


def load_sweep(path: str | Path) -> dict[str, Any]:
    path = Path(path)
    sweep = yaml.safe_load(path.read_text())
    if (
        not isinstance(sweep, dict)
        or sweep.get("method") != "grid"
        or not isinstance(sweep.get("parameters"), dict)
    ):
        raise ValueError(f"{path}: expected a W&B sweep file with method: grid and parameters")
    for key, spec in sweep["parameters"].items():
        if not isinstance(spec, dict) or ("value" in spec) == ("values" in spec):
            raise ValueError(f"{path}: parameters.{key}: expected exactly one of value or values")
    return sweep


def parse_scale(scale: str | float | Fraction) -> Fraction:
    """``1/8``, ``0.125`` or ``1``."""
    return Fraction(str(scale)).limit_denominator(1000)


def values(spec: dict[str, Any]) -> list[Any]:
    return list(spec["values"]) if "values" in spec else [spec["value"]]


def scaled(key: str, vals: list[Any], scale: Fraction) -> list[Any]:
    if key not in SCALED_KEYS or scale == 1:
        return vals
    s = snapped_scale(paper_batch(), scale)
    if key == "regime.scale":
        return [float(v * s) for v in vals]
    out = [math.ceil(v * s) for v in vals]
    if any(v <= 0 for v in out):
        raise ValueError(
            f"scale {scale}: {key} {vals} would scale to {out}; expected positive values"
        )
    return out


def wandb_runs(
    sweep: dict[str, Any], scale: Fraction = Fraction(1), extra: dict[str, list] | None = None
) -> list[dict]:
    """The runs a W&B grid sweep launches: the Cartesian product of every parameter's values
    (``extra`` adds axes such as world seeds), as ``{key: value}`` dicts."""
    params = {k: scaled(k, values(v), scale) for k, v in sweep["parameters"].items()}
    params.update(extra or {})
    keys = list(params)
    return [
        dict(zip(keys, combo, strict=True))
        for combo in itertools.product(*(params[k] for k in keys))
    ]


def override_value(v: Any) -> str:
    if isinstance(v, bool):
        return str(v).lower()
    if isinstance(v, list):
        return "[" + ",".join(override_value(x) for x in v) + "]"
    return str(v)


def hydra_overrides(
    sweep: dict[str, Any], scale: Fraction = Fraction(1), extra: dict[str, list] | None = None
) -> list[str]:
    """The same grid as Hydra multirun overrides (``key=v1,v2``) for ``src/train.py -m``."""
    params = {k: scaled(k, values(v), scale) for k, v in sweep["parameters"].items()}
    params.update(extra or {})
    return [f"{k}={','.join(override_value(v) for v in vals)}" for k, vals in params.items()]


def parse_where(items: list[str]) -> dict[str, list[str]]:
    """``--where data.size=250,500``: a slice of the designed grids, one key per item, values in
    the sweep files' own units (the paper's sizes, before scaling)."""
    out: dict[str, list[str]] = {}
    for item in items:
        key, sep, vals = item.partition("=")
        if not sep or not key.strip() or not vals.strip():
            raise ValueError(f"--where {item!r}: expected KEY=V1,V2,... (e.g. data.size=250,500)")
        out[key.strip()] = [v.strip() for v in vals.split(",") if v.strip()]
    return out


def restrict(sweep: dict[str, Any], where: dict[str, list[str]]) -> dict[str, Any] | None:
    """The sweep with each ``where`` key's values cut to those listed (in the listed order of
    the sweep); None when a key the sweep varies keeps no value. A key the sweep does not name
    leaves it as it is: a slice narrows the design, it never adds an axis."""
    params = dict(sweep["parameters"])
    for key, keep in where.items():
        if key not in params:
            continue
        vals = [v for v in values(params[key]) if override_value(v) in keep]
        if not vals:
            return None
        params[key] = {"values": vals} if "values" in params[key] else {"value": vals[0]}
    return {**sweep, "parameters": params}


def expand_hydra(overrides: list[str]) -> list[dict[str, str]]:
    """What Hydra's basic sweeper launches for these overrides (used to check the agreement)."""
    from hydra._internal.core_plugins.basic_sweeper import BasicSweeper
    from hydra.core.override_parser.overrides_parser import OverridesParser

    parsed = OverridesParser.create().parse_overrides(overrides)
    jobs = [job for batch in BasicSweeper.split_arguments(parsed, None) for job in batch]
    return [dict(o.split("=", 1) for o in job) for job in jobs]
