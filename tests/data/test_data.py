"""Readers, the paper's filters, exact and scaled counts, nested subsets, temperature sampling."""

from __future__ import annotations

import collections
import json
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from limalab.data.clean import clean_pool
from limalab.data.example import Example
from limalab.data.filters import (
    Candidate,
    apply_steps,
    first_person,
    length,
    references_other_answers,
)
from limalab.data.html import to_markdown
from limalab.data.mix import build_mix, scale_counts
from limalab.data.readers.stackexchange import parse_tags, read_threads
from limalab.data.sources import temperature_order
from tests.conftest import examples

FIXTURES = Path(__file__).parents[1] / "fixtures"
PAPER_STEPS = [
    {"name": "title_self_contained"},
    {"name": "top_answer"},
    {"name": "min_score", "min": 10},
    {"name": "strip_html"},
    {"name": "length", "min_chars": 100, "max_chars": 4096},
    {"name": "first_person"},
    {"name": "references_other_answers"},
    {"name": "prompt_title_or_description"},
]


def test_stackexchange_reader_joins_answers_written_before_their_question() -> None:
    threads = {t.id: t for t in read_threads(FIXTURES / "se" / "tinkering.stackexchange.com")}
    assert set(threads) == {"1", "2"}
    q = threads["1"]
    assert q.site == "tinkering" and q.tags == ["doors", "hinges"]
    assert sorted(a.id for a in q.answers) == ["3", "4"] and q.accepted_id == "4"
    assert parse_tags("|a|b-c|") == ["a", "b-c"] and parse_tags("<a><b-c>") == ["a", "b-c"]


def test_paper_filters_keep_the_top_answer_and_count_drops() -> None:
    threads = list(read_threads(FIXTURES / "se" / "tinkering.stackexchange.com"))
    stats: dict[str, int] = {}
    kept = list(apply_steps((Candidate(t) for t in threads), PAPER_STEPS, stats))
    assert len(kept) == 1
    c = kept[0]
    assert c.answer.id == "3"  # top-scored (25), not the accepted one (12)
    assert c.response.startswith("Tighten the hinge") and "- flat screwdriver" in c.response
    assert "<" not in c.response and c.prompt in {
        "How do I fix a squeaky door hinge?",
        "My door hinge squeaks every time. How do I fix a squeaky hinge?",
    }
    assert stats["title_self_contained"] == 1 and stats["input"] == 2


def test_style_filters() -> None:
    def cand(text: str) -> Candidate:
        c = Candidate(thread=None)  # type: ignore[arg-type]
        c.response = text
        return c

    assert first_person(cand("In my view it works.")) is None
    assert first_person(cand("It works; mind the gap.")) is not None
    assert references_other_answers(cand("As mentioned above, yes.")) is None
    assert references_other_answers(cand("See the Stack Exchange FAQ.")) is None
    assert references_other_answers(cand("Yes, it does.")) is not None
    assert length(cand("x" * 99), min_chars=100, max_chars=200) is None
    assert length(cand("x" * 150), min_chars=100, max_chars=200) is not None
    assert length(cand("x" * 201), min_chars=100, max_chars=200) is None


def test_strip_html_keeps_code_and_lists_drops_links_and_images() -> None:
    text = to_markdown(
        '<p>Run <a href="u">this</a>:</p><pre><code>x = 1 &lt; 2\n</code></pre>'
        '<ul><li>one</li><li>two</li></ul><img src="i.png">'
    )
    assert "```\nx = 1 < 2\n```" in text and "- one\n- two" in text
    assert "href" not in text and "img" not in text and "this" in text


def test_scale_counts_keeps_table1_proportions() -> None:
    table1 = {"se_stem": 200, "se_other": 200, "wikihow": 200, "wp": 150, "ni": 50, "authors": 200}
    assert scale_counts(table1, 2000) == {k: 2 * v for k, v in table1.items()}
    assert scale_counts(table1, None) == table1
    assert sum(scale_counts(table1, 777).values()) == 777
    with pytest.raises(ValueError, match="data.size"):
        scale_counts(table1, 0)


@settings(max_examples=examples(50), deadline=None)
@given(
    counts=st.dictionaries(st.sampled_from("abcdef"), st.integers(1, 500), min_size=1),
    size=st.integers(1, 5000),
)
def test_scaled_counts_are_exact(counts: dict[str, int], size: int) -> None:
    out = scale_counts(counts, size)
    assert sum(out.values()) == size
    total = sum(counts.values())
    assert all(abs(out[k] - size * counts[k] / total) < 1 for k in counts)


