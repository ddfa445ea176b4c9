"""wikiHow CSV dumps: ``wikihowAll.csv`` (headline, title, text) and ``wikihowSep.csv``."""

from __future__ import annotations

import csv
from collections.abc import Iterator
from pathlib import Path

from limalab.data.example import BadRecord


def read_articles(path: str | Path) -> Iterator[tuple[int, str, str]]:
    """Yield (line, title, text). Multi-line quoted fields are handled by the csv module."""
    path = Path(path)
    with path.open(encoding="utf-8", newline="") as f:
        reader = csv.DictReader(f)
        missing = {"title", "text"} - set(reader.fieldnames or [])
        if missing:
            raise BadRecord(f"{path}: missing columns {sorted(missing)}; expected title and text (and headline)")
        for row in reader:
            if row.get("title") is None or row.get("text") is None:
                raise BadRecord(f"{path}: line {reader.line_num}: too few fields")
            yield reader.line_num, row["title"].strip(), row["text"].strip()
