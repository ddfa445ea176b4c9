"""How the Trainer runs the model: the Lightning strategy (one device, FSDP, FSDP2) and the
model-side switches (attention kernel, activation checkpointing, torch.compile).

``conf/trainer/*.yaml`` holds Lightning ``Trainer`` arguments plus the keys in ``EXTRA_KEYS``,
which are read here instead. ``strategy`` may be a Lightning string (``auto``, ``ddp_spawn``)
or a mapping with ``name: fsdp | fsdp2`` built into the strategy object."""

from __future__ import annotations

import logging
import os
from typing import Any

import torch
from pytorch_lightning.strategies import FSDPStrategy, ModelParallelStrategy, Strategy

log = logging.getLogger(__name__)

EXTRA_KEYS = ("strategy", "attn_implementation", "activation_checkpointing", "compile", "throughput")


def split_trainer_config(trainer: dict[str, Any]) -> tuple[dict[str, Any], dict[str, Any]]:
    """(Lightning Trainer kwargs, limalab's extras) from the ``trainer`` config group."""
    kwargs = {k: v for k, v in trainer.items() if k not in EXTRA_KEYS}
    extras = {k: trainer.get(k) for k in EXTRA_KEYS}
    if isinstance(extras["strategy"], str):  # a Lightning strategy name goes straight through
        kwargs["strategy"] = extras["strategy"]
    return kwargs, extras


def n_processes(kwargs: dict[str, Any]) -> int:
    devices = kwargs.get("devices", 1)
    if devices in ("auto", -1, "-1"):
        devices = torch.cuda.device_count() if kwargs.get("accelerator") in ("gpu", "cuda", "auto") else os.cpu_count()
    if isinstance(devices, list | tuple):
        devices = len(devices)
    return int(devices) * int(kwargs.get("num_nodes", 1))


def build_strategy(spec: Any, model: torch.nn.Module, kwargs: dict[str, Any]) -> str | Strategy:
    """The Lightning strategy for ``trainer.strategy``. FSDP wraps each decoder layer (the
    class is read off the model, so any LLaMA-style model works)."""
    if spec is None or isinstance(spec, str):
        return spec or "auto"
    spec = dict(spec)
    name = spec.pop("name", None)
    if name == "fsdp":
        layer = type(model.model.layers[0])
        return FSDPStrategy(auto_wrap_policy={layer}, use_orig_params=True, limit_all_gathers=True,
                            sharding_strategy=spec.get("sharding_strategy", "FULL_SHARD"),
                            state_dict_type=spec.get("state_dict_type", "sharded"),
                            cpu_offload=bool(spec.get("cpu_offload", False)))
    if name == "fsdp2":  # Lightning's ModelParallelStrategy; CausalLMModule.configure_model shards
        return ModelParallelStrategy(data_parallel_size=n_processes(kwargs), tensor_parallel_size=1,
                                     process_group_backend=spec.get("process_group_backend"),
                                     save_distributed_checkpoint=bool(spec.get("sharded_checkpoint", True)))
    raise ValueError(f"trainer.strategy.name: expected fsdp or fsdp2 (or a Lightning strategy string), got {name!r}")


def prepare_model(model: torch.nn.Module, extras: dict[str, Any]) -> torch.nn.Module:
    """Attention kernel, activation checkpointing and compilation, applied in place (parameter
    names stay plain, so snapshots and exports load into a stock model)."""
    attn = extras.get("attn_implementation")
    if attn:
        model.set_attn_implementation(attn)
    if extras.get("activation_checkpointing"):
        model.gradient_checkpointing_enable(gradient_checkpointing_kwargs={"use_reentrant": False})
        model.config.use_cache = False
    if extras.get("compile"):
        model.compile()  # nn.Module.compile: in place, no _orig_mod prefix in the state dict
    return model


def is_sharded(model: torch.nn.Module) -> bool:
    """Wrapped by FSDP (``FullyShardedDataParallel``) or FSDP2 (``FSDP<Class>``)."""
    return any(type(m).__name__.startswith(("FullyShardedDataParallel", "FSDP")) for m in model.modules())
