"""Turning one optimizer step's examples into tensors: padded rows, or packed rows.

A step always takes the same ``batch_size`` examples whatever the layout (the paper's batch of
32 stays 32 examples); the layout only changes how they sit in memory:

- ``pad``: one example per row, right-padded to the longest (HF ``Trainer``'s default).
- ``pack``: the step's examples packed first-fit-decreasing into rows of at most ``max_length``
  tokens. Position ids restart at 0 for each example and no attention mask is passed, so
  transformers builds a block-diagonal causal mask (SDPA/eager) or uses the varlen kernel
  (flash attention): no token attends across examples. The loss is the sum over response
  tokens divided by the step's response-token count, so every example weighs exactly what it
  weighs unpacked.

Under data parallelism each rank takes an interleaved share of the global batch and the loss is
normalised by the global token count (module.py), so N ranks compute the one-process gradient.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from typing import Any

import torch
from torch.utils.data import Sampler

from limalab.data.chat import IGNORE

LAYOUTS = ("pad", "pack")
Row = tuple[list[int], list[int]]


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


def pad_batch(rows: Sequence[Row], pad_id: int) -> dict[str, torch.Tensor]:
    rows = rows or [([pad_id], [IGNORE])]  # an empty share still runs one forward (collectives)
    n = max(len(ids) for ids, _ in rows)
    input_ids = torch.full((len(rows), n), pad_id, dtype=torch.long)
    labels = torch.full((len(rows), n), IGNORE, dtype=torch.long)
    mask = torch.zeros((len(rows), n), dtype=torch.long)
    for i, (ids, lab) in enumerate(rows):
        input_ids[i, : len(ids)] = torch.tensor(ids)
        labels[i, : len(lab)] = torch.tensor(lab)
        mask[i, : len(ids)] = 1
    return {"input_ids": input_ids, "labels": labels, "attention_mask": mask}


def pack_batch(rows: Sequence[Row], pad_id: int, max_length: int) -> dict[str, torch.Tensor]:
    """Packed rows, plus ``example_index`` (-1 on padding) so a caller can split the loss back
    per example. Rows hold up to the longest example's length (at most ``max_length``) tokens:
    with a dense block-diagonal mask (SDPA, eager) attention costs width² per row, so rows as wide
    as the padded layout's make packing cheaper than padding whatever the lengths."""
    rows = rows or [([pad_id], [IGNORE])]
    # rows no wider than the padded layout's: packing then never costs more attention per row
    lengths = [len(ids) for ids, _ in rows]
    bins = pack_bins(lengths, min(max_length, max(lengths)))
    width = max(sum(len(rows[i][0]) for i in b) for b in bins)
    shape = (len(bins), width)
    input_ids = torch.full(shape, pad_id, dtype=torch.long)
    labels = torch.full(shape, IGNORE, dtype=torch.long)
    example = torch.full(shape, -1, dtype=torch.long)
    position = torch.zeros(shape, dtype=torch.long)
    for r, b in enumerate(bins):
        at = 0
        for i in b:
            ids, lab = rows[i]
            n = len(ids)
            input_ids[r, at : at + n] = torch.tensor(ids)
            lab_t = torch.tensor(lab)
            lab_t[0] = IGNORE  # never predict an example's first token from the previous example
            labels[r, at : at + n] = lab_t
            example[r, at : at + n] = i
            position[r, at : at + n] = torch.arange(n)
            at += n
        # the padding tail counts up as one more (isolated) sequence
        position[r, at:] = torch.arange(width - at)
    return {"input_ids": input_ids, "labels": labels, "position_ids": position, "example_index": example}


def collate_fn(layout: str, pad_id: int, max_length: int):
    if layout not in LAYOUTS:
        raise ValueError(f"train.layout: expected one of {LAYOUTS}, got {layout!r}")

    def collate(rows: list[Row]) -> dict[str, torch.Tensor]:
        if layout == "pack":
            return pack_batch(rows, pad_id, max_length)
        return pad_batch(rows, pad_id)

    return collate


def padding_efficiency(batch: dict[str, torch.Tensor]) -> tuple[int, int]:
    """(real tokens, token slots) of a collated batch."""
    if "attention_mask" in batch:
        real = int(batch["attention_mask"].sum())
    else:
        real = int((batch["example_index"] >= 0).sum())
    return real, batch["input_ids"].numel()


def n_examples(batch: dict[str, torch.Tensor]) -> int:
    if "attention_mask" in batch:
        return int((batch["attention_mask"].sum(-1) > 0).sum())
    return int(batch["example_index"].max()) + 1


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
    """Global batches of ``batch_size`` examples in the ``EpochSampler`` order; this rank gets
    the interleaved share ``batch[rank::world_size]``, so the set of examples per optimizer step
    is the same for any number of ranks.

    ``lengths`` turns on length grouping (HF's ``group_by_length``): the shuffled order is cut
    into megabatches of ``MEGABATCH`` batches, each sorted by length, and the batches are
    shuffled again. Less padding, but a step's examples are no longer a uniform draw."""

    MEGABATCH = 50

    def __init__(self, sampler: EpochSampler, batch_size: int, rank: int = 0, world_size: int = 1,
                 lengths: Sequence[int] | None = None) -> None:
        self.sampler, self.batch_size, self.rank, self.world_size = sampler, batch_size, rank, world_size
        self.lengths = lengths

    def batches(self) -> list[list[int]]:
        skip = self.sampler.skip
        self.sampler.skip = 0
        order = list(self.sampler)
        b = self.batch_size
        if self.lengths is not None:
            mega = b * self.MEGABATCH
            order = [i for m in range(0, len(order), mega)
                     for i in sorted(order[m : m + mega], key=lambda i: -self.lengths[i])]
        batches = [order[i : i + b] for i in range(0, len(order), b)]
        if self.lengths is not None:
            g = torch.Generator().manual_seed(self.sampler.seed * 1_000_003 + self.sampler.epoch + 1)
            batches = [batches[i] for i in torch.randperm(len(batches), generator=g).tolist()]
        return batches[skip // b :]

    def __iter__(self) -> Iterator[list[int]]:
        for batch in self.batches():
            yield batch[self.rank :: self.world_size]

    def __len__(self) -> int:
        return -(-len(self.sampler) // self.batch_size)


def forward_inputs(batch: dict[str, torch.Tensor]) -> dict[str, Any]:
    """The model's keyword arguments for either layout (labels stay out: the loss is ours).
    No KV cache: transformers only reads packed position ids into a block mask without one."""
    return {"use_cache": False, **{k: batch[k] for k in ("input_ids", "attention_mask", "position_ids") if k in batch}}


def token_nll(model: torch.nn.Module, batch: dict[str, torch.Tensor]) -> tuple[torch.Tensor, torch.Tensor]:
    """(per-token negative log-likelihood, response-token mask), both shaped like the shifted
    labels. The loss is computed in fp32 whatever the model's precision."""
    logits = model(**forward_inputs(batch)).logits[:, :-1]
    labels = batch["labels"][:, 1:]
    nll = torch.nn.functional.cross_entropy(logits.float().reshape(-1, logits.size(-1)), labels.reshape(-1),
                                            ignore_index=IGNORE, reduction="none").view_as(labels)
    return nll, labels != IGNORE
