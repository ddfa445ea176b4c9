"""Training throughput every N steps: non-pad tokens/s, padding efficiency and model FLOPs
utilisation (MFU) against the device's peak, logged like any metric (``perf/*``), with the
learning rate and the tokens trained so far (``train/lr``, ``train/tokens``).

MFU counts the FLOPs the step actually computes (``step_flops``): 6·N per real token (N: the
parameters outside the input embedding and the LM head, forward + backward), 6·N_head per
position the LM head computes (only those with a label: data/batching.py), and 12·layers·hidden
per query-key pair the attention computes (Σnᵢ² under a varlen kernel, rows × width² under a
dense one), over the bf16 dense peak of the GPU (table below, or
``trainer.throughput.peak_tflops``) times the number of devices. The counts are host ints from
the collate, so logging reads no device value except the clock's synchronize every N steps."""

from __future__ import annotations

import time

import pytorch_lightning as pl
import torch

# Dense bf16 tensor-core peaks (TFLOP/s, no sparsity), matched by substring of the device name;
# longer names first so "H100 PCIe" wins over "H100".
PEAK_BF16_TFLOPS = {
    "H100 PCIe": 756.0,
    "H100 NVL": 835.0,
    "GH200": 989.0,
    "H200": 989.0,
    "H100": 989.0,
    "B200": 2250.0,
    "A100": 312.0,
    "A800": 312.0,
    "L40S": 362.0,
    "A6000": 155.0,
    "A10G": 70.0,
    "A10": 125.0,
    "L4": 121.0,
    "RTX 4090": 165.0,
    "RTX 3090": 71.0,
    "V100": 125.0,
    "T4": 65.0,
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


def model_sizes(model: torch.nn.Module) -> dict[str, int]:
    """Parameter counts for ``step_flops``, read before any sharding (FSDP1 leaves shards):
    body (outside the input embedding and the LM head), head, layers, hidden width."""
    emb = model.get_input_embeddings().weight
    head = list(model.get_output_embeddings().parameters())  # the input embedding itself when tied
    ids = {id(p) for p in head}
    body = sum(p.numel() for p in model.parameters() if p is not emb and id(p) not in ids)
    return {
        "body": body,
        "head": sum(p.numel() for p in head),
        "layers": model.config.num_hidden_layers,
        "hidden": model.config.hidden_size,
    }


def step_flops(sizes: dict[str, int], stats: dict[str, float]) -> float:
    """Training FLOPs (forward + backward) of a step with these counts (``share_stats``)."""
    return (
        6.0 * sizes["body"] * stats["tokens"]
        + 6.0 * sizes["head"] * stats["head_tokens"]
        + 12.0 * sizes["layers"] * sizes["hidden"] * stats["attn_pairs"]
    )


class Throughput(pl.Callback):
    """Reads the global per-step counts the module records (``last_step``) and logs over a
    window of ``every_n_steps`` optimizer steps."""

    def __init__(self, every_n_steps: int = 10, peak_tflops: float | None = None) -> None:
        self.every = max(1, int(every_n_steps))
        self.peak_cfg = peak_tflops
        self.sizes: dict[str, int] | None = None
        self._reset()

    def _reset(self) -> None:
        self.t0, self.steps, self.sum = None, 0, {}

    def setup(self, trainer: pl.Trainer, pl_module: pl.LightningModule, stage: str) -> None:
        self.sizes = model_sizes(pl_module.model)  # before the strategy shards it

    def on_train_batch_start(
        self, trainer: pl.Trainer, pl_module: pl.LightningModule, batch, batch_idx
    ) -> None:
        if self.t0 is None:
            self.t0 = time.perf_counter()

    def on_train_batch_end(
        self, trainer: pl.Trainer, pl_module: pl.LightningModule, outputs, batch, batch_idx
    ) -> None:
        s = getattr(pl_module, "last_step", None)
        if not s:
            return
        self.sum = {k: self.sum.get(k, 0) + v for k, v in s.items()}
        self.steps += 1
        if self.steps < self.every:
            return
        if torch.cuda.is_available():
            torch.cuda.synchronize()
        dt = max(time.perf_counter() - self.t0, 1e-9)
        tps = self.sum["tokens"] / dt
        metrics = {
            "perf/tokens_per_s": tps,
            "perf/examples_per_s": self.sum["examples"] / dt,
            "perf/padding_efficiency": self.sum["tokens"] / max(self.sum["slots"], 1),
            "train/lr": pl_module.lr_schedulers().get_last_lr()[0],
            "train/tokens": float(getattr(pl_module, "tokens_seen", 0)),
        }
        peak = device_peak_tflops(self.peak_cfg)
        if peak:
            self.sizes = self.sizes or model_sizes(pl_module.model)
            metrics["perf/mfu"] = (
                step_flops(self.sizes, self.sum) / dt / (peak * 1e12 * trainer.world_size)
            )
        pl_module.log_dict(metrics, on_step=True, on_epoch=False, rank_zero_only=True)
        self._reset()
