"""A reader added from outside limalab: a module named in the config's ``plugins:`` list
registers it, and a config file selects it (``reader: tsv``). Rows: ``prompt<TAB>response``."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

from limalab.data.example import BadRecords, Example, utf8_lines
from limalab.data.sources import READERS, Source


def read_rows(path: Path, bad: BadRecords) -> Iterator[tuple[int, str, str]]:
    for n, line in utf8_lines(path, bad):
        fields = line.rstrip("\r\n").split("\t")
        if len(fields) != 2 or not all(f.strip() for f in fields):
            bad(f"{path}: line {n}: expected prompt<TAB>response")
            continue
        yield n, fields[0], fields[1]


@READERS.register("tsv")
def tsv_pool(src: Source) -> list[Example]:
    return src.shuffled(
        [
            Example(f"tsv:{n}", src.name, [p, r])
            for n, p, r in src.count(read_rows(src.path, src.bad))
        ]
    )


@READERS.register("tsv_losing_rows")
def tsv_losing_rows(src: Source) -> list[Example]:
    """A faulty reader: it drops every second row without counting it."""
    return [ex for i, ex in enumerate(tsv_pool(src)) if i % 2 == 0]


@READERS.register("tsv_one_id")
def tsv_one_id(src: Source) -> list[Example]:
    """A faulty reader: every example gets the same id."""
    return [Example("tsv", src.name, ex.turns) for ex in tsv_pool(src)]
