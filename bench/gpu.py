"""GPU training throughput through limalab's own path (train and trainer configs → strategy →
module → batches): tokens/s, MFU and padding efficiency of a >= 1B-parameter LLaMA (random init)
on Table 1's length distribution, and bf16-versus-fp32 loss parity over the same batches.

    python bench/gpu.py --trainer gpu  --steps 30 --parity   # one GPU (FSDP2, bf16 policy)
    python bench/gpu.py --trainer fsdp2 --steps 30           # every visible GPU, FSDP2
    python bench/gpu.py --trainer fsdp --steps 30            # every visible GPU, FSDP1
    python bench/gpu.py --trainer cpu --arch tiny --steps 3  # the CPU check that keeps it working

``bench/gpu.sh`` runs the set that fits 8 minutes and writes bench/gpu.json. A run records
itself as ``running`` before it starts, so one that was killed (time limit) stays visible; one
that runs out of GPU memory records ``OOM``.
"""

from __future__ import annotations

import argparse
import json
import time
from contextlib import nullcontext
from pathlib import Path

import pytorch_lightning as pl
import torch
from hydra import compose, initialize_config_dir
from omegaconf import OmegaConf
from transformers import LlamaConfig, LlamaForCausalLM

from limalab.data.datamodule import ChatDataModule, batching_of
from limalab.data.synthetic import table1_rows
from limalab.model import attention
from limalab.model.module import CausalLMModule, Recipe
from limalab.model.strategy import build_strategy, prepare_model, split_trainer_config
from limalab.model.throughput import device_peak_tflops, model_sizes, step_flops
from limalab.ranks import worker_rank

ROOT = Path(__file__).resolve().parents[1]

ARCHS = {  # ~1.1B: LLaMA-style, 32k vocabulary; 7b: LLaMA-7B's shape (docs/scale.md's memory plan)
    "1b": {
        "hidden_size": 2048,
        "num_hidden_layers": 22,
        "num_attention_heads": 32,
        "num_key_value_heads": 4,
        "intermediate_size": 5632,
    },
    "7b": {
        "hidden_size": 4096,
        "num_hidden_layers": 32,
        "num_attention_heads": 32,
        "num_key_value_heads": 32,
        "intermediate_size": 11008,
    },
    "tiny": {
        "hidden_size": 64,
        "num_hidden_layers": 2,
        "num_attention_heads": 4,
        "num_key_value_heads": 2,
        "intermediate_size": 128,
    },
}


def run_config(trainer: str, overrides: list[str]) -> dict:
    with initialize_config_dir(str(ROOT / "conf"), version_base=None):
        cfg = compose("train", overrides=[f"trainer={trainer}", *overrides])
    return OmegaConf.to_container(cfg, resolve=True)


class Recorder(pl.Callback):
    """Counts (host ints from the collate) and losses (device tensors, read once at the end) of
    the steps after the first two, which pay compilation, allocator and NCCL warm-up."""

    def __init__(self) -> None:
        self.losses: list[torch.Tensor] = []
        self.stats: dict[str, int] = {}
        self.t0, self.step = 0.0, 0

    def on_train_batch_end(self, trainer, pl_module, outputs, batch, batch_idx) -> None:
        self.step += 1
        self.losses.append(pl_module.last_loss)
        if self.step == 2:
            if torch.cuda.is_available():
                torch.cuda.synchronize()
            self.t0 = time.perf_counter()
        elif self.step > 2:
            self.stats = {k: self.stats.get(k, 0) + v for k, v in pl_module.last_step.items()}


