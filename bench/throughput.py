"""Training throughput: limalab's Lightning module and batching against HF ``Trainer``, on the
same tiny LLaMA, the same examples, fp32, SDPA attention, AdamW, batch 32, measured side by side.

    python bench/throughput.py [--steps 6] [--out bench/latest.json]

Two length distributions:
- ``table1``: 1,000 examples whose prompt and response lengths follow Table 1's per-source means
  (LIMA.md: e.g. wikiHow 12 in / 1,811 out, Natural Instructions 236 / 92), drawn log-normal
  around each mean, trimmed to max length 2,048 (the paper's).
- ``world``: the miniature world's default mix (data=lima_mix, 1,000 examples) as the
  pipeline tokenizes it, max length 256.

Arms: HF ``Trainer`` with its padding collator (``DataCollatorForSeq2Seq``: each batch padded to
its longest example), HF ``Trainer`` grouping by length (``group_by_length``; in transformers 5
``train_sampling_strategy="group_by_length"``), and limalab with
``train.layout=pack``. The figure is non-pad training tokens per second, from the second step
on (the first pays one-off costs). Writes ``train_tokens_per_s_vs_hf_trainer`` (goal >= 2),
``..._vs_hf_trainer_grouped``, the same on the world mix, and limalab's ``padding_efficiency``
(goal >= 0.95) into bench/latest.json, and a table into bench/throughput.md.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import tempfile
import time
from pathlib import Path

import pytorch_lightning as pl
import torch
from transformers import (
    DataCollatorForSeq2Seq,
    LlamaConfig,
    LlamaForCausalLM,
    PreTrainedTokenizerFast,
    Trainer,
    TrainerCallback,
    TrainingArguments,
)

from limalab.data.chat import IGNORE
from limalab.data.datamodule import ChatDataModule
from limalab.data.synthetic import Row, table1_rows
from limalab.model.module import CausalLMModule

ROOT = Path(__file__).resolve().parents[1]
ARCH = {"hidden_size": 128, "num_hidden_layers": 2, "num_attention_heads": 4, "intermediate_size": 344}
VOCAB = 8000  # Table 1 arm: small enough that a 2,048-token step takes seconds on 2 cores
BATCH = 32


def world_rows(cache_dir: Path) -> tuple[list[Row], int, int]:
    from hydra import compose, initialize_config_dir
    from omegaconf import OmegaConf

    from limalab.data.chat import ChatFormat
    from limalab.data.mix import build_mix
    from limalab.data.tokenized import tokenize
    from limalab.world.build import WorldConfig, build_world
    from limalab.world.tokenizer import world_tokenizer

    with initialize_config_dir(str(ROOT / "conf"), version_base=None):
        cfg = OmegaConf.to_container(compose("train", overrides=[f"cache_dir={cache_dir}"]), resolve=True)
    world_dir = build_world(WorldConfig(**cfg["world"]), cache_dir)
    eot = cfg["model"]["eot_token"]
    tok = world_tokenizer(world_dir, cache_dir, eot)
    examples, manifest = build_mix(cfg["data"], world_dir, cache_dir)
    max_length = int(cfg["train"]["max_length"])
    rows, _ = tokenize(examples, manifest["sha256"], ChatFormat(tok, eot), max_length, cache_dir)
    return rows, len(tok), max_length


def model(vocab: int, max_length: int) -> LlamaForCausalLM:
    torch.manual_seed(0)
    cfg = LlamaConfig(vocab_size=vocab, max_position_embeddings=max_length, attn_implementation="sdpa",
                      tie_word_embeddings=False, pad_token_id=0, **ARCH)
    return LlamaForCausalLM(cfg)


class _Clock:
    """Non-pad tokens and wall time from the start of the second step to the end of the last."""

    def __init__(self) -> None:
        self.step, self.t0, self.tokens, self.slots = 0, 0.0, 0, 0

    def begin(self) -> None:
        self.step += 1
        if self.step == 2:
            self.t0 = time.perf_counter()

    def end(self, real: int, slots: int) -> None:
        if self.step >= 2:
            self.tokens += real
            self.slots += slots

    def result(self) -> dict[str, float]:
        dt = time.perf_counter() - self.t0
        return {"tokens_per_s": round(self.tokens / dt, 1), "padding_efficiency": round(self.tokens / self.slots, 4),
                "seconds": round(dt, 1), "tokens": self.tokens}


def run_limalab(rows: list[Row], vocab: int, max_length: int, steps: int) -> dict[str, float]:
    clock = _Clock()

    class Timer(pl.Callback):
        def on_train_batch_start(self, trainer, pl_module, batch, batch_idx) -> None:
            clock.begin()

        def on_train_batch_end(self, trainer, pl_module, outputs, batch, batch_idx) -> None:
            s = pl_module.last_step
            clock.end(int(s["tokens"]), int(s["slots"]))

    module = CausalLMModule(model(vocab, max_length), lr=1e-4)
    dm = ChatDataModule(rows, BATCH, 0, seed=0, layout="pack", max_length=max_length)
    trainer = pl.Trainer(accelerator="cpu", devices=1, precision="32-true", max_steps=steps, logger=False,
                         enable_checkpointing=False, enable_progress_bar=False, enable_model_summary=False,
                         use_distributed_sampler=False, callbacks=[Timer()])
    trainer.fit(module, datamodule=dm)
    return clock.result()


def run_hf(rows: list[Row], vocab: int, max_length: int, steps: int, grouped: bool, work: Path) -> dict[str, float]:
    from tokenizers import Tokenizer
    from tokenizers.models import WordLevel

    clock = _Clock()
    tok = PreTrainedTokenizerFast(tokenizer_object=Tokenizer(WordLevel({"<pad>": 0, "<unk>": 1}, unk_token="<unk>")),
                                  pad_token="<pad>", unk_token="<unk>")
    pad = DataCollatorForSeq2Seq(tok, label_pad_token_id=IGNORE, padding="longest")

    fetched: list[tuple[int, int]] = []  # the loader may fetch ahead: steps consume these in order

    def collate(features: list[dict]) -> dict[str, torch.Tensor]:
        batch = pad(features)
        fetched.append((int(batch["attention_mask"].sum()), batch["input_ids"].numel()))
        return batch

    class Timer(TrainerCallback):
        def on_step_begin(self, args, state, control, **kw) -> None:
            clock.begin()

        def on_step_end(self, args, state, control, **kw) -> None:
            clock.end(*fetched.pop(0))

    data = [{"input_ids": ids, "attention_mask": [1] * len(ids), "labels": lab} for ids, lab in rows]
    args = TrainingArguments(output_dir=str(work / ("hf-grouped" if grouped else "hf")), per_device_train_batch_size=BATCH,
                             max_steps=steps, learning_rate=1e-4, lr_scheduler_type="linear", optim="adamw_torch",
                             adam_beta2=0.95, weight_decay=0.1, logging_strategy="no", save_strategy="no", report_to=[],
                             use_cpu=True, train_sampling_strategy="group_by_length" if grouped else "random", dataloader_num_workers=0, seed=0,
                             disable_tqdm=True, remove_unused_columns=False)
    trainer = Trainer(model=model(vocab, max_length), args=args, train_dataset=data, data_collator=collate,
                      callbacks=[Timer()])
    trainer.train()
    return clock.result()


def compare(name: str, rows: list[Row], vocab: int, max_length: int, steps: int, work: Path) -> dict:
    out = {"limalab_pack": run_limalab(rows, vocab, max_length, steps),
           "hf_trainer": run_hf(rows, vocab, max_length, steps, False, work),
           "hf_trainer_grouped": run_hf(rows, vocab, max_length, steps, True, work)}
    lengths = [len(ids) for ids, _ in rows]
    out["examples"], out["max_length"], out["mean_tokens"] = len(rows), max_length, round(sum(lengths) / len(lengths), 1)
    print(name, json.dumps(out))
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--steps", type=int, default=6, help="optimizer steps per arm (the first is not timed)")
    ap.add_argument("--world-steps", type=int, default=60, help="steps on the world mix (its steps are short)")
    ap.add_argument("--cache", type=Path, default=None, help="world cache (default: LIMALAB_CACHE or a temp dir)")
    ap.add_argument("--out", type=Path, default=ROOT / "bench" / "latest.json")
    args = ap.parse_args()
    torch.set_num_threads(os.cpu_count() or 1)
    work = Path(tempfile.mkdtemp(prefix="limalab-tput-", dir=os.environ.get("TMPDIR")))
    cache = args.cache or Path(os.environ.get("LIMALAB_CACHE", work / "cache"))
    t1 = compare("table1", table1_rows(VOCAB, 2048), VOCAB, 2048, args.steps, work)
    rows, vocab, max_length = world_rows(cache)
    w = compare("world", rows, vocab, max_length, args.world_steps, work)

    def ratio(d: dict, arm: str) -> float:
        return round(d["limalab_pack"]["tokens_per_s"] / d[arm]["tokens_per_s"], 2)

    results = {
        "train_tokens_per_s_vs_hf_trainer": ratio(t1, "hf_trainer"),
        "train_tokens_per_s_vs_hf_trainer_grouped": ratio(t1, "hf_trainer_grouped"),
        "world_train_tokens_per_s_vs_hf_trainer": ratio(w, "hf_trainer"),
        "world_train_tokens_per_s_vs_hf_trainer_grouped": ratio(w, "hf_trainer_grouped"),
        "padding_efficiency": t1["limalab_pack"]["padding_efficiency"],
        "world_padding_efficiency": w["limalab_pack"]["padding_efficiency"],
        "throughput_detail": {"table1": t1, "world": w, "steps": args.steps, "world_steps": args.world_steps, "batch": BATCH, "arch": ARCH,
                              "host": platform.node(), "cpus": os.cpu_count(), "started": time.ctime()},
    }
    results["throughput_goals_met"] = {"train_tokens_per_s_vs_hf_trainer >= 2": results["train_tokens_per_s_vs_hf_trainer"] >= 2,
                                       "padding_efficiency >= 0.95": results["padding_efficiency"] >= 0.95}
    old = json.loads(args.out.read_text()) if args.out.exists() else {}
    args.out.write_text(json.dumps({**old, **results}, indent=2) + "\n")
    lines = ["| lengths | arm | non-pad tokens/s | padding efficiency | limalab / arm |", "|---|---|---|---|---|"]
    for name, d in (("Table 1 (max 2,048)", t1), ("world mix (max 256)", w)):
        for arm in ("limalab_pack", "hf_trainer", "hf_trainer_grouped"):
            r = d[arm]
            lines.append(f"| {name} | {arm} | {r['tokens_per_s']:.0f} | {r['padding_efficiency']:.3f} | "
                         f"{'' if arm == 'limalab_pack' else ratio(d, arm)} |")
    (args.out.parent / "throughput.md").write_text("\n".join(lines) + "\n")
    print("\n".join(lines))


if __name__ == "__main__":
    main()
