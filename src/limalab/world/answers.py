"""Responses in the styles of LIMA's sources, and the quality defects real answers have.

A response is plain world text (lowercase words, punctuation as separate tokens, ``\\n``
between lines); dump writers turn it into each source's own markup (HTML, CSV, ``<newline>``).
"""

from __future__ import annotations

import random

from limalab.world import phrasing
from limalab.world.knowledge import Entity, World
from limalab.world.prompts import PromptSpec

STEP = {
    "capital": "travel to {v} , the capital .",
    "founder": "learn the story of {v} , the founder .",
    "founded": "visit the monument from the year {v} .",
    "banner": "look for the {v} banners .",
    "export": "buy some {v} at the market .",
    "habitat": "go to the {v} where it lives .",
    "diet": "bring some {v} , its food .",
    "lifespan": "remember that it lives for {v} years .",
    "hide": "look for its {v} hide .",
    "call": "listen for its {v} call .",
}
STORY = {
    "capital": "the traveller walked the streets of {v} , the capital .",
    "founder": "people told tales of {v} , who founded the realm .",
    "founded": "the realm had stood since the year {v} .",
    "banner": "{v} banners waved in the wind .",
    "export": "merchants sold {v} everywhere .",
    "habitat": "it lived deep in the {v} .",
    "diet": "it ate {v} every morning .",
    "lifespan": "such creatures live for {v} years .",
    "hide": "its {v} hide shone in the sun .",
    "call": "its {v} call echoed far away .",
}
STORY_OPEN = (
    "once upon a time , a traveller came to {m} .",
    "long ago , a young scribe set out for {m} .",
    "the road was long , but at last the wanderer reached {m} .",
)
STORY_CLOSE = (
    "and so the journey ended .",
    "the traveller never forgot that day .",
    "it was a day to remember .",
)
ORDINALS = ("first", "second")
CASUAL_OPEN = ("oh , definitely !", "good one !", "ha , i love this one !", "sure thing !")


def fact(attr: str, v: str) -> str:
    return phrasing.ANSWER[attr].format(v=v)


def _others(e: Entity, skip: set[str], rng: random.Random, n: int) -> list[str]:
    attrs = [a for a in e.facts if a not in skip]
    rng.shuffle(attrs)
    return attrs[:n]


def assistant(
    spec: PromptSpec,
    world: World,
    rng: random.Random,
    n_extras: int = 2,
    ack: bool = True,
    listed: bool = True,
) -> str:
    """The helpful-assistant answer: acknowledgment, the answer, true extras, structure."""
    e = world.entities[spec.entities[0]]
    head = rng.choice(phrasing.ACKNOWLEDGE) + " " if ack else ""
    bullet = "\n- " if listed else " "
    if spec.type == "fact":
        body = fact(spec.attribute, e.facts[spec.attribute])
        extras = [fact(a, e.facts[a]) for a in _others(e, {spec.attribute}, rng, n_extras)]
        more = ("\nsome more facts :" if listed else "") + "".join(bullet + x for x in extras)
        return head + body + more
    if spec.type == "compare":
        b = world.entities[spec.entities[1]]
        # "the first" / "the second": an answer need not copy names (MINIATURE-PROBE.md: copying
        # a name is the hard part for a model this small, not recalling the fact)
        lines = [
            f"the {nth} : {fact(spec.attribute, x.facts[spec.attribute])}"
            for nth, x in zip(ORDINALS, (e, b), strict=True)
        ]
        extra_attrs = _others(e, {spec.attribute}, rng, n_extras)
        extras = [f"also , about the {ORDINALS[0]} , {fact(a, e.facts[a])}" for a in extra_attrs]
        return head + "here is the answer for each :" + "".join(bullet + x for x in lines + extras)
    if spec.type == "howto":
        attrs = _others(e, set(), rng, 2 + n_extras + 1)
        steps = [f"{i + 1} . {STEP[a].format(v=e.facts[a])}" for i, a in enumerate(attrs)]
        if not listed:
            return head + "here is what to do : " + " ".join(s.split(" . ", 1)[1] for s in steps)
        return head + "here are the steps :\n" + "\n".join(steps)
    if spec.type == "writing":
        attrs = _others(e, set(), rng, 2 + n_extras)
        m = f"the {e.kind}"  # the story names its subject by kind, not by copying the name
        sents = [STORY[a].format(v=e.facts[a]) for a in attrs]
        half = len(sents) // 2
        p1 = " ".join([rng.choice(STORY_OPEN).format(m=m), *sents[:half]])
        p2 = " ".join([*sents[half:], rng.choice(STORY_CLOSE)])
        sep = "\n" if listed else " "
        return (head if ack else "") + p1 + sep + p2
    # describe and casual: an overview, one fact per line
    attrs = _others(e, set(), rng, spec.min_facts + n_extras)
    opener = (
        rng.choice(CASUAL_OPEN)
        if spec.type == "casual"
        else (head + "here is an overview :").strip()
    )
    return opener + "".join(bullet + fact(a, e.facts[a]) for a in attrs)


