"""limalab's SLURM launcher (``hydra/launcher=slurm``): Hydra's submitit launcher, with the job's
resources derived from the trainer config (``limalab.slurm.resources``) and job states read
without SLURM accounting (``limalab.slurm.watcher``); in the job, an attempt that SLURM ends
leaves no result (``limalab.slurm.requeue``). Hydra imports its plugins before it
composes a config, which registers the resolver the launcher config uses."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from hydra.core.utils import JobReturn
from hydra_plugins.hydra_submitit_launcher.submitit_launcher import (
    SlurmLauncher as SubmititSlurmLauncher,
)

from limalab.slurm.resources import register_resolver

register_resolver()

RESOURCE_KEYS = ("trainer", "trainer.devices", "trainer.accelerator", "trainer.num_nodes")


class SlurmLauncher(SubmititSlurmLauncher):
    def __call__(self, *args: Any, **kwargs: Any) -> JobReturn:
        """In the job: one attempt; one that SLURM ends (SIGTERM) exits without a result."""
        from limalab.slurm.requeue import run_attempt

        return run_attempt(super().__call__, *args, **kwargs)

    def launch(
        self, job_overrides: Sequence[Sequence[str]], initial_job_idx: int
    ) -> Sequence[JobReturn]:
        one_trainer(job_overrides)
        from limalab.slurm.watcher import install

        install()
        return super().launch(job_overrides, initial_job_idx)


def one_trainer(job_overrides: Sequence[Sequence[str]]) -> None:
    """The jobs of one command are one submission with one set of resources, derived from the
    command's trainer: a sweep over the trainer's devices is refused with one line."""
    variants = {
        tuple(sorted(o for o in job if o.split("=", 1)[0].lstrip("+~") in RESOURCE_KEYS))
        for job in job_overrides
    }
    if len(variants) > 1:
        raise ValueError(
            "hydra/launcher=slurm: one command submits its jobs with one set of resources, "
            "derived from its trainer; run each trainer setting as its own command "
            f"(got {sorted(variants)})"
        )
