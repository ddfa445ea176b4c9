"""What one run asks SLURM for, derived from its trainer config in this one place: one task per
device (Lightning reads SLURM's environment and starts no processes of its own), on
``trainer.num_nodes`` nodes. ``conf/hydra/launcher/slurm.yaml`` reads these through the
``${limalab.slurm:<key>,${trainer}}`` resolver; an explicit ``hydra.launcher.<key>=...`` wins."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from omegaconf import DictConfig, OmegaConf

RESOLVER = "limalab.slurm"
GPU_ACCELERATORS = ("gpu", "cuda")
GPUS_PER_FULL_NODE = (
    8  # what ``devices: -1`` (every visible GPU) asks for; trainer.devices=4 on 4-GPU nodes
)
CPUS_PER_GPU = 8  # data loading and the host side of each GPU's rank
MEM_GB_PER_GPU = 60
CPUS_PER_CPU_TASK = 1  # CPU trainers exist for tests and the miniature: one core per rank
MEM_GB_PER_CPU_TASK = 4


def _devices(trainer: Mapping[str, Any], gpu: bool) -> int:
    devices = trainer.get("devices", 1)
    if isinstance(devices, list | tuple):
        return len(devices)
    if devices in (-1, "-1", "auto"):
        if gpu:
            return GPUS_PER_FULL_NODE
        raise ValueError(
            f"trainer.devices: SLURM needs a number of CPU processes per node, got {devices!r}"
        )
    if not str(devices).isdigit() or int(devices) < 1:
        raise ValueError(
            f"trainer.devices: expected a positive number of devices per node, got {devices!r}"
        )
    return int(devices)


def slurm_resources(trainer: Mapping[str, Any]) -> dict[str, int | None]:
    """``nodes``, ``tasks_per_node``, ``gpus_per_node``, ``cpus_per_task`` and ``mem_gb`` (per
    node) for a run with this trainer config (``conf/trainer/*.yaml``)."""
    if isinstance(trainer, DictConfig):
        trainer = OmegaConf.to_container(trainer, resolve=True)
    gpu = (
        trainer.get("accelerator", "cpu") in GPU_ACCELERATORS
    )  # auto: whatever SLURM gives, CPUs here
    tasks = _devices(trainer, gpu)
    nodes = int(trainer.get("num_nodes", 1) or 1)
    if gpu:
        return {
            "nodes": nodes,
            "tasks_per_node": tasks,
            "gpus_per_node": tasks,
            "cpus_per_task": CPUS_PER_GPU,
            "mem_gb": MEM_GB_PER_GPU * tasks,
        }
    return {
        "nodes": nodes,
        "tasks_per_node": tasks,
        "gpus_per_node": None,
        "cpus_per_task": CPUS_PER_CPU_TASK,
        "mem_gb": MEM_GB_PER_CPU_TASK * tasks,
    }


def register_resolver() -> None:
    """``${limalab.slurm:tasks_per_node,${trainer}}``: one value of ``slurm_resources``."""
    OmegaConf.register_new_resolver(
        RESOLVER, lambda key, trainer: slurm_resources(trainer)[key], replace=True
    )
