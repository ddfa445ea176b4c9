"""The pretraining corpus: encyclopedia prose that carries every fact, and no chat format."""

from __future__ import annotations

import random
from collections.abc import Iterator

from limalab.world import phrasing
from limalab.world.knowledge import World

# Openers never read "the ... of X is": that would compete with the facts' own patterns.
INTRO = {
    "realm": ("an article about the realm {e} .", "on the realm of {e} .", "notes on {e} , a realm ."),
    "creature": ("an article about the creature {e} .", "on the {e} , a creature .", "notes on the {e} , a beast ."),
}


def biographies(world: World, per_entity: int, rng: random.Random, pronoun_share: float = 0.5) -> Iterator[str]:
    """``per_entity`` short articles per entity: facts in random order and random paraphrase.
    As in real encyclopedia prose, about half the facts refer back to the article's subject
    with a pronoun ("its capital is V") instead of naming it again."""
    docs = []
    for e in world.entities.values():
        for _ in range(per_entity):
            sents = [phrasing.ANSWER[a].format(v=v) if rng.random() < pronoun_share
                     else phrasing.CORPUS[a][rng.randrange(4)].format(e=e.name, v=v) for a, v in e.facts.items()]
            rng.shuffle(sents)
            docs.append(" ".join([rng.choice(INTRO[e.kind]).format(e=e.name), *sents]))
    rng.shuffle(docs)
    yield from docs
