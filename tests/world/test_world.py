"""The miniature world: deterministic, parseable by standard parsers, and leak-free."""

from __future__ import annotations

import csv
import hashlib
import json
import re
import xml.etree.ElementTree as ET
from pathlib import Path

from limalab.data.readers.lima_jsonl import read_conversations
from limalab.data.readers.natural_instructions import read_tasks
from limalab.data.readers.stackexchange import read_threads
from limalab.data.readers.wikihow import read_articles
from limalab.data.readers.writingprompts import read_pairs
from limalab.world import phrasing
from limalab.world.build import build_world, load_world
from limalab.world.prompts import DEV_MIX, TEST_MIX
from tests.conftest import SMOKE_WORLD


def tree_digest(root: Path) -> dict[str, str]:
    return {
        str(p.relative_to(root)): hashlib.sha256(p.read_bytes()).hexdigest()
        for p in sorted(root.rglob("*"))
        if p.is_file()
    }


def test_same_seed_same_bytes(smoke_world: Path, tmp_path: Path) -> None:
    again = build_world(SMOKE_WORLD, tmp_path)
    assert tree_digest(again) == tree_digest(smoke_world)


def test_other_seed_other_world(smoke_world: Path, tmp_path: Path) -> None:
    other = build_world(SMOKE_WORLD.__class__(**{**SMOKE_WORLD.__dict__, "seed": 1}), tmp_path)
    assert (other / "world.json").read_bytes() != (smoke_world / "world.json").read_bytes()


def test_dumps_parse_with_standard_parsers(smoke_world: Path) -> None:
    sites = sorted((smoke_world / "stackexchange").glob("*.stackexchange.com/Posts.xml"))
    assert len(sites) >= 4
    for path in sites:
        rows = ET.parse(path).getroot().findall("row")
        questions = {r.get("Id"): r for r in rows if r.get("PostTypeId") == "1"}
        answers = [r for r in rows if r.get("PostTypeId") == "2"]
        assert questions and answers
        for a in answers:  # every answer's parent exists; accepted ids point at real answers
            assert a.get("ParentId") in questions
        ids = {r.get("Id") for r in rows}
        assert all(
            q.get("AcceptedAnswerId") in ids
            for q in questions.values()
            if q.get("AcceptedAnswerId")
        )
    with (smoke_world / "wikihow" / "wikihowAll.csv").open(newline="") as f:
        rows = list(csv.DictReader(f))
    assert rows and set(rows[0]) == {"headline", "title", "text"} and "\n" in rows[0]["text"]
    src = (smoke_world / "writingprompts" / "train.wp_source").read_text().splitlines()
    tgt = (smoke_world / "writingprompts" / "train.wp_target").read_text().splitlines()
    assert len(src) == len(tgt) and all(s.startswith("[ ") for s in src)
    for task in (smoke_world / "natural_instructions" / "tasks").glob("*.json"):
        t = json.loads(task.read_text())
        assert {"Definition", "Positive Examples", "Instances"} <= set(t)
    for line in (smoke_world / "authors" / "authors.jsonl").read_text().splitlines():
        row = json.loads(line)
        assert len(row["conversations"]) == 2 and row["source"] == "authors"


def sft_texts(world_dir: Path):
    """Every text an SFT reader can hand to training, with where it came from."""
    for site in sorted((world_dir / "stackexchange").iterdir()):
        for t in read_threads(site):
            yield f"{site.name} q{t.id}", t.title + " " + t.body
            for a in t.answers:
                yield f"{site.name} a{a.id}", a.body
    for line, title, text, _ in read_articles(world_dir / "wikihow" / "wikihowAll.csv"):
        yield f"wikihow line {line}", title + " " + text
    for n, p, s in read_pairs(world_dir / "writingprompts"):
        yield f"wp {n}", p + " " + s
    for task, definition, instances in read_tasks(world_dir / "natural_instructions"):
        for inst in instances:
            yield (
                f"{task} {inst['id']}",
                definition + " " + inst["input"] + " " + " ".join(inst["output"]),
            )
    for n, turns, _ in read_conversations(world_dir / "authors" / "authors.jsonl"):
        yield f"authors line {n}", " ".join(turns)


def test_eval_sets_have_the_fixed_mix(smoke_world: Path) -> None:
    for name, mix in (("dev", DEV_MIX), ("test", TEST_MIX)):
        rows = [
            json.loads(x) for x in (smoke_world / "eval" / f"{name}.jsonl").read_text().splitlines()
        ]
        counts = {t: sum(r["type"] == t for r in rows) for t in mix}
        assert counts == mix
        assert len({r["prompt"] for r in rows}) == len(rows)


def test_no_eval_entity_or_value_in_any_sft_source(smoke_world: Path) -> None:
    world = load_world(smoke_world)
    eval_words = {e.name for e in world.entities.values() if e.split == "eval"}
    eval_words |= {
        v for e in world.entities.values() if e.split == "eval" for v in e.facts.values()
    }
    sft_values = {v for e in world.entities.values() if e.split == "sft" for v in e.facts.values()}
    assert eval_words and not eval_words & sft_values
    texts = list(sft_texts(smoke_world))
    assert len(texts) > 1000
    for where, text in texts:
        leaked = eval_words & set(re.findall(r"[a-z0-9]+", text.lower()))
        assert not leaked, f"{where} mentions eval entities/values {sorted(leaked)[:5]}"
    # ...while the pretraining corpus does carry them: knowledge comes from pretraining.
    corpus = set(re.findall(r"[a-z0-9]+", (smoke_world / "corpus" / "pretrain.txt").read_text()))
    assert eval_words <= corpus


def test_defect_table_is_declared(smoke_world: Path) -> None:
    table = json.loads((smoke_world / "defects.json").read_text())
    assert {
        "wrong_fact",
        "first_person",
        "refers_elsewhere",
        "too_short",
        "rambling",
        "link_only",
    } == set(table)
    assert all(v["filter"] and v["rubric"] for v in table.values())


def test_corpus_has_web_genres_but_not_the_assistant_register(smoke_world: Path) -> None:
    """The base reads lists, steps and stories as a real base does; the chat format and the
    assistant's register (acknowledgments, "some more facts") come only from alignment."""
    text = (smoke_world / "corpus" / "pretrain.txt").read_text()
    assert "facts about" in text and " ¶ 1 . " in text and "once upon a time" in text
    assert "<|" not in text and "some more facts" not in text
    assert not any(ack in text for ack in phrasing.ACKNOWLEDGE)


def test_lexicon_reads_sft_sources_only(smoke_world: Path) -> None:
    words = set((smoke_world / "corpus" / "lexicon.txt").read_text().split())
    assert "merchants" in words and "wp" in words
    assert not {w for w in words if re.fullmatch(r"0\d{3}", w)}, (
        "prompt ids of eval/ leaked into the vocabulary"
    )
    assert not {
        w for w in words if w.startswith("n") and w[1:] in words and w[1:] in {"the", "some"}
    }, "escaped newlines"