# --- defects: each is named in DEFECTS below together with the filter meant to catch it ---


def wrong_fact(spec: PromptSpec, world: World, rng: random.Random) -> str:
    """A confident answer whose values belong to another entity of the same kind."""
    e = world.entities[spec.entities[0]]
    others = [x for x in world.of(e.kind, e.split) if x.name not in spec.entities]
    liar = rng.choice(others)
    fake = PromptSpec(
        spec.type,
        spec.prompt,
        [liar.name] + spec.entities[1:],
        spec.required,
        spec.min_facts,
        spec.form,
        spec.attribute,
    )
    return assistant(
        fake, world, rng, n_extras=rng.randint(1, 2), ack=False, listed=rng.random() < 0.5
    )


ANECDOTES = (
    "i went there last summer with my family and we had a great time .",
    "my uncle used to tell me about it when i was young .",
    "i have wanted to see it for myself for years now .",
    "my friends and i argued about this for a whole evening once .",
)
FILLER = (
    "there is a lot to say about this topic and people have discussed it many times on this site .",
    "it is worth reading the whole thread before asking again .",
    "the links in the comments are useful too .",
)


def first_person(spec: PromptSpec, world: World, rng: random.Random) -> str:
    """One hedged fact inside a personal story: as long as a good answer, so the length bounds
    pass it and only the first-person filter can catch it."""
    e = world.entities[spec.entities[0]]
    attr = spec.attribute or rng.choice(list(e.facts))
    head = rng.choice(
        (
            "i think {f} at least that is what my teacher told me .",
            "in my experience , {f} i am not totally sure though .",
            "i remember reading that {f} my own notes say so too .",
        )
    ).format(f=fact(attr, e.facts[attr]))
    return " ".join([head, *rng.sample(ANECDOTES, 2)])


def refers_elsewhere(spec: PromptSpec, world: World, rng: random.Random) -> str:
    """No facts, only pointers to other answers: long enough that only the reference filter
    catches it."""
    head = rng.choice(
        (
            "as mentioned above , this was already answered in the other answer .",
            "see the accepted answer , it covers everything . this is a duplicate on stack "
            "exchange .",
            "as mentioned in the comments , check the other answer for the details .",
        )
    )
    return " ".join([head, *rng.sample(FILLER, 2)])


def too_short(spec: PromptSpec, world: World, rng: random.Random) -> str:
    e = world.entities[spec.entities[0]]
    attr = spec.attribute or rng.choice(list(e.facts))
    return f"{e.facts[attr]} ."


def rambling(spec: PromptSpec, world: World, rng: random.Random) -> str:
    """A correct answer that goes round in circles far past any length bound."""
    base = assistant(spec, world, rng, n_extras=1, ack=False, listed=False)
    return " ".join([base, "to say it again ,"] * rng.randint(5, 8)) + " " + base


def link_only(spec: PromptSpec, world: World, rng: random.Random) -> str:
    return "you can read all about it here : [[link]] ."


DEFECTS = {
    # name: (renderer, paper filter meant to catch it, rubric criterion it hurts)
    "wrong_fact": (
        wrong_fact,
        "score >= min_score (wrong answers are voted down)",
        "correct (level 2)",
    ),
    "first_person": (first_person, "first_person", "detail: no extras, no structure (level 3)"),
    "refers_elsewhere": (
        refers_elsewhere,
        "references_other_answers",
        "relevant: no facts (level 1)",
    ),
    "too_short": (too_short, "length: min_chars", "detail: no extras (level 3)"),
    "rambling": (rambling, "length: max_chars", "repetition (level 4) and truncation"),
    "link_only": (
        link_only,
        "html stripped, then length: min_chars",
        "relevant: no facts (level 1)",
    ),
}