def test_temperature_order_flattens_exchange_sizes() -> None:
    pools = {
        g: [Example(f"{g}{i}", "se", ["q", "a"]) for i in range(n)]
        for g, n in {"big": 8000, "mid": 1000, "small": 125}.items()
    }
    first = temperature_order(pools, tau=3.0, seed=0)[:600]
    share = collections.Counter(e.id.rstrip("0123456789") for e in first)
    w = {g: len(x) ** (1 / 3) for g, x in pools.items()}  # 20, 10, 5
    for g in pools:
        assert share[g] / 600 == pytest.approx(w[g] / sum(w.values()), abs=0.05)


def test_mix_is_nested_and_exact(smoke_world: Path, cache_dir: Path) -> None:
    from hydra import compose, initialize_config_dir
    from omegaconf import OmegaConf

    with initialize_config_dir(
        config_dir=str(Path(__file__).parents[2] / "conf"), version_base=None
    ):
        data = OmegaConf.to_container(
            compose("train", overrides=["data=lima_mix"]).data, resolve=True
        )
    small, m_small = build_mix({**data, "size": 100}, smoke_world, cache_dir)
    big, m_big = build_mix({**data, "size": 200}, smoke_world, cache_dir)
    assert len(small) == 100 and len(big) == 200
    assert set(m_small["example_ids"]) <= set(m_big["example_ids"])
    assert m_big["source_counts"] == {k: 2 * v for k, v in m_small["source_counts"].items()}
    assert m_small["filter_stats"]["se_stem"]["min_score"] > 0  # the paper's filters had work to do
    with pytest.raises(ValueError, match="pool holds"):
        build_mix({**data, "size": 100_000}, smoke_world, cache_dir)


@settings(max_examples=examples(200), deadline=None)
@given(
    counts=st.dictionaries(st.sampled_from("abcdef"), st.integers(1, 500), min_size=1),
    sizes=st.tuples(st.integers(1, 800), st.integers(1, 800)),
)
def test_scaled_counts_never_shrink_as_size_grows(
    counts: dict[str, int], sizes: tuple[int, int]
) -> None:
    """Nested subsets need every source's count to be monotone in data.size (no Alabama paradox)."""
    small, big = sorted(sizes)
    a, b = scale_counts(counts, small), scale_counts(counts, big)
    assert all(a[k] <= b[k] for k in counts)


def test_scaled_counts_regression_alabama_paradox() -> None:
    counts = {"b": 414, "f": 414, "d": 198, "a": 4, "c": 4, "e": 414}
    assert all(scale_counts(counts, 74)[k] <= scale_counts(counts, 159)[k] for k in counts)


# --- mixes over synthetic sources: nestedness, exact counts, fraction, allow_repeat -----------

POOL_SIZES = {"a": 300, "b": 120, "c": 40, "d": 300}


