"""LIMA's release format: one JSON object per line, ``conversations`` (alternating turns, user
first; multi-turn chains keep every turn) and ``source``."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

from limalab.data.example import BadRecords, utf8_lines


def read_conversations(path: str | Path, bad: BadRecords | None = None) -> Iterator[tuple[int, list[str], str]]:
    path = Path(path)
    bad = bad or BadRecords()
    for n, line in utf8_lines(path, bad):
        if not line.strip():
            continue
        try:
            row = json.loads(line)
        except json.JSONDecodeError as e:
            bad(f"{path}: line {n}: malformed JSON ({e.msg})")
            continue
        turns = row.get("conversations") if isinstance(row, dict) else None
        if not isinstance(turns, list) or len(turns) < 2 or not all(isinstance(t, str) for t in turns):
            bad(f"{path}: line {n}: expected 'conversations', a list of at least 2 strings")
            continue
        yield n, turns, row.get("source", "")
