"""Judges by name, so configs can pick one with a string."""

from __future__ import annotations

from typing import Any

from limalab.eval.judges.base import Judge, Judgment
from limalab.eval.judges.reference import ReferenceJudge

JUDGES: dict[str, type] = {"reference": ReferenceJudge}


def build_judge(name: str, **kwargs: Any) -> Judge:
    """Instantiate the judge registered as ``name`` (e.g. ``build_judge("reference", world=w)``)."""
    try:
        cls = JUDGES[name]
    except KeyError:
        raise ValueError(f"unknown judge {name!r}; known judges: {sorted(JUDGES)}") from None
    return cls(**kwargs)


__all__ = ["JUDGES", "Judge", "Judgment", "ReferenceJudge", "build_judge"]
