"""GPU training throughput through limalab's own path (trainer config → strategy → module →
packed batches): tokens/s, MFU and padding efficiency of a >= 1B-parameter LLaMA (random init)
on Table 1's length distribution, and bf16-versus-fp32 loss parity over the same batches.

    python bench/gpu.py --trainer gpu  --steps 30 --parity   # one GPU
    python bench/gpu.py --trainer fsdp --steps 30            # every visible GPU, FSDP
    python bench/gpu.py --trainer cpu --arch tiny --steps 3  # the CPU check that keeps it working

``bench/gpu.sh`` runs the first two and writes bench/gpu.json.
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import pytorch_lightning as pl
import torch
from hydra import compose, initialize_config_dir
from omegaconf import OmegaConf
from transformers import LlamaConfig, LlamaForCausalLM

from limalab.data.datamodule import ChatDataModule
from limalab.data.synthetic import table1_rows
from limalab.model.module import CausalLMModule
from limalab.model.strategy import build_strategy, prepare_model, split_trainer_config
from limalab.model.throughput import device_peak_tflops, flops_per_token
from limalab.ranks import worker_rank

ROOT = Path(__file__).resolve().parents[1]

ARCHS = {  # ~1.1B: LLaMA-style, 32k vocabulary
    "1b": {"hidden_size": 2048, "num_hidden_layers": 22, "num_attention_heads": 32, "num_key_value_heads": 4,
           "intermediate_size": 5632},
    "tiny": {"hidden_size": 64, "num_hidden_layers": 2, "num_attention_heads": 4, "num_key_value_heads": 2,
             "intermediate_size": 128},
}


def trainer_config(name: str, overrides: list[str]) -> dict:
    with initialize_config_dir(str(ROOT / "conf"), version_base=None):
        cfg = compose("train", overrides=[f"trainer={name}", *overrides])
    return OmegaConf.to_container(cfg.trainer, resolve=True)


class Recorder(pl.Callback):
    def __init__(self) -> None:
        self.losses: list[float] = []
        self.tokens, self.slots, self.examples, self.t0, self.step = 0.0, 0.0, 0.0, 0.0, 0

    def on_train_batch_start(self, trainer, pl_module, batch, batch_idx) -> None:
        self.step += 1
        if self.step == 3:  # steps 1-2 pay compilation, allocator and NCCL warm-up
            if torch.cuda.is_available():
                torch.cuda.synchronize()
            self.t0 = time.perf_counter()

    def on_train_batch_end(self, trainer, pl_module, outputs, batch, batch_idx) -> None:
        s = pl_module.last_step
        self.losses.append(float(trainer.callback_metrics["train/loss_step"]))
        if self.step >= 3:
            self.tokens += s["tokens"]
            self.slots += s["slots"]
            self.examples += s["examples"]


def train(arch: dict, trainer_name: str, precision: str | None, steps: int, max_length: int,
          batch: int, sets: list[str]) -> dict:
    overrides = [*sets, *([f"trainer.precision={precision}"] if precision else [])]
    kwargs, extras = split_trainer_config(trainer_config(trainer_name, overrides))
    torch.manual_seed(0)
    model = LlamaForCausalLM(LlamaConfig(vocab_size=32000, max_position_embeddings=max_length,
                                         tie_word_embeddings=False, pad_token_id=0, **arch))
    model.config.use_cache = False
    n_params = sum(p.numel() for p in model.parameters())
    rows = table1_rows(32000, max_length)
    fpt = flops_per_token(model, sum(len(ids) for ids, _ in rows) / len(rows))  # before sharding
    prepare_model(model, extras)
    module = CausalLMModule(model, lr=1e-5, fused="auto")
    dm = ChatDataModule(rows, batch, 0, seed=0, layout="pack", max_length=max_length)
    rec = Recorder()
    kwargs |= {"enable_progress_bar": False, "enable_checkpointing": False, "logger": False}
    trainer = pl.Trainer(**{**kwargs, "strategy": build_strategy(extras.get("strategy"), model, kwargs)},
                         max_steps=steps, use_distributed_sampler=False, callbacks=[rec])
    trainer.fit(module, datamodule=dm)
    if torch.cuda.is_available():
        torch.cuda.synchronize()
    dt = time.perf_counter() - rec.t0
    tps = rec.tokens / dt
    peak = device_peak_tflops(extras.get("throughput", {}).get("peak_tflops") if extras.get("throughput") else None)
    out = {"trainer": trainer_name, "overrides": sets, "precision": kwargs.get("precision"), "devices": trainer.world_size,
           "params": n_params, "steps": steps, "batch": batch, "max_length": max_length,
           "tokens_per_s": round(tps, 1), "tokens_per_s_per_device": round(tps / trainer.world_size, 1),
           "padding_efficiency": round(rec.tokens / max(rec.slots, 1), 4),
           "mfu": round(fpt * tps / (peak * 1e12 * trainer.world_size), 4) if peak else None,
           "peak_tflops_per_device": peak, "losses": [round(x, 5) for x in rec.losses],
           "device": torch.cuda.get_device_name(0) if torch.cuda.is_available() else "cpu",
           "max_memory_gb": round(torch.cuda.max_memory_allocated() / 2**30, 2) if torch.cuda.is_available() else None}
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--trainer", default="gpu", help="conf/trainer/<name>.yaml")
    ap.add_argument("--arch", default="1b", choices=sorted(ARCHS))
    ap.add_argument("--steps", type=int, default=30)
    ap.add_argument("--batch", type=int, default=32)
    ap.add_argument("--max-length", type=int, default=2048)
    ap.add_argument("--set", action="append", default=[], metavar="KEY=VALUE",
                    help="Hydra override of the trainer config, e.g. trainer.activation_checkpointing=true")
    ap.add_argument("--parity", action="store_true", help="also train fp32 on the same batches and compare losses")
    ap.add_argument("--out", type=Path, default=ROOT / "bench" / "gpu.json")
    args = ap.parse_args()
    arch = ARCHS[args.arch]
    result = train(arch, args.trainer, None, args.steps, args.max_length, args.batch, args.set)
    if args.parity:
        fp32 = train(arch, args.trainer, "32-true", args.steps, args.max_length, args.batch, args.set)
        rel = [abs(a - b) / abs(b) for a, b in zip(result["losses"], fp32["losses"], strict=True)]
        result["parity_vs_fp32"] = {"max_rel_loss_diff": round(max(rel), 5), "mean_rel_loss_diff": round(sum(rel) / len(rel), 5),
                                    "fp32_tokens_per_s": fp32["tokens_per_s"], "fp32_losses": fp32["losses"]}
    if worker_rank() != 0:
        return
    old = json.loads(args.out.read_text()) if args.out.exists() else {}
    old[f"{args.trainer}/{args.arch}/batch{args.batch}" + "".join(f"/{o}" for o in args.set)] = result
    args.out.write_text(json.dumps(old, indent=2) + "\n")
    print(json.dumps({k: v for k, v in result.items() if k != "losses"}, indent=2))


if __name__ == "__main__":
    main()