@pytest.fixture(scope="module")
def synthetic(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    """LIMA-JSONL sources of known sizes, and a pool cache shared by the property tests."""
    root = tmp_path_factory.mktemp("synthetic")
    for name, n in POOL_SIZES.items():
        rows = [
            json.dumps({"conversations": [f"{name} prompt {i}", f"answer {i}"], "source": name})
            for i in range(n)
        ]
        (root / f"{name}.jsonl").write_text("\n".join(rows) + "\n")
    return root, tmp_path_factory.mktemp("synthetic-cache")


def synthetic_cfg(root: Path, spec: dict[str, dict], **data) -> dict:
    return {
        "name": "synthetic",
        "clean": [],
        **data,
        "sources": {
            k: {"reader": "lima_jsonl", "path": str(root / f"{k}.jsonl"), **v}
            for k, v in spec.items()
        },
    }


@settings(max_examples=examples(60), deadline=None)
@given(
    counts=st.dictionaries(st.sampled_from("abcd"), st.integers(1, 40), min_size=1),
    sizes=st.tuples(st.integers(1, 40), st.integers(1, 40)),
    seed=st.integers(0, 3),
)
def test_subsets_nest_and_hold_proportions_over_mixes_sizes_and_seeds(
    synthetic: tuple[Path, Path], counts: dict[str, int], sizes: tuple[int, int], seed: int
) -> None:
    root, cache = synthetic
    small, big = sorted(sizes)
    cfg = synthetic_cfg(root, {k: {"count": v} for k, v in counts.items()}, subset_seed=seed)
    ex_s, m_s = build_mix({**cfg, "size": small}, None, cache)
    ex_b, m_b = build_mix({**cfg, "size": big}, None, cache)
    assert len(ex_s) == small and len(ex_b) == big
    assert set(m_s["example_ids"]) <= set(m_b["example_ids"])
    total = sum(counts.values())
    for k in counts:  # stratified: every source within one example of its share, at every size
        got = sum(e.source == k for e in ex_s)
        assert abs(got - small * counts[k] / total) < 1
    assert (
        build_mix({**cfg, "size": small}, None, cache)[1]["sha256"] == m_s["sha256"]
    )  # deterministic


def test_subset_seed_changes_the_draw_not_the_counts(synthetic: tuple[Path, Path]) -> None:
    root, cache = synthetic
    cfg = synthetic_cfg(root, {"a": {"count": 10}, "b": {"count": 10}}, size=20)
    m0 = build_mix({**cfg, "subset_seed": 0}, None, cache)[1]
    m1 = build_mix({**cfg, "subset_seed": 1}, None, cache)[1]
    assert m0["source_counts"] == m1["source_counts"] and m0["example_ids"] != m1["example_ids"]
    assert m1["subset_seed"] == 1


def test_fraction_must_be_explicit(synthetic: tuple[Path, Path]) -> None:
    root, cache = synthetic
    _, m = build_mix(synthetic_cfg(root, {"b": {"fraction": 0.5}, "c": {"count": 10}}), None, cache)
    assert m["source_counts"] == {"b": 60, "c": 10}
    with pytest.raises(
        ValueError,
        match=r"data.sources.b.count: expected a non-negative integer, got 1.0 "
        r"\(for a share of the pool write fraction: 1.0\)",
    ):
        build_mix(synthetic_cfg(root, {"b": {"count": 1.0}}), None, cache)
    with pytest.raises(ValueError, match="exactly one of count"):
        build_mix(synthetic_cfg(root, {"b": {"count": 5, "fraction": 0.5}}), None, cache)
    with pytest.raises(ValueError, match=r"data.sources.b.fraction: expected a number in \(0, 1\]"):
        build_mix(synthetic_cfg(root, {"b": {"fraction": 1.5}}), None, cache)


def test_upsampling_only_with_allow_repeat(synthetic: tuple[Path, Path]) -> None:
    root, cache = synthetic
    with pytest.raises(
        ValueError,
        match=r"data.sources.c: 100 examples requested but the pool holds 40 .*allow_repeat",
    ):
        build_mix(synthetic_cfg(root, {"c": {"count": 100}}), None, cache)
    ex, m = build_mix(synthetic_cfg(root, {"c": {"count": 100, "allow_repeat": True}}), None, cache)
    assert len(ex) == 100 and len(set(m["example_ids"])) == 40
    small = build_mix(
        synthetic_cfg(root, {"c": {"count": 100, "allow_repeat": True}}, size=60), None, cache
    )[1]
    assert small["example_ids"] == m["example_ids"][:60]


def test_bad_records_skipped_and_counted_in_the_manifest(tmp_path: Path) -> None:
    p = tmp_path / "s.jsonl"
    p.write_text('{"conversations": ["q", "a"]}\nnot json\n{"conversations": ["q2", "a2"]}\n')
    cfg = {
        "name": "x",
        "clean": [],
        "sources": {"s": {"reader": "lima_jsonl", "path": str(p), "count": 2}},
    }
    with pytest.raises(ValueError, match=r"s.jsonl: line 2: malformed JSON"):
        build_mix(cfg, None, tmp_path / "cache")
    _, m = build_mix({**cfg, "on_bad_record": "skip"}, None, tmp_path / "cache")
    assert m["bad_records"] == {"s": 1} and m["filter_stats"]["s"]["bad_records"] == 1


# --- cleaning: dedup and decontamination -----------------------------------------------------


def ex(i: int, prompt: str, response: str = "an answer") -> Example:
    return Example(f"x{i}", "s", [prompt, response])


def test_exact_and_near_dedup_keep_the_first_copy() -> None:
    story = (
        "the traveller walked the streets of the capital and merchants sold salt everywhere "
        "in the old realm"
    )
    pool = [
        ex(0, "How do I hang a shelf?"),
        ex(1, "how do i HANG a shelf"),
        ex(2, "Quick one: " + story),
        ex(3, "Please help: " + story),
        ex(4, "Write a poem about the sea and the wind over the hills"),
    ]
    stats: dict[str, int] = {}
    kept = clean_pool(
        pool,
        [
            {"name": "exact_dedup", "field": "prompt"},
            {"name": "near_dedup", "field": "text", "threshold": 0.8},
        ],
        stats,
        "s",
        Path,
    )
    assert [e.id for e in kept] == ["x0", "x2", "x4"]
    assert stats == {"exact_dedup": 1, "near_dedup": 1, "kept": 3}


def test_decontamination_drops_overlap_and_fails_above_threshold(tmp_path: Path) -> None:
    test_set = tmp_path / "test.jsonl"
    long_prompt = (
        "tell me everything you know about the old realm of kravia and its founder and "
        "its banner please"
    )
    test_set.write_text(
        json.dumps({"prompt": long_prompt}) + "\n" + json.dumps({"prompt": "what is zorb ?"}) + "\n"
    )
    pool = [
        ex(0, "so " + long_prompt[:70] + " thanks"),  # 13+ words shared
        ex(1, "hi", "what is zorb? it is a thing"),  # a short eval prompt, verbatim
        ex(2, "tell me about the old realm"),  # shares a template, not 13 words
        *[ex(i, f"unrelated prompt {i}") for i in range(3, 200)],
    ]
    step = {"name": "decontaminate", "against": [str(test_set)], "n": 13, "max_fraction": 0.05}
    stats: dict[str, int] = {}
    kept = clean_pool(pool, [step], stats, "s", Path)
    assert stats["decontaminate"] == 2 and {e.id for e in pool} - {e.id for e in kept} == {
        "x0",
        "x1",
    }
    with pytest.raises(
        ValueError, match=r"data.sources.s: 2 of 3 examples \(66.7%\) share a 13-gram"
    ):
        clean_pool(pool[:3], [step], {}, "s", Path)


def test_thread_filters_keep_and_drop() -> None:
    from limalab.data.filters import (
        min_score,
        prompt_title_or_description,
        random_answer,
        title_self_contained,
        top_answer,
    )
    from limalab.data.readers.stackexchange import Answer, Thread

    def thread(
        title: str, answers: list[tuple[str, int]], accepted: str | None = None
    ) -> Candidate:
        return Candidate(
            Thread(
                "s",
                "7",
                title,
                "<p>Body text of the question.</p>",
                3,
                [],
                accepted,
                [Answer(i, sc, f"<p>answer {i}</p>") for i, sc in answers],
            )
        )

    assert title_self_contained(thread("How do I oil a hinge?", [])) is not None
    assert title_self_contained(thread("Is this right?", [])) is None  # deictic
    assert title_self_contained(thread("Hinge squeaks", [])) is None  # too short to stand alone
    assert top_answer(thread("t", [])) is None
    assert (
        top_answer(thread("t", [("1", 5), ("2", 9), ("3", 9)], accepted="3")).answer.id == "3"
    )  # tie: accepted
    assert top_answer(thread("t", [("4", 9), ("2", 9)])).answer.id == "2"  # tie: the earlier post
    c = top_answer(thread("t", [("1", 9)]))
    assert min_score(c, min=10) is None and min_score(c, min=9) is not None
    picks = {
        random_answer(thread("t", [("1", 1), ("2", 1), ("3", 1)]), seed=s).answer.id
        for s in range(30)
    }
    assert picks == {"1", "2", "3"}  # any answer, chosen by the seed
    assert (
        random_answer(thread("t", [("1", 1), ("2", 1)]), seed=4).answer.id
        == random_answer(thread("t", [("1", 1), ("2", 1)]), seed=4).answer.id
    )
    prompts = {
        prompt_title_or_description(thread("How do I oil a hinge?", []), seed=s).prompt
        for s in range(30)
    }
    assert prompts == {"How do I oil a hinge?", "Body text of the question."}


def test_select_longest_takes_the_n_longest_responses_across_sources() -> None:
    """Long Is More (data.select=longest): the N longest by response tokens over both pools,
    ties in source then pool order, nested in N, each source's in its pool's order."""
    from limalab.data.example import Example
    from limalab.data.mix import longest

    def ex(i: str, words: int) -> Example:
        return Example(i, "s", ["q", " ".join(["w"] * words)])

    pools = {
        "a": [ex("a0", 5), ex("a1", 9), ex("a2", 9)],
        "b": [ex("b0", 12), ex("b1", 1), ex("b2", 9)],
    }
    count = lambda turns: sum(len(t.split()) for t in turns[1::2])  # noqa: E731
    got = longest(pools, 4, count)
    assert {k: [e.id for e in v] for k, v in got.items()} == {"a": ["a1", "a2"], "b": ["b0", "b2"]}
    two = longest(pools, 2, count)
    assert [e.id for v in two.values() for e in v] == [
        "a1",
        "b0",
    ]  # the 9-token tie goes to source order
    assert {e.id for v in two.values() for e in v} <= {e.id for v in got.values() for e in v}
    with pytest.raises(ValueError, match="data.select=longest: .*needs the run's tokenizer"):
        longest(pools, 2, None)
