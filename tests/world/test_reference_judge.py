"""The reference judge: every level on every prompt type, and answers that must not score high."""

from __future__ import annotations

import functools
import json
import random
import time

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from limalab.eval.judges import JUDGES, Judge, build_judge
from limalab.versions import RUBRIC_VERSION
from limalab.world.knowledge import Entity, World, generate_world
from limalab.world.phrasing import ANSWER
from limalab.world.prompts import make_prompt
from limalab.world.reference_judge import (
    LEVELS,
    Criteria,
    ReferenceJudge,
    is_repetitive,
    level,
    parse_response,
    tokenize,
)
from tests.conftest import examples


@functools.cache
def small_world() -> World:
    return generate_world(
        seed=0, entities_per_kind={"sft": 3, "eval": 3}, eval_fraction=0.4, reserved_words=set()
    )


@pytest.fixture(scope="module")
def world() -> World:
    return small_world()


@pytest.fixture(scope="module")
def judge(world: World) -> ReferenceJudge:
    return ReferenceJudge(world)


@pytest.fixture(scope="module")
def realms(world: World) -> list[Entity]:
    return world.of("realm", "eval")


@pytest.fixture(scope="module")
def creatures(world: World) -> list[Entity]:
    return world.of("creature", "eval")


def row(ptype: str, ents: list[Entity], attr: str | None = None) -> dict:
    spec = make_prompt(ptype, ents, random.Random(0), attr=attr)
    return {"prompt_id": f"t-{ptype}", **spec.to_dict()}


def say(e: Entity, attr: str) -> str:
    return ANSWER[attr].format(v=e.facts[attr])


def says(e: Entity, attrs: list[str]) -> list[str]:
    return [say(e, a) for a in attrs]


def bullets(lines: list[str], head: str = "sure !") -> str:
    return "\n".join([head, *(f"- {x}" for x in lines)])


def steps(lines: list[str]) -> str:
    return "\n".join(f"{i} . {x}" for i, x in enumerate(lines, 1))


def score(judge: ReferenceJudge, prompt: dict, response: str, terminated: bool = True) -> int:
    s = judge.judge(prompt, response, terminated).score
    assert s is not None
    return s


REALM_ATTRS = ["capital", "founder", "founded", "banner", "export"]
CREATURE_ATTRS = ["habitat", "diet", "lifespan", "hide", "call"]


# ---- every level, per prompt type ----------------------------------------------------------


def test_fact_levels(judge, realms):
    r = realms[0]
    p = row("fact", [r], "capital")
    extra = ["founded", "banner"]
    cases = {
        1: "i am not sure , sorry .",
        2: "good question ! " + say(r, "banner"),  # relevant but not what was asked
        3: "sure ! " + say(r, "capital"),
        4: "sure ! " + " ".join(says(r, ["capital", "founded"])),
        5: "sure ! " + " ".join(says(r, ["capital", *extra])),
        6: "sure ! " + say(r, "capital") + "\n" + "\n".join(f"- {x}" for x in says(r, extra)),
    }
    for want, resp in cases.items():
        assert score(judge, p, resp) == want, (want, resp)


def test_compare_levels(judge, realms):
    a, b = realms[0], realms[1]
    p = row("compare", [a, b], "founder")
    asked = [say(a, "founder"), say(b, "founder")]
    cases = {
        1: f"both {a.name} and {b.name} are old realms .",
        2: say(a, "founder"),  # half the comparison
        3: " ".join(asked),
        4: " ".join([*asked, say(a, "capital")]),
        5: " ".join([*asked, say(a, "capital"), say(b, "capital")]),
        6: bullets([*asked, say(a, "capital"), say(b, "capital")]),
    }
    for want, resp in cases.items():
        assert score(judge, p, resp) == want, (want, resp)


def test_describe_levels(judge, creatures):
    c = creatures[0]
    p = row("describe", [c])
    cases = {
        1: p["prompt"],
        2: " ".join(says(c, CREATURE_ATTRS[:2])),  # min_facts is 3
        3: " ".join(says(c, CREATURE_ATTRS[:3])),
        4: " ".join(says(c, CREATURE_ATTRS[:4])),
        5: " ".join(says(c, CREATURE_ATTRS)),
        6: bullets(says(c, CREATURE_ATTRS)),
    }
    for want, resp in cases.items():
        assert score(judge, p, resp) == want, (want, resp)


