"""Turning one optimizer step's examples into tensors, in one of three layouts (or ``auto``).

A step always takes the same ``batch_size`` examples whatever the layout (the paper's batch of
32 stays 32 examples); the layout only changes how they sit in memory and what attention costs:

- ``flat``: all of the step's examples in one row, no padding (HF's padding-free
  ``DataCollatorWithFlattening``), with the example boundaries (``cu_seq_lens_q``) for a varlen
  attention kernel (model/attention.py): attention costs Σnᵢ² and every token slot is real.
- ``pack``: the examples packed first-fit-decreasing into rows no wider than the longest example.
  Under a dense kernel (SDPA, eager) transformers builds a block-diagonal mask from the restarting
  position ids and a row costs width² attention, never more than the padded layout's.
- ``pad``: one example per row, right-padded to the longest (HF ``Trainer``'s default).
- ``auto`` (the default) resolves from the config alone (``resolve_layout``): ``flat`` under a
  varlen kernel, else ``pack`` (same row width as ``pad``, fewer rows: never dearer).

In every layout position ids restart at 0 for each example, no token attends across examples,
an example's first token carries no loss, and the loss is the sum over response tokens divided by
the step's response-token count, so every example weighs exactly what it weighs unpacked. Logits
are computed only where a label is (``loss_positions``): prompt tokens never reach the LM head.

Under data parallelism every rank collates the whole global batch's rows (token lists, already in
memory) and keeps its interleaved share ``rows[rank::world]``: the step's counts (tokens, slots,
examples, loss tokens, attention pairs) are then known on the host for the global batch, so the
loss normaliser and the throughput figures need no collective and no device sync.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from typing import Any

import torch
from torch.utils.data import Sampler

from limalab.data.chat import IGNORE

LAYOUTS = ("auto", "flat", "pack", "pad")
# Attention implementations that read ``cu_seq_lens_q``: the flat layout is isolated and costs
# Σn² under them (``varlen`` is limalab's, model/attention.py; the others are transformers')
VARLEN_ATTENTION = ("varlen", "flash_attention_2", "flash_attention_3")
Row = tuple[list[int], list[int]]
Batch = dict[str, Any]


def resolve_layout(layout: str, attention: str | None) -> tuple[str, str]:
    """(layout, why) for ``train.layout`` under ``trainer.attn_implementation``: deterministic,
    from the config alone (never from timing), so the run id decides it."""
    if layout not in LAYOUTS:
        raise ValueError(f"train.layout: expected one of {LAYOUTS}, got {layout!r}")
    if layout != "auto":
        return layout, "set by train.layout"
    if attention in VARLEN_ATTENTION:
        return (
            "flat",
            f"attention {attention!r} is varlen: one unpadded row per step, attention Σn²",
        )
    return (
        "pack",
        f"attention {attention or 'sdpa'!r} is dense: packed rows as wide as the padded layout's, "
        "fewer of them",
    )


def pack_bins(lengths: Sequence[int], capacity: int) -> list[list[int]]:
    """Indices grouped into bins of total length <= ``capacity`` (first-fit decreasing).
    Each length must fit on its own (examples are trimmed to max length beforehand)."""
    bins: list[list[int]] = []
    room: list[int] = []
    for i in sorted(range(len(lengths)), key=lambda i: (-lengths[i], i)):
        n = lengths[i]
        if n > capacity:
            raise ValueError(f"an example of {n} tokens does not fit max_length={capacity}")
        for b, free in enumerate(room):
            if n <= free:
                bins[b].append(i)
                room[b] -= n
                break
        else:
            bins.append([i])
            room.append(capacity - n)
    return bins


def loss_positions(labels: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """(positions, targets), each (rows, K): the positions whose next token carries a label, and
    that label; rows with fewer than K are padded with position 0 and target IGNORE."""
    shifted = labels[:, 1:].tolist()
    per_row = [[t for t, y in enumerate(row) if y != IGNORE] for row in shifted]
    k = max((len(p) for p in per_row), default=0)
    positions = [p + [0] * (k - len(p)) for p in per_row]
    targets = [
        [row[t] for t in p] + [IGNORE] * (k - len(p))
        for row, p in zip(shifted, per_row, strict=True)
    ]
    return torch.tensor(positions, dtype=torch.long).view(len(labels), k), torch.tensor(
        targets, dtype=torch.long
    ).view(len(labels), k)


def _rows_batch(rows: Sequence[Row], bins: list[list[int]], width: int, pad_id: int) -> Batch:
    """Rows of ``width`` tokens, row r holding the examples ``bins[r]`` back to back; positions
    restart at 0 for each example and the padding tail counts up as one more (isolated) sequence.
    Built as Python lists and converted once (a few tensor operations per step, not per example)."""
    cols: dict[str, list[list[int]]] = {
        "input_ids": [],
        "labels": [],
        "position_ids": [],
        "example_index": [],
    }
    for b in bins:
        ids, lab, pos, ex = [], [], [], []
        for i in b:
            n = len(rows[i][0])
            ids += rows[i][0]
            lab += [IGNORE, *rows[i][1][1:n]]  # never predicted from the previous example
            pos += range(n)
            ex += [i] * n
        tail = width - len(ids)
        for key, values, fill in (
            ("input_ids", ids, [pad_id] * tail),
            ("labels", lab, [IGNORE] * tail),
            ("position_ids", pos, range(tail)),
            ("example_index", ex, [-1] * tail),
        ):
            cols[key].append(values + list(fill))
    return {k: torch.tensor(v, dtype=torch.long) for k, v in cols.items()}


def pad_batch(rows: Sequence[Row], pad_id: int) -> Batch:
    rows = rows or [([pad_id], [IGNORE])]  # an empty share still runs one forward (collectives)
    n = max(len(ids) for ids, _ in rows)
    return {
        "input_ids": torch.tensor(
            [ids + [pad_id] * (n - len(ids)) for ids, _ in rows], dtype=torch.long
        ),
        "labels": torch.tensor(
            [lab + [IGNORE] * (n - len(lab)) for _, lab in rows], dtype=torch.long
        ),
        "attention_mask": torch.tensor(
            [[1] * len(ids) + [0] * (n - len(ids)) for ids, _ in rows], dtype=torch.long
        ),
    }


def pack_batch(rows: Sequence[Row], pad_id: int, max_length: int) -> Batch:
    """Packed rows, plus ``example_index`` (-1 on padding) so a caller can split the loss back
    per example. Rows are no wider than the longest example (at most ``max_length``): under a
    dense block-diagonal mask attention costs width² per row, so packing then never costs more
    than padding whatever the lengths."""
    rows = rows or [([pad_id], [IGNORE])]
    lengths = [len(ids) for ids, _ in rows]
    bins = pack_bins(lengths, min(max_length, max(lengths)))
    width = max(sum(lengths[i] for i in b) for b in bins)
    return _rows_batch(rows, bins, width, pad_id)


def flat_batch(rows: Sequence[Row], pad_id: int, pad_to_multiple_of: int | None = None) -> Batch:
    """All examples in one row, in order, with their boundaries ``cu_seq_lens_q``/``_k`` and the
    longest length ``max_length_q``/``_k`` (transformers' varlen keywords). ``pad_to_multiple_of``
    rounds the row up (a few shapes for kernels planned per shape, compile, CUDA graphs); the
    padding tail is one more isolated segment with no loss."""
    rows = rows or [([pad_id], [IGNORE])]
    lengths = [len(ids) for ids, _ in rows]
    total = sum(lengths)
    width = -(-total // pad_to_multiple_of) * pad_to_multiple_of if pad_to_multiple_of else total
    batch = _rows_batch(rows, [list(range(len(rows)))], width, pad_id)
    segments = lengths + ([width - total] if width > total else [])
    cu = torch.tensor([0, *segments], dtype=torch.int32).cumsum(0, dtype=torch.int32)
    return {
        **batch,
        "cu_seq_lens_q": cu,
        "cu_seq_lens_k": cu,
        "max_length_q": max(segments),
        "max_length_k": max(segments),
    }


def share_stats(
    rows: Sequence[Row],
    layout: str,
    max_length: int,
    varlen: bool,
    pad_to_multiple_of: int | None = None,
) -> dict[str, int]:
    """What collating ``rows`` in ``layout`` computes, from the lengths alone (no tensors): real
    tokens, token slots, examples, loss tokens, positions the LM head computes, and query-key
    pairs per layer's attention (Σ segment² under a varlen kernel on position-delimited rows;
    rows × width² under a dense kernel or a padding mask)."""
    lengths = [len(ids) for ids, _ in rows]
    loss = [sum(1 for t in lab[1:] if t != IGNORE) for _, lab in rows]
    out = {"tokens": sum(lengths), "examples": len(rows), "loss_tokens": sum(loss)}
    if not rows:  # the collates run one dummy token
        return out | {"slots": 1, "head_tokens": 0, "attn_pairs": 1}
    if layout == "flat":
        width = (
            -(-sum(lengths) // pad_to_multiple_of) * pad_to_multiple_of
            if pad_to_multiple_of
            else sum(lengths)
        )
        bins, widths = [list(range(len(rows)))], [width]
    elif layout == "pack":
        bins = pack_bins(lengths, min(max_length, max(lengths)))
        widths = [max(sum(lengths[i] for i in b) for b in bins)] * len(bins)
    else:
        bins, widths = [[i] for i in range(len(rows))], [max(lengths)] * len(rows)
    head = len(bins) * max(sum(loss[i] for i in b) for b in bins)
    if varlen and layout != "pad":  # each example, and each row's padding tail, is a segment
        pairs = sum(n * n for n in lengths) + sum(
            (w - sum(lengths[i] for i in b)) ** 2 for b, w in zip(bins, widths, strict=True)
        )
    else:
        pairs = sum(w * w for w in widths)
    return out | {"slots": sum(widths), "head_tokens": head, "attn_pairs": pairs}


def collate_fn(
    layout: str,
    pad_id: int,
    max_length: int,
    rank: int = 0,
    world_size: int = 1,
    varlen: bool = False,
    pad_to_multiple_of: int | None = None,
):
    """The DataLoader's collate: the global batch's rows in, this rank's share out, with
    ``loss_positions``/``loss_targets`` and the global batch's ``stats`` (host ints)."""
    if layout not in LAYOUTS or layout == "auto":
        raise ValueError(
            f"train.layout: expected one of {LAYOUTS[1:]} (auto is resolved first), got {layout!r}"
        )

    def one(rows: Sequence[Row]) -> Batch:
        if layout == "flat":
            batch = flat_batch(rows, pad_id, pad_to_multiple_of)
        elif layout == "pack":
            batch = pack_batch(rows, pad_id, max_length)
        else:
            batch = pad_batch(rows, pad_id)
        batch["loss_positions"], batch["loss_targets"] = loss_positions(batch["labels"])
        return batch

    def collate(rows: list[Row]) -> Batch:
        batch = one(rows[rank::world_size])
        stats = [
            share_stats(rows[r::world_size], layout, max_length, varlen, pad_to_multiple_of)
            for r in range(world_size)
        ]
        batch["stats"] = {k: sum(s[k] for s in stats) for k in stats[0]}
        return batch

    return collate


