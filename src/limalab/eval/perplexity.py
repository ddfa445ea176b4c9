"""Perplexity of reference responses given their prompts (assistant tokens only)."""

from __future__ import annotations

import math

import torch

from limalab.data.chat import ChatFormat
from limalab.data.datamodule import pad_collate


@torch.no_grad()
def response_perplexity(model: torch.nn.Module, chat: ChatFormat, pairs: list[list[str]], max_length: int,
                        batch_size: int = 32) -> float:
    model.eval()
    rows = [chat.encode_dialogue(turns, max_length) for turns in pairs]
    collate = pad_collate(chat.tokenizer.pad_token_id)
    nll, count = 0.0, 0
    for i in range(0, len(rows), batch_size):
        b = collate(rows[i : i + batch_size])
        logits = model(input_ids=b["input_ids"], attention_mask=b["attention_mask"]).logits[:, :-1]
        labels = b["labels"][:, 1:]
        loss = torch.nn.functional.cross_entropy(logits.reshape(-1, logits.size(-1)), labels.reshape(-1),
                                                 ignore_index=-100, reduction="sum")
        nll += float(loss)
        count += int((labels != -100).sum())
    return math.exp(nll / max(1, count))
