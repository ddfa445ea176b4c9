"""The world's ground truth: entities, their facts, and which split each belongs to.

Entities and pooled values are partitioned: ``eval`` entities (dev and test prompts) and the
values they carry never occur in any SFT source, so a correct answer about them can only come
from pretraining.
"""

from __future__ import annotations

import json
import random
from dataclasses import dataclass, field
from pathlib import Path

from limalab.world.kinds import KINDS
from limalab.world.names import WordForge

SPLITS = ("sft", "eval")


@dataclass(frozen=True)
class Entity:
    name: str
    kind: str
    split: str  # "sft" or "eval"
    facts: dict[str, str]


@dataclass
class World:
    """Facts of one generated world, with lookups the generators and the judge share."""

    seed: int
    entities: dict[str, Entity]
    value_attribute: dict[str, str]  # every value word -> the attribute whose pool holds it
    pools: dict[str, dict[str, list[str]]] = field(default_factory=dict)  # attr -> split -> values

    def of(self, kind: str, split: str) -> list[Entity]:
        return [e for e in self.entities.values() if e.kind == kind and e.split == split]

    def to_json(self) -> dict:
        return {
            "seed": self.seed,
            "entities": [e.__dict__ for e in self.entities.values()],
            "value_attribute": self.value_attribute,
            "pools": self.pools,
        }

    @classmethod
    def from_json(cls, data: dict) -> World:
        entities = {d["name"]: Entity(**d) for d in data["entities"]}
        return cls(data["seed"], entities, data["value_attribute"], data.get("pools", {}))

    @classmethod
    def load(cls, path: str | Path) -> World:
        return cls.from_json(json.loads(Path(path).read_text()))


def generate_world(
    seed: int,
    entities_per_kind: dict[str, int],
    eval_fraction: float,
    reserved_words: set[str],
) -> World:
    """Invent entities and facts. ``entities_per_kind['sft'|'eval']`` counts per kind."""
    rng = random.Random(seed)
    forge = WordForge(rng, reserved_words)
    value_attribute: dict[str, str] = {}
    pools: dict[str, dict[str, list[str]]] = {}
    for kind in KINDS.values():
        for attr in kind.attributes:
            if attr.pool == 0:
                continue
            if attr.numeric:
                lo, hi = attr.numeric
                values = [str(v) for v in rng.sample(range(lo, hi + 1), attr.pool)]
            else:
                values = forge.words(attr.pool, (2, 2))
            n_eval = max(1, round(attr.pool * eval_fraction))
            pools[attr.name] = {"eval": values[:n_eval], "sft": values[n_eval:]}
            value_attribute.update({v: attr.name for v in values})

    entities: dict[str, Entity] = {}
    for kind in KINDS.values():
        for split in SPLITS:
            for _ in range(entities_per_kind[split]):
                name = forge.word((2, 3))
                facts = {}
                for attr in kind.attributes:
                    if attr.pool == 0:
                        v = forge.word((2, 2))
                        value_attribute[v] = attr.name
                        pools.setdefault(attr.name, {"eval": [], "sft": []})[split].append(v)
                    else:
                        v = rng.choice(pools[attr.name][split])
                    facts[attr.name] = v
                entities[name] = Entity(name, kind.name, split, facts)
    return World(seed, entities, value_attribute, pools)
