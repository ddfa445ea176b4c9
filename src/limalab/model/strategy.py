"""How the Trainer runs the model: the Lightning strategy (one device, FSDP, FSDP2) and the
model-side switches (attention kernel, the pruned top layer, activation checkpointing,
torch.compile).

``conf/trainer/*.yaml`` holds Lightning ``Trainer`` arguments plus the keys in ``EXTRA_KEYS``,
which are read here instead. ``strategy`` may be a Lightning string (``auto``, ``ddp_spawn``)
or a mapping with ``name: fsdp | fsdp2`` built into the strategy object.

Under FSDP2, ``precision: bf16-mixed`` is FSDP2's ``MixedPrecisionPolicy`` (parameters
all-gathered and computed in bf16, gradients reduced in fp32, fp32 master weights and AdamW
state in the shards) instead of Lightning's autocast, which would re-cast every weight at every
op on the host."""

from __future__ import annotations

import functools
import logging
import os
from typing import Any

import torch
from pytorch_lightning.strategies import FSDPStrategy, ModelParallelStrategy, Strategy

from limalab.model.top_layer import prune_top_layer

log = logging.getLogger(__name__)

EXTRA_KEYS = (
    "strategy",
    "attn_implementation",
    "activation_checkpointing",
    "compile",
    "throughput",
    "prune_top_layer",
)
AC_POLICIES = ("none", "full", "selective")  # or an int k: every k-th decoder layer


def split_trainer_config(trainer: dict[str, Any]) -> tuple[dict[str, Any], dict[str, Any]]:
    """(Lightning Trainer kwargs, limalab's extras) from the ``trainer`` config group."""
    kwargs = {k: v for k, v in trainer.items() if k not in EXTRA_KEYS}
    extras = {k: trainer.get(k) for k in EXTRA_KEYS}
    if isinstance(extras["strategy"], str):  # a Lightning strategy name goes straight through
        kwargs["strategy"] = extras["strategy"]
    elif (
        isinstance(extras["strategy"], dict)
        and extras["strategy"].get("name") == "fsdp2"
        and kwargs.get("precision") == "bf16-mixed"
    ):
        extras["strategy"] = {**extras["strategy"], "param_dtype": "bfloat16"}
        kwargs["precision"] = "32-true"  # the policy casts; autocast stays off
    return kwargs, extras