def test_howto_levels(judge, realms):
    r = realms[1]
    p = row("howto", [r])
    assert p["form"] == "steps"
    filler = "pack food for the road ."
    cases = {
        1: steps(["find a map .", filler, "ask a guide ."]),
        2: " ".join(says(r, REALM_ATTRS)),  # every fact, but no steps
        3: steps([f"first , go to the capital . {say(r, 'capital')}", filler, say(r, "export")]),
        4: steps([say(r, "capital"), say(r, "export"), say(r, "banner")]),
        6: steps([say(r, "capital"), say(r, "export"), say(r, "banner"), say(r, "founder")]),
    }
    for want, resp in cases.items():
        assert score(judge, p, resp) == want, (want, resp)
    assert score(judge, p, cases[6], terminated=False) == 5
    # "1)" markers are steps too
    facts = says(r, ["capital", "export", "banner", "founder"])
    assert score(judge, p, "\n".join(f"{i}) {x}" for i, x in enumerate(facts, 1))) == 6


def test_writing_levels(judge, creatures):
    c = creatures[1]
    p = row("writing", [c])
    assert p["form"] == "story"
    opener = "one morning a traveller met the " + c.name + " ."
    cases = {
        1: opener + " they walked together . the sun set .",
        2: bullets(says(c, CREATURE_ATTRS)),  # facts as a list, not a story
        3: " ".join([opener, *says(c, ["habitat", "diet"])]),
        4: " ".join([opener, *says(c, ["habitat", "diet", "hide"])]),
        5: " ".join([opener, *says(c, ["habitat", "diet", "hide", "call"])]),
        6: " ".join([opener, *says(c, ["habitat", "diet"])])
        + "\n\n"
        + " ".join([*says(c, ["hide", "call"]), "the traveller went home happy ."]),
    }
    for want, resp in cases.items():
        assert score(judge, p, resp) == want, (want, resp)
    # a story of too few sentences is not a story
    assert score(judge, p, say(c, "habitat") + " " + say(c, "diet")) == 2


def test_casual_levels(judge, creatures):
    c = creatures[2]
    p = row("casual", [c])
    assert score(judge, p, "great question ! " + say(c, "diet")) == 2  # min_facts 2
    assert score(judge, p, " ".join(says(c, ["diet", "call"]))) == 3
    assert score(judge, p, bullets(says(c, CREATURE_ATTRS))) == 6


# ---- adversarial answers ---------------------------------------------------------------------


def test_listing_the_whole_pool_is_not_an_answer(judge, world, realms, creatures):
    for ent, attr in [(realms[0], "capital"), (realms[0], "banner"), (creatures[0], "hide")]:
        p = row("fact", [ent], attr)
        pool = world.pools[attr]["eval"] + world.pools[attr]["sft"]
        assert ent.facts[attr] in pool
        resp = bullets([f"it could be {v} ." for v in pool], head="it is one of these :")
        j = judge.judge(p, resp, True)
        assert j.score is not None and j.score <= 2
        assert j.subscores["correctness"] == 0


def test_right_fact_wrong_entity(judge, realms):
    a, b = realms[0], realms[1]
    p = row("fact", [a], "capital")
    assert a.facts["capital"] != b.facts["capital"]
    assert score(judge, p, "sure ! " + say(b, "capital")) <= 2
    # and a full, well-formed profile of the wrong entity
    assert score(judge, p, bullets(says(b, REALM_ATTRS))) <= 2


def test_echo_and_empty(judge, realms, creatures):
    for ptype, ent in [("fact", realms[0]), ("describe", creatures[0]), ("howto", realms[2])]:
        p = row(ptype, [ent])
        assert score(judge, p, p["prompt"]) == 1
        assert score(judge, p, "") == 1
        assert score(judge, p, "   \n\n ") == 1


def test_repeating_a_good_answer(judge, creatures):
    c = creatures[0]
    p = row("describe", [c])
    good = bullets(says(c, CREATURE_ATTRS))
    assert score(judge, p, good) == 6
    assert score(judge, p, good + "\n" + good) <= 4
    # a degenerate loop without sentence ends
    loop = say(c, "habitat") + " " + say(c, "diet") + " " + say(c, "call") + " and the and the" * 3
    assert score(judge, p, bullets([loop, say(c, "hide")])) <= 4


def test_true_and_false_mixed(judge, realms, creatures):
    a, b = realms[0], realms[1]
    p = row("describe", [a])
    wrong = say(b, "capital")
    assert score(judge, p, bullets([*says(a, REALM_ATTRS), wrong])) == 2
    # an attribute realms do not have is false as well
    j = judge.judge(p, bullets([*says(a, REALM_ATTRS), say(creatures[0], "diet")]), True)
    assert j.score == 2 and j.subscores["n_false"] == 1


def test_truncated_perfect_answer(judge, realms):
    r = realms[0]
    p = row("fact", [r], "founder")
    perfect = bullets(says(r, ["founder", "capital", "banner"]))
    assert score(judge, p, perfect) == 6
    assert score(judge, p, perfect, terminated=False) == 5


def test_howto_without_steps(judge, realms):
    r = realms[2]
    p = row("howto", [r])
    assert score(judge, p, " ".join(says(r, REALM_ATTRS))) <= 2
    assert score(judge, p, bullets(says(r, REALM_ATTRS))) <= 2  # bullets are not numbered steps


