"""Trainer configs become the right Lightning strategies (FSDP2 with its bf16 policy on GPUs, FSDP1
beside it); the GPU-side policies (sharding, CPU offload, activation checkpointing, per-layer
compile) compose and train on CPU; throughput and MFU are computed from the counts the collate
records; a smoke run logs them."""

from __future__ import annotations

import csv

import pytest
import torch
from hydra import compose, initialize_config_dir
from omegaconf import OmegaConf
from pytorch_lightning.strategies import FSDPStrategy, ModelParallelStrategy
from torch.utils._python_dispatch import TorchDispatchMode
from transformers import LlamaConfig, LlamaForCausalLM
from transformers.models.llama.modeling_llama import LlamaDecoderLayer

from limalab.data.batching import flat_batch, token_nll
from limalab.model import throughput
from limalab.model.strategy import (
    FSDP2Strategy,
    build_strategy,
    fsdp2_kwargs,
    is_sharded,
    prepare_model,
    shard_fsdp2,
    split_trainer_config,
)
from tests.conftest import ROOT, the_run
from tests.data.test_batching import examples


def trainer_cfg(name: str) -> dict:
    with initialize_config_dir(str(ROOT / "conf"), version_base=None):
        return OmegaConf.to_container(
            compose("train", overrides=[f"trainer={name}"]).trainer, resolve=True
        )


def tiny() -> LlamaForCausalLM:
    return LlamaForCausalLM(
        LlamaConfig(
            vocab_size=50,
            hidden_size=16,
            intermediate_size=32,
            num_hidden_layers=2,
            num_attention_heads=2,
            max_position_embeddings=64,
        )
    )


def test_cpu_trainer_is_plain_lightning() -> None:
    kwargs, extras = split_trainer_config(trainer_cfg("cpu"))
    assert kwargs["strategy"] == "auto" and kwargs["precision"] == "32-true"
    assert not set(extras) & set(kwargs) - {"strategy"}  # limalab's keys never reach pl.Trainer
    assert build_strategy(extras["strategy"], tiny(), kwargs) == "auto"


def test_fsdp_wraps_decoder_layers() -> None:
    kwargs, extras = split_trainer_config(trainer_cfg("fsdp"))
    assert (
        kwargs["precision"] == "bf16-mixed"
        and kwargs["accelerator"] == "gpu"
        and "strategy" not in kwargs
    )
    strategy = build_strategy(extras["strategy"], tiny(), kwargs)
    assert isinstance(strategy, FSDPStrategy)
    assert strategy._state_dict_type == "sharded"
    assert LlamaDecoderLayer in strategy.kwargs["auto_wrap_policy"]._module_classes
    assert extras["activation_checkpointing"] is True


def test_fsdp2_cpu_is_model_parallel_over_two_processes() -> None:
    kwargs, extras = split_trainer_config(trainer_cfg("fsdp2_cpu"))
    strategy = build_strategy(extras["strategy"], tiny(), kwargs)
    assert isinstance(strategy, ModelParallelStrategy)
    assert strategy._data_parallel_size == 2 and strategy._tensor_parallel_size == 1
    assert strategy.process_group_backend == "gloo"


def test_unknown_strategy_names_the_key() -> None:
    with pytest.raises(ValueError, match="trainer.strategy.name: expected fsdp or fsdp2"):
        build_strategy({"name": "deepspeed"}, tiny(), {})


def test_prepare_model_keeps_plain_parameter_names() -> None:
    model = tiny()
    names = [n for n, _ in model.named_parameters()]
    prepare_model(model, {"attn_implementation": "eager", "activation_checkpointing": True})
    assert [n for n, _ in model.named_parameters()] == names
    assert model.is_gradient_checkpointing and model.config._attn_implementation == "eager"


