"""A checkpoint before SLURM takes the job away, under submitit's jobs (``hydra/launcher=slurm``).

SLURM warns a job ``signal_delay_s`` before its time limit (and, on clusters that do, before a
preemption) with submitit's signal (SIGUSR2). submitit's own handler requeues the job at once,
which would lose the steps since the last periodic checkpoint; during training this callback
takes the signal instead, lets every rank finish the current step, saves ``last.ckpt`` and then
hands the signal to submitit, which requeues the job (counting timeouts against
``max_num_timeout``). The requeued job resumes from that checkpoint. A plain preemption
(``scontrol requeue``: SIGTERM, then SIGKILL) is Lightning's: it stops at the end of the step,
and the job resumes from the last periodic checkpoint; ``run_attempt`` makes sure such an
attempt leaves no result behind."""

from __future__ import annotations

import os
import signal
import sys
import threading
from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar

import pytorch_lightning as pl

T = TypeVar("T")


def submitit_signal() -> signal.Signals | None:
    """submitit's requeue signal inside one of its SLURM jobs (on the main thread, the one
    Python's signal handlers run on), else None."""
    if (
        os.environ.get("SUBMITIT_EXECUTOR") != "slurm"
        or threading.current_thread() is not threading.main_thread()
    ):
        return None
    from submitit import JobEnvironment

    return JobEnvironment._usr_sig()


class CheckpointBeforeRequeue(pl.Callback):
    def __init__(self, last_ckpt: Path) -> None:
        self.last_ckpt = Path(last_ckpt)
        self.signum: signal.Signals | None = None
        self.previous: Any = None
        self.signalled = False

    def on_train_start(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        if (
            trainer.global_step and trainer.is_global_zero
        ):  # what a requeued (or rerun) job resumed from
            print(f"resumed from step {trainer.global_step} ({self.last_ckpt})", flush=True)
        self.signum = submitit_signal()
        if self.signum is not None:
            self.previous = signal.signal(self.signum, self._note)

    def _note(self, signum: int, frame: Any) -> None:
        self.signalled = True

    def on_train_batch_end(
        self,
        trainer: pl.Trainer,
        pl_module: pl.LightningModule,
        outputs: Any,
        batch: Any,
        batch_idx: int,
    ) -> None:
        # every rank must agree to stop at the same step: saving a sharded checkpoint is a
        # collective
        if self.signum is not None and trainer.strategy.reduce_boolean_decision(
            self.signalled, all=False
        ):
            self._checkpoint_and_requeue(trainer)

    def on_train_end(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        if self.signum is not None and trainer.strategy.reduce_boolean_decision(
            self.signalled, all=False
        ):
            self._checkpoint_and_requeue(
                trainer
            )  # warned after the last step: requeue all the same
        self._restore()

    def on_exception(
        self, trainer: pl.Trainer, pl_module: pl.LightningModule, exception: BaseException
    ) -> None:
        self._restore()

    def _restore(self) -> None:
        if self.signum is not None:
            signal.signal(self.signum, self.previous)
            self.signum = None

    def _checkpoint_and_requeue(self, trainer: pl.Trainer) -> None:
        trainer.save_checkpoint(self.last_ckpt)
        if trainer.is_global_zero:
            print(
                f"requeue signal: saved {self.last_ckpt} at step {trainer.global_step}", flush=True
            )
        signum, previous = self.signum, self.previous
        self._restore()
        if callable(previous):
            previous(signum, None)  # submitit: rank 0 requeues the job and exits; the others return
        else:
            signal.signal(signum, previous)
            signal.raise_signal(signum)
        sys.exit(-1)  # the other ranks: the requeue ends this attempt of the job


def run_attempt(fn: Callable[..., T], *args: Any, **kwargs: Any) -> T:
    """Run one attempt of a submitit job. SIGTERM means SLURM is ending the attempt (a
    preemption, a requeue, a cancellation; SIGKILL follows): whatever the job returns or raises
    after it (W&B's service, in the same job step, is already gone) is not the job's result, so
    the attempt exits without one, and the job's result is the requeued attempt's."""
    ended: list[int] = []
    previous = signal.getsignal(signal.SIGTERM)

    def note(signum: int, frame: Any) -> None:
        ended.append(signum)
        if callable(previous):
            previous(signum, frame)  # submitit's: log it and keep going until SIGKILL or the end

    signal.signal(signal.SIGTERM, note)
    try:
        result = fn(*args, **kwargs)
    except Exception:
        if not ended:
            raise
        result = None
    finally:
        signal.signal(signal.SIGTERM, previous)
    if ended:
        raise SystemExit(
            "SLURM ended this attempt of the job (SIGTERM): no result; a requeued job resumes the "
            "run"
        )
    return result
