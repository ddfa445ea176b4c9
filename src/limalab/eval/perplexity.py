"""Perplexity of reference responses given their prompts (assistant tokens only)."""

from __future__ import annotations

import math

import torch

from limalab.data.batching import pad_batch, token_nll
from limalab.data.chat import ChatFormat


@torch.no_grad()
def response_perplexity(
    model: torch.nn.Module,
    chat: ChatFormat,
    pairs: list[list[str]],
    max_length: int,
    batch_size: int = 32,
) -> float:
    model.eval()
    rows = [chat.encode_dialogue(turns, max_length) for turns in pairs]
    device = next(model.parameters()).device
    nll, count = 0.0, 0
    for i in range(0, len(rows), batch_size):
        b = {
            k: v.to(device)
            for k, v in pad_batch(rows[i : i + batch_size], chat.tokenizer.pad_token_id).items()
        }
        tok_nll, mask = token_nll(model, b)
        nll += float(tok_nll[mask].sum())
        count += int(mask.sum())
    return math.exp(nll / max(1, count))
