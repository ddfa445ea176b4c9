"""Readers, the paper's filters, exact and scaled counts, nested subsets, temperature sampling."""

from __future__ import annotations

import collections
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from limalab.data.example import Example
from limalab.data.filters import (
    Candidate,
    apply_steps,
    first_person,
    length,
    references_other_answers,
)
from limalab.data.html import strip_html
from limalab.data.mix import build_mix, scale_counts
from limalab.data.readers.stackexchange import parse_tags, read_threads
from limalab.data.sources import temperature_order

FIXTURES = Path(__file__).parent / "fixtures"
PAPER_STEPS = [
    {"name": "title_self_contained"}, {"name": "top_answer"}, {"name": "min_score", "min": 10},
    {"name": "strip_html"}, {"name": "length", "min_chars": 100, "max_chars": 4096}, {"name": "first_person"},
    {"name": "references_other_answers"}, {"name": "prompt_title_or_description"},
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
    assert "<" not in c.response and c.prompt in {"How do I fix a squeaky door hinge?",
                                                  "My door hinge squeaks every time. How do I fix a squeaky hinge?"}
    assert stats["title_self_contained"] == 1 and stats["input"] == 2 and stats["kept"] == 1


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
    text = strip_html('<p>Run <a href="u">this</a>:</p><pre><code>x = 1 &lt; 2\n</code></pre>'
                      '<ul><li>one</li><li>two</li></ul><img src="i.png">')
    assert "```\nx = 1 < 2\n```" in text and "- one\n- two" in text
    assert "href" not in text and "img" not in text and "this" in text


def test_scale_counts_keeps_table1_proportions() -> None:
    table1 = {"se_stem": 200, "se_other": 200, "wikihow": 200, "wp": 150, "ni": 50, "authors": 200}
    assert scale_counts(table1, 2000) == {k: 2 * v for k, v in table1.items()}
    assert scale_counts(table1, None) == table1
    assert sum(scale_counts(table1, 777).values()) == 777
    with pytest.raises(ValueError, match="data.size"):
        scale_counts(table1, 0)


@settings(max_examples=50, deadline=None)
@given(counts=st.dictionaries(st.sampled_from("abcdef"), st.integers(1, 500), min_size=1), size=st.integers(1, 5000))
def test_scaled_counts_are_exact(counts: dict[str, int], size: int) -> None:
    out = scale_counts(counts, size)
    assert sum(out.values()) == size
    total = sum(counts.values())
    assert all(abs(out[k] - size * counts[k] / total) < 1 for k in counts)


def test_temperature_order_flattens_exchange_sizes() -> None:
    pools = {g: [Example(f"{g}{i}", "se", ["q", "a"]) for i in range(n)] for g, n in
             {"big": 8000, "mid": 1000, "small": 125}.items()}
    first = temperature_order(pools, tau=3.0, seed=0)[:600]
    share = collections.Counter(e.id.rstrip("0123456789") for e in first)
    w = {g: len(x) ** (1 / 3) for g, x in pools.items()}  # 20, 10, 5
    for g in pools:
        assert share[g] / 600 == pytest.approx(w[g] / sum(w.values()), abs=0.05)


def test_mix_is_nested_and_exact(smoke_world: Path, cache_dir: Path) -> None:
    from hydra import compose, initialize_config_dir
    from omegaconf import OmegaConf

    with initialize_config_dir(config_dir=str(Path(__file__).parents[1] / "conf"), version_base=None):
        data = OmegaConf.to_container(compose("train", overrides=["data=lima_mix"]).data, resolve=True)
    small, m_small = build_mix({**data, "size": 100}, smoke_world, cache_dir)
    big, m_big = build_mix({**data, "size": 200}, smoke_world, cache_dir)
    assert len(small) == 100 and len(big) == 200
    assert set(m_small["example_ids"]) <= set(m_big["example_ids"])
    assert m_big["source_counts"] == {k: 2 * v for k, v in m_small["source_counts"].items()}
    assert m_small["filter_stats"]["se_stem"]["min_score"] > 0  # the paper's filters had work to do
    with pytest.raises(ValueError, match="pool holds"):
        build_mix({**data, "size": 100_000}, smoke_world, cache_dir)


@settings(max_examples=200, deadline=None)
@given(counts=st.dictionaries(st.sampled_from("abcdef"), st.integers(1, 500), min_size=1),
       sizes=st.tuples(st.integers(1, 800), st.integers(1, 800)))
def test_scaled_counts_never_shrink_as_size_grows(counts: dict[str, int], sizes: tuple[int, int]) -> None:
    """Nested subsets need every source's count to be monotone in data.size (no Alabama paradox)."""
    small, big = sorted(sizes)
    a, b = scale_counts(counts, small), scale_counts(counts, big)
    assert all(a[k] <= b[k] for k in counts)


def test_scaled_counts_regression_alabama_paradox() -> None:
    counts = {"b": 414, "f": 414, "d": 198, "a": 4, "c": 4, "e": 414}
    assert all(scale_counts(counts, 74)[k] <= scale_counts(counts, 159)[k] for k in counts)
