"""wikiHow CSV dumps in the two layouts people use.

- ``wikihowAll.csv``: one article per row, columns ``headline``, ``title``, ``text``.
- ``wikihowSep.csv``: one step per row, columns ``overview``, ``headline``, ``text``,
  ``sectionLabel``, ``title``; an article is the run of rows sharing a title, rebuilt here as
  its overview, then each section's label and its steps (headline, then text).
Multi-line quoted fields are handled by the csv module, strictly: a quote that is never
closed (or a stray character after a closing one) is a fatal error under either bad-record
policy, since nothing tells where the next record starts; a row of the wrong width is a bad
record.

The pool applies the dataset's own documented cleaning (``process.py`` of the wikiHow dataset
release, for ``wikihowAll.csv``): an article whose headline (summary) is not shorter than
0.75 of its text is dropped (``wikihow_cleaning``), and the ``.\n,`` paragraph separators
become ``.\n``. Then the paper's rewrite: the title as the prompt, made a question
("How to Cook an Omelette?"), and "This article..." as "The following answer...". An
article with an empty body is dropped (``empty_body``). An example's id is ``wikihow:<title>``;
articles sharing a title (the release has some) get ``#2``, ``#3``, ... in file order.
"""

from __future__ import annotations

import csv
import re
import sys
from collections.abc import Iterator
from pathlib import Path

from limalab.data.example import BadRecord, BadRecords, Example, refuse_lfs_pointer
from limalab.data.sources import READERS, Source

ALL = ("title", "text")
SEP = ("overview", "headline", "text", "sectionLabel", "title")

csv.field_size_limit(min(sys.maxsize, 2**31 - 1))  # real articles exceed the 128 KB default


def layout(fieldnames: list[str] | None, path: Path) -> str:
    names = set(fieldnames or [])
    if set(SEP) <= names:
        return "sep"
    if set(ALL) <= names:
        return "all"
    raise BadRecord(
        f"{path}: line 1: columns {sorted(names)}; expected wikihowAll.csv's "
        f"{['headline', *ALL]} or wikihowSep.csv's {list(SEP)}"
    )


def _rows(
    path: Path, bad: BadRecords, need: tuple[str, ...]
) -> Iterator[tuple[int, dict[str, str]]]:
    with path.open(encoding="utf-8-sig", newline="") as f:
        reader = csv.DictReader(f, strict=True)
        layout(reader.fieldnames, path)
        start = reader.line_num + 1
        while True:
            try:
                row = next(reader)
            except StopIteration:
                return
            except UnicodeDecodeError as e:  # the decoder cannot resync: no next record to skip to
                raise BadRecord(
                    f"{path}: after line {reader.line_num}: not valid UTF-8 ({e.reason})"
                ) from None
            except (
                csv.Error
            ) as e:  # an unclosed quote swallows what follows: no record to resync on
                raise BadRecord(
                    f"{path}: line {start}: malformed CSV ({e}); the file cannot be read past it "
                    "(a quote opened here is never closed, or a character follows a closing quote)"
                ) from None
            finally:
                line, start = start, reader.line_num + 1  # a quoted field can span lines
            if any(row.get(k) is None for k in need) or None in row:
                bad(
                    f"{path}: line {line}: expected {len(reader.fieldnames)} fields "
                    f"({', '.join(reader.fieldnames)}), got a row of another width"
                )
                continue
            yield line, row


def read_articles(
    path: str | Path, bad: BadRecords | None = None
) -> Iterator[tuple[int, str, str, str]]:
    """Yield (first line, title, article text, headline) for either layout."""
    path = Path(path)
    bad = bad or BadRecords()
    refuse_lfs_pointer(path)
    try:
        with path.open(encoding="utf-8-sig", newline="") as f:
            kind = layout(next(csv.reader(f), None), path)
    except UnicodeDecodeError as e:
        raise BadRecord(f"{path}: line 1: not valid UTF-8 ({e.reason})") from None
    except csv.Error as e:
        raise BadRecord(f"{path}: line 1: malformed CSV header ({e})") from None
    if kind == "all":
        for line, row in _rows(path, bad, ALL):
            yield line, row["title"].strip(), row["text"], row.get("headline") or ""
        return
    title, first, parts, section = None, 0, [], None
    for line, row in _rows(path, bad, SEP):
        t = row["title"].strip()
        if t != title:
            if title is not None:
                yield first, title, "\n".join(parts), ""
            title, first, section = t, line, None
            parts = [row["overview"].strip()] if row["overview"].strip() else []
        if row["sectionLabel"].strip() and row["sectionLabel"] != section:
            section = row["sectionLabel"]
            parts.append(section.strip())
        step = " ".join(x for x in (row["headline"].strip(), row["text"].strip()) if x)
        if step:
            parts.append(step)
    if title is not None:
        yield first, title, "\n".join(parts), ""


SEPARATOR = re.compile(r"[.]+[\n]+[,]")  # the dataset's own: paragraphs end ".\n,"


def keeps(headline: str, text: str) -> bool:
    """The dataset's own filter: short articles with long summaries (and no text) go."""
    return len(headline) < 0.75 * len(text)


def rewrite(title: str, text: str) -> tuple[str, str]:
    """The paper's prompt and response: the title as a question, "This article" reworded."""
    prompt = title if title.endswith("?") else title + "?"
    text = SEPARATOR.sub(".\n", text).strip()
    text = text.replace("This article", "The following answer").replace(
        "this article", "the following answer"
    )
    return prompt, "\n".join(ln.strip() for ln in text.split("\n"))


@READERS.register("wikihow")
def wikihow_pool(src: Source) -> list[Example]:
    out = []
    for line, title, text, headline in src.count(read_articles(src.path, src.bad)):
        if headline and not keeps(headline, text):  # headline: wikihowAll.csv only
            src.drop("wikihow_cleaning")
            continue
        prompt, response = rewrite(title, text)
        if not response or not title:
            src.drop("empty_body")
            continue
        out.append(
            Example(src.unique_id(f"wikihow:{title}"), src.name, [prompt, response], {"line": line})
        )
    return src.shuffled(out)
