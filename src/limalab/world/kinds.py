"""What the miniature world is made of: kinds of entities, their attributes and value pools.

Every value of every attribute is one invented word (or a number), unique to its attribute's
pool, so a judge can tell from a single word which attribute a response is talking about.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Attribute:
    name: str
    pool: int  # size of the shared value pool; 0 = one unique value per entity
    numeric: tuple[int, int] | None = None  # draw numbers in [lo, hi] instead of words
    noun: str = ""  # how prompts and answers name it ("capital", "banner color")


@dataclass(frozen=True)
class Kind:
    name: str
    attributes: tuple[Attribute, ...]

    def attribute(self, name: str) -> Attribute:
        return next(a for a in self.attributes if a.name == name)


REALM = Kind(
    "realm",
    (
        Attribute("capital", 0, noun="capital"),
        Attribute("founder", 60, noun="founder"),
        Attribute("founded", 80, numeric=(1000, 1999), noun="founding year"),
        Attribute("banner", 16, noun="banner color"),
        Attribute("export", 40, noun="main export"),
    ),
)
CREATURE = Kind(
    "creature",
    (
        Attribute("habitat", 36, noun="habitat"),
        Attribute("diet", 30, noun="diet"),
        Attribute("lifespan", 50, numeric=(3, 99), noun="lifespan"),
        Attribute("hide", 16, noun="hide color"),
        Attribute("call", 24, noun="call"),
    ),
)
KINDS: dict[str, Kind] = {k.name: k for k in (REALM, CREATURE)}
