"""Answers an adversary would write, each with the level a careful human rater gives under the
rubric (docs/reference_judge.md) and the reason. Written before rubric 3 (issue 22): rubric 2
gave the first table's bare values 5, the negated facts 4, the repeated and the padded answers 3.

The prompt is a ``fact`` question about a creature of the test world (``what is the habitat of
the <entity> ?``), as in the issue; other prompt types follow.
"""

from __future__ import annotations

import random
from dataclasses import dataclass

import pytest

from limalab.world import answers
from limalab.world.knowledge import Entity, World, generate_world
from limalab.world.phrasing import ANSWER, QUESTION
from limalab.world.prompts import make_prompt
from limalab.world.reference_judge import ReferenceJudge


@dataclass(frozen=True)
class Case:
    name: str
    response: str
    level: int
    reason: str
    terminated: bool = True


@pytest.fixture(scope="module")
def world() -> World:
    return generate_world(
        seed=0, entities_per_kind={"sft": 3, "eval": 3}, eval_fraction=0.4, reserved_words=set()
    )


def say(e: Entity, attr: str, v: str | None = None) -> str:
    return ANSWER[attr].format(v=v or e.facts[attr])


def habitat_prompt(c: Entity) -> dict:
    text = QUESTION["habitat"][1].format(e=f"the {c.name}")
    assert text == f"what is the habitat of the {c.name} ?"
    return {
        "prompt_id": "adv",
        "type": "fact",
        "prompt": text,
        "entities": [c.name],
        "required": [[c.name, "habitat"]],
        "min_facts": 1,
        "form": None,
        "attribute": "habitat",
    }


OFF_TOPIC = (
    "i went there last summer with my family and we had a great time .",
    "the weather was lovely that week .",
    "hope this helps !",
    "have a nice day !",
    "thanks for reading .",
    "let me know if you have more questions .",
)


