"""The tokenized-set cache: same examples and tokenizer → loaded, not tokenized again."""

from __future__ import annotations

from pathlib import Path

import pytest

from limalab.data.chat import ChatFormat
from limalab.data.example import Example
from limalab.data.tokenized import tokenize
from limalab.data.word_tokenizer import train_word_tokenizer


@pytest.fixture(scope="module")
def chat(tmp_path_factory: pytest.TempPathFactory) -> ChatFormat:
    d = tmp_path_factory.mktemp("tok")
    (d / "text.txt").write_text("how do i fix a hinge ? oil it . tighten the screw .\n")
    return ChatFormat(train_word_tokenizer([d / "text.txt"], d / "tokenizer"))


def test_tokenized_set_is_cached_by_content(
    chat: ChatFormat, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    exs = [
        Example("a", "s", ["how do i fix a hinge ?", "oil it ."]),
        Example("b", "s", ["fix ?", "tighten the screw ."]),
    ]
    rows, key = tokenize(exs, "digest-1", chat, 64, tmp_path)
    assert rows == [chat.encode_dialogue(e.turns, 64) for e in exs]
    calls = []
    real = chat.encode_dialogue
    monkeypatch.setattr(ChatFormat, "encode_dialogue", lambda self, *a: calls.append(a) or real(*a))
    again, key2 = tokenize(exs, "digest-1", chat, 64, tmp_path)
    assert again == rows and key2 == key and calls == []  # loaded from the Arrow cache
    _, key3 = tokenize(exs, "digest-1", chat, 32, tmp_path)
    assert key3 != key and calls  # another max length is another set
