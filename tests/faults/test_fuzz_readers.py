"""Hypothesis-driven fuzzing: every reader on mutated copies of its fixture (truncations,
inserted bytes, flipped bytes) either reads or raises the documented BadRecord naming the
file — no other exception, no hang — under both bad-record policies."""

from __future__ import annotations

import shutil
import tempfile
from collections.abc import Callable
from pathlib import Path

import pytest
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from limalab.data.example import BadRecord, BadRecords
from limalab.data.readers import (
    alpaca,
    lima_jsonl,
    natural_instructions,
    stackexchange,
    table,
    wikihow,
    writingprompts,
)
from limalab.data.sources import source_pool
from tests.conftest import FUZZ, examples

FIX = Path(__file__).parents[1] / "fixtures"
# reader name -> (fixture path, the file inside it to mutate, how to read it)
READERS: dict[str, tuple[Path, str, Callable[[Path, BadRecords], list]]] = {
    "stackexchange": (
        FIX / "se" / "tinkering.stackexchange.com",
        "Posts.xml",
        lambda p, b: list(stackexchange.read_threads(p, b)),
    ),
    "wikihow_all": (
        FIX / "wikihow" / "wikihowAll.csv",
        "",
        lambda p, b: list(wikihow.read_articles(p, b)),
    ),
    "wikihow_sep": (
        FIX / "wikihow" / "wikihowSep.csv",
        "",
        lambda p, b: list(wikihow.read_articles(p, b)),
    ),
    "writingprompts_source": (
        FIX / "writingprompts",
        "train.wp_source",
        lambda p, b: list(writingprompts.read_pairs(p, "train", b)),
    ),
    "writingprompts": (
        FIX / "writingprompts",
        "train.wp_target",
        lambda p, b: list(writingprompts.read_pairs(p, "train", b)),
    ),
    "natural_instructions": (
        FIX / "natural_instructions",
        "tasks/task001_paraphrase.json",
        lambda p, b: list(natural_instructions.read_tasks(p, b)),
    ),
    "lima_jsonl": (
        FIX / "lima" / "lima.jsonl",
        "",
        lambda p, b: list(lima_jsonl.read_conversations(p, b)),
    ),
    "alpaca": (
        FIX / "alpaca" / "alpaca_data.json",
        "",
        lambda p, b: list(alpaca.read_records(p, b)),
    ),
    "table_jsonl": (
        FIX / "table" / "rows.jsonl",
        "",
        lambda p, b: list(table.read_rows(str(p), {"prompt": "question", "response": "answer"}, b)),
    ),
    # the real-format fixtures: BOM + CRLF dump, the released wikiHow CSV, the LIMA release,
    # OpenAI messages (JSONL) and ShareGPT conversations (a JSON array)
    "stackexchange_dump": (
        FIX / "se_dump" / "woodwork.stackexchange.com",
        "Posts.xml",
        lambda p, b: list(stackexchange.read_threads(p, b)),
    ),
    "wikihow_released": (
        FIX / "wikihow" / "released" / "wikihowAll.csv",
        "",
        lambda p, b: source_pool({"name": "w", "reader": "wikihow"}, p, 0, b.policy),
    ),
    "lima_release": (
        FIX / "lima" / "release.jsonl",
        "",
        lambda p, b: source_pool(
            {"name": "l", "reader": "lima_jsonl", "labels": ["multi_turn"]}, p, 0, b.policy
        ),
    ),
    "chat_openai": (
        FIX / "chat" / "openai.jsonl",
        "",
        lambda p, b: list(table.read_rows(str(p), {"conversations": "messages", "id": "id"}, b)),
    ),
    "chat_sharegpt": (
        FIX / "chat" / "sharegpt.json",
        "",
        lambda p, b: list(
            table.read_rows(str(p), {"conversations": "conversations", "id": "id"}, b)
        ),
    ),
    "ni_pool": (
        FIX / "ni_shared_definition",
        "tasks/task002_simplify_furniture.json",
        lambda p, b: source_pool(
            {"name": "n", "reader": "natural_instructions", "per_task": 2}, p, 0, b.policy
        ),
    ),
    "html": (
        FIX / "se_dump" / "woodwork.stackexchange.com",
        "Posts.xml",
        lambda p, b: _markdown_of_bodies(p, b),
    ),
}


