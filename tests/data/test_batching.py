"""Batch layouts: packing keeps every example's loss exactly what it is unpacked (attention never
crosses examples) in every layout under every attention kernel, the collate's host-side counts
are what the tensors hold, and global batches hold the same examples for any number of ranks."""

from __future__ import annotations

import random

import pytest
import torch
from transformers import LlamaConfig, LlamaForCausalLM

from limalab.data.batching import (
    EpochSampler,
    GlobalBatchSampler,
    TargetNLL,
    collate_fn,
    flat_batch,
    loss_positions,
    pack_batch,
    pack_bins,
    pad_batch,
    padding_efficiency,
    resolve_layout,
    share_stats,
    token_nll,
)
from limalab.data.chat import IGNORE
from limalab.model.attention import segment_groups
from tests.conftest import TINY_GQA_LLAMA

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


@pytest.fixture(scope="module", params=["sdpa", "varlen"])
def model(request: pytest.FixtureRequest) -> LlamaForCausalLM:
    """A tiny GQA LLaMA under the dense kernel (block-diagonal mask) and under limalab's varlen
    one."""
    torch.manual_seed(0)
    cfg = LlamaConfig(**TINY_GQA_LLAMA, attn_implementation="sdpa")
    m = LlamaForCausalLM(cfg).eval()
    m.set_attn_implementation(request.param)
    return m


def layouts(rows: list, max_length: int = 96) -> dict[str, dict]:
    return {
        "pack": pack_batch(rows, PAD, max_length),
        "flat": flat_batch(rows, PAD),
        "flat/padded": flat_batch(rows, PAD, pad_to_multiple_of=64),
    }


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


@pytest.mark.parametrize("layout", ["pack", "flat", "flat/padded"])
def test_packed_losses_equal_unpacked(model: LlamaForCausalLM, layout: str) -> None:
    rows = examples(12)
    packed = layouts(rows)[layout]
    assert (
        max(len(r[r >= 0].unique()) for r in packed["example_index"]) > 1
    )  # really several examples per row
    got = per_example_loss(model, packed)
    for i, row in enumerate(rows):
        alone = pad_batch([row], PAD)
        with torch.no_grad():
            nll, mask = token_nll(model, alone)
        assert got[i] == pytest.approx(float(nll[mask].sum()), rel=1e-5, abs=1e-5), i


@pytest.mark.parametrize("layout", ["pack", "flat"])
def test_isolation_is_what_makes_them_equal(model: LlamaForCausalLM, layout: str) -> None:
    """Control: the same packed rows with one running position id and one segment (so the model
    sees one long sequence) attend across examples, and the losses move."""
    rows = examples(12)
    packed = layouts(rows)[layout]
    width = packed["input_ids"].shape[1]
    leaky = {k: v for k, v in packed.items() if not k.startswith(("cu_seq", "max_length"))}
    leaky["position_ids"] = torch.arange(width).expand_as(packed["input_ids"])
    iso, mixed = per_example_loss(model, packed), per_example_loss(model, leaky)
    assert sum(abs(iso[i] - mixed[i]) for i in iso) > 1e-3


def test_packed_gradients_equal_unpacked() -> None:
    """One optimizer step's gradient, flat under the varlen kernel against one padded row per
    example under SDPA, same loss normalisation (training, not only the forward)."""
    torch.manual_seed(0)
    cfg = LlamaConfig(**TINY_GQA_LLAMA)
    rows = examples(10, seed=5)
    grads = []
    for attn, batch in (("sdpa", pad_batch(rows, PAD)), ("varlen", flat_batch(rows, PAD))):
        torch.manual_seed(0)
        m = LlamaForCausalLM(cfg)
        m.set_attn_implementation(attn)
        nll, mask = token_nll(m, batch)
        ((nll * mask).sum() / mask.sum()).backward()
        grads.append(torch.cat([p.grad.flatten() for p in m.parameters()]))
    assert torch.allclose(grads[0], grads[1], rtol=1e-4, atol=1e-6)


