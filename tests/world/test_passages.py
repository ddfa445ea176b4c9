"""The positive control for quantity (world/passages.py): passage entities never reach
pretraining or any other source, dev/test entities never reach the SFT pool, every word is in
the vocabulary, and the reference judge grades the passage answer as designed."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from limalab.tracking.io import read_jsonl
from limalab.world.build import load_world
from limalab.world.passages import FACTS_PER_PASSAGE, SPLITS
from limalab.world.phrasing import ANSWER
from limalab.world.reference_judge import ReferenceJudge
from limalab.world.tokenizer import world_tokenizer


@pytest.fixture(scope="module")
def world(smoke_world: Path):
    return load_world(smoke_world)


def _words(text: str) -> set[str]:
    return set(re.findall(r"[a-z0-9]+", text.lower()))


def test_passage_entities_are_new_to_pretraining_and_other_sources(
    smoke_world: Path, world
) -> None:
    names = {e.name for e in world.entities.values() if e.split in SPLITS}
    assert len(names) == sum(1 for e in world.entities.values() if e.split in SPLITS) > 0
    assert not names & _words((smoke_world / "corpus" / "pretrain.txt").read_text())
    others = [p for p in (smoke_world / "authors").glob("*.jsonl") if p.name != "passage.jsonl"]
    others += [
        p for p in (smoke_world / "eval").glob("*.jsonl") if not p.name.startswith("passage_")
    ]
    for path in others:
        assert not names & _words(path.read_text()), path
    for e in world.entities.values():
        if e.split in SPLITS[1:]:  # pooled values only: every value is a word pretraining taught
            assert len(e.facts) == FACTS_PER_PASSAGE and all(
                world.value_attribute[v] == a for a, v in e.facts.items()
            )
        elif e.split == "passage_sft":  # SFT rows draw new facts each time: nothing to memorise
            assert e.facts == {}


def test_dev_and_test_entities_never_reach_the_sft_pool(smoke_world: Path, world) -> None:
    sft = read_jsonl(smoke_world / "authors" / "passage.jsonl")
    assert len(sft) == 1000 and all(
        r["source"] == "passage" and len(r["conversations"]) == 2 for r in sft
    )
    assert len({r["conversations"][0] for r in sft}) == len(sft)
    for r in sft[:50]:  # the gold answer states a value the passage holds
        assert set(_words(r["conversations"][1])) - {
            "its",
            "it",
            "is",
            "was",
            "founded",
            "by",
            "in",
            "the",
            "year",
            "banner",
            "main",
            "export",
            "lives",
            "eats",
            "for",
            "years",
            "hide",
            "call",
            "a",
        } <= _words(r["conversations"][0])
    sft_words = set().union(*(_words(" ".join(r["conversations"])) for r in sft))
    for split in ("passage_dev", "passage_test"):
        rows = read_jsonl(smoke_world / "eval" / f"{split}.jsonl")
        ents = {n for r in rows for n in r["entities"]}
        assert len(ents) == len(rows)  # one prompt per entity
        assert all(world.entities[n].split == split for n in ents)
        assert not ents & sft_words
    dev = {n for r in read_jsonl(smoke_world / "eval" / "passage_dev.jsonl") for n in r["entities"]}
    test = {
        n for r in read_jsonl(smoke_world / "eval" / "passage_test.jsonl") for n in r["entities"]
    }
    assert not dev & test


def test_the_answer_is_in_the_passage_and_every_word_in_the_vocabulary(
    smoke_world: Path, cache_dir: Path, world
) -> None:
    tok = world_tokenizer(smoke_world, cache_dir, "<|eot|>")
    for split in ("passage_dev", "passage_test"):
        for r in read_jsonl(smoke_world / "eval" / f"{split}.jsonl"):
            ((name, attr),) = r["required"]
            assert world.entities[name].facts[attr] in _words(r["prompt"])
            assert tok.unk_token_id not in tok(r["prompt"] + " " + r["reference"])["input_ids"], r[
                "prompt"
            ]


def test_reference_judge_grades_passage_answers(smoke_world: Path, world) -> None:
    judge = ReferenceJudge(world)
    row = read_jsonl(smoke_world / "eval" / "passage_test.jsonl")[0]
    ((name, attr),) = row["required"]
    facts = world.entities[name].facts
    other = next(a for a in facts if a != attr)
    wrong = next(v for v in world.pools[attr]["eval"] if v != facts[attr])
    assert judge.judge(row, row["reference"], True).score == 3  # correct, complete, nothing extra
    extra = ANSWER[other].format(v=facts[other])
    assert judge.judge(row, f"{row['reference']} {extra}", True).score == 4  # one extra true fact
    # a bare value of another attribute says nothing (rubric 3): the answer stands, nothing extra
    assert judge.judge(row, f"{row['reference']} and {facts[other]} .", True).score == 3
    j = judge.judge(row, f"it is {wrong} .", True)
    assert j.score == 1 and j.subscores["correctness"] == 0  # only a wrong value
    assert (
        judge.judge(row, f"{row['reference']} also {wrong} .", True).score == 2
    )  # right, plus a false value