def test_peak_table_and_flops(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    for name, peak in [
        ("NVIDIA H100 80GB HBM3", 989.0),
        ("NVIDIA H100 PCIe", 756.0),
        ("NVIDIA A100-SXM4-80GB", 312.0),
        ("NVIDIA H200", 989.0),
        ("NVIDIA L4", 121.0),
    ]:
        monkeypatch.setattr(torch.cuda, "get_device_name", lambda i=0, n=name: n)
        assert throughput.device_peak_tflops() == peak, name
    assert throughput.device_peak_tflops(123.0) == 123.0
    model = tiny()
    head = model.get_output_embeddings().weight.numel()
    body = (
        sum(p.numel() for p in model.parameters())
        - model.get_input_embeddings().weight.numel()
        - head
    )
    sizes = throughput.model_sizes(model)
    assert sizes == {"body": body, "head": head, "layers": 2, "hidden": 16}
    # 6N per real token, the head only where it runs, 12·layers·hidden per attention pair computed
    stats = {"tokens": 100, "head_tokens": 60, "attn_pairs": 2500}
    assert (
        throughput.step_flops(sizes, stats) == 6 * body * 100 + 6 * head * 60 + 12 * 2 * 16 * 2500
    )


def test_smoke_run_logs_throughput_and_the_layout_it_chose(smoke_run) -> None:
    work, _ = smoke_run
    logs = the_run(work / "runs") / "logs"
    rows = list(csv.DictReader((logs / "metrics.csv").open()))
    perf = [r for r in rows if r.get("perf/tokens_per_s")]
    assert perf and all(float(r["perf/tokens_per_s"]) > 0 for r in perf)
    assert all(float(r["perf/padding_efficiency"]) == 1.0 for r in perf)  # flat rows: no padding
    assert all(float(r["train/lr"]) > 0 and float(r["train/tokens"]) > 0 for r in perf)
    hparams = (logs / "hparams.yaml").read_text()
    assert (
        "train/layout_resolved: flat" in hparams and "varlen" in hparams
    )  # train.layout=auto, logged


def test_gpu_trainers_are_fsdp2_with_a_bf16_policy() -> None:
    """trainer=gpu (one GPU) and trainer=fsdp2 (every GPU): FSDP2 whose mixed-precision policy is
    what bf16-mixed means (bf16 compute, fp32 reduce, fp32 master), with Lightning's autocast
    off."""
    for name, devices, reshard in (("gpu", 1, False), ("fsdp2", -1, True)):
        cfg = trainer_cfg(name)
        assert cfg["precision"] == "bf16-mixed" and cfg["attn_implementation"] == "varlen"
        kwargs, extras = split_trainer_config(cfg)
        assert kwargs["precision"] == "32-true" and kwargs["devices"] == devices
        strategy = build_strategy(extras["strategy"], tiny(), kwargs)
        assert isinstance(strategy, FSDP2Strategy)
        mp = strategy.shard_kwargs["mp_policy"]
        assert (mp.param_dtype, mp.reduce_dtype) == (torch.bfloat16, torch.float32)
        assert strategy.shard_kwargs["reshard_after_forward"] is reshard
    kwargs, extras = split_trainer_config(
        {**trainer_cfg("gpu"), "precision": "32-true"}
    )  # the parity run
    assert "mp_policy" not in build_strategy(extras["strategy"], tiny(), kwargs).shard_kwargs
    kwargs, extras = split_trainer_config(
        trainer_cfg("fsdp")
    )  # FSDP1 beside it, Lightning's own precision
    assert kwargs["precision"] == "bf16-mixed" and isinstance(
        build_strategy(extras["strategy"], tiny(), kwargs), FSDPStrategy
    )


def tiny_llama(layers: int = 2) -> LlamaForCausalLM:
    torch.manual_seed(0)
    return LlamaForCausalLM(
        LlamaConfig(
            vocab_size=64,
            hidden_size=32,
            intermediate_size=64,
            num_hidden_layers=layers,
            num_attention_heads=4,
            num_key_value_heads=2,
            max_position_embeddings=128,
        )
    )


def flat_step(model: LlamaForCausalLM, seed: int = 0) -> torch.Tensor:
    rows = examples(6, seed=seed)
    nll, mask = token_nll(model, flat_batch(rows, 0))
    return (nll * mask).sum() / mask.sum()


def test_fsdp2_policies_compose_on_cpu(tmp_path) -> None:
    """The GPU default's sharding (bf16 policy; plus the CPU offload of the 7B plan) on a
    one-process gloo group: sharded fp32 master weights and fp32 gradients, the loss within bf16 of
    fp32's."""
    import torch.distributed as dist
    from torch.distributed.device_mesh import init_device_mesh

    reference = float(flat_step(prepare_model(tiny_llama(), {"attn_implementation": "varlen"})))
    dist.init_process_group(
        "gloo", store=dist.FileStore(str(tmp_path / "store"), 1), rank=0, world_size=1
    )
    try:
        mesh = init_device_mesh("cpu", (1,))
        for spec in ({"param_dtype": "bfloat16"}, {"param_dtype": "bfloat16", "cpu_offload": True}):
            model = prepare_model(
                tiny_llama(),
                {"attn_implementation": "varlen", "activation_checkpointing": "selective"},
            )
            shard_fsdp2(model, mesh, fsdp2_kwargs(spec))
            assert is_sharded(model)
            loss = flat_step(model)
            loss.backward()
            p = model.model.layers[0].mlp.up_proj.weight
            assert type(p).__name__ == "DTensor" and p.dtype == p.grad.dtype == torch.float32
            assert float(loss) == pytest.approx(reference, rel=2e-2)
            torch.optim.AdamW(model.parameters(), lr=1e-3).step()
    finally:
        dist.destroy_process_group()


class CountMatmuls(TorchDispatchMode):
    def __init__(self) -> None:
        super().__init__()
        self.n = 0

    def __torch_dispatch__(self, func, types, args=(), kwargs=None):
        self.n += func in (
            torch.ops.aten.mm.default,
            torch.ops.aten.addmm.default,
            torch.ops.aten.bmm.default,
        )
        return func(*args, **(kwargs or {}))


def test_activation_checkpointing_policies_keep_gradients_and_recompute_what_they_say() -> None:
    grads, matmuls = {}, {}
    for policy in (False, "full", "selective", 2):
        model = prepare_model(
            tiny_llama(layers=4),
            {"attn_implementation": "varlen", "activation_checkpointing": policy},
        )
        assert [layer.gradient_checkpointing for layer in model.model.layers] == {
            False: [False] * 4,
            2: [True, False, True, False],
        }.get(policy, [True] * 4)
        loss = flat_step(model)
        with CountMatmuls() as count:
            loss.backward()
        grads[policy] = torch.cat([p.grad.flatten() for p in model.parameters()])
        matmuls[policy] = count.n
    for policy in ("full", "selective", 2):
        assert torch.allclose(grads[policy], grads[False], rtol=1e-5, atol=1e-7), policy
    # full recomputes every layer's matmuls in backward, every-other-layer half of them, selective
    # none
    assert matmuls["full"] > matmuls[2] > matmuls["selective"] == matmuls[False]
    with pytest.raises(ValueError, match="trainer.activation_checkpointing: expected"):
        prepare_model(tiny_llama(), {"activation_checkpointing": "some"})


def test_compile_layers_compiles_each_decoder_layer(monkeypatch: pytest.MonkeyPatch) -> None:
    """trainer.compile=layers, traced by dynamo for real (the eager backend: no C++ toolchain in a
    unit test): same loss, plain parameter names, the root left eager."""
    import functools

    monkeypatch.setattr(torch, "compile", functools.partial(torch.compile, backend="eager"))
    plain = prepare_model(tiny_llama(), {"attn_implementation": "varlen"})
    model = prepare_model(tiny_llama(), {"attn_implementation": "varlen", "compile": "layers"})
    try:
        assert all(layer._compiled_call_impl is not None for layer in model.model.layers)
        assert model._compiled_call_impl is None
        assert [n for n, _ in model.named_parameters()] == [n for n, _ in plain.named_parameters()]
        for seed in (0, 1):  # a second set of lengths runs the same graph
            assert float(flat_step(model, seed)) == pytest.approx(
                float(flat_step(plain, seed)), rel=1e-5
            )
    finally:
        torch._dynamo.reset()
    with pytest.raises(ValueError, match="trainer.compile: expected"):
        prepare_model(tiny_llama(), {"compile": "everything"})