def test_padded_and_packed_token_totals_match(model: LlamaForCausalLM) -> None:
    rows = examples(9, seed=3)
    sums = []
    for batch in (pad_batch(rows, PAD), pack_batch(rows, PAD, 96), flat_batch(rows, PAD)):
        with torch.no_grad():
            nll, mask = token_nll(model, batch)
        sums.append((float(nll[mask].sum()), int(mask.sum())))
    assert sums[0][1] == sums[1][1] == sums[2][1]
    assert sums[0][0] == pytest.approx(sums[1][0], rel=1e-5) and sums[0][0] == pytest.approx(
        sums[2][0], rel=1e-5
    )
    real_pad, slots_pad = padding_efficiency(pad_batch(rows, PAD))
    real_pack, slots_pack = padding_efficiency(pack_batch(rows, PAD, 96))
    real_flat, slots_flat = padding_efficiency(flat_batch(rows, PAD))
    assert real_pad == real_pack == real_flat == slots_flat == sum(len(ids) for ids, _ in rows)
    assert slots_flat < slots_pack < slots_pad


@pytest.mark.parametrize("layout", ["pad", "pack", "flat"])
@pytest.mark.parametrize("varlen", [False, True])
def test_host_counts_are_what_the_tensors_hold(layout: str, varlen: bool) -> None:
    """``share_stats`` (lengths only) against the collated tensors, for each rank's share."""
    rows = examples(13, seed=7)
    for world in (1, 3):
        stats = [
            share_stats(rows[r::world], layout, 96, varlen, 16 if layout == "flat" else None)
            for r in range(world)
        ]
        for r in range(world):
            batch = collate_fn(layout, PAD, 96, r, world, varlen, 16 if layout == "flat" else None)(
                rows
            )
            real, slots = padding_efficiency(batch)
            s = stats[r]
            assert (s["tokens"], s["slots"]) == (real, slots)
            assert s["loss_tokens"] == int((batch["labels"][:, 1:] != IGNORE).sum())
            assert s["head_tokens"] == batch["loss_positions"].numel()
            assert batch["stats"] == {k: sum(x[k] for x in stats) for k in s}  # the global batch's
            if varlen and layout != "pad":  # Σ segment², each row's padding tail one more segment
                tails = batch["input_ids"].shape[1] - (batch["example_index"] >= 0).sum(1)
                assert s["attn_pairs"] == sum(len(ids) ** 2 for ids, _ in rows[r::world]) + int(
                    (tails**2).sum()
                )
            else:
                assert (
                    s["attn_pairs"]
                    == batch["input_ids"].shape[0] * batch["input_ids"].shape[1] ** 2
                )


def test_loss_positions_hold_every_label_once() -> None:
    batch = pack_batch(examples(11, seed=2), PAD, 60)
    positions, targets = loss_positions(batch["labels"])
    shifted = batch["labels"][:, 1:]
    for r in range(len(shifted)):
        real = targets[r] != IGNORE  # the rest pads the row to the longest row's count
        assert torch.equal(positions[r][real], (shifted[r] != IGNORE).nonzero().flatten())
        assert torch.equal(targets[r][real], shifted[r][shifted[r] != IGNORE])


def test_layout_choice_follows_the_attention_kernel() -> None:
    assert resolve_layout("auto", "varlen")[0] == "flat"
    assert resolve_layout("auto", "flash_attention_2")[0] == "flat"
    assert resolve_layout("auto", "sdpa")[0] == resolve_layout("auto", "eager")[0] == "pack"
    assert resolve_layout("pad", "varlen") == ("pad", "set by train.layout")
    with pytest.raises(ValueError, match="train.layout: expected one of"):
        resolve_layout("padded", "sdpa")


