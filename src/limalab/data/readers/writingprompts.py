"""Pushshift r/WritingPrompts as released: paired ``<split>.wp_source`` / ``<split>.wp_target``,
prompts tagged ``[ WP ]`` (or EU, CW, …) and stories with ``<newline>`` tokens."""

from __future__ import annotations

import re
from collections.abc import Iterator
from itertools import zip_longest
from pathlib import Path

from limalab.config.schema import PluginOptions
from limalab.data.example import BadRecord, BadRecords, Example, refuse_lfs_pointer
from limalab.data.sources import READERS, Source

_TAG = re.compile(r"^\s*\[\s*[A-Z]{2}\s*\]\s*")


def clean_prompt(line: str) -> str:
    return _TAG.sub("", line).strip()


def clean_story(line: str) -> str:
    text = re.sub(r"\s*<newline>\s*(<newline>\s*)*", "\n", line)
    return text.strip()


def read_pairs(
    root: str | Path, split: str = "train", bad: BadRecords | None = None
) -> Iterator[tuple[int, str, str]]:
    root = Path(root)
    bad = bad or BadRecords()
    src, tgt = root / f"{split}.wp_source", root / f"{split}.wp_target"
    for p in (src, tgt):
        if not p.exists():
            raise FileNotFoundError(
                f"{p}: missing; expected {split}.wp_source and {split}.wp_target in {root}"
            )
        refuse_lfs_pointer(p)
    with src.open("rb") as fs, tgt.open("rb") as ft:
        for n, (s, t) in enumerate(zip_longest(fs, ft), start=1):
            if s is None or t is None:  # the pairing is by line: misaligned files are no data
                short = src if s is None else tgt
                raise BadRecord(
                    f"{src} and {tgt}: different numbers of lines (after line {n - 1}, where "
                    f"{short.name} ends)"
                )
            try:
                prompt, story = clean_prompt(s.decode("utf-8")), clean_story(t.decode("utf-8"))
            except UnicodeDecodeError:
                bad(f"{src} / {tgt}: line {n}: not valid UTF-8")
                continue
            if not prompt or not story:
                bad(
                    f"{src if not prompt else tgt}: line {n}: empty "
                    f"{'prompt' if not prompt else 'story'}"
                )
                continue
            yield n, prompt, story


class WritingPromptsOptions(PluginOptions):
    split: str = "train"  # the <split>.wp_source / <split>.wp_target pair to read


@READERS.register("writingprompts", options=WritingPromptsOptions)
def writingprompts_pool(src: Source) -> list[Example]:
    split = src.opt.split
    return src.shuffled(
        [
            Example(f"wp:{split}:{n}", src.name, [p, s], {})
            for n, p, s in src.count(read_pairs(src.path, split, src.bad))
        ]
    )