def padding_efficiency(batch: Batch) -> tuple[int, int]:
    """(real tokens, token slots) of a collated batch."""
    real = (
        batch["attention_mask"].sum()
        if "attention_mask" in batch
        else (batch["example_index"] >= 0).sum()
    )
    return int(real), batch["input_ids"].numel()


class EpochSampler(Sampler[int]):
    """A shuffle that depends only on (seed, epoch), and that can skip the examples an
    interrupted epoch already trained on: a run resumed from a mid-epoch checkpoint sees
    exactly the batches the uninterrupted run would have (Lightning calls ``set_epoch``)."""

    def __init__(self, n: int, seed: int) -> None:
        self.n, self.seed, self.epoch, self.skip = n, seed, 0, 0

    def set_epoch(self, epoch: int) -> None:
        self.epoch = epoch

    def __iter__(self) -> Iterator[int]:
        g = torch.Generator().manual_seed(self.seed * 1_000_003 + self.epoch)
        order = torch.randperm(self.n, generator=g).tolist()
        skip, self.skip = self.skip, 0  # only the resumed epoch is partial
        return iter(order[skip:])

    def __len__(self) -> int:
        return self.n - self.skip


class GlobalBatchSampler(Sampler[list[int]]):
    """Global batches of ``batch_size`` examples in the ``EpochSampler`` order, the same on every
    rank (the collate keeps this rank's interleaved share), so the set of examples per optimizer
    step is the same for any number of ranks.

    ``lengths`` turns on length grouping (HF's ``group_by_length``): the shuffled order is cut
    into megabatches of ``MEGABATCH`` batches, each sorted by length, and the batches are
    shuffled again. Less padding, but a step's examples are no longer a uniform draw."""

    MEGABATCH = 50

    def __init__(
        self, sampler: EpochSampler, batch_size: int, lengths: Sequence[int] | None = None
    ) -> None:
        self.sampler, self.batch_size, self.lengths = sampler, batch_size, lengths

    def batches(self) -> list[list[int]]:
        skip = self.sampler.skip
        self.sampler.skip = 0
        order = list(self.sampler)
        b = self.batch_size
        if self.lengths is not None:
            mega = b * self.MEGABATCH
            order = [
                i
                for m in range(0, len(order), mega)
                for i in sorted(order[m : m + mega], key=lambda i: -self.lengths[i])
            ]
        batches = [order[i : i + b] for i in range(0, len(order), b)]
        if self.lengths is not None:
            g = torch.Generator().manual_seed(
                self.sampler.seed * 1_000_003 + self.sampler.epoch + 1
            )
            batches = [batches[i] for i in torch.randperm(len(batches), generator=g).tolist()]
        return batches[skip // b :]

    def __iter__(self) -> Iterator[list[int]]:
        # lazily: a resume's skip is set after the loader's iterator exists
        yield from self.batches()

    def __len__(self) -> int:
        return -(-len(self.sampler) // self.batch_size)


def forward_inputs(batch: Batch) -> dict[str, Any]:
    """The model's keyword arguments for any layout (labels stay out: the loss is ours). No KV
    cache: transformers only reads packed position ids into a block mask without one."""
    keys = (
        "input_ids",
        "attention_mask",
        "position_ids",
        "cu_seq_lens_q",
        "cu_seq_lens_k",
        "max_length_q",
        "max_length_k",
    )
    return {"use_cache": False, **{k: batch[k] for k in keys if k in batch}}


# A model prepared with ``trainer.prune_top_layer`` (model/top_layer.py) carries this attribute and
# takes the label positions as the keyword KEEP, returning logits there; any other model gets
# transformers' ``logits_to_keep``.
PRUNED_TOP_LAYER = "_limalab_prunes_top_layer"
KEEP = "limalab_keep"


class TargetNLL(torch.autograd.Function):
    """−log softmax(logits)[target] per row (0 where the target is IGNORE), as
    ``cross_entropy(reduction="none")`` computes it, in fewer passes over the (rows × vocabulary)
    logits and without allocating another tensor of that size (a fresh one costs a page fault per
    4 KB, more than the arithmetic on CPU): the forward turns the logits in place into exp(logits −
    row max) and keeps them with their row sums, and the backward scales them in place into the
    gradient (softmax − one-hot, times the incoming gradient). The logits are consumed: pass a
    tensor nothing else reads (the LM head's output), and run one backward per forward."""

    @staticmethod
    def forward(ctx, logits: torch.Tensor, targets: torch.Tensor) -> torch.Tensor:
        valid = targets != IGNORE
        t = targets.clamp(min=0)[:, None]
        top = logits.amax(-1, keepdim=True)
        picked = logits.gather(1, t).squeeze(1)
        p = logits.sub_(top).exp_()
        total = p.sum(-1)
        ctx.save_for_backward(p, total, t, valid)
        return (top.squeeze(1) + total.log() - picked) * valid

    @staticmethod
    def backward(ctx, grad: torch.Tensor) -> tuple[torch.Tensor, None]:
        p, total, t, valid = ctx.saved_tensors
        w = grad * valid
        out = p.mul_((w / total)[:, None])
        return out.scatter_add_(1, t, -w[:, None]), None


def label_nll(
    model: torch.nn.Module, batch: Batch
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """(nll, positions, targets), each (rows, K): the negative log-likelihood of each label at
    the positions that carry one (0 where a row's list is padded), in fp32 whatever the model's
    precision. Logits are computed only there (``logits_to_keep``): prompt tokens never reach
    the LM head, nor, in a model with a pruned top layer, that layer's MLP."""
    labels = batch["labels"]
    if "loss_positions" in batch:
        positions, targets = batch["loss_positions"], batch["loss_targets"]
    else:
        positions, targets = (t.to(labels.device) for t in loss_positions(labels.cpu()))
    keep = positions[0] if len(positions) == 1 else positions  # one row: plain indexing
    where = {KEEP: keep} if getattr(model, PRUNED_TOP_LAYER, False) else {"logits_to_keep": keep}
    logits = model(**forward_inputs(batch), **where).logits
    nll = TargetNLL.apply(logits.float().flatten(0, 1), targets.flatten()).view_as(targets)
    return nll, positions, targets


def token_nll(model: torch.nn.Module, batch: Batch) -> tuple[torch.Tensor, torch.Tensor]:
    """(per-token negative log-likelihood, response-token mask), both shaped like the shifted
    labels (0 where there is no label)."""
    nll, positions, _ = label_nll(model, batch)
    shifted = batch["labels"][:, 1:]
    return nll.new_zeros(shifted.shape).scatter_add(1, positions, nll), shifted != IGNORE
