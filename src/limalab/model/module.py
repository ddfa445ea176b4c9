"""One LightningModule for pretraining the miniature base and for fine-tuning any LLaMA."""

from __future__ import annotations

import math

import pytorch_lightning as pl
import torch
from torch.optim.lr_scheduler import LambdaLR


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
        raise ValueError(f"optim.schedule: unknown schedule {schedule!r}; expected linear, cosine or constant")

    return f


class CausalLMModule(pl.LightningModule):
    def __init__(self, model: torch.nn.Module, lr: float, final_lr_ratio: float = 0.1,
                 betas: tuple[float, float] = (0.9, 0.95), weight_decay: float = 0.1,
                 schedule: str = "linear", warmup_steps: int = 0, fused: bool = False,
                 lm_head_lr_scale: float = 1.0) -> None:
        super().__init__()
        self.model = model
        self.hparams_ = dict(lr=lr, final_lr_ratio=final_lr_ratio, betas=tuple(betas), weight_decay=weight_decay,
                             schedule=schedule, warmup_steps=warmup_steps, fused=fused,
                             lm_head_lr_scale=lm_head_lr_scale)
        self.tokens_seen = 0

    def forward(self, **batch: torch.Tensor):
        return self.model(**batch)

    def training_step(self, batch: dict[str, torch.Tensor], batch_idx: int) -> torch.Tensor:
        out = self.model(input_ids=batch["input_ids"], attention_mask=batch["attention_mask"], labels=batch["labels"])
        n_tokens = int(batch["attention_mask"].sum())
        self.tokens_seen += n_tokens
        self.log("train/loss", out.loss, prog_bar=True, on_step=True, on_epoch=True, batch_size=len(batch["input_ids"]))
        self.log("train/lr", self.lr_schedulers().get_last_lr()[0], on_step=True, on_epoch=False)
        self.log("train/tokens", float(self.tokens_seen), on_step=True, on_epoch=False, reduce_fx="max")
        return out.loss

    def on_save_checkpoint(self, checkpoint: dict) -> None:
        checkpoint["tokens_seen"] = self.tokens_seen

    def on_load_checkpoint(self, checkpoint: dict) -> None:
        self.tokens_seen = checkpoint.get("tokens_seen", 0)

    def configure_optimizers(self):
        h = self.hparams_
        head_ids = {id(p) for p in self.model.get_output_embeddings().parameters()}
        decay, no_decay, head = [], [], []
        for name, p in self.model.named_parameters():
            if p.requires_grad:
                (head if id(p) in head_ids else no_decay if p.ndim < 2 or "norm" in name else decay).append(p)
        groups = [{"params": decay, "weight_decay": h["weight_decay"]}, {"params": no_decay, "weight_decay": 0.0},
                  {"params": head, "weight_decay": h["weight_decay"], "lr": h["lr"] * h["lm_head_lr_scale"]}]
        groups = [g for g in groups if g["params"]]
        kwargs = {"fused": True} if h["fused"] else {}
        opt = torch.optim.AdamW(groups, lr=h["lr"], betas=h["betas"], **kwargs)
        total = int(self.trainer.estimated_stepping_batches)
        sched = LambdaLR(opt, lr_lambda(h["schedule"], total, h["warmup_steps"], h["final_lr_ratio"]))
        return {"optimizer": opt, "lr_scheduler": {"scheduler": sched, "interval": "step"}}
