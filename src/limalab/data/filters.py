"""The paper's Stack Exchange filters as named, composable steps that count their drops.

A step takes a candidate (a question thread being turned into a prompt/response pair) and
returns it (possibly changed) or ``None`` to drop it. ``apply_steps`` runs a configured list and
records, per step, how many candidates it dropped: that is the manifest's ``filter_stats``.
Steps register by name in ``FILTERS`` (``data.sources.<name>.filters``); a user's own step is
a module listed in ``plugins:`` that does ``@FILTERS.register("my_step")``. A step with a
``seed`` parameter gets ``data.subset_seed`` (one seed for every random choice of an arm).

Every default is the paper's (Section 2.1). The miniature world's answers are shorter than the
real sites'; its scaled bounds are ``data.world_filters`` (``conf/filters/miniature_scale.yaml``),
applied only to sources read from ``world:`` paths (``with_overrides``).
"""

from __future__ import annotations

import inspect
import random
import re
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from limalab.data.html import to_markdown
from limalab.registry import Registry

if TYPE_CHECKING:
    from limalab.data.readers.stackexchange import Answer, Thread


@dataclass
class Candidate:
    thread: Thread
    answer: Answer | None = None
    prompt: str = ""
    response: str = ""


Step = Callable[..., "Candidate | None"]
FILTERS: Registry[Step] = Registry("filter", "data.sources.<name>.filters")
step = FILTERS.register

DEICTIC = {"this", "these", "those", "above", "below"}


@step("title_self_contained")
def title_self_contained(c: Candidate, min_words: int = 4) -> Candidate | None:
    """The question can be understood from its title alone (no "this", not two words).
    The paper states no word count; 4 is ours."""
    words = re.findall(r"[a-z0-9']+", c.thread.title.lower())
    return c if len(words) >= min_words and not DEICTIC & set(words) else None


@step("top_answer")
def top_answer(c: Candidate) -> Candidate | None:
    """The highest-scored answer (ties: the accepted one, then the earliest)."""
    if not c.thread.answers:
        return None
    best = max(c.thread.answers, key=lambda a: (a.score, a.id == c.thread.accepted_id, -int(a.id)))
    c.answer = best
    return c


@step("random_answer")
def random_answer(c: Candidate, seed: int = 0) -> Candidate | None:
    """Any one answer (the unfiltered arm: same questions, no vote or style selection)."""
    if not c.thread.answers:
        return None
    c.answer = random.Random(f"{seed}/{c.thread.site}/{c.thread.id}").choice(c.thread.answers)
    return c


@step("min_score")
def min_score(c: Candidate, min: int = 10) -> Candidate | None:  # noqa: A002  the paper's word
    return c if c.answer is not None and c.answer.score >= min else None


@step("strip_html")
def strip(c: Candidate) -> Candidate | None:
    """The answer as Markdown: links, images and markup gone, code, lists and tables kept."""
    c.response = to_markdown(c.answer.body) if c.answer else ""
    return c if c.response else None


@step("length")
def length(c: Candidate, min_chars: int = 1200, max_chars: int = 4096) -> Candidate | None:
    """Answer length in characters, after HTML stripping (the paper: 1,200-4,096)."""
    return c if min_chars <= len(c.response) <= max_chars else None


FIRST_PERSON = re.compile(r"\b(i|i'm|i've|i'd|my|me|mine|myself)\b", re.I)


@step("first_person")
def first_person(c: Candidate) -> Candidate | None:
    return None if FIRST_PERSON.search(c.response) else c


REFERENCES = (
    "as mentioned",
    "stack exchange",
    "stackexchange",
    "other answer",
    "accepted answer",
    "see above",
    "the comments",
    "duplicate",
    "previous answer",
)


@step("references_other_answers")
def references_other_answers(c: Candidate, phrases: Iterable[str] = REFERENCES) -> Candidate | None:
    low = c.response.lower()
    return None if any(p in low for p in phrases) else c


@step("prompt_title_or_description")
def prompt_title_or_description(c: Candidate, seed: int = 0) -> Candidate | None:
    """The paper draws the prompt at random from the title or the description; an empty one
    falls back to the other (a question with an empty body is asked by its title)."""
    title, description = c.thread.title.strip(), to_markdown(c.thread.body)
    use_title = random.Random(f"{seed}/{c.thread.site}/{c.thread.id}/prompt").random() < 0.5
    c.prompt = (title or description) if use_title else (description or title)
    return c if c.prompt else None


def with_overrides(
    steps: list[dict[str, Any]], overrides: dict[str, dict[str, Any]] | None
) -> list[dict[str, Any]]:
    """``steps`` with some steps' parameters replaced (the miniature's scaled bounds)."""
    overrides = overrides or {}
    return [{**s, **overrides.get(s.get("name"), {})} for s in steps]


def resolve_steps(
    steps: list[dict[str, Any]], key: str, seed: int
) -> list[tuple[str, Step, dict[str, Any]]]:
    """(name, step, kwargs) for each configured step; errors name the config key."""
    resolved = []
    for i, s in enumerate(steps):
        s = dict(s)
        name = s.pop("name", None)
        fn = FILTERS.get(name, f"{key}[{i}].name")
        params = inspect.signature(fn).parameters
        unknown = sorted(set(s) - set(list(params)[1:]))
        if unknown or "seed" in s:
            raise ValueError(
                f"{key}[{i}]: filter {name!r} takes {sorted(set(list(params)[1:]) - {'seed'})}, "
                f"not {unknown or ['seed']} (its seed is data.subset_seed)"
            )
        if "seed" in params:
            s["seed"] = seed
        resolved.append((name, fn, s))
    return resolved


def apply_steps(
    candidates: Iterable[Candidate],
    steps: list[dict[str, Any]],
    stats: dict[str, int],
    seed: int = 0,
    key: str = "filters",
) -> Iterator[Candidate]:
    """Run ``steps`` (``{"name": ..., **kwargs}``) in order; ``stats[name]`` counts drops,
    ``stats["input"]`` the candidates in."""
    resolved = resolve_steps(steps, key, seed)
    for name, _, _ in resolved:
        stats.setdefault(name, 0)
    for c in candidates:
        stats["input"] = stats.get("input", 0) + 1
        for name, fn, kwargs in resolved:
            c = fn(c, **kwargs)
            if c is None:
                stats[name] += 1
                break
        else:
            yield c
