"""The LightningDataModule over tokenized conversations (SFT) or packed corpus chunks."""

from __future__ import annotations

import torch
from pytorch_lightning import LightningDataModule
from torch.utils.data import DataLoader, Dataset, Sampler

from limalab.data.chat import IGNORE


class TokenizedDataset(Dataset):
    def __init__(self, rows: list[tuple[list[int], list[int]]]) -> None:
        self.rows = rows

    def __len__(self) -> int:
        return len(self.rows)

    def __getitem__(self, i: int) -> tuple[list[int], list[int]]:
        return self.rows[i]


def pad_collate(pad_id: int):
    def collate(batch: list[tuple[list[int], list[int]]]) -> dict[str, torch.Tensor]:
        n = max(len(ids) for ids, _ in batch)
        input_ids = torch.full((len(batch), n), pad_id, dtype=torch.long)
        labels = torch.full((len(batch), n), IGNORE, dtype=torch.long)
        mask = torch.zeros((len(batch), n), dtype=torch.long)
        for i, (ids, lab) in enumerate(batch):
            input_ids[i, : len(ids)] = torch.tensor(ids)
            labels[i, : len(lab)] = torch.tensor(lab)
            mask[i, : len(ids)] = 1
        return {"input_ids": input_ids, "labels": labels, "attention_mask": mask}

    return collate


class EpochSampler(Sampler[int]):
    """A shuffle that depends only on (seed, epoch), and that can skip the batches an
    interrupted epoch already trained on: a run resumed from a mid-epoch checkpoint sees
    exactly the batches the uninterrupted run would have (Lightning calls ``set_epoch``)."""

    def __init__(self, n: int, seed: int) -> None:
        self.n, self.seed, self.epoch, self.skip = n, seed, 0, 0

    def set_epoch(self, epoch: int) -> None:
        self.epoch = epoch

    def __iter__(self):
        g = torch.Generator().manual_seed(self.seed * 1_000_003 + self.epoch)
        order = torch.randperm(self.n, generator=g).tolist()
        skip, self.skip = self.skip, 0  # only the resumed epoch is partial
        return iter(order[skip:])

    def __len__(self) -> int:
        return self.n - self.skip


class ChatDataModule(LightningDataModule):
    def __init__(self, train: list[tuple[list[int], list[int]]], batch_size: int, pad_id: int, seed: int,
                 num_workers: int = 0) -> None:
        super().__init__()
        self.train_set = TokenizedDataset(train)
        self.batch_size, self.pad_id, self.seed, self.num_workers = batch_size, pad_id, seed, num_workers
        self.sampler = EpochSampler(len(self.train_set), seed)

    def skip_batches(self, n: int) -> None:
        """Resume mid-epoch: the next epoch's iteration starts after ``n`` batches."""
        self.sampler.skip = n * self.batch_size

    def train_dataloader(self) -> DataLoader:
        return DataLoader(self.train_set, batch_size=self.batch_size, sampler=self.sampler,
                          collate_fn=pad_collate(self.pad_id), num_workers=self.num_workers, drop_last=False)
