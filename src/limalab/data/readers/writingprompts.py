"""Pushshift r/WritingPrompts as released: paired ``<split>.wp_source`` / ``<split>.wp_target``."""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path

from limalab.data.example import BadRecord

_TAG = re.compile(r"^\s*\[\s*[A-Z]{2}\s*\]\s*")


def clean_prompt(line: str) -> str:
    return _TAG.sub("", line).strip()


def clean_story(line: str) -> str:
    text = re.sub(r"\s*<newline>\s*(<newline>\s*)*", "\n", line)
    return text.strip()


def read_pairs(root: str | Path, split: str = "train") -> Iterator[tuple[int, str, str]]:
    root = Path(root)
    src, tgt = root / f"{split}.wp_source", root / f"{split}.wp_target"
    with src.open(encoding="utf-8") as fs, tgt.open(encoding="utf-8") as ft:
        for n, (s, t) in enumerate(zip(fs, ft, strict=False), start=1):
            yield n, clean_prompt(s), clean_story(t)
        if fs.readline() or ft.readline():
            raise BadRecord(f"{src} and {tgt}: different numbers of lines (after line {n})")
