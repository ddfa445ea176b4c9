"""LIMA's release format: one JSON object per line, ``conversations`` (alternating turns, user
first; multi-turn chains keep every turn) and ``source``."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

from limalab.data.example import BadRecords, json_objects


def read_conversations(path: str | Path, bad: BadRecords | None = None) -> Iterator[tuple[int, list[str], str]]:
    path = Path(path)
    bad = bad or BadRecords()
    for n, row in json_objects(path, bad):
        turns = row.get("conversations")
        if not isinstance(turns, list) or len(turns) < 2 or not all(isinstance(t, str) for t in turns):
            bad(f"{path}: line {n}: expected 'conversations', a list of at least 2 strings")
            continue
        yield n, turns, row.get("source", "")
