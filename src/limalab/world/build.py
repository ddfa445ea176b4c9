"""Build (or find in the cache) one miniature world: facts, corpus, dumps, dev and test sets."""

from __future__ import annotations

import html
import json
import logging
import random
import re
import xml.etree.ElementTree as ET
from collections.abc import Callable
from dataclasses import asdict, dataclass
from pathlib import Path

from limalab.tracking.cache import cached_entry
from limalab.tracking.io import atomic_write_text, config_hash
from limalab.versions import WORLD_VERSION
from limalab.world import answers, dumps, experiments, passages, phrasing
from limalab.world.corpus import biographies, web_pages
from limalab.world.knowledge import World, generate_world
from limalab.world.prompts import DEV_MIX, TEST_MIX, PromptSpec, eval_set

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class WorldConfig:
    """``conf/world/miniature.yaml`` (the values and what each means live there)."""

    seed: int
    sft_entities_per_kind: int
    eval_entities_per_kind: int
    eval_value_fraction: float
    bios_per_entity: int
    web_pages_per_entity: int
    pool_scale: int
    se_questions_per_scale: int
    ni_instances_per_scale: float
    alpaca_size: int
    passage_entities: tuple[int, int, int]
    passage_sft_per_scale: int

    def hash(self) -> str:
        return config_hash({"world": asdict(self), "version": WORLD_VERSION})


def template_words() -> set[str]:
    """Every word the templates use: invented names must not collide with any of them."""
    texts: list[str] = []
    for v in vars(phrasing).values():
        if isinstance(v, dict):
            for x in v.values():
                texts.extend(x if isinstance(x, tuple) else [x])
        elif isinstance(v, tuple) and v and isinstance(v[0], str):
            texts.extend(v)
    for v in vars(answers).values():
        if isinstance(v, dict):
            texts.extend(x for x in v.values() if isinstance(x, str))
        elif isinstance(v, tuple) and v and isinstance(v[0], str):
            texts.extend(v)
    return {w for t in texts if isinstance(t, str) for w in re.findall(r"[a-z]+", t)}


def build_world(cfg: WorldConfig, cache_dir: str | Path) -> Path:
    """Return the world's directory, generated once per config and verified on every use
    (tracking/cache.py: concurrent builders wait for one; a corrupt world is rebuilt)."""
    root = Path(cache_dir) / "worlds" / cfg.hash()
    return cached_entry(root, lambda tmp: _generate(cfg, tmp), "world")


Streams = Callable[[str], random.Random]  # one random stream per stage, seeded by its name

SPEC_FIELDS = ("type", "prompt", "entities", "required", "min_facts", "form", "attribute")


def _generate(cfg: WorldConfig, tmp: Path) -> None:
    log.info("building world %s (seed %d)", cfg.hash(), cfg.seed)
    world = generate_world(
        cfg.seed,
        {"sft": cfg.sft_entities_per_kind, "eval": cfg.eval_entities_per_kind},
        cfg.eval_value_fraction,
        template_words(),
    )
    rng: Streams = lambda stage: random.Random(f"{cfg.seed}/{stage}")  # noqa: E731
    write_pretraining_corpus(tmp / "corpus", world, rng, cfg)
    write_source_dumps(tmp, world, rng, cfg)
    write_experiment_sets(tmp, world, rng, cfg.pool_scale)
    # after the corpus and dumps: no source names these entities
    write_passage_sets(tmp, world, rng, cfg)
    write_eval_sets(tmp / "eval", world, rng)
    write_lexicon(tmp)
    (tmp / "defects.json").write_text(
        json.dumps(
            {k: {"filter": f, "rubric": r} for k, (_, f, r) in answers.DEFECTS.items()}, indent=1
        )
    )
    atomic_write_text(
        tmp / "world.json",
        json.dumps(
            {
                "version": WORLD_VERSION,
                "config": asdict(cfg),
                "stem_exchanges": list(dumps.STEM_EXCHANGES),
                **world.to_json(),
            }
        ),
    )


def write_pretraining_corpus(corpus: Path, world: World, rng: Streams, cfg: WorldConfig) -> None:
    """``corpus/pretrain.txt``: biographies and web pages, shuffled, one document a line."""
    corpus.mkdir()
    with (corpus / "pretrain.txt").open("w") as f:
        docs = [
            *biographies(world, cfg.bios_per_entity, rng("corpus")),
            *web_pages(world, cfg.web_pages_per_entity, rng("web")),
        ]
        rng("corpus/order").shuffle(docs)
        f.writelines(doc + "\n" for doc in docs)


def write_source_dumps(root: Path, world: World, rng: Streams, cfg: WorldConfig) -> None:
    """The SFT sources in their real formats, the pool scale times each one's base size."""
    s = cfg.pool_scale
    dumps.write_stackexchange(
        root / "stackexchange", world, rng("se"), cfg.se_questions_per_scale * s
    )
    dumps.write_wikihow(root / "wikihow" / "wikihowAll.csv", world, rng("wikihow"), 200 * s)
    dumps.write_writingprompts(root / "writingprompts", world, rng("wp"), 150 * s)
    dumps.write_natural_instructions(
        root / "natural_instructions",
        world,
        rng("ni"),
        max(2, round(cfg.ni_instances_per_scale * s)),
    )
    dumps.write_authors(root / "authors" / "authors.jsonl", world, rng("authors"), 200 * s)
    dumps.write_alpaca(root / "alpaca" / "alpaca_data.json", world, rng("alpaca"), cfg.alpaca_size)


