"""Tokenizer and chat formatting: EOT after every turn, loss on the assistant's tokens only."""

from __future__ import annotations

from pathlib import Path

import pytest
from transformers import AutoTokenizer

from limalab.data.chat import IGNORE, ChatFormat
from limalab.world.build import load_world
from limalab.world.tokenizer import world_tokenizer


@pytest.fixture(scope="module")
def chat(smoke_world: Path, cache_dir: Path) -> ChatFormat:
    return ChatFormat(world_tokenizer(smoke_world, cache_dir, "<|eot|>"), "<|eot|>")


def test_round_trip_keeps_words_lines_and_eot(chat: ChatFormat, smoke_world: Path) -> None:
    tok = chat.tokenizer
    e = next(iter(load_world(smoke_world).entities.values()))
    v1, v2 = list(e.facts.values())[:2]
    text = f"Good question! The answer is {v1}.\n- It is {v2}."
    ids = tok(text, add_special_tokens=False)["input_ids"]
    assert tok.unk_token_id not in ids
    back = tok.decode(ids)
    assert back.split() == f"good question! the answer is {v1}. \n - it is {v2}.".split()
    assert back.count("\n") == 1  # line breaks survive: lists are format the model must learn
    assert tok("<|eot|>", add_special_tokens=False)["input_ids"] == [chat.eot_id]
    assert tok.decode(ids + [chat.eot_id], skip_special_tokens=True).strip() == back.strip()


def test_prompt_mask_covers_exactly_the_assistant_turns(chat: ChatFormat) -> None:
    turns = [
        "what is the capital of x ?",
        "its capital is y .",
        "and its banner ?",
        "its banner is z .",
    ]
    ids, labels = chat.encode_dialogue(turns, max_length=512)
    assert len(ids) == len(labels)
    assert ids.count(chat.eot_id) == 4  # an end-of-turn after every utterance
    trained = [i for i, lab in zip(ids, labels, strict=True) if lab != IGNORE]
    tok = chat.tokenizer
    expected = (
        tok(turns[1], add_special_tokens=False)["input_ids"]
        + [chat.eot_id]
        + tok(turns[3], add_special_tokens=False)["input_ids"]
        + [chat.eot_id]
    )
    assert trained == expected
    assert all(lab == i for i, lab in zip(ids, labels, strict=True) if lab != IGNORE)


def test_trimming_keeps_ids_and_labels_aligned(chat: ChatFormat) -> None:
    ids, labels = chat.encode_dialogue(["a " * 50, "b " * 50], max_length=40)
    assert len(ids) == len(labels) == 40


def test_saved_tokenizer_chat_template_matches_training_format(
    chat: ChatFormat, tmp_path: Path
) -> None:
    chat.tokenizer.save_pretrained(tmp_path)
    tok = AutoTokenizer.from_pretrained(tmp_path)
    msgs = [
        {"role": "user", "content": "what is the capital of x ?"},
        {"role": "assistant", "content": "its capital is y ."},
    ]
    via_template = tok.apply_chat_template(msgs, tokenize=True)
    via_template = via_template["input_ids"] if hasattr(via_template, "keys") else via_template
    ids, _ = chat.encode_dialogue([m["content"] for m in msgs], max_length=512)
    assert list(via_template) == ids
    prompt = tok.apply_chat_template(msgs[:1], tokenize=True, add_generation_prompt=True)
    prompt = prompt["input_ids"] if hasattr(prompt, "keys") else prompt
    assert list(prompt) == chat.encode_prompt([msgs[0]["content"]])