# ---- subscores -------------------------------------------------------------------------------


def test_correctness_and_format_are_separate(judge, realms):
    a, b = realms[0], realms[1]
    p = row("fact", [a], "capital")
    wrong_but_pretty = bullets(says(b, ["capital", "founder", "banner"]))
    j = judge.judge(p, wrong_but_pretty, True)
    assert j.subscores["correctness"] == 0
    assert j.subscores["format"] == 1.0
    assert j.score == 1

    right_but_sloppy = say(a, "capital")
    j = judge.judge(p, right_but_sloppy, False)
    assert j.subscores["correctness"] == 1
    assert j.subscores["format"] == 0.5  # not terminated, not structured
    assert j.score == 3


def test_subscores_counts(judge, realms):
    a, b = realms[0], realms[1]
    p = row("compare", [a, b], "capital")
    resp = bullets([say(a, "capital"), say(b, "capital"), say(a, "capital"), say(a, "founded")])
    s = judge.judge(p, resp, True).subscores
    assert s["n_true"] == 3  # the repeated capital counts once
    assert s["n_false"] == 0
    assert s["extras"] == 1
    assert s["has_required"] and s["enough"] and s["complete"] and s["relevant"] and s["correct"]
    expected = {
        "relevant",
        "correct",
        "complete",
        "has_required",
        "enough",
        "form_ok",
        "n_true",
        "n_false",
        "extras",
        "repetitive",
        "structured",
        "terminated",
        "correctness",
        "fact_precision",
        "format",
        # rubric 3: what the sentences said and how much of it was off the point
        "n_hedged",
        "n_answer",
        "n_noise",
        "on_topic",
        "focused",
        "relevance",
        "sentences",
    }
    assert set(s) == expected
    assert (
        s["n_answer"] == 3 and s["n_noise"] == 1 and s["focused"] is False
    )  # the capital said twice
    assert [lab for lab, _ in s["sentences"]] == ["framing", "fact", "fact", "repeat", "fact"]
    assert s["fact_precision"] == 1.0


def test_fact_precision_is_the_share_of_stated_facts_that_are_true(judge, realms):
    a, b = realms[0], realms[1]
    p = row("fact", [a], "capital")
    two_true_one_false = bullets([say(a, "capital"), say(a, "founded"), say(b, "founder")])
    assert judge.judge(p, two_true_one_false, True).subscores["fact_precision"] == pytest.approx(
        2 / 3
    )
    assert (
        judge.judge(p, "no idea .", True).subscores["fact_precision"] is None
    )  # nothing stated: no precision


def test_shared_value_states_both_entities():
    # two creatures with the same hide: one word states both facts
    facts = {"habitat": "zolu", "diet": "mika", "lifespan": "12", "hide": "grey", "call": "hoot"}
    a = Entity("aaka", "creature", "eval", dict(facts))
    b = Entity("bebo", "creature", "eval", {**facts, "habitat": "zeni", "diet": "pola"})
    va = {v: k for k, v in facts.items()} | {"zeni": "habitat", "pola": "diet", "dusk": "hide"}
    w = World(0, {"aaka": a, "bebo": b}, va)
    p = {
        "entities": ["aaka", "bebo"],
        "required": [["aaka", "hide"], ["bebo", "hide"]],
        "min_facts": 2,
        "form": None,
    }
    # (rubric 3 reads sentences of the world's grammar: "its hide is x" about the asked pair)
    j = ReferenceJudge(w).judge(p, "its hide is grey .", True)
    assert j.subscores["n_true"] == 2 and j.score == 3
    j = ReferenceJudge(w).judge(p, "its hide is dusk .", True)
    assert j.subscores["n_false"] == 1 and j.score == 1


def test_robust_to_case_and_glued_punctuation(judge, realms):
    r = realms[0]
    p = row("fact", [r], "capital")
    cap = r.facts["capital"]
    assert score(judge, p, f"Sure! Its capital is {cap.upper()}.") == 3
    assert score(judge, p, f"sure!its capital is {cap},ok") == 3
    resp = (
        f"Sure!\n-Its capital is {cap}.\n* It was founded in the year {r.facts['founded']}.\n- "
        f"Banner: {r.facts['banner']}!"
    )
    assert score(judge, p, resp) == 6