def test_segment_groups_cover_every_segment_and_group_only_short_ones() -> None:
    lengths = [2000, 1500, 900, 100, 90, 80, 70, 10, 5, 5]
    groups = segment_groups(lengths, head_width=128)
    assert sorted(i for g in groups for i in g.segments) == list(range(len(lengths)))
    assert all(g.width == max(lengths[i] for i in g.segments) for g in groups)
    alone = {g.segments[0] for g in groups if len(g.segments) == 1}
    assert {0, 1, 2} <= alone  # long ones never pay padded attention
    assert any(len(g.segments) > 1 for g in groups)  # short ones share a call
    # wider heads make pairs dearer against the fixed cost of a call: fewer are grouped
    assert len(segment_groups(lengths, head_width=4096)) >= len(groups)


@pytest.mark.parametrize("grouped", [False, True])
def test_global_batches_are_the_same_for_any_world_size(grouped: bool) -> None:
    n, b = 103, 8
    rows = examples(n, seed=4)
    lengths = [len(ids) for ids, _ in rows] if grouped else None
    one = list(GlobalBatchSampler(EpochSampler(n, seed=1), b, lengths=lengths))
    assert sorted(i for batch in one for i in batch) == list(range(n))
    for world in (2, 3):
        for batch in one:  # each rank's collate keeps its share of the same global batch
            shares = [
                collate_fn("pack", PAD, 96, r, world)([rows[i] for i in batch])
                for r in range(world)
            ]
            ids = sorted(
                t for s in shares for t in s["input_ids"][s["example_index"] >= 0].tolist()
            )
            assert ids == sorted(t for i in batch for t in rows[i][0])


def test_resume_skips_whole_global_batches() -> None:
    lengths = [random.Random(i).randint(1, 500) for i in range(50)]
    for lens in (None, lengths):
        sampler = EpochSampler(50, seed=2)
        full = list(GlobalBatchSampler(sampler, 8, lengths=lens))
        sampler.skip = 3 * 8
        batches = GlobalBatchSampler(sampler, 8, lengths=lens)
        assert len(batches) == len(full) - 3
        assert list(batches) == full[3:]


def test_resume_skip_applies_to_an_iterator_made_before_it() -> None:
    """Lightning makes the loader's iterator before ``on_train_start`` sets the resume skip: the
    batches must be drawn when iteration starts, not when the iterator is made."""
    sampler = EpochSampler(40, seed=3)
    full = list(GlobalBatchSampler(sampler, 8))
    it = iter(GlobalBatchSampler(sampler, 8))
    sampler.skip = 2 * 8
    assert list(it) == full[2:]


def test_grouped_batches_have_similar_lengths() -> None:
    n = 800
    lengths = [random.Random(i).randint(1, 1000) for i in range(n)]
    spread = {}
    for lens in (None, lengths):
        batches = list(GlobalBatchSampler(EpochSampler(n, seed=0), 16, lengths=lens))
        spread[lens is None] = sum(
            max(lengths[i] for i in bt) - min(lengths[i] for i in bt) for bt in batches
        )
    assert spread[False] < spread[True] / 5


def test_target_nll_is_cross_entropy_forward_and_backward() -> None:
    torch.manual_seed(0)
    logits = torch.randn(50, 37, dtype=torch.float64) * 3
    targets = torch.randint(0, 37, (50,))
    targets[::4] = IGNORE
    upstream = torch.rand(50, dtype=torch.float64)
    ref_in = logits.clone().requires_grad_()
    ref = torch.nn.functional.cross_entropy(ref_in, targets, ignore_index=IGNORE, reduction="none")
    (ref * upstream).sum().backward()
    got_in = logits.clone().requires_grad_()
    got = TargetNLL.apply(got_in * 1.0, targets)  # a fresh tensor, as the LM head's output is
    (got * upstream).sum().backward()
    assert torch.allclose(got, ref, rtol=1e-12, atol=1e-12)
    assert torch.allclose(got_in.grad, ref_in.grad, rtol=1e-12, atol=1e-12)