def fact_cases(c: Entity, d: Entity, w: World) -> list[Case]:
    """The issue's table first, then the other adversaries, on the habitat question about c."""
    right = say(c, "habitat")
    others = [a for a in c.facts if a != "habitat"]
    wrong_hab = next(
        v for v in w.pools["habitat"]["eval"] + w.pools["habitat"]["sft"] if v != c.facts["habitat"]
    )
    pad = " ".join(
        [
            right,
            *["there is a lot to say about this topic and people have discussed it many times ."]
            * 12,
        ]
    )
    return [
        Case(
            "correct answer as one sentence",
            right,
            3,
            "correct and complete, nothing beyond what was asked",
        ),
        Case(
            "the five values as bare words, no sentence",
            " ".join(c.facts.values()),
            1,
            "no sentence: the reader cannot tell which word, if any, is the habitat",
        ),
        Case(
            "every true fact wrapped in 'it is not true that'",
            " ".join(f"it is not true that {say(c, a)}" for a in c.facts),
            1,
            "it denies every true fact: nothing true is stated, the reader is misled",
        ),
        Case(
            "the correct sentence repeated 8 times",
            " ".join([right] * 8),
            2,
            "the answer is there, but seven of eight sentences repeat it: a degenerate reply",
        ),
        Case(
            "the correct sentence, then six off-topic sentences",
            " ".join([right, *OFF_TOPIC]),
            2,
            "the answer is buried: six of seven sentences are off the point",
        ),
        Case(
            "word salad holding the right value",
            f"hide {c.facts['habitat']} the eats years call lives in",
            1,
            "no sentence says anything; a value word in salad is not an answer",
        ),
        Case(
            "the prompt echoed",
            habitat_prompt(c)["prompt"],
            1,
            "repeats the question, answers nothing",
        ),
        Case(
            "the prompt echoed, then answered",
            f"{habitat_prompt(c)['prompt']} {right}",
            3,
            "restating the question is harmless; the answer is clear and complete",
        ),
        Case(
            "first person, hedged, with anecdotes",
            f"i think {right} at least that is what my teacher told me . {answers.ANECDOTES[0]} "
            f"{answers.ANECDOTES[1]}",
            2,
            "commits to nothing ('i think'), then personal stories the user did not ask for",
        ),
        Case(
            "references to other answers, no facts",
            "as mentioned above , this was already answered in the other answer . "
            + answers.FILLER[1],
            1,
            "points elsewhere instead of answering",
        ),
        Case(
            "a reference to other answers around the answer",
            f"as mentioned above , {right}",
            3,
            "the pointer is noise, but the answer itself is clear and complete",
        ),
        Case(
            "correct answer padded to the length limit",
            pad,
            2,
            "one sentence of answer, then filler until generation was cut",
            False,
        ),
        Case(
            "the bare correct value",
            f"{c.facts['habitat']} .",
            3,
            "a terse answer, but it names the habitat unambiguously",
        ),
        Case(
            "right value for the wrong entity",
            say(c, "habitat", d.facts["habitat"]),
            1,
            "states a false habitat: the user learns only a wrong fact",
        ),
        Case(
            "another entity's fact, named",
            f"the {d.name} lives in the {d.facts['habitat']} .",
            1,
            "true, but about another creature: off-topic",
        ),
        Case(
            "wrong value beside a true extra",
            " ".join([say(c, "habitat", wrong_hab), say(c, others[0])]),
            2,
            "relevant (a true fact) but the asked fact is wrong",
        ),
        Case(
            "hedged with a modal",
            f"it might live in the {c.facts['habitat']} .",
            2,
            "touches the answer but does not commit to it",
        ),
        Case(
            "two values offered, one right",
            f"it lives in the {c.facts['habitat']} or the {wrong_hab} .",
            2,
            "commits to neither: half a guess",
        ),
        Case(
            "denies a false value only",
            f"it does not live in the {wrong_hab} .",
            1,
            "true, but says nothing about where it does live",
        ),
        Case("chit-chat only", "hope this helps ! have a nice day !", 1, "no content"),
        Case(
            "a full answer, focused and structured",
            "sure ! " + right + "\n" + "\n".join(f"- {say(c, a)}" for a in others[:2]),
            6,
            "correct, two true extras, a list, nothing off the point",
        ),
        Case(
            "a full answer with one off-topic sentence",
            "sure ! "
            + right
            + "\n"
            + "\n".join(f"- {say(c, a)}" for a in others[:2])
            + "\n"
            + OFF_TOPIC[0],
            5,
            "everything a 6 has, but one sentence is off the point: not well focused",
        ),
        Case(
            "a full answer that ends 'see the accepted answer'",
            right
            + "\n"
            + "\n".join(f"- {say(c, a)}" for a in others[:2])
            + "\nsee the accepted answer .",
            5,
            "good content, but it points to an answer the user cannot see",
        ),
    ]


def test_fact_question_adversaries(world: World) -> None:
    c, d = world.of("creature", "eval")[:2]
    assert c.facts["habitat"] != d.facts["habitat"]
    judge, prompt = ReferenceJudge(world), habitat_prompt(c)
    got = {
        case.name: judge.judge(prompt, case.response, case.terminated)
        for case in fact_cases(c, d, world)
    }
    wrong = {
        k: (case.level, got[k].score, case.reason, got[k].rationale)
        for case in fact_cases(c, d, world)
        if got[(k := case.name)].score != case.level
    }
    assert not wrong, wrong


def test_the_issue_table_rubric2_levels_no_longer_hold(world: World) -> None:
    """Rubric 2 gave these 5, 4, 3 and 3 (issue 22); each is now at most 2."""
    c, d = world.of("creature", "eval")[:2]
    judge, prompt = ReferenceJudge(world), habitat_prompt(c)
    table = fact_cases(c, d, world)[1:5]
    assert [judge.judge(prompt, x.response, True).score for x in table] == [1, 1, 2, 2]