def write_eval_sets(ev: Path, world: World, rng: Streams) -> None:
    """``eval/{dev,test}.jsonl`` on the held-out entities, each prompt with a gold answer for
    held-out perplexity (never for judging)."""
    eval_ents = [e for e in world.entities.values() if e.split == "eval"]
    ev.mkdir(exist_ok=True)
    for name, mix in (("dev", DEV_MIX), ("test", TEST_MIX)):
        rows = eval_set(name, mix, eval_ents, rng(name))
        ref_rng = rng(f"{name}/reference")
        for r in rows:
            spec = PromptSpec(**{k: r[k] for k in SPEC_FIELDS})
            r["reference"] = answers.assistant(spec, world, ref_rng, n_extras=2)
        (ev / f"{name}.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows))


EXPERIMENT_TESTS = {
    "dialogue": 10,
    "format": 30,
    "safety": 30,
    "ood": 20,
}  # the paper: 10, -, 30, 20


def write_experiment_sets(root: Path, world: World, rng, scale: int) -> None:
    """The other experiments' SFT pools (``authors/{dialogue,format,safety}.jsonl``) and test sets
    (``eval/{dialogue,format,safety,ood}.jsonl``); own random streams, so nothing else moves."""
    pools = {
        "dialogue": (experiments.dialogue_rows, max(40, 6 * scale)),
        "format": (experiments.format_rows, max(24, 3 * scale)),
        "safety": (experiments.safety_rows, max(24, 3 * scale)),
    }
    for name, (make, n) in pools.items():
        rows = make(world, "sft", n, rng(f"{name}/sft"), True)
        (root / "authors" / f"{name}.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows))
    (root / "eval").mkdir(exist_ok=True)
    tests = {
        name: make(world, "eval", EXPERIMENT_TESTS[name], rng(f"{name}/test"), False)
        for name, (make, _) in pools.items()
    }
    tests["ood"] = experiments.ood_rows(world, EXPERIMENT_TESTS["ood"], rng("ood/test"))
    for name, rows in tests.items():
        (root / "eval" / f"{name}.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows))


def write_passage_sets(root: Path, world: World, rng, cfg: WorldConfig) -> None:
    """The positive control for quantity (``world/passages.py``): ``authors/passage.jsonl`` and
    ``eval/passage_{dev,test}.jsonl``. Adds the passage entities to ``world`` (the judge's
    truth)."""
    counts = dict(zip(passages.SPLITS, cfg.passage_entities, strict=True))
    passages.add_entities(
        world, counts, rng("passage/entities"), template_words() | passages.template_words()
    )
    rows = passages.sft_rows(world, cfg.passage_sft_per_scale * cfg.pool_scale, rng("passage/sft"))
    (root / "authors" / "passage.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows))
    for split in ("passage_dev", "passage_test"):
        rows = passages.eval_rows(world, split, rng(split))
        (root / "eval" / f"{split}.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows))


def body_words(body: str) -> str:
    """A post body's words for the lexicon: tags out, entities decoded, list bullets in. For the
    world's HTML (paragraphs, lists, links, images) the data layer's Markdown conversion
    (data/html.py) yields exactly these words, ~100x slower: too slow for every post."""
    return html.unescape(
        re.sub(r"<[^>]+>", " ", re.sub(r"<li\b", " - <li", body))
    )  # "-": the list bullet


def write_lexicon(root: Path) -> None:
    """Every word the world's texts use (``corpus/lexicon.txt``), read through the dumps' own
    text fields: the corpus alone lacks the SFT sources' template words, as no real corpus does."""
    texts: list[str] = []
    for path in sorted(root.rglob("Posts.xml")):
        for _, el in ET.iterparse(path):
            texts += [el.get("Title", ""), body_words(el.get("Body", ""))]
            el.clear()
    for path in sorted(root.rglob("*.json")):
        task = json.loads(path.read_text())
        if isinstance(task, list):  # Alpaca's array
            texts += [r[k] for r in task for k in ("instruction", "input", "output")]
        elif "Instances" in task:
            texts += task["Definition"] + [
                t for i in task["Instances"] for t in [i["input"], *i["output"]]
            ]
    for path in sorted((root / "authors").rglob("*.jsonl")):  # not eval/: its ids are no words
        texts += [t for line in path.open() for t in json.loads(line).get("conversations", [])]
    for path in sorted(
        (root / "eval").glob("passage_*.jsonl")
    ):  # names no other text holds (a real
        texts += [json.loads(line)["prompt"] for line in path.open()]  # tokenizer covers any word)
    for path in [*root.rglob("*.csv"), *root.rglob("*.wp_*")]:
        texts.append(path.read_text(encoding="utf-8"))
    words = {
        w
        for t in texts
        for w in re.findall(r"[a-z0-9]+|[^\w\s]", t.lower())
        if not w.isalnum() or w.isalpha() or w.isdigit()
    }
    (root / "corpus" / "lexicon.txt").write_text(" ".join(sorted(words)) + "\n")


def load_world(root: str | Path) -> World:
    return World.load(Path(root) / "world.json")
