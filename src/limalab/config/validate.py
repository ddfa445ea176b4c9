"""Validate a composed config before any work starts: one line naming each bad key, its value
and what is allowed. The config itself is not rewritten (run identity hashes it as composed)."""

from __future__ import annotations

import difflib
import importlib
import inspect
import typing
from collections.abc import Callable
from typing import Any

from pydantic import BaseModel, ValidationError

from limalab.config.schema import EvaluateConfig, HpoConfig, RunConfig
from limalab.registry import import_plugins


class ConfigError(ValueError):
    """A config that fails its schema: the message is one line."""


# Checks of the config nodes that select plugins (data.sources.*.reader, judge.name): each
# plugin layer attaches its own where its registry is defined (the config layer imports no plugin
# layer; the modules are named here and imported on use).
CHECKS: list[Callable[[dict[str, Any]], None]] = []
CHECK_MODULES = ("limalab.data.sources", "limalab.eval.judges")


def attach(check: Callable[[dict[str, Any]], None]) -> None:
    if check not in CHECKS:
        CHECKS.append(check)


def check_plugin_node(
    node: dict[str, Any], key: str, models: list[type[BaseModel]], fixed: set[str]
) -> None:
    """The keys of a plugin's config node ``key``, beyond ``fixed`` ones, against the options the
    plugin (and its parts: a judge's backend) declared: unknown keys and bad values are one line."""
    declared = {f: m for m in models for f in m.model_fields}
    for k in node:
        if k not in declared and k not in fixed:
            near = difflib.get_close_matches(str(k), sorted(declared | dict.fromkeys(fixed)), n=1)
            raise ConfigError(
                f"config: {key}.{k}: unknown key (nothing reads it)"
                + (f"; did you mean {key}.{near[0]}?" if near else "")
            )
    for model in models:
        plugin_options(model, {k: v for k, v in node.items() if k in model.model_fields}, key)


def plugin_options(model: type[BaseModel], given: dict[str, Any], key: str) -> Any:
    """A plugin's options from its config node ``key``, or a one-line ``ConfigError``."""
    try:
        return model.model_validate(given)
    except ValidationError as e:
        lines = [_describe(err, model, key) for err in e.errors()]
        raise ConfigError("config: " + "; ".join(dict.fromkeys(lines))) from None


def _key(loc: tuple[Any, ...]) -> str:
    # discriminated unions put their tag ("source=miniature") into the location: not a key
    return ".".join(str(p) for p in loc if not (isinstance(p, str) and "=" in p))


def _members(annotation: Any) -> list[Any]:
    """The model classes an annotation can hold (through Annotated, unions, optionals, dicts,
    lists)."""
    if hasattr(annotation, "model_fields"):
        return [annotation]
    args = typing.get_args(annotation)
    if typing.get_origin(annotation) is dict:
        args = args[1:]
    return [m for a in args for m in _members(a)]


def _known_keys(schema: type[BaseModel], loc: tuple[Any, ...]) -> list[str]:
    """The declared keys of the node holding ``loc[-1]`` (for "did you mean")."""
    models: list[Any] = [schema]
    for part in loc[:-1]:
        if isinstance(part, str) and "=" in part:  # a union's tag: keep the member it names
            k, v = part.split("=", 1)
            models = [
                m for m in models if v in typing.get_args(m.model_fields.get(k).annotation or ())
            ]
            continue
        fields = [m.model_fields[part] for m in models if part in m.model_fields]
        if fields:
            models = [m for f in fields for m in _members(f.annotation)]
        # else: a dict key (a source's name): the models stay the dict's value type
    return sorted({k for m in models for k in m.model_fields})


