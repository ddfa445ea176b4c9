"""Every declared config key, given a value of the wrong type and one out of its range: the
config is refused before any work starts, with one line naming the key, the value and what is
allowed. Generated from the schema itself, so a key added later is covered without a new test."""

from __future__ import annotations

import os
import subprocess
import sys
import types
import typing
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from pydantic import BaseModel
from pydantic.fields import FieldInfo

from limalab.config import ConfigError, validate
from limalab.config.compose import compose
from limalab.config.schema import RunConfig
from tests.conftest import ROOT, SMOKE

BASE = compose(["experiment=smoke"])


def _leaf_type(annotation: Any) -> tuple[Any, list[Any]]:
    """(the scalar type of a field, its metadata constraints), through Annotated and Optional."""
    meta: list[Any] = []
    while True:
        origin = typing.get_origin(annotation)
        if origin is typing.Annotated:
            annotation, *extra = typing.get_args(annotation)
            meta += extra
        elif origin in (typing.Union, types.UnionType):
            args = [a for a in typing.get_args(annotation) if a is not type(None)]
            if len(args) != 1:
                return annotation, meta
            annotation = args[0]
        else:
            return annotation, meta


def _bounds(field: FieldInfo, meta: list[Any]) -> dict[str, float]:
    out = {}
    for m in [*field.metadata, *meta, *(getattr(x, "metadata", []) for x in meta)]:
        for c in m if isinstance(m, list) else [m]:
            for name in ("ge", "gt", "le", "lt"):
                if getattr(c, name, None) is not None:
                    out[name] = getattr(c, name)
    return out


def bad_values(field: FieldInfo) -> Iterator[tuple[Any, str]]:
    """(value, why it is bad) for a scalar field: a wrong type, and values outside its range."""
    kind, meta = _leaf_type(field.annotation)
    if typing.get_origin(kind) is typing.Literal:
        yield "not-an-option", "not one of the allowed values"
        return
    if kind in (int, float):
        yield "abc", "not a number"
        b = _bounds(field, meta)
        if "ge" in b:
            yield b["ge"] - 1, "below the minimum"
        if "gt" in b:
            yield b["gt"] - (1 if kind is int else 0), "at or below the bound"
        if "le" in b:
            yield b["le"] + 1, "above the maximum"
        if "lt" in b:
            yield b["lt"] + (1 if kind is int else 0), "at or above the bound"
    elif kind is bool:
        yield "maybe", "not a boolean"
    elif kind is str:
        yield {"a": 1}, "a mapping, not a string"


def leaves(
    model: type[BaseModel], node: dict[str, Any], prefix: str = ""
) -> Iterator[tuple[str, FieldInfo]]:
    """Every scalar key of ``model`` that the composed config ``node`` holds."""
    for name, field in model.model_fields.items():
        if name not in node:
            continue
        key = f"{prefix}{name}"
        kind, _ = _leaf_type(field.annotation)
        members = [_leaf_type(m)[0] for m in typing.get_args(kind)] or [kind]
        sub = [m for m in members if isinstance(m, type) and issubclass(m, BaseModel)]
        if (
            isinstance(node[name], dict) and sub
        ):  # a union (the model's source): the member this node is
            chosen = [m for m in sub if set(node[name]) <= set(m.model_fields)]
            yield from leaves((chosen or sub)[0], node[name], f"{key}.")
        elif not isinstance(node[name], dict | list):
            yield key, field


def with_value(cfg: dict[str, Any], key: str, value: Any) -> dict[str, Any]:
    import copy

    out = copy.deepcopy(cfg)
    node = out
    *parents, leaf = key.split(".")
    for p in parents:
        node = node[p]
    node[leaf] = value
    return out


CASES = [
    (key, value, why) for key, field in leaves(RunConfig, BASE) for value, why in bad_values(field)
]


def test_the_schema_covers_every_key_the_default_config_has() -> None:
    assert len(CASES) > 80  # every group's scalars, each with at least a wrong type
    assert {k.split(".")[0] for k, _, _ in CASES} >= {
        "train",
        "world",
        "data",
        "model",
        "optim",
        "trainer",
        "eval",
        "seed",
        "logger",
    }


@pytest.mark.parametrize(("key", "value", "why"), CASES, ids=[f"{k}={v!r}" for k, v, _ in CASES])
def test_a_bad_value_is_one_line_naming_the_key(key: str, value: Any, why: str) -> None:
    validate(BASE)  # the base itself is valid
    with pytest.raises(ConfigError) as err:
        validate(with_value(BASE, key, value))
    message = str(err.value)
    assert "\n" not in message and f"{key}:" in message, (why, message)


def test_unknown_keys_are_refused_with_a_suggestion() -> None:
    for key, near in (
        ("data.sizee", "data.size"),
        ("train.select.windw", "train.select.window"),
        ("model.arch.hiden_size", "model.arch.hidden_size"),
        ("eval.decoding.top_k", "eval.decoding.top_p"),
    ):
        with pytest.raises(ConfigError, match=rf"{key}: unknown key .*did you mean {near}\?"):
            validate(with_value(BASE, key, 5))


@pytest.mark.slow
@pytest.mark.parametrize(
    ("overrides", "message"),
    [
        (["optim.lr=abc"], "optim.lr: expected a number, got 'abc'"),
        (["train.epochs=-2"], "train.epochs: expected a value >= 0, got -2"),
        (["train.select.window=[0.9,0.1]"], "train.select.window: [0.9, 0.1] is inverted"),
        (["eval.max_prompts=-1"], "eval.max_prompts: expected a value >= 1, got -1"),
        (["+data.sizee=5"], "data.sizee: unknown key (nothing reads it); did you mean data.size?"),
        (["seed=abc"], "seed: expected an integer, got 'abc'"),
    ],
)
def test_the_command_refuses_before_any_work(
    overrides: list[str], message: str, tmp_path: Path
) -> None:
    env = {
        **os.environ,
        "LIMALAB_CACHE": str(tmp_path / "cache"),
        "WANDB_MODE": "offline",
        "TMPDIR": str(tmp_path),
    }
    proc = subprocess.run(
        [
            sys.executable,
            str(ROOT / "src" / "train.py"),
            *SMOKE,
            *overrides,
            f"runs_dir={tmp_path / 'runs'}",
        ],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert proc.returncode == 2, proc.stderr[-2000:]
    assert (
        proc.stderr.strip().splitlines()[-1] == f"error: config: {message}"
        or message in proc.stderr
    )
    assert "Traceback" not in proc.stderr
    assert not (tmp_path / "cache").exists()  # nothing was built: refused before any work
    assert not [p for p in (tmp_path / "runs").iterdir() if not p.name.startswith(".")]
