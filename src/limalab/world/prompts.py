"""Prompts with their ground truth: what a good answer must state, and in what form.

One generator serves the SFT sources (about ``sft`` entities) and the dev/test sets (about
``eval`` entities), so the prompt types the judge grades are the ones the sources teach.
"""

from __future__ import annotations

import random
from dataclasses import asdict, dataclass, field

from limalab.world import phrasing
from limalab.world.kinds import KINDS
from limalab.world.knowledge import Entity

PROMPT_TYPES = ("casual", "fact", "describe", "compare", "howto", "writing")

# Fixed before any result was seen; mirrors LIMA's test set: 70 short casual questions (like
# r/AskReddit's) and 230 diverse ones (like the authors' Group B). Dev mirrors Group A (no
# casual share of its own in the paper; we keep a few so every type is selected for).
TEST_MIX = {"casual": 70, "fact": 70, "describe": 50, "compare": 40, "howto": 35, "writing": 35}
DEV_MIX = {"casual": 6, "fact": 12, "describe": 10, "compare": 8, "howto": 7, "writing": 7}


@dataclass
class PromptSpec:
    type: str
    prompt: str
    entities: list[str]
    required: list[tuple[str, str]]  # (entity, attribute) pairs the answer must state
    min_facts: int  # distinct true facts needed at least (open prompts)
    form: str | None = None  # "steps" or "story": the shape the prompt asks for
    attribute: str | None = None  # the asked attribute (fact, compare)
    meta: dict = field(default_factory=dict)

    def to_dict(self) -> dict:
        d = asdict(self)
        d["required"] = [list(r) for r in self.required]
        return d


def make_prompt(
    kind_type: str, ents: list[Entity], rng: random.Random, attr: str | None = None
) -> PromptSpec:
    """One prompt of type ``kind_type`` about ``ents`` (two entities for ``compare``)."""
    e = ents[0]
    kind = KINDS[e.kind]
    m = phrasing.mention(e.name, e.kind)
    if kind_type == "fact":
        attr = attr or rng.choice(kind.attributes).name
        text = rng.choice(phrasing.QUESTION[attr]).format(e=m)
        return PromptSpec("fact", text, [e.name], [(e.name, attr)], 1, attribute=attr)
    if kind_type == "compare":
        a, b = ents[0], ents[1]
        attr = attr or rng.choice(kind.attributes).name
        text = rng.choice(phrasing.COMPARE).format(
            noun=kind.attribute(attr).noun,
            e1=phrasing.mention(a.name, a.kind),
            e2=phrasing.mention(b.name, b.kind),
        )
        return PromptSpec(
            "compare", text, [a.name, b.name], [(a.name, attr), (b.name, attr)], 2, attribute=attr
        )
    if kind_type == "describe":
        return PromptSpec("describe", rng.choice(phrasing.DESCRIBE).format(e=m), [e.name], [], 3)
    if kind_type == "howto":
        return PromptSpec(
            "howto", rng.choice(phrasing.HOWTO[e.kind]).format(e=m), [e.name], [], 2, form="steps"
        )
    if kind_type == "writing":
        return PromptSpec(
            "writing", rng.choice(phrasing.WRITING).format(e=m), [e.name], [], 2, form="story"
        )
    if kind_type == "casual":
        return PromptSpec("casual", rng.choice(phrasing.CASUAL).format(e=m), [e.name], [], 2)
    raise ValueError(f"unknown prompt type {kind_type!r}; expected one of {PROMPT_TYPES}")


def eval_set(
    name: str, mix: dict[str, int], entities: list[Entity], rng: random.Random
) -> list[dict]:
    """A dev or test set: ``mix`` prompts per type, entities drawn round-robin, no duplicates."""
    rows, seen = [], set()
    by_kind: dict[str, list[Entity]] = {}
    for e in entities:
        by_kind.setdefault(e.kind, []).append(e)
    for ptype, count in mix.items():
        made = 0
        while made < count:
            kind = rng.choice(sorted(by_kind))
            ents = rng.sample(by_kind[kind], 2)
            spec = make_prompt(ptype, ents, rng)
            if spec.prompt in seen:
                continue
            seen.add(spec.prompt)
            made += 1
            rows.append({"prompt_id": f"{name}-{len(rows):04d}", **spec.to_dict()})
    return rows
