"""Hypothesis-driven fuzzing: every reader on mutated copies of its fixture (truncations,
inserted bytes, flipped bytes) either reads or raises the documented BadRecord naming the
file — no other exception, no hang — under both bad-record policies."""

from __future__ import annotations

import shutil
import tempfile
from collections.abc import Callable
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
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

FIX = Path(__file__).parents[1] / "fixtures"
# reader name -> (fixture path, the file inside it to mutate, how to read it)
READERS: dict[str, tuple[Path, str, Callable[[Path, BadRecords], list]]] = {
    "stackexchange": (FIX / "se" / "tinkering.stackexchange.com", "Posts.xml",
                      lambda p, b: list(stackexchange.read_threads(p, b))),
    "wikihow_all": (FIX / "wikihow" / "wikihowAll.csv", "", lambda p, b: list(wikihow.read_articles(p, b))),
    "wikihow_sep": (FIX / "wikihow" / "wikihowSep.csv", "", lambda p, b: list(wikihow.read_articles(p, b))),
    "writingprompts": (FIX / "writingprompts", "train.wp_target", lambda p, b: list(writingprompts.read_pairs(p, "train", b))),
    "natural_instructions": (FIX / "natural_instructions", "tasks/task001_paraphrase.json",
                             lambda p, b: list(natural_instructions.read_tasks(p, b))),
    "lima_jsonl": (FIX / "lima" / "lima.jsonl", "", lambda p, b: list(lima_jsonl.read_conversations(p, b))),
    "alpaca": (FIX / "alpaca" / "alpaca_data.json", "", lambda p, b: list(alpaca.read_records(p, b))),
    "table_jsonl": (FIX / "table" / "rows.jsonl", "",
                    lambda p, b: list(table.read_rows(str(p), {"prompt": "question", "response": "answer"}, b))),
}

mutation = st.one_of(
    st.tuples(st.just("truncate"), st.floats(0, 1)),
    st.tuples(st.just("insert"), st.floats(0, 1), st.binary(min_size=1, max_size=12)),
    st.tuples(st.just("flip"), st.floats(0, 1), st.integers(0, 255)),
)


def mutate(data: bytes, m: tuple) -> bytes:
    at = int(m[1] * len(data))
    if m[0] == "truncate":
        return data[:at]
    if m[0] == "insert":
        return data[:at] + m[2] + data[at:]
    return data[:at] + bytes([m[2]]) + data[at + 1:]


@pytest.mark.parametrize("name", sorted(READERS))
@settings(max_examples=150, deadline=2000, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(mutations=st.lists(mutation, min_size=1, max_size=3), policy=st.sampled_from(["error", "skip"]))
def test_mutated_input_reads_or_raises_bad_record(name: str, mutations: list[tuple], policy: str) -> None:
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
