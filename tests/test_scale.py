"""Trainer configs become the right Lightning strategies; throughput and MFU are computed from
the counts the module records; a smoke run logs them."""

from __future__ import annotations

import csv

import pytest
import torch
from hydra import compose, initialize_config_dir
from omegaconf import OmegaConf
from pytorch_lightning.strategies import FSDPStrategy, ModelParallelStrategy
from transformers import LlamaConfig, LlamaForCausalLM
from transformers.models.llama.modeling_llama import LlamaDecoderLayer

from limalab.model import throughput
from limalab.model.strategy import build_strategy, prepare_model, split_trainer_config

from .conftest import ROOT, the_run


def trainer_cfg(name: str) -> dict:
    with initialize_config_dir(str(ROOT / "conf"), version_base=None):
        return OmegaConf.to_container(compose("train", overrides=[f"trainer={name}"]).trainer, resolve=True)


def tiny() -> LlamaForCausalLM:
    return LlamaForCausalLM(LlamaConfig(vocab_size=50, hidden_size=16, intermediate_size=32, num_hidden_layers=2,
                                        num_attention_heads=2, max_position_embeddings=64))


def test_cpu_trainer_is_plain_lightning() -> None:
    kwargs, extras = split_trainer_config(trainer_cfg("cpu"))
    assert kwargs["strategy"] == "auto" and kwargs["precision"] == "32-true"
    assert not set(extras) & set(kwargs) - {"strategy"}  # limalab's keys never reach pl.Trainer
    assert build_strategy(extras["strategy"], tiny(), kwargs) == "auto"


def test_fsdp_wraps_decoder_layers() -> None:
    kwargs, extras = split_trainer_config(trainer_cfg("fsdp"))
    assert kwargs["precision"] == "bf16-mixed" and kwargs["accelerator"] == "gpu" and "strategy" not in kwargs
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
    for name, peak in [("NVIDIA H100 80GB HBM3", 989.0), ("NVIDIA H100 PCIe", 756.0), ("NVIDIA A100-SXM4-80GB", 312.0),
                       ("NVIDIA H200", 989.0), ("NVIDIA L4", 121.0)]:
        monkeypatch.setattr(torch.cuda, "get_device_name", lambda i=0, n=name: n)
        assert throughput.device_peak_tflops() == peak, name
    assert throughput.device_peak_tflops(123.0) == 123.0
    model = tiny()
    n = sum(p.numel() for p in model.parameters()) - model.get_input_embeddings().weight.numel()
    assert throughput.flops_per_token(model, 10) == 6 * n + 12 * 2 * 16 * 10


def test_smoke_run_logs_throughput(smoke_run) -> None:
    work, _ = smoke_run
    rows = list(csv.DictReader((the_run(work / "runs") / "logs" / "metrics.csv").open()))
    perf = [r for r in rows if r.get("perf/tokens_per_s")]
    assert perf and all(float(r["perf/tokens_per_s"]) > 0 for r in perf)
    eff = [float(r["perf/padding_efficiency"]) for r in perf]
    assert all(0.5 < e <= 1.0 for e in eff)
