"""Tokenized training sets cached by content: a sweep tokenizes each subset once.

The cache is a ``datasets`` Arrow file whose fingerprint is given explicitly (the examples'
digest from the manifest, the tokenizer's vocabulary, the chat format and the max length),
so a later run with the same data loads it instead of tokenizing again.
"""

from __future__ import annotations

import logging
from pathlib import Path

import datasets

from limalab.data.chat import ChatFormat
from limalab.data.example import Example
from limalab.tracking.cache import cached_entry
from limalab.tracking.io import config_hash
from limalab.versions import PIPELINE_VERSION

log = logging.getLogger(__name__)


def tokenizer_fingerprint(chat: ChatFormat) -> str:
    tok = chat.tokenizer
    return config_hash(
        {
            "vocab": sorted(tok.get_vocab().items()),
            "bos": tok.bos_token_id,
            "eot": chat.eot,
            "class": type(tok).__name__,
        }
    )


def tokenize(
    examples: list[Example], digest: str, chat: ChatFormat, max_length: int, cache_dir: Path
) -> tuple[list[tuple[list[int], list[int]]], str]:
    """(input_ids, labels) per example, in order, and the cache key."""
    key = config_hash(
        {
            "examples": digest,
            "tokenizer": tokenizer_fingerprint(chat),
            "max_length": max_length,
            "v": PIPELINE_VERSION,
        }
    )
    raw = datasets.Dataset.from_dict(
        {"id": [e.id for e in examples], "turns": [e.turns for e in examples]}
    )

    def encode(batch: dict[str, list]) -> dict[str, list]:
        pairs = [chat.encode_dialogue(turns, max_length) for turns in batch["turns"]]
        return {"input_ids": [p[0] for p in pairs], "labels": [p[1] for p in pairs]}

    def build(tmp: Path) -> None:
        raw.map(
            encode,
            batched=True,
            remove_columns=["turns"],
            new_fingerprint=key,
            desc="tokenize",
            keep_in_memory=True,
        ).save_to_disk(str(tmp))

    path = cached_entry(Path(cache_dir) / "tokenized" / key, build, "tokenized set")
    ds = datasets.load_from_disk(str(path))
    if ds["id"] != raw["id"]:  # a foreign set under this key: never train on it
        raise RuntimeError(
            f"{path}: cached tokenized set does not match the examples; delete it and rerun"
        )
    return list(zip(ds["input_ids"], ds["labels"], strict=True)), key
