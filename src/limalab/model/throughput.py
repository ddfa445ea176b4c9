"""Training throughput every N steps: non-pad tokens/s, padding efficiency and model FLOPs
utilisation (MFU) against the device's peak, logged like any metric (``perf/*``).

MFU counts the model's FLOPs per token as 6·N (N: parameters outside the input embedding,
forward + backward) plus 12·layers·hidden·T for attention, with T the mean example length
(each token attends within its own example, packed or not), over the bf16 dense peak of the
GPU (table below, or ``trainer.throughput.peak_tflops``) times the number of devices."""

from __future__ import annotations

import time

import pytorch_lightning as pl
import torch

# Dense bf16 tensor-core peaks (TFLOP/s, no sparsity), matched by substring of the device name;
# longer names first so "H100 PCIe" wins over "H100".
PEAK_BF16_TFLOPS = {
    "H100 PCIe": 756.0, "H100 NVL": 835.0, "GH200": 989.0, "H200": 989.0, "H100": 989.0, "B200": 2250.0,
    "A100": 312.0, "A800": 312.0, "L40S": 362.0, "A6000": 155.0, "A10G": 70.0, "A10": 125.0, "L4": 121.0,
    "RTX 4090": 165.0, "RTX 3090": 71.0, "V100": 125.0, "T4": 65.0,
}


def device_peak_tflops(configured: float | None = None) -> float | None:
    if configured:
        return float(configured)
    if not torch.cuda.is_available():
        return None  # no table for CPUs: configure trainer.throughput.peak_tflops to get an MFU
    name = torch.cuda.get_device_name(0)
    for key in sorted(PEAK_BF16_TFLOPS, key=len, reverse=True):
        if key in name:
            return PEAK_BF16_TFLOPS[key]
    return None


def flops_per_token(model: torch.nn.Module, mean_example_tokens: float) -> float:
    emb = model.get_input_embeddings().weight
    n = sum(p.numel() for p in model.parameters() if p is not emb)
    c = model.config
    return 6.0 * n + 12.0 * c.num_hidden_layers * c.hidden_size * mean_example_tokens


class Throughput(pl.Callback):
    """Reads the global per-step counts the module records (``last_step``) and logs over a
    window of ``every_n_steps`` optimizer steps."""

    def __init__(self, every_n_steps: int = 10, peak_tflops: float | None = None) -> None:
        self.every = max(1, int(every_n_steps))
        self.peak_cfg = peak_tflops
        self._reset()

    def _reset(self) -> None:
        self.t0, self.tokens, self.slots, self.examples, self.steps = None, 0.0, 0.0, 0.0, 0

    def on_train_batch_start(self, trainer: pl.Trainer, pl_module: pl.LightningModule, batch, batch_idx) -> None:
        if self.t0 is None:
            self.t0 = time.perf_counter()

    def on_train_batch_end(self, trainer: pl.Trainer, pl_module: pl.LightningModule, outputs, batch, batch_idx) -> None:
        s = getattr(pl_module, "last_step", None)
        if not s:
            return
        self.tokens += s["tokens"]
        self.slots += s["slots"]
        self.examples += s["examples"]
        self.steps += 1
        if self.steps < self.every:
            return
        if torch.cuda.is_available():
            torch.cuda.synchronize()
        dt = max(time.perf_counter() - self.t0, 1e-9)
        tps = self.tokens / dt
        metrics = {"perf/tokens_per_s": tps, "perf/examples_per_s": self.examples / dt,
                   "perf/padding_efficiency": self.tokens / max(self.slots, 1.0)}
        peak = device_peak_tflops(self.peak_cfg)
        if peak:
            fpt = flops_per_token(pl_module.model, self.tokens / max(self.examples, 1.0))
            metrics["perf/mfu"] = fpt * tps / (peak * 1e12 * trainer.world_size)
        pl_module.log_dict(metrics, on_step=True, on_epoch=False, rank_zero_only=True)
        self._reset()