def test_list_numbers_are_not_lifespans(judge, world, creatures):
    c = creatures[0]
    p = row("howto", [c])
    others = sorted(
        int(v)
        for v, a in world.value_attribute.items()
        if a == "lifespan" and v != c.facts["lifespan"]
    )
    n = others[0]  # a number that is some creature's lifespan, used as a step number
    resp = "\n".join(f"{n + i} . {x}" for i, x in enumerate(says(c, ["habitat", "diet", "call"])))
    j = judge.judge(p, resp, True)
    assert j.subscores["n_false"] == 0 and j.subscores["form_ok"]
    assert j.score == 4
    # but a year at the start of a line is a value, not a list marker
    r = world.of("realm", "eval")[0]
    parsed = parse_response(f"{r.facts['founded']} . that is when it was founded .")
    assert parsed.n_numbered == 0 and r.facts["founded"] in parsed.words


# ---- the pieces ------------------------------------------------------------------------------


def test_level_table():
    base = dict(
        relevant=True,
        correct=True,
        complete=True,
        extras=2,
        repetitive=False,
        structured=True,
        terminated=True,
    )
    assert level(Criteria(**base)) == 6
    assert level(Criteria(**{**base, "terminated": False})) == 5
    assert level(Criteria(**{**base, "structured": False})) == 5
    assert level(Criteria(**{**base, "repetitive": True})) == 4
    assert level(Criteria(**{**base, "extras": 1})) == 4
    assert level(Criteria(**{**base, "extras": 0})) == 3
    assert level(Criteria(**{**base, "complete": False})) == 2
    assert level(Criteria(**{**base, "correct": False})) == 2
    assert level(Criteria(**{**base, "relevant": False})) == 1
    assert level(Criteria(**{**base, "focused": False})) == 5
    assert level(Criteria(**{**base, "on_topic": False})) == 2
    assert set(LEVELS) == set(range(1, 7))


def test_parse_and_repetition():
    assert tokenize("Dursk. Veldor!x") == ["dursk", ".", "veldor", "!", "x"]
    p = parse_response("sure !\n1 . go .\n2) rest .\n- eat .\n* sleep .\n\nend")
    assert (p.n_numbered, p.n_list_items, p.n_lines) == (2, 4, 6)
    assert p.words == ["sure", "go", "rest", "eat", "sleep", "end"]
    assert not is_repetitive(parse_response("sure ! sure ! it is big . it is small ."))
    assert is_repetitive(parse_response("it is big .\nit is big ."))
    assert is_repetitive(parse_response("a b c d x a b c d y a b c d"))
    assert not is_repetitive(parse_response("a b c d x a b c d"))


def test_registry_and_serialisation(world, judge, realms):
    assert "reference" in JUDGES
    j = build_judge("reference", world=world)
    assert isinstance(j, ReferenceJudge)
    assert isinstance(j, Judge)
    assert j.id == judge.id == f"reference@rubric{RUBRIC_VERSION}"
    with pytest.raises(
        ValueError, match="judge: unknown judge 'nope'; expected one of .*reference"
    ):
        build_judge("nope")
    p = row("fact", [realms[0]], "capital")
    d = judge.judge(p, say(realms[0], "capital"), True).to_dict()
    assert json.loads(json.dumps(d)) == d
    assert d["judge"] == judge.id and d["score"] == 3 and "level 3" in d["rationale"]
    many = judge.judge_many([(p, "", True), (p, say(realms[0], "capital"), True)])
    assert [m.score for m in many] == [1, 3]


def test_fast(judge, creatures):
    p = row("describe", [creatures[0]])
    resp = bullets(says(creatures[0], CREATURE_ATTRS) * 3)
    # CPU time, not wall time: the judge is single-threaded Python, so its own CPU seconds measure
    # its speed whatever else the machine runs (wall time failed this under a loaded host)
    t = time.process_time()
    judge.judge_many([(p, resp, True)] * 2000)
    assert time.process_time() - t < 1.0


@settings(max_examples=examples(200), deadline=None)
@given(st.data())
def test_invariants(data):
    world = small_world()
    judge = ReferenceJudge(world)
    ents = list(world.entities.values())
    kind = data.draw(st.sampled_from(["realm", "creature"]))
    pool = [e for e in ents if e.kind == kind]
    ptype = data.draw(
        st.sampled_from(["fact", "describe", "compare", "howto", "writing", "casual"])
    )
    asked = data.draw(st.permutations(pool))[:2]
    p = row(ptype, asked)
    picks = data.draw(
        st.lists(st.tuples(st.sampled_from(ents), st.sampled_from(range(5))), max_size=8)
    )
    lines = [ANSWER[list(e.facts)[i]].format(v=list(e.facts.values())[i]) for e, i in picks]
    resp = data.draw(st.sampled_from([" ".join, bullets, steps]))(lines)
    j = judge.judge(p, resp, data.draw(st.booleans()))
    s = j.subscores
    assert j.score in range(1, 7)
    assert (j.score == 1) == (s["n_true"] == 0)
    if s["n_false"]:
        assert j.score <= 2
    if j.score >= 3:
        assert s["correctness"] == 1
    assert 0.0 <= s["format"] <= 1.0
