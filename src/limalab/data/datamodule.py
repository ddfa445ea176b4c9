"""The LightningDataModule over tokenized conversations (SFT) or corpus chunks (pretraining).

Batches are built here rather than by Lightning's distributed sampler, so a step holds the same
examples on one process or many (data/batching.py); the Trainer runs with
``use_distributed_sampler=False``."""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Any

from pytorch_lightning import LightningDataModule
from torch.utils.data import DataLoader, Dataset

from limalab.data.batching import (
    VARLEN_ATTENTION,
    EpochSampler,
    GlobalBatchSampler,
    collate_fn,
    resolve_layout,
)

ORDERS = ("random", "grouped")
log = logging.getLogger(__name__)


class TokenizedDataset(Dataset):
    def __init__(self, rows: list[tuple[list[int], list[int]]]) -> None:
        self.rows = rows

    def __len__(self) -> int:
        return len(self.rows)

    def __getitem__(self, i: int) -> tuple[list[int], list[int]]:
        return self.rows[i]


@dataclass(frozen=True)
class Batching:
    """How a step's examples become tensors: ``layout`` ``auto``, ``flat``, ``pack`` or ``pad``
    (batching.py; ``auto`` is resolved from ``attention``, the model's attention implementation);
    ``order`` ``random`` (a uniform shuffle per epoch) or ``grouped`` (length-grouped batches, HF's
    ``group_by_length``)."""

    batch_size: int
    layout: str = "pad"
    order: str = "random"
    max_length: int | None = None
    attention: str | None = None
    pad_to_multiple_of: int | None = None


def batching_of(train: dict[str, Any], trainer_extras: dict[str, Any]) -> Batching:
    """The ``train`` config group's batching, with the trainer's attention kernel."""
    return Batching(
        train["batch_size"],
        train["layout"],
        train["order"],
        train["max_length"],
        trainer_extras.get("attn_implementation"),
        train.get("pad_to_multiple_of"),
    )


class ChatDataModule(LightningDataModule):
    """Batches of ``train`` rows as ``batching`` says; the resolved layout is logged."""

    def __init__(
        self,
        train: list[tuple[list[int], list[int]]],
        batching: Batching,
        pad_id: int,
        seed: int,
        num_workers: int = 0,
    ) -> None:
        super().__init__()
        b = batching
        if b.order not in ORDERS:
            raise ValueError(f"train.order: expected one of {ORDERS}, got {b.order!r}")
        self.train_set = TokenizedDataset(train)
        self.batch_size, self.pad_id, self.seed, self.num_workers = (
            b.batch_size,
            pad_id,
            seed,
            num_workers,
        )
        self.max_length = b.max_length or max((len(ids) for ids, _ in train), default=1)
        self.layout, self.layout_reason = resolve_layout(b.layout, b.attention)
        self.attention, self.pad_to_multiple_of, self.order = (
            b.attention,
            b.pad_to_multiple_of,
            b.order,
        )
        log.info("train.layout=%s -> %s (%s)", b.layout, self.layout, self.layout_reason)
        self.sampler = EpochSampler(len(self.train_set), seed)

    def setup(self, stage: str) -> None:
        """The resolved layout goes to every logger with the run's hyperparameters."""
        for lg in self.trainer.loggers if self.trainer is not None else []:
            lg.log_hyperparams(
                {"train/layout_resolved": self.layout, "train/layout_reason": self.layout_reason}
            )

    def skip_batches(self, n: int) -> None:
        """Resume mid-epoch: the next epoch's iteration starts after ``n`` batches."""
        self.sampler.skip = n * self.batch_size

    def train_dataloader(self) -> DataLoader:
        trainer = self.trainer
        rank, world = (trainer.global_rank, trainer.world_size) if trainer is not None else (0, 1)
        if self.batch_size < world:
            raise ValueError(
                f"train.batch_size={self.batch_size} is smaller than the {world} data-parallel "
                "ranks"
            )
        lengths = [len(ids) for ids, _ in self.train_set.rows] if self.order == "grouped" else None
        batches = GlobalBatchSampler(self.sampler, self.batch_size, lengths)
        collate = collate_fn(
            self.layout,
            self.pad_id,
            self.max_length,
            rank,
            world,
            varlen=self.attention in VARLEN_ATTENTION,
            pad_to_multiple_of=self.pad_to_multiple_of,
        )
        return DataLoader(
            self.train_set, batch_sampler=batches, collate_fn=collate, num_workers=self.num_workers
        )
