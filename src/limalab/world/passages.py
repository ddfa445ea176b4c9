"""The positive control for quantity: questions answered from a passage in the prompt.

Passage entities are invented after the corpus is written, so pretraining never saw them: a
correct answer can only come from reading the passage, a skill taught by the SFT pool alone
(``authors/passage.jsonl``, about ``passage_sft`` entities). Dev and test prompts are about
``passage_dev`` and ``passage_test`` entities, which no SFT example names. If more SFT data cannot
raise this score either, the setup cannot see quantity effects at all (the Fig. 6 question).

Passages state three pooled facts (values the base model knows as words; which one answers
the question depends on the passage), drawn anew for every SFT row, so no SFT name can be
answered from memory either. Entity names are new words, in the vocabulary through
the lexicon but never trained in pretraining; answers refer to the entity as "it".
"""

from __future__ import annotations

import random
import re

from limalab.world import answers, phrasing
from limalab.world.kinds import KINDS
from limalab.world.knowledge import Entity, World
from limalab.world.names import WordForge
from limalab.world.prompts import PromptSpec

SPLITS = ("passage_sft", "passage_dev", "passage_test")
FACTS_PER_PASSAGE = 3
INTRO = {
    "realm": ("here is a note on the realm {e} .", "a short text about {e} , a realm ."),
    "creature": ("here is a note on the creature {e} .", "a short text about {e} , a creature ."),
}
ASK = (
    "read this : {passage} {question}",
    "{passage} based on this text , {question}",
    "{passage}\n{question}",
)


def pooled(kind: str) -> list[str]:
    """Attributes whose values come from shared pools: every value is a known word."""
    return [a.name for a in KINDS[kind].attributes if a.pool > 0]


def template_words() -> set[str]:
    texts = [*ASK, *(t for ts in INTRO.values() for t in ts)]
    return {w for t in texts for w in re.findall(r"[a-z]+", t)}


def _draw_facts(world: World, kind: str, rng: random.Random) -> dict[str, str]:
    """Three pooled attributes, values from the whole pool (sft and eval halves): the skill is
    reading any value off the page. With the halves split, a model this small learns to copy
    only the values it saw as answers (a pilot scored 0.02 on eval-pool values)."""
    return {
        a: rng.choice(world.pools[a]["sft"] + world.pools[a]["eval"])
        for a in rng.sample(pooled(kind), FACTS_PER_PASSAGE)
    }


def add_entities(
    world: World, counts: dict[str, int], rng: random.Random, reserved: set[str]
) -> None:
    """Invent ``counts[split]`` names per kind for each passage split. Dev and test entities get
    facts (the judge's truth; one prompt each). SFT names carry no facts of their own: each SFT
    passage draws new ones, so a name is never worth memorising."""
    used = reserved | set(world.entities) | set(world.value_attribute)
    forge = WordForge(rng, used)
    for split in SPLITS:
        for kind in sorted(KINDS):
            for _ in range(counts[split]):
                name = forge.word((2, 3))
                facts = {} if split == "passage_sft" else _draw_facts(world, kind, rng)
                world.entities[name] = Entity(name, kind, split, facts)


def passage_text(e: Entity, rng: random.Random) -> str:
    """The facts in encyclopedia prose, as the corpus writes them (named or by pronoun)."""
    attrs = list(e.facts)
    rng.shuffle(attrs)
    sents = [
        phrasing.ANSWER[a].format(v=e.facts[a])
        if rng.random() < 0.5
        else rng.choice(phrasing.CORPUS[a]).format(e=e.name, v=e.facts[a])
        for a in attrs
    ]
    return " ".join([rng.choice(INTRO[e.kind]).format(e=e.name), *sents])


def passage_spec(e: Entity, rng: random.Random) -> PromptSpec:
    attr = rng.choice(sorted(e.facts))
    question = rng.choice(phrasing.QUESTION[attr]).format(e=phrasing.mention(e.name, e.kind))
    text = rng.choice(ASK).format(passage=passage_text(e, rng), question=question)
    return PromptSpec("passage", text, [e.name], [(e.name, attr)], 1, attribute=attr)


def _question(e: Entity, rng: random.Random) -> tuple[PromptSpec, str]:
    spec = passage_spec(e, rng)
    return spec, answers.fact(spec.attribute, e.facts[spec.attribute])


def sft_rows(world: World, n: int, rng: random.Random) -> list[dict]:
    """``n`` SFT rows in the authors' format: a ``passage_sft`` name with facts drawn anew."""
    names = [e for e in world.entities.values() if e.split == "passage_sft"]
    rows = []
    for i in range(n):
        e = rng.choice(names)
        spec, gold = _question(
            Entity(e.name, e.kind, e.split, _draw_facts(world, e.kind, rng)), rng
        )
        rows.append(
            {
                "conversations": [spec.prompt, gold],
                "source": "passage",
                "id": f"passage_sft-{i:05d}",
            }
        )
    return rows


def eval_rows(world: World, split: str, rng: random.Random) -> list[dict]:
    """One prompt per ``split`` entity, with a gold ``reference`` (held-out perplexity only;
    never for judging)."""
    rows = []
    for i, e in enumerate(e for e in world.entities.values() if e.split == split):
        spec, gold = _question(e, rng)
        rows.append({"prompt_id": f"{split}-{i:04d}", **spec.to_dict(), "reference": gold})
    return rows
