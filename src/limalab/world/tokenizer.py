"""The miniature's word-level tokenizer, trained once per world on its corpus and cached."""

from __future__ import annotations

from pathlib import Path

from transformers import AutoTokenizer, PreTrainedTokenizerBase

from limalab.data.word_tokenizer import CHAT_TEMPLATE, train_word_tokenizer
from limalab.tracking.cache import cached_entry
from limalab.tracking.io import config_hash


def world_tokenizer(world_dir: Path, cache_dir: Path, eot: str) -> PreTrainedTokenizerBase:
    out = (
        cache_dir
        / "tokenizers"
        / config_hash({"world": world_dir.name, "eot": eot, "template": CHAT_TEMPLATE})
    )
    corpus = [world_dir / "corpus" / "pretrain.txt", world_dir / "corpus" / "lexicon.txt"]
    cached_entry(out, lambda tmp: train_word_tokenizer(corpus, tmp, eot), "tokenizer")
    return AutoTokenizer.from_pretrained(out)
