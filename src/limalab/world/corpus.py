"""The pretraining corpus: encyclopedia prose that carries every fact, and no chat format."""

from __future__ import annotations

import random
from collections.abc import Iterator

from limalab.data.word_tokenizer import NEWLINE
from limalab.world import answers, phrasing
from limalab.world.knowledge import World
from limalab.world.prompts import make_prompt

# Openers never read "the ... of X is": that would compete with the facts' own patterns.
INTRO = {
    "realm": (
        "an article about the realm {e} .",
        "on the realm of {e} .",
        "notes on {e} , a realm .",
    ),
    "creature": (
        "an article about the creature {e} .",
        "on the {e} , a creature .",
        "notes on the {e} , a beast .",
    ),
}


def biographies(
    world: World, per_entity: int, rng: random.Random, pronoun_share: float = 0.5
) -> Iterator[str]:
    """``per_entity`` short articles per entity: facts in random order and random paraphrase.
    As in real encyclopedia prose, about half the facts refer back to the article's subject
    with a pronoun ("its capital is V") instead of naming it again."""
    docs = []
    for e in world.entities.values():
        for _ in range(per_entity):
            sents = [
                phrasing.ANSWER[a].format(v=v)
                if rng.random() < pronoun_share
                else phrasing.CORPUS[a][rng.randrange(4)].format(e=e.name, v=v)
                for a, v in e.facts.items()
            ]
            rng.shuffle(sents)
            docs.append(" ".join([rng.choice(INTRO[e.kind]).format(e=e.name), *sents]))
    rng.shuffle(docs)
    yield from docs


WEB_GENRES = ("fact_sheet", "howto", "story", "forum")


def web_pages(world: World, per_entity: int, rng: random.Random) -> Iterator[str]:
    """``per_entity`` pages per entity in the genres a web crawl holds (fact sheets, how-to
    guides, stories, forum replies), so the base model has seen the words and shapes the SFT
    sources use, as a real base has. Never the assistant's register (acknowledgments, "some
    more facts"), never a chat marker: that is what alignment teaches."""
    docs = []
    for e in world.entities.values():
        peers = [x for x in world.entities.values() if x.kind == e.kind and x.name != e.name]
        m = phrasing.mention(e.name, e.kind)
        for _ in range(per_entity):
            genre = rng.choice(WEB_GENRES)
            if genre == "fact_sheet":
                attrs = rng.sample(sorted(e.facts), rng.randint(3, len(e.facts)))
                text = f"facts about {m} :\n" + "\n".join(
                    "- " + answers.fact(a, e.facts[a]) for a in attrs
                )
            elif genre == "howto":
                spec = make_prompt("howto", [e], rng)
                steps = answers.assistant(
                    spec, world, rng, n_extras=rng.randint(1, 3), ack=False
                ).split("\n")[1:]
                text = spec.prompt.removesuffix(" ?") + "\n" + "\n".join(steps)
            elif genre == "story":
                spec = make_prompt("writing", [e], rng)
                text = answers.assistant(spec, world, rng, n_extras=rng.randint(1, 3), ack=False)
            else:
                ptype = rng.choice(("fact", "describe", "compare"))
                spec = make_prompt(ptype, [e, rng.choice(peers)], rng)
                text = (
                    spec.prompt
                    + "\n"
                    + answers.assistant(
                        spec, world, rng, n_extras=rng.randint(0, 2), ack=False, listed=False
                    )
                )
            docs.append(text.replace("\n", f" {NEWLINE} "))
    rng.shuffle(docs)
    yield from docs