class FSDP2Strategy(ModelParallelStrategy):
    """Lightning's ``ModelParallelStrategy`` carrying how to shard (``fully_shard`` keyword
    arguments), which ``CausalLMModule.configure_model`` applies with ``shard_fsdp2``."""

    def __init__(self, shard_kwargs: dict[str, Any], **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.shard_kwargs = shard_kwargs


def fsdp2_kwargs(spec: dict[str, Any]) -> dict[str, Any]:
    """``fully_shard`` keyword arguments from ``trainer.strategy``: the mixed-precision policy,
    CPU offload (parameters, gradients and AdamW state in host memory, the step on the CPU),
    resharding after forward."""
    from torch.distributed.fsdp import CPUOffloadPolicy, MixedPrecisionPolicy

    kw: dict[str, Any] = {}
    if spec.get("param_dtype"):
        kw["mp_policy"] = MixedPrecisionPolicy(
            param_dtype=getattr(torch, spec["param_dtype"]), reduce_dtype=torch.float32
        )
    if spec.get("cpu_offload"):
        kw["offload_policy"] = CPUOffloadPolicy(pin_memory=torch.cuda.is_available())
    if spec.get("reshard_after_forward") is not None:
        kw["reshard_after_forward"] = bool(spec["reshard_after_forward"])
    return kw


def shard_fsdp2(model: torch.nn.Module, mesh: Any, kwargs: dict[str, Any]) -> None:
    """Each decoder layer its own FSDP2 unit, then the root (embeddings, final norm, head)."""
    from torch.distributed.fsdp import fully_shard

    for layer in model.model.layers:
        fully_shard(layer, mesh=mesh, **kwargs)
    fully_shard(model, mesh=mesh, **kwargs)


def n_processes(kwargs: dict[str, Any]) -> int:
    devices = kwargs.get("devices", 1)
    if devices in ("auto", -1, "-1"):
        devices = (
            torch.cuda.device_count()
            if kwargs.get("accelerator") in ("gpu", "cuda", "auto")
            else os.cpu_count()
        )
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
        return FSDPStrategy(
            auto_wrap_policy={layer},
            use_orig_params=True,
            limit_all_gathers=True,
            sharding_strategy=spec.get("sharding_strategy", "FULL_SHARD"),
            state_dict_type=spec.get("state_dict_type", "sharded"),
            cpu_offload=bool(spec.get("cpu_offload", False)),
        )
    if name == "fsdp2":  # Lightning's ModelParallelStrategy; CausalLMModule.configure_model shards
        return FSDP2Strategy(
            fsdp2_kwargs(spec),
            data_parallel_size=n_processes(kwargs),
            tensor_parallel_size=1,
            process_group_backend=spec.get("process_group_backend"),
            save_distributed_checkpoint=bool(spec.get("sharded_checkpoint", True)),
        )
    raise ValueError(
        "trainer.strategy.name: expected fsdp or fsdp2 (or a Lightning strategy string), got "
        f"{name!r}"
    )


def save_matmuls(ctx: Any, op: Any, *args: Any, **kwargs: Any) -> Any:
    """Selective checkpointing policy: keep the matmul and attention outputs (dear to recompute),
    recompute the rest (norms, activations, rotary, elementwise: cheap, and most of the bytes)."""
    from torch.utils.checkpoint import CheckpointPolicy

    keep = {
        torch.ops.aten.mm.default,
        torch.ops.aten.addmm.default,
        torch.ops.aten.bmm.default,
        torch.ops.aten._scaled_dot_product_flash_attention.default,
        torch.ops.aten._scaled_dot_product_efficient_attention.default,
        torch.ops.aten._scaled_dot_product_flash_attention_for_cpu.default,
    }
    return CheckpointPolicy.MUST_SAVE if op in keep else CheckpointPolicy.PREFER_RECOMPUTE


def apply_activation_checkpointing(model: torch.nn.Module, policy: Any) -> None:
    """``trainer.activation_checkpointing``: false/``none``; true/``full`` (every decoder layer
    recomputes its forward in backward); an int k (every k-th layer: memory between the two);
    ``selective`` (every layer, but matmul and attention outputs are kept)."""
    if policy in (None, False, "none"):
        return
    if policy not in (True, *AC_POLICIES) and not (isinstance(policy, int) and policy >= 1):
        raise ValueError(
            f"trainer.activation_checkpointing: expected false, true, {', '.join(AC_POLICIES)} or "
            f"an integer k >= 1 (every k-th layer), got {policy!r}"
        )
    kwargs: dict[str, Any] = {"use_reentrant": False}
    if policy == "selective":
        from torch.utils.checkpoint import create_selective_checkpoint_contexts

        kwargs["context_fn"] = functools.partial(create_selective_checkpoint_contexts, save_matmuls)
    model.gradient_checkpointing_enable(gradient_checkpointing_kwargs=kwargs)
    model.config.use_cache = False
    every = policy if isinstance(policy, int) and policy is not True else 1
    for i, layer in enumerate(model.model.layers):
        layer.gradient_checkpointing = i % every == 0


def prepare_model(model: torch.nn.Module, extras: dict[str, Any]) -> torch.nn.Module:
    """Attention kernel, the top layer pruned to labelled positions, activation checkpointing and
    compilation, applied in place (parameter
    names stay plain, so snapshots and exports load into a stock model). ``trainer.compile``:
    true (the whole model) or ``layers`` (each decoder layer, with dynamic shapes: identical
    layers share one compiled graph, so it compiles in the time of one layer and does not
    recompile as row widths change; the Python around them stays eager)."""
    attn = extras.get("attn_implementation")
    if attn:
        import limalab.model.attention  # noqa: F401  registers "varlen" with transformers

        model.set_attn_implementation(attn)
    if extras.get("prune_top_layer"):
        prune_top_layer(model)  # before sharding: FSDP wraps the swapped class
    apply_activation_checkpointing(model, extras.get("activation_checkpointing"))
    scope = extras.get("compile")
    if scope == "layers":
        for layer in model.model.layers:
            layer.compile(dynamic=True)  # row widths and segment lengths vary: one symbolic graph
    elif scope is True:
        model.compile()  # nn.Module.compile: in place, no _orig_mod prefix in the state dict
    elif scope not in (None, False):
        raise ValueError(f"trainer.compile: expected false, true or layers, got {scope!r}")
    return model


def is_sharded(model: torch.nn.Module) -> bool:
    """Wrapped by FSDP (``FullyShardedDataParallel``) or FSDP2 (``FSDP<Class>``)."""
    return any(
        type(m).__name__.startswith(("FullyShardedDataParallel", "FSDP")) for m in model.modules()
    )
