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
from limalab.tracking.io import config_hash
from limalab.versions import PIPELINE_VERSION

log = logging.getLogger(__name__)


def tokenizer_fingerprint(chat: ChatFormat) -> str:
    tok = chat.tokenizer
    return config_hash({"vocab": sorted(tok.get_vocab().items()), "bos": tok.bos_token_id, "eot": chat.eot,
                        "class": type(tok).__name__})


def tokenize(examples: list[Example], digest: str, chat: ChatFormat, max_length: int,
             cache_dir: Path) -> tuple[list[tuple[list[int], list[int]]], str]:
    """(input_ids, labels) per example, in order, and the cache key."""
    key = config_hash({"examples": digest, "tokenizer": tokenizer_fingerprint(chat), "max_length": max_length,
                       "v": PIPELINE_VERSION})
    path = Path(cache_dir) / "tokenized" / f"{key}.arrow"
    path.parent.mkdir(parents=True, exist_ok=True)

    def encode(batch: dict[str, list]) -> dict[str, list]:
        pairs = [chat.encode_dialogue(turns, max_length) for turns in batch["turns"]]
        return {"input_ids": [p[0] for p in pairs], "labels": [p[1] for p in pairs]}

    raw = datasets.Dataset.from_dict({"id": [e.id for e in examples], "turns": [e.turns for e in examples]})
    ds = raw.map(encode, batched=True, remove_columns=["turns"], new_fingerprint=key, cache_file_name=str(path),
                 load_from_cache_file=True, desc="tokenize")
    if ds["id"] != raw["id"]:  # a stale or foreign file under this key: never train on it
        raise RuntimeError(f"{path}: cached tokenized set does not match the examples; delete it and rerun")
    return list(zip(ds["input_ids"], ds["labels"], strict=True)), key
