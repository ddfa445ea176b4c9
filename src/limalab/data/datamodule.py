"""The LightningDataModule over tokenized conversations (SFT) or packed corpus chunks."""

from __future__ import annotations

import torch
from pytorch_lightning import LightningDataModule
from torch.utils.data import DataLoader, Dataset

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


class ChatDataModule(LightningDataModule):
    def __init__(self, train: list[tuple[list[int], list[int]]], batch_size: int, pad_id: int, seed: int,
                 num_workers: int = 0) -> None:
        super().__init__()
        self.train_set = TokenizedDataset(train)
        self.batch_size, self.pad_id, self.seed, self.num_workers = batch_size, pad_id, seed, num_workers

    def train_dataloader(self) -> DataLoader:
        g = torch.Generator().manual_seed(self.seed)
        return DataLoader(self.train_set, batch_size=self.batch_size, shuffle=True, generator=g,
                          collate_fn=pad_collate(self.pad_id), num_workers=self.num_workers, drop_last=False)