EXPECTED = {  # pydantic's error types, said the way the rest of limalab's errors say them
    "greater_than_equal": "a value >= {ge}",
    "greater_than": "a value > {gt}",
    "less_than_equal": "a value <= {le}",
    "less_than": "a value < {lt}",
    "int_parsing": "an integer",
    "int_from_float": "an integer",
    "int_type": "an integer",
    "float_parsing": "a number",
    "float_type": "a number",
    "bool_parsing": "true or false",
    "bool_type": "true or false",
    "string_type": "a string",
    "list_type": "a list",
    "dict_type": "a mapping",
    "tuple_type": "a list",
    "literal_error": "one of {expected}",
    "too_short": "at least {min_length} item(s)",
    "union_tag_invalid": "one of {expected_tags}",
}


def _describe(err: dict[str, Any], schema: type[BaseModel], prefix: str = "") -> str:
    """One error as ``key: what was expected, got value``; ``prefix``: the node ``schema``
    checks."""
    key = ".".join(x for x in (prefix, _key(err["loc"])) if x)
    kind, ctx, value = err["type"], err.get("ctx") or {}, err.get("input")
    if kind == "extra_forbidden":
        known = _known_keys(schema, err["loc"])
        near = difflib.get_close_matches(str(err["loc"][-1]), known, n=1)
        hint = (
            f"; did you mean {'.'.join([*key.split('.')[:-1], near[0]])}?"
            if near
            else (f"; expected one of {known}" if known else "")
        )
        return f"{key}: unknown key (nothing reads it){hint}"
    if kind == "missing":
        return f"{key}: missing; every key of this group must be set"
    if kind == "union_tag_invalid":  # a discriminated union's selector ("source=x") took no member
        selector, _, got = str(ctx.get("tag", "=")).partition("=")
        options = ", ".join(
            repr(t.strip("'").partition("=")[2])
            for t in str(ctx.get("expected_tags", "")).split(", ")
        )
        return f"{key}.{selector}: expected one of {options}, got {got!r}"
    if kind in EXPECTED:
        what = EXPECTED[kind].format(**{k: str(v).replace("'source=", "'") for k, v in ctx.items()})
        if value is None:  # a null the YAML leaves for the user to fill in (a path, a model)
            return f"{key}: required (expected {what}), got null"
        return f"{key}: expected {what}, got {value!r}"
    msg = err["msg"].removeprefix("Value error, ")
    field, sep, rest = msg.partition(": ")  # a model check naming one of its own fields
    if sep and field.isidentifier() and field in _known_keys(schema, (*err["loc"], "")):
        return f"{key}.{field}: {rest}" if key else f"{field}: {rest}"
    return f"{key}: {msg}" if key else msg


def validate(cfg: dict[str, Any], schema: type[BaseModel] = RunConfig) -> dict[str, Any]:
    """``cfg`` if it satisfies ``schema`` (and every plugin's own options), else ``ConfigError``."""
    import_plugins(cfg.get("plugins"))
    try:
        schema.model_validate(cfg)
    except ValidationError as e:
        lines = [_describe(err, schema) for err in e.errors()]
        raise ConfigError("config: " + "; ".join(dict.fromkeys(lines))) from None
    if "trainer" in cfg:
        _check_trainer_keys(cfg["trainer"])
    for module in CHECK_MODULES:
        importlib.import_module(module)
    for check in CHECKS:
        check(cfg)
    return cfg


def _check_trainer_keys(trainer: dict[str, Any]) -> None:
    """Keys of the trainer group beyond limalab's own must be Lightning ``Trainer`` arguments."""
    import pytorch_lightning as pl

    from limalab.config.schema import Trainer

    allowed = set(inspect.signature(pl.Trainer.__init__).parameters) | set(Trainer.model_fields)
    for key in trainer:
        if key not in allowed:
            near = difflib.get_close_matches(key, sorted(allowed), n=1)
            raise ConfigError(
                f"config: trainer.{key}: unknown key (not a Lightning Trainer argument)"
                + (f"; did you mean trainer.{near[0]}?" if near else "")
            )


SCHEMAS = {"train": RunConfig, "hpo": HpoConfig, "evaluate": EvaluateConfig}