def _markdown_of_bodies(site: Path, bad: BadRecords) -> list[str]:
    """The HTML converter on every body a mutated dump still yields."""
    from limalab.data.html import to_markdown

    return [
        to_markdown(t.body) + "".join(to_markdown(a.body) for a in t.answers)
        for t in stackexchange.read_threads(site, bad)
    ]


mutation = st.one_of(
    st.tuples(st.just("truncate"), st.floats(0, 1)),
    st.tuples(st.just("insert"), st.floats(0, 1), st.binary(min_size=1, max_size=12)),
    st.tuples(st.just("flip"), st.floats(0, 1), st.integers(0, 255)),
)


def mutate(data: bytes, m: tuple) -> bytes:
    """``m[1]``: a fraction of the length (drawn) or a byte offset (a pinned example)."""
    at = m[1] if isinstance(m[1], int) else int(m[1] * len(data))
    if m[0] == "truncate":
        return data[:at]
    if m[0] == "insert":
        return data[:at] + m[2] + data[at:]
    return data[:at] + bytes([m[2]]) + data[at + 1 :]


# Inputs that once crashed a reader, kept as examples (every reader gets them; they are byte
# offsets into the fixture, harmless where they do not hit a declaration).
FOUND = [
    [("flip", 31, ord("A"))],  # Posts.xml: encoding="uAf-8" raised LookupError (unknown encoding)
]


@pytest.mark.timeout(0 if FUZZ else 900)  # "no hang" in CI; make fuzz runs as long as it needs
@pytest.mark.parametrize("name", sorted(READERS))
@settings(max_examples=examples(150), suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    mutations=st.lists(mutation, min_size=1, max_size=3), policy=st.sampled_from(["error", "skip"])
)
@example(mutations=FOUND[0], policy="error").via("found: unknown XML encoding")
def test_mutated_input_reads_or_raises_bad_record(
    name: str, mutations: list[tuple], policy: str
) -> None:
    src, inner, read = READERS[name]
    with tempfile.TemporaryDirectory() as tmp:
        dst = Path(tmp) / src.name
        (shutil.copytree if src.is_dir() else shutil.copy)(src, dst)
        target = dst / inner if inner else dst
        data = target.read_bytes()
        for m in mutations:
            data = mutate(data, m)
        target.write_bytes(data)
        try:
            read(dst, BadRecords(policy))
        except BadRecord as e:
            assert str(dst) in str(e) or dst.name in str(e)


@pytest.mark.parametrize(
    "encoding", ["uAf-8", "shift_jis", "utf-16", "utf-7", "idna", "rot13", "base64", ""]
)
def test_declared_encoding_expat_cannot_read_is_a_bad_record(tmp_path: Path, encoding: str) -> None:
    site = tmp_path / "x.stackexchange.com"
    site.mkdir()
    (site / "Posts.xml").write_text(
        f'<?xml version="1.0" encoding="{encoding}"?>\n<posts>\n'
        '  <row Id="1" PostTypeId="1" Score="3" Title="t" Body="b" Tags="&lt;a&gt;" />\n'
        "</posts>\n"
    )
    with pytest.raises(BadRecord, match="Posts.xml"):
        list(stackexchange.read_threads(site, BadRecords("skip")))


def test_make_test_runs_the_derandomized_profile() -> None:
    """CI's outcome must not depend on the run: `make test` loads the `ci` profile."""
    if FUZZ:
        pytest.skip("make fuzz: the long random profile is active on purpose")
    assert settings.default.derandomize
