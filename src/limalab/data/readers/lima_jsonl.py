"""LIMA's release format: one JSON object per line, ``conversations`` (alternating turns) and
``source``."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

from limalab.data.example import BadRecord


def read_conversations(path: str | Path) -> Iterator[tuple[int, list[str], str]]:
    path = Path(path)
    with path.open(encoding="utf-8") as f:
        for n, line in enumerate(f, start=1):
            if not line.strip():
                continue
            try:
                row = json.loads(line)
            except json.JSONDecodeError as e:
                raise BadRecord(f"{path}: line {n}: malformed JSON ({e.msg})") from e
            turns = row.get("conversations")
            if not isinstance(turns, list) or len(turns) < 2 or not all(isinstance(t, str) for t in turns):
                raise BadRecord(f"{path}: line {n}: 'conversations' must be a list of at least 2 strings")
            yield n, turns, row.get("source", "")
