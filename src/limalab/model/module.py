"""One LightningModule for pretraining the miniature base and for fine-tuning any LLaMA."""

from __future__ import annotations

import math
import warnings
from dataclasses import asdict, dataclass

import pytorch_lightning as pl
import torch
import torch.distributed as dist
from torch.optim.lr_scheduler import LambdaLR

from limalab.data.batching import label_nll
from limalab.model.strategy import is_sharded, shard_fsdp2

# training_step logs values it has already all-reduced itself, identical on every rank
warnings.filterwarnings("ignore", message=r"It is recommended to use `self.log\('train/")


def lr_lambda(schedule: str, total: int, warmup: int, final_ratio: float):
    """Multiplier of the peak lr at each optimizer step. ``linear``: LIMA's decay from the peak
    to ``final_ratio`` × peak at the last step (1e-5 → 1e-6), no warmup unless asked.
    ``cosine``: warmup then cosine to ``final_ratio`` (the base model's pretraining)."""

    def f(step: int) -> float:
        if warmup and step < warmup:
            return (step + 1) / warmup
        t = min(1.0, (step - warmup) / max(1, total - warmup - 1))
        if schedule == "linear":
            return 1.0 - (1.0 - final_ratio) * t
        if schedule == "cosine":
            return final_ratio + (1.0 - final_ratio) * 0.5 * (1 + math.cos(math.pi * t))
        if schedule == "constant":
            return 1.0
        raise ValueError(
            f"optim.schedule: unknown schedule {schedule!r}; expected linear, cosine or constant"
        )

    return f


@dataclass(frozen=True)
class Recipe:
    """The optimizer and schedule (conf/optim; the base model's pretraining sets its own)."""

    lr: float
    final_lr_ratio: float = 0.1
    betas: tuple[float, float] = (0.9, 0.95)
    weight_decay: float = 0.1
    schedule: str = "linear"
    warmup_steps: int = 0
    fused: bool | str = False
    lm_head_lr_scale: float = 1.0
    input_lr_scale: float = 1.0  # input embedding and norm gains (muP; config/base_recipe.py)

    @classmethod
    def from_optim(cls, optim: dict) -> Recipe:
        return cls(**{**optim, "betas": tuple(optim["betas"])})


class CausalLMModule(pl.LightningModule):
    def __init__(self, model: torch.nn.Module, recipe: Recipe) -> None:
        super().__init__()
        self.model = model
        self.last_step: dict[
            str, int
        ] = {}  # the last step's global counts (data/batching.py share_stats)
        self.last_loss: torch.Tensor | None = (
            None  # its global mean loss, on the device (read it when you must)
        )
        self.hparams_ = asdict(recipe)
        self.tokens_seen = 0

    def forward(self, **batch: torch.Tensor):
        return self.model(**batch)

    def configure_model(self) -> None:
        """FSDP2 (``trainer.strategy.name=fsdp2``, Lightning's ModelParallelStrategy): shard each
        decoder layer, then the rest, over the data-parallel mesh, with the strategy's policies
        (strategy.py). Other strategies wrap the model themselves."""
        from pytorch_lightning.strategies import ModelParallelStrategy

        strategy = self.trainer.strategy
        if not isinstance(strategy, ModelParallelStrategy) or is_sharded(self.model):
            return
        shard_fsdp2(
            self.model, self.device_mesh["data_parallel"], getattr(strategy, "shard_kwargs", {})
        )

    def training_step(self, batch: dict, batch_idx: int) -> torch.Tensor:
        """Mean NLL over the response tokens of the whole global batch: each rank's token sum is
        divided by the global token count (times the world size, which the gradient all-reduce
        averages away), so any layout on any number of ranks gives the one-process loss. The
        counts come from the collate (``stats``, host ints of the global batch): no device sync."""
        s = batch["stats"]
        world = dist.get_world_size() if dist.is_available() and dist.is_initialized() else 1
        loss_sum = label_nll(self.model, batch)[0].sum()
        loss = loss_sum * (world / max(s["loss_tokens"], 1))
        g_loss = loss_sum.detach()
        if (
            world > 1
        ):  # the logged loss is the global batch's on every rank (a collective, not a host sync)
            g_loss = g_loss.clone()
            dist.all_reduce(g_loss)
        self.tokens_seen += s["tokens"]
        self.last_step, self.last_loss = s, g_loss / max(s["loss_tokens"], 1)
        # one self.log per step (each costs milliseconds of Lightning bookkeeping); the lr, the
        # token count and the padding efficiency are logged every N steps by Throughput
        self.log(
            "train/loss",
            self.last_loss,
            prog_bar=True,
            on_step=True,
            on_epoch=True,
            batch_size=len(batch["input_ids"]),
        )
        return loss

    def on_save_checkpoint(self, checkpoint: dict) -> None:
        checkpoint["tokens_seen"] = self.tokens_seen

    def on_load_checkpoint(self, checkpoint: dict) -> None:
        self.tokens_seen = checkpoint.get("tokens_seen", 0)

    def configure_optimizers(self):
        h = self.hparams_
        head_ids = {id(p) for p in self.model.get_output_embeddings().parameters()}
        input_ids = {id(p) for p in self.model.get_input_embeddings().parameters()}
        decay, no_decay, head, embedding = [], [], [], []
        for name, p in self.model.named_parameters():
            if p.requires_grad:
                (
                    head
                    if id(p) in head_ids
                    else embedding
                    if id(p) in input_ids
                    else no_decay
                    if p.ndim < 2 or "norm" in name
                    else decay
                ).append(p)
        input_lr = h["lr"] * h["input_lr_scale"]
        groups = [
            {"params": decay, "weight_decay": h["weight_decay"]},
            {"params": embedding, "weight_decay": h["weight_decay"], "lr": input_lr},
            {"params": no_decay, "weight_decay": 0.0, "lr": input_lr},
            {
                "params": head,
                "weight_decay": h["weight_decay"],
                "lr": h["lr"] * h["lm_head_lr_scale"],
            },
        ]
        groups = [g for g in groups if g["params"]]
        fused = h["fused"]
        if (
            fused == "auto"
        ):  # PyTorch's fused kernel: one pass per tensor on CUDA and CPU (8x the CPU loop)
            fused = all(p.device.type in ("cuda", "cpu") for g in groups for p in g["params"])
        kwargs = {"fused": True} if fused else {}
        opt = torch.optim.AdamW(groups, lr=h["lr"], betas=h["betas"], **kwargs)
        total = int(self.trainer.estimated_stepping_batches)
        sched = LambdaLR(
            opt, lr_lambda(h["schedule"], total, h["warmup_steps"], h["final_lr_ratio"])
        )
        return {"optimizer": opt, "lr_scheduler": {"scheduler": sched, "interval": "step"}}
