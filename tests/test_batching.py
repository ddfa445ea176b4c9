"""Batch layouts: packing keeps every example's loss exactly what it is unpacked (attention never
crosses examples), and global batches hold the same examples for any number of ranks."""

from __future__ import annotations

import random

import pytest
import torch
from transformers import LlamaConfig, LlamaForCausalLM

from limalab.data.batching import (
    EpochSampler,
    GlobalBatchSampler,
    pack_batch,
    pack_bins,
    pad_batch,
    padding_efficiency,
    token_nll,
)
from limalab.data.chat import IGNORE

PAD = 0


def examples(n: int, seed: int = 0, max_len: int = 40) -> list[tuple[list[int], list[int]]]:
    rng = random.Random(seed)
    out = []
    for _ in range(n):
        length = rng.randint(3, max_len)
        ids = [rng.randint(1, 63) for _ in range(length)]
        cut = rng.randint(1, length - 1)  # prompt tokens carry no loss
        out.append((ids, [IGNORE] * cut + ids[cut:]))
    return out


@pytest.fixture(scope="module")
def model() -> LlamaForCausalLM:
    torch.manual_seed(0)
    cfg = LlamaConfig(vocab_size=64, hidden_size=32, intermediate_size=64, num_hidden_layers=2,
                      num_attention_heads=4, num_key_value_heads=2, max_position_embeddings=128,
                      attn_implementation="sdpa")
    return LlamaForCausalLM(cfg).eval()


def per_example_loss(m: LlamaForCausalLM, batch: dict[str, torch.Tensor]) -> dict[int, float]:
    with torch.no_grad():
        nll, mask = token_nll(m, batch)
    idx = batch["example_index"][:, 1:]
    return {int(i): float(nll[(idx == i) & mask].sum()) for i in idx.unique().tolist() if i >= 0}


def test_bins_hold_every_example_once_within_capacity() -> None:
    lengths = [random.Random(i).randint(1, 100) for i in range(200)]
    bins = pack_bins(lengths, 128)
    assert sorted(i for b in bins for i in b) == list(range(200))
    assert all(sum(lengths[i] for i in b) <= 128 for b in bins)
    assert len(bins) <= sum(lengths) // 128 + 3  # first-fit decreasing wastes little
    with pytest.raises(ValueError, match="does not fit max_length=10"):
        pack_bins([11], 10)


def test_packed_losses_equal_unpacked(model: LlamaForCausalLM) -> None:
    rows = examples(12)
    packed = pack_batch(rows, PAD, max_length=96)
    assert len(packed["input_ids"]) < len(rows)  # really several examples per row
    got = per_example_loss(model, packed)
    for i, row in enumerate(rows):
        alone = pad_batch([row], PAD)
        with torch.no_grad():
            nll, mask = token_nll(model, alone)
        assert got[i] == pytest.approx(float(nll[mask].sum()), rel=1e-5, abs=1e-5), i


def test_isolation_is_what_makes_them_equal(model: LlamaForCausalLM) -> None:
    """Control: the same packed rows with one running position id (so transformers sees one
    long sequence) attend across examples, and the losses move."""
    rows = examples(12)
    packed = pack_batch(rows, PAD, max_length=96)
    leaky = dict(packed, position_ids=torch.arange(packed["input_ids"].shape[1]).expand_as(packed["input_ids"]))
    iso, mixed = per_example_loss(model, packed), per_example_loss(model, leaky)
    assert sum(abs(iso[i] - mixed[i]) for i in iso) > 1e-3


def test_padded_and_packed_token_totals_match(model: LlamaForCausalLM) -> None:
    rows = examples(9, seed=3)
    sums = []
    for batch in (pad_batch(rows, PAD), pack_batch(rows, PAD, 96)):
        with torch.no_grad():
            nll, mask = token_nll(model, batch)
        sums.append((float(nll[mask].sum()), int(mask.sum())))
    assert sums[0][1] == sums[1][1]
    assert sums[0][0] == pytest.approx(sums[1][0], rel=1e-5)
    real_pad, slots_pad = padding_efficiency(pad_batch(rows, PAD))
    real_pack, slots_pack = padding_efficiency(pack_batch(rows, PAD, 96))
    assert real_pad == real_pack == sum(len(ids) for ids, _ in rows)
    assert slots_pack < slots_pad


@pytest.mark.parametrize("grouped", [False, True])
def test_global_batches_are_the_same_for_any_world_size(grouped: bool) -> None:
    n, b = 103, 8
    lengths = [random.Random(i).randint(1, 500) for i in range(n)] if grouped else None
    one = list(GlobalBatchSampler(EpochSampler(n, seed=1), b, lengths=lengths))
    assert sorted(i for batch in one for i in batch) == list(range(n))
    for world in (2, 3):
        shares = [list(GlobalBatchSampler(EpochSampler(n, seed=1), b, r, world, lengths)) for r in range(world)]
        assert all(len(s) == len(one) for s in shares)
        for step, batch in enumerate(one):
            assert sorted(i for s in shares for i in s[step]) == sorted(batch)


def test_resume_skips_whole_global_batches() -> None:
    lengths = [random.Random(i).randint(1, 500) for i in range(50)]
    for lens in (None, lengths):
        sampler = EpochSampler(50, seed=2)
        full = list(GlobalBatchSampler(sampler, 8, lengths=lens))
        sampler.skip = 3 * 8
        batches = GlobalBatchSampler(sampler, 8, lengths=lens)
        assert len(batches) == len(full) - 3
        assert list(batches) == full[3:]


def test_grouped_batches_have_similar_lengths() -> None:
    n = 800
    lengths = [random.Random(i).randint(1, 1000) for i in range(n)]
    spread = {}
    for lens in (None, lengths):
        batches = list(GlobalBatchSampler(EpochSampler(n, seed=0), 16, lengths=lens))
        spread[lens is None] = sum(max(lengths[i] for i in bt) - min(lengths[i] for i in bt) for bt in batches)
    assert spread[False] < spread[True] / 5
