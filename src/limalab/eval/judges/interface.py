"""What every judge returns, the interface the evaluation loop calls, and the registries that
select judges and their backends by name (``judge=<name>``, ``judge.backend=<name>``).

A judge is a class registered where it is defined::

    @JUDGES.register("likert")
    class LikertJudge:
        @classmethod
        def from_config(cls, cfg: dict, ctx: JudgeContext) -> LikertJudge: ...

and says what it can do through class attributes the callers ask instead of its name:
``grades`` (``judge(prompt, response, terminated)``: a 1-6 level per response),
``compares`` (``compare_all``: pairwise preferences between two runs), ``needs_world``
(grades against the miniature world's facts, so only prompts that carry them) and
``ground_truth`` (the miniature's exact judge, which LLM judges are validated against). A new
judge is its module (listed in ``plugins:`` or here) plus its ``conf/judge/<name>.yaml``.
"""

from __future__ import annotations

import re
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Annotated, Any, Protocol, runtime_checkable

from pydantic import Field

from limalab.config.schema import PluginOptions
from limalab.config.validate import attach, check_plugin_node
from limalab.registry import Registry


@dataclass(frozen=True)
class Judgment:
    """One graded response.

    ``score`` is the LIMA helpfulness level 1..6, or ``None`` when an LLM judge's reply could
    not be parsed (the reference judge never returns ``None``).
    """

    score: int | None
    subscores: dict[str, Any]  # JSON-serialisable
    rationale: str
    judge: str  # judge id, e.g. "reference@rubric1"

    def to_dict(self) -> dict:
        return asdict(self)


@runtime_checkable
class Judge(Protocol):
    id: str

    def judge(self, prompt: dict, response: str, terminated: bool) -> Judgment:
        """Grade ``response`` to the eval-set row ``prompt``.

        ``terminated`` is True when generation ended with the end-of-turn token rather than
        being cut at the length limit.
        """
        ...


@dataclass(frozen=True)
class JudgeContext:
    """What a judge may need beyond its config: the miniature world (None at real scale) and
    the cache directory (LLM judges keep their replies there)."""

    world: Any = None
    cache_dir: Path | None = None


class Capabilities:
    """Defaults for what a judge can do; a judge class overrides what differs."""

    grades = True
    compares = False
    needs_world = False
    ground_truth = False


_BUILTIN_JUDGES = (
    "limalab.world.reference_judge",
    "limalab.eval.judges.llm",
    "limalab.eval.judges.pairwise",
    "limalab.eval.judges.hf_local",
    "limalab.eval.judges.local_server",
)
JUDGES: Registry[Any] = Registry("judge", "judge", _BUILTIN_JUDGES)
BACKENDS: Registry[Any] = Registry("judge backend", "judge.backend", _BUILTIN_JUDGES)


class LLMJudgeOptions(PluginOptions):
    """What every LLM judge reads from ``judge.*`` (its backend's options are the backend's)."""

    backend: str | None = None  # the model endpoint (judge's default_backend when unset)
    concurrency: Annotated[int, Field(ge=1)] = 8  # requests in flight
    parse_retries: Annotated[int, Field(ge=0)] = (
        1  # re-ask an unparseable reply this often, then invalid
    )
    price_in_per_1m: Annotated[float, Field(ge=0)] = (
        0.0  # USD per million prompt tokens (the cost count)
    )
    price_out_per_1m: Annotated[float, Field(ge=0)] = 0.0
    reply_cache: str | None = (
        None  # SQLite file of cached replies (None: <cache_dir>/judge_replies.sqlite)
    )


def judge_options(cfg: dict[str, Any]) -> Any:
    """The validated options of the judge ``cfg["name"]`` (None if it takes none)."""
    from limalab.config.validate import plugin_options

    model = JUDGES.options(cfg["name"])
    return (
        plugin_options(model, {k: v for k, v in cfg.items() if k in model.model_fields}, "judge")
        if model
        else None
    )


def backend_options(name: str, cfg: dict[str, Any]) -> Any:
    from limalab.config.validate import plugin_options

    model = BACKENDS.options(name)
    return (
        plugin_options(model, {k: v for k, v in cfg.items() if k in model.model_fields}, "judge")
        if model
        else None
    )


def check_judge(cfg: dict[str, Any]) -> None:
    """``judge``: a registered judge, its options and its backend's checked. Keys of the other
    backends are let through unchecked: switching ``judge.backend`` on the command line keeps the
    composed YAML's keys for the first one, which are not typos."""
    node = cfg.get("judge")
    if not isinstance(node, dict):
        return
    cls = JUDGES.get(node.get("name"), "judge.name")
    models = [m for m in [JUDGES.options(node["name"])] if m is not None]
    backend = node.get("backend") or getattr(cls, "default_backend", None)
    if (
        backend is not None and backend not in JUDGES
    ):  # pairwise may compare a grading judge's levels
        BACKENDS.get(backend, "judge.backend")
        if BACKENDS.options(backend) is not None:
            models.append(BACKENDS.options(backend))
    others = {
        f
        for b in BACKENDS.names()
        if (m := BACKENDS.options(b)) is not None
        for f in m.model_fields
    }
    check_plugin_node(node, "judge", models, {"name", *others})


attach(check_judge)


def judge_name(judge_id: str) -> str:
    """The registered name a judge id starts with (``likert:gpt-x@likert-1`` -> ``likert``)."""
    return re.split(r"[:@]", str(judge_id), maxsplit=1)[0]


def judge_class(judge_id: str) -> Any | None:
    """The class of the judge that wrote ``judge_id`` (as recorded in a summary), or None when
    no registered judge has that name (a plugin this process did not import)."""
    name = judge_name(judge_id)
    return JUDGES.get(name) if name in JUDGES else None


def is_ground_truth(judge_id: str) -> bool:
    """True for the current version of the miniature's exact judge: an older rubric's id is
    another judge (its results are labelled, never pooled with the current one's)."""
    cls = judge_class(judge_id)
    return bool(
        cls is not None
        and getattr(cls, "ground_truth", False)
        and getattr(cls, "id", None) == judge_id
    )
