"""wikiHow CSV dumps in the two layouts people use.

- ``wikihowAll.csv``: one article per row, columns ``headline``, ``title``, ``text``.
- ``wikihowSep.csv``: one step per row, columns ``overview``, ``headline``, ``text``,
  ``sectionLabel``, ``title``; an article is the run of rows sharing a title, rebuilt here as
  its overview, then each section's label and its steps (headline, then text).
Multi-line quoted fields are handled by the csv module.
"""

from __future__ import annotations

import csv
import sys
from collections.abc import Iterator
from pathlib import Path

from limalab.data.example import BadRecord, BadRecords

ALL = ("title", "text")
SEP = ("overview", "headline", "text", "sectionLabel", "title")

csv.field_size_limit(min(sys.maxsize, 2**31 - 1))  # real articles exceed the 128 KB default


def layout(fieldnames: list[str] | None, path: Path) -> str:
    names = set(fieldnames or [])
    if set(SEP) <= names:
        return "sep"
    if set(ALL) <= names:
        return "all"
    raise BadRecord(f"{path}: line 1: columns {sorted(names)}; expected wikihowAll.csv's "
                    f"{['headline', *ALL]} or wikihowSep.csv's {list(SEP)}")


def _rows(path: Path, bad: BadRecords, need: tuple[str, ...]) -> Iterator[tuple[int, dict[str, str]]]:
    with path.open(encoding="utf-8", newline="") as f:
        reader = csv.DictReader(f)
        layout(reader.fieldnames, path)
        start = reader.line_num + 1
        while True:
            try:
                row = next(reader)
            except StopIteration:
                return
            except UnicodeDecodeError as e:  # the decoder cannot resync: no next record to skip to
                raise BadRecord(f"{path}: after line {reader.line_num}: not valid UTF-8 ({e.reason})") from None
            except csv.Error as e:
                bad(f"{path}: line {reader.line_num}: malformed CSV ({e})")
                continue
            finally:
                line, start = start, reader.line_num + 1  # a quoted field can span lines
            if any(row.get(k) is None for k in need) or None in row:
                bad(f"{path}: line {line}: expected {len(reader.fieldnames)} fields "
                    f"({', '.join(reader.fieldnames)}), got a row of another width")
                continue
            yield line, row


def read_articles(path: str | Path, bad: BadRecords | None = None) -> Iterator[tuple[int, str, str]]:
    """Yield (first line, title, article text) for either layout."""
    path = Path(path)
    bad = bad or BadRecords()
    try:
        with path.open(encoding="utf-8", newline="") as f:
            kind = layout(next(csv.reader(f), None), path)
    except UnicodeDecodeError as e:
        raise BadRecord(f"{path}: line 1: not valid UTF-8 ({e.reason})") from None
    if kind == "all":
        for line, row in _rows(path, bad, ALL):
            yield line, row["title"].strip(), row["text"].strip()
        return
    title, first, parts, section = None, 0, [], None
    for line, row in _rows(path, bad, SEP):
        t = row["title"].strip()
        if t != title:
            if title and parts:
                yield first, title, "\n".join(parts)
            title, first, section = t, line, None
            parts = [row["overview"].strip()] if row["overview"].strip() else []
        if row["sectionLabel"].strip() and row["sectionLabel"] != section:
            section = row["sectionLabel"]
            parts.append(section.strip())
        step = " ".join(x for x in (row["headline"].strip(), row["text"].strip()) if x)
        if step:
            parts.append(step)
    if title and parts:
        yield first, title, "\n".join(parts)