def test_correct_answer_in_the_wrong_form(world: World) -> None:
    r, c = world.of("realm", "eval")[0], world.of("creature", "eval")[0]
    judge = ReferenceJudge(world)
    howto = {"prompt_id": "h", **make_prompt("howto", [r], random.Random(0)).to_dict()}
    bullets = "\n".join(f"- {say(r, a)}" for a in r.facts)
    j = judge.judge(howto, bullets, True)
    assert (
        j.score == 2 and not j.subscores["form_ok"]
    )  # every fact, but not the numbered steps asked for
    story = {"prompt_id": "s", **make_prompt("writing", [c], random.Random(0)).to_dict()}
    j = judge.judge(story, "\n".join(f"- {say(c, a)}" for a in c.facts), True)
    assert j.score == 2 and not j.subscores["form_ok"]  # a list of facts is not a story


def test_first_person_and_other_entities_in_a_describe_answer(world: World) -> None:
    c, d = world.of("creature", "eval")[:2]
    judge = ReferenceJudge(world)
    p = {"prompt_id": "d", **make_prompt("describe", [c], random.Random(0)).to_dict()}
    good = "here is an overview :\n" + "\n".join(f"- {say(c, a)}" for a in c.facts)
    assert judge.judge(p, good, True).score == 6
    other = f"- the {d.name} lives in the {d.facts['habitat']} ."
    j = judge.judge(p, good + "\n" + other, True)
    assert j.score == 5 and ["other_entity", other[2:-2]] in j.subscores["sentences"]
    me = judge.judge(p, good + "\n- in my experience , " + say(c, "diet"), True)
    assert me.score == 5 and any(
        lab == "repeat+first_person" for lab, _ in me.subscores["sentences"]
    )


def test_every_judgment_lists_its_sentences(world: World) -> None:
    c, d = world.of("creature", "eval")[:2]
    judge, prompt = ReferenceJudge(world), habitat_prompt(c)
    case = next(x for x in fact_cases(c, d, world) if x.name.startswith("first person"))
    j = judge.judge(prompt, case.response, True)
    labels = [lab for lab, _ in j.subscores["sentences"]]
    # "i think" hedges the fact and is first person itself; the three sentences after it are
    # personal
    assert labels == ["hedged+first_person", "first_person", "first_person", "first_person"], (
        j.subscores["sentences"]
    )
    assert "only hedged" in j.rationale and "off the point 4 vs 1" in j.rationale


def test_world_answers_parse_without_noise(world: World) -> None:
    """Every answer the world's helpful style writes is read whole: no sentence is unparsed, and
    each grades at least 5 (the generator's own answers are the rubric's good answers)."""
    judge, rng = ReferenceJudge(world), random.Random(3)
    for kind in ("realm", "creature"):
        ents = world.of(kind, "eval")
        for ptype in ("fact", "describe", "compare", "howto", "writing", "casual"):
            for listed in (True, False):
                spec = make_prompt(ptype, ents[:2], rng)
                text = answers.assistant(spec, world, rng, n_extras=2, listed=listed)
                j = judge.judge({"prompt_id": "w", **spec.to_dict()}, text, True)
                bad = [
                    s for s in j.subscores["sentences"] if s[0] in ("unparsed", "framing_excess")
                ]
                assert not bad and j.subscores["focused"], (ptype, text, j.subscores["sentences"])
                # prose steps are not the numbered steps a how-to asks for; the rest is 5 or 6
                want = 2 if ptype == "howto" and not listed else 6 if listed else 5
                assert j.score == want, (ptype, listed, text, j.rationale)


def test_world_defects_grade_below_good_answers(world: World) -> None:
    """The quality defects of the unfiltered sources (world/answers.DEFECTS) cost what the
    rubric says: first person, references elsewhere, rambling and too-short answers grade below
    the good ones (rubric 2 gave the first-person and rambling answers 3 and 4)."""
    judge, rng = ReferenceJudge(world), random.Random(5)
    c = world.of("creature", "eval")[0]
    spec = make_prompt("fact", [c], rng, attr="diet")
    p = {"prompt_id": "f", **spec.to_dict()}
    want = {
        "first_person": 2,
        "refers_elsewhere": 1,
        "link_only": 1,
        "rambling": 2,
        "too_short": 3,
        "wrong_fact": 1,
    }
    for name, top in want.items():
        j = judge.judge(p, answers.DEFECTS[name][0](spec, world, rng), True)
        assert j.score <= top, (name, j.rationale)
