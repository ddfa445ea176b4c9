"""Epoch snapshots for checkpoint selection (weights only; resume uses Lightning's last.ckpt)."""

from __future__ import annotations

import math
import os
import time
from pathlib import Path

import pytorch_lightning as pl
import torch

from limalab.model.strategy import is_sharded
from limalab.tracking.faults import kill_point, stall_point
from limalab.tracking.progress import ProgressLine


def full_state_dict(model: torch.nn.Module) -> dict[str, torch.Tensor]:
    """The unsharded weights on CPU under plain parameter names, from a plain, FSDP or FSDP2
    model. A collective under sharding: every rank must call it."""
    from torch.distributed.checkpoint.state_dict import StateDictOptions, get_model_state_dict

    if not is_sharded(model):
        return {k: v.detach().cpu() for k, v in model.state_dict().items()}
    return get_model_state_dict(
        model, options=StateDictOptions(full_state_dict=True, cpu_offload=True)
    )


class EpochSnapshot(pl.Callback):
    """Full weights after every epoch, written by rank 0 (``epoch-NNN.pt``)."""

    def __init__(self, dirpath: Path) -> None:
        self.dirpath = Path(dirpath)

    def on_train_epoch_end(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        state = full_state_dict(pl_module.model)
        if trainer.global_rank != 0:
            return
        self.dirpath.mkdir(parents=True, exist_ok=True)
        path = self.dirpath / f"epoch-{trainer.current_epoch + 1:03d}.pt"
        tmp = path.with_suffix(".pt.tmp")
        torch.save(state, tmp)
        os.replace(tmp, path)


def window_epochs(epochs: int, window: tuple[float, float]) -> list[int]:
    """Epochs (1-based) inside a window given as fractions of training: the paper's epochs
    5-10 of 15 are (1/3, 2/3)."""
    lo, hi = window
    return [
        e
        for e in range(1, epochs + 1)
        if math.ceil(lo * epochs - 1e-6) <= e <= math.floor(hi * epochs + 1e-6)
    ]


def snapshot_paths(
    dirpath: Path, epochs: int, window: tuple[float, float]
) -> list[tuple[int, Path]]:
    return [
        (e, p)
        for e in window_epochs(epochs, window)
        if (p := Path(dirpath) / f"epoch-{e:03d}.pt").exists()
    ]


class KillPoint(pl.Callback):
    """``LIMALAB_KILL_AT=train_step:<n>``: die at the n-th optimizer step; ``LIMALAB_STALL_AT``:
    wait there for a signal (tracking/faults.py)."""

    def __init__(self, point: str = "train_step") -> None:
        self.point = point

    def on_train_batch_end(
        self, trainer: pl.Trainer, pl_module: pl.LightningModule, outputs, batch, batch_idx
    ) -> None:
        kill_point(self.point)
        stall_point(self.point)


class ResumeMidEpoch(pl.Callback):
    """After a restore from a mid-epoch checkpoint, skip the batches that epoch already trained
    on (Lightning alone would replay the epoch from its start)."""

    def on_train_start(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        # from the optimizer steps, not the loop's batch counters: a checkpoint written in
        # on_train_batch_end records its batch as processed but not yet completed
        batches = trainer.num_training_batches
        if batches == float("inf"):
            return
        steps_per_epoch = batches // trainer.accumulate_grad_batches
        done = (
            trainer.global_step - trainer.current_epoch * steps_per_epoch
        ) * trainer.accumulate_grad_batches
        dm = trainer.datamodule
        if done and dm is not None and hasattr(dm, "skip_batches"):
            dm.skip_batches(done)


class ProgressLog(pl.Callback):
    """One progress line (tracking/progress.py) every ``trainer.log_every_n_steps`` optimizer
    steps — the steps at which Lightning already reads the logged loss, so reading it here adds
    no device sync — with the loss, tokens/s and the ETA; only where stdout is not a TTY."""

    def __init__(self, what: str = "train", enabled: bool | None = None) -> None:
        self.progress = ProgressLine(what, None, enabled=enabled)
        self.tokens0 = 0

    def on_train_start(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        self.progress.total = int(trainer.estimated_stepping_batches)
        self.progress.start(trainer.global_step)
        self.tokens0 = int(getattr(pl_module, "tokens_seen", 0))

    def on_train_batch_end(
        self, trainer: pl.Trainer, pl_module: pl.LightningModule, outputs, batch, batch_idx
    ) -> None:
        step = trainer.global_step
        if not (self.progress.enabled and trainer.is_global_zero) or step % max(
            1, trainer.log_every_n_steps
        ):
            return
        self._line(trainer, pl_module)

    def on_train_end(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        if (
            self.progress.enabled
            and trainer.is_global_zero
            and trainer.global_step % max(1, trainer.log_every_n_steps)
        ):
            self._line(trainer, pl_module)  # the last step, unless its line is out already

    def _line(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        loss = getattr(pl_module, "last_loss", None)
        elapsed = max(time.perf_counter() - self.progress.t0, 1e-9)
        tps = (int(getattr(pl_module, "tokens_seen", 0)) - self.tokens0) / elapsed
        epochs = trainer.max_epochs if trainer.max_epochs and trainer.max_epochs > 0 else "?"
        epoch = (
            trainer.current_epoch + 1 if epochs == "?" else min(trainer.current_epoch + 1, epochs)
        )
        fields = {"epoch": f"{epoch}/{epochs}"}
        if loss is not None:
            fields["loss"] = float(loss)
        self.progress.line(trainer.global_step, rate=(tps, "tokens"), **fields)