def train(
    arch: dict,
    trainer_name: str,
    precision: str | None,
    steps: int,
    max_length: int,
    batch: int,
    sets: list[str],
) -> dict:
    cfg = run_config(
        trainer_name, [*sets, *([f"trainer.precision={precision}"] if precision else [])]
    )
    kwargs, extras = split_trainer_config(cfg["trainer"])
    torch.manual_seed(0)
    with (
        torch.device("cuda") if torch.cuda.is_available() else nullcontext()
    ):  # init where it trains: faster
        model = LlamaForCausalLM(
            LlamaConfig(
                vocab_size=32000,
                max_position_embeddings=max_length,
                tie_word_embeddings=False,
                pad_token_id=0,
                **arch,
            )
        )
    model.config.use_cache = False
    sizes = model_sizes(model)  # before sharding
    rows = table1_rows(32000, max_length)
    prepare_model(model, extras)
    module = CausalLMModule(model, Recipe(lr=1e-5, fused=cfg["optim"]["fused"]))
    dm = ChatDataModule(
        rows,
        batching_of({**cfg["train"], "batch_size": batch, "max_length": max_length}, extras),
        0,
        seed=0,
    )
    rec = Recorder()
    kwargs |= {"enable_progress_bar": False, "enable_checkpointing": False, "logger": False}
    trainer = pl.Trainer(
        **{**kwargs, "strategy": build_strategy(extras.get("strategy"), model, kwargs)},
        max_steps=steps,
        use_distributed_sampler=False,
        callbacks=[rec],
    )
    trainer.fit(module, datamodule=dm)
    if torch.cuda.is_available():
        torch.cuda.synchronize()
    dt = time.perf_counter() - rec.t0
    peak = device_peak_tflops((extras.get("throughput") or {}).get("peak_tflops"))
    s = rec.stats
    return {
        "trainer": trainer_name,
        "overrides": sets,
        "precision": cfg["trainer"]["precision"],
        "devices": trainer.world_size,
        "params": sum(sizes[k] for k in ("body", "head")) + 32000 * arch["hidden_size"],
        "steps": steps,
        "batch": batch,
        "max_length": max_length,
        "layout": dm.layout,
        "attention": extras.get("attn_implementation"),
        "flash_attn_installed": attention.HAS_FLASH_ATTN,
        "activation_checkpointing": extras.get("activation_checkpointing"),
        "compile": extras.get("compile"),
        "tokens_per_s": round(s["tokens"] / dt, 1),
        "tokens_per_s_per_device": round(s["tokens"] / dt / trainer.world_size, 1),
        "padding_efficiency": round(s["tokens"] / max(s["slots"], 1), 4),
        "mfu": round(step_flops(sizes, s) / dt / (peak * 1e12 * trainer.world_size), 4)
        if peak
        else None,
        "peak_tflops_per_device": peak,
        "losses": [round(float(x), 5) for x in rec.losses],
        "device": torch.cuda.get_device_name(0) if torch.cuda.is_available() else "cpu",
        "max_memory_gb": round(torch.cuda.max_memory_allocated() / 2**30, 2)
        if torch.cuda.is_available()
        else None,
        "status": "done",
    }


def record(out: Path, key: str, result: dict) -> None:
    if worker_rank() != 0:
        return
    old = json.loads(out.read_text()) if out.exists() else {}
    out.write_text(json.dumps({**old, key: result}, indent=2) + "\n")


def main() -> None:
    ap = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    ap.add_argument("--trainer", default="gpu", help="conf/trainer/<name>.yaml")
    ap.add_argument("--arch", default="1b", choices=sorted(ARCHS))
    ap.add_argument("--steps", type=int, default=30)
    ap.add_argument("--batch", type=int, default=32)
    ap.add_argument("--max-length", type=int, default=2048)
    ap.add_argument(
        "--set",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="Hydra override, e.g. trainer.activation_checkpointing=selective, "
        "train.pad_to_multiple_of=256",
    )
    ap.add_argument(
        "--parity",
        action="store_true",
        help="also train fp32 on the same batches and compare losses",
    )
    ap.add_argument("--out", type=Path, default=ROOT / "bench" / "gpu.json")
    args = ap.parse_args()
    arch = ARCHS[args.arch]
    key = f"{args.trainer}/{args.arch}/batch{args.batch}" + "".join(f"/{o}" for o in args.set)
    record(args.out, key, {"status": "running", "started": time.ctime()})
    try:
        result = train(arch, args.trainer, None, args.steps, args.max_length, args.batch, args.set)
        if args.parity:
            fp32 = train(
                arch, args.trainer, "32-true", args.steps, args.max_length, args.batch, args.set
            )
            rel = [
                abs(a - b) / abs(b) for a, b in zip(result["losses"], fp32["losses"], strict=True)
            ]
            result["parity_vs_fp32"] = {
                "max_rel_loss_diff": round(max(rel), 5),
                "mean_rel_loss_diff": round(sum(rel) / len(rel), 5),
                "fp32_tokens_per_s": fp32["tokens_per_s"],
                "fp32_losses": fp32["losses"],
            }
    except torch.cuda.OutOfMemoryError as e:
        record(
            args.out,
            key,
            {"status": "OOM", "error": str(e).splitlines()[0], "started": time.ctime()},
        )
        raise
    record(args.out, key, result)
    if worker_rank() == 0:
        print(json.dumps({k: v for k, v in result.items() if k != "losses"}, indent=2))


if __name__ == "__main__":
    main()
