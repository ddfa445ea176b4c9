"""Training throughput: limalab (its default trainer config and layout) against HF ``Trainer`` at
its best, on the same tiny LLaMA, the same examples, fp32, the same threads, measured side by side.

    python bench/throughput.py [--repeats 3] [--out bench/latest.json]

Two length distributions:
- ``table1``: 1,000 examples whose prompt and response lengths follow Table 1's per-source means
  (LIMA.md: e.g. wikiHow 12 in / 1,811 out, Natural Instructions 236 / 92), drawn log-normal
  around each mean, trimmed to max length 2,048 (the paper's).
- ``world``: the miniature world's default mix (data=lima_mix, 1,000 examples) as the
  pipeline tokenizes it, at the run's max length (``train.max_length``).
each at batch 32 (the paper's) and batch 8, on a small model (``ARCH``: 2 layers of 128), and
the world mix again on the miniature's own model (``miniature``: conf/model/tiny.yaml, 4 layers of
192), where the layers both sides compute alike are a larger share of a step (reported beside the
goals, not a goal: the exact savings, LM head and top-layer MLP at labelled positions only and no
padding, bound what any layout can gain there).

Arms, all on the same model (SDPA attention for HF, limalab's ``conf/trainer/cpu.yaml`` for
limalab), PyTorch's fused AdamW (0.9, 0.95), weight decay 0.1, no gradient clipping, linear
decay, fp32, the same threads (``--threads``: 1 by default, see ``main``):
- ``limalab``: Lightning + ``CausalLMModule`` with ``train.layout`` and
  ``trainer.attn_implementation`` as ``conf/`` sets them (today: auto -> flat, varlen; the top
  layer pruned to labelled positions, ``trainer.prune_top_layer``).
- ``hf_pad``: HF ``Trainer`` with ``DataCollatorForSeq2Seq`` (each batch padded to its longest).
- ``hf_grouped``: the same, the timed examples ordered by HF's ``LengthGroupedSampler``
  (``group_by_length``).
- ``hf_flatten``: HF's padding-free ``DataCollatorWithFlattening`` (one row, restarting position
  ids; transformers builds a block-diagonal mask for SDPA). Run where that dense T×T mask fits
  ``--flatten-mask-gib`` (flash-attn's varlen path is CUDA only); otherwise recorded as not run.

Fairness: every arm trains one untimed warm-up step on the same examples, then ``steps`` timed
steps over the same examples (the same examples in each step, except ``hf_grouped``, which
regroups exactly the same set into the same number of steps); the clock runs from the end of
the warm-up step to the end of the last step, data loading included. Arms are interleaved
(rotated each repeat) and each figure is the median of ``--repeats``. The figure is non-pad
training tokens per second of wall time, with tokens per second of this process's CPU time
beside it (steadier on a shared machine: another job holding the core stretches the first, not
the second); the tokens each arm trained are checked equal.

Writes ``train_tokens_per_s_vs_hf_best`` (limalab over the fastest HF arm, wall time; Table 1,
batch 32; goal >= 1.2), the same for the world mix and for batch 8, each also on CPU time
(``..._cpu_time``), limalab's padding efficiency, and the detail into bench/latest.json, and a
table into bench/throughput.md.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import tempfile
import time
from pathlib import Path

import pytorch_lightning as pl
import torch
from torch.utils.data import DataLoader
from transformers import (
    DataCollatorForSeq2Seq,
    DataCollatorWithFlattening,
    LlamaConfig,
    LlamaForCausalLM,
    PreTrainedTokenizerFast,
    Trainer,
    TrainerCallback,
    TrainingArguments,
)
from transformers.trainer_pt_utils import get_length_grouped_indices

from limalab.data.batching import VARLEN_ATTENTION, collate_fn
from limalab.data.chat import IGNORE
from limalab.data.datamodule import ChatDataModule, batching_of
from limalab.data.synthetic import Row, table1_rows
from limalab.model.module import CausalLMModule, Recipe
from limalab.model.strategy import prepare_model, split_trainer_config

ROOT = Path(__file__).resolve().parents[1]
ARCH = {
    "hidden_size": 128,
    "num_hidden_layers": 2,
    "num_attention_heads": 4,
    "intermediate_size": 344,
}
VOCAB = 8000  # Table 1 arm: small enough that a 2,048-token step takes seconds on 2 cores
HF_ARMS = ("hf_pad", "hf_grouped", "hf_flatten")
# (distribution, batch, HF megabatches drawn from, timed batches per megabatch): each arm trains
# 35-90k timed tokens (step_plan)
# ``miniature``: the world mix again, on the miniature's own model (conf/model/tiny.yaml): wider and
# deeper than ARCH, so the layers limalab and HF share a larger part of each step (reported, no
# goal on it)
CONFIGS = (
    ("table1", 32, 1, 4),
    ("table1", 8, 1, 8),
    ("world", 32, 4, 7),
    ("world", 8, 4, 16),
    ("miniature", 32, 4, 7),
    ("miniature", 8, 4, 16),
)
LABELS = {"table1": "Table 1", "world": "world mix", "miniature": "world mix, miniature's model"}


def world_rows(cache_dir: Path, arch: dict) -> tuple[list[Row], int, int, dict]:
    from limalab.data.chat import ChatFormat
    from limalab.data.mix import build_mix
    from limalab.data.tokenized import tokenize
    from limalab.world.build import WorldConfig, build_world
    from limalab.world.tokenizer import world_tokenizer

    cfg = limalab_config([f"cache_dir={cache_dir}"])
    world_dir = build_world(WorldConfig(**cfg["world"]), cache_dir)
    eot = cfg["model"]["eot_token"]
    tok = world_tokenizer(world_dir, cache_dir, eot)
    examples, manifest = build_mix(cfg["data"], world_dir, cache_dir)
    max_length = int(cfg["train"]["max_length"])
    rows, _ = tokenize(examples, manifest["sha256"], ChatFormat(tok, eot), max_length, cache_dir)
    return rows, len(tok), max_length, arch


def limalab_config(overrides: list[str] | None = None) -> dict:
    from hydra import compose, initialize_config_dir
    from omegaconf import OmegaConf

    with initialize_config_dir(str(ROOT / "conf"), version_base=None):
        return OmegaConf.to_container(compose("train", overrides=overrides or []), resolve=True)


def miniature_arch() -> dict:
    """The miniature's layer shapes (its positions are the distribution's max length here)."""
    arch = dict(limalab_config()["model"]["arch"])
    arch.pop("max_position_embeddings", None)
    return arch


def model(vocab: int, max_length: int, arch: dict) -> LlamaForCausalLM:
    torch.manual_seed(0)
    cfg = LlamaConfig(
        vocab_size=vocab,
        max_position_embeddings=max_length,
        attn_implementation="sdpa",
        tie_word_embeddings=False,
        pad_token_id=0,
        **arch,
    )
    return LlamaForCausalLM(cfg)


def step_plan(
    rows: list[Row], batch: int, megabatches: int, per_megabatch: int
) -> dict[str, list[list[int]]]:
    """Each arm's steps: one warm-up batch (the same for all), then the timed batches.

    ``hf_grouped`` gets batches exactly as HF's ``group_by_length`` forms them over the whole data
    set (its own ``get_length_grouped_indices``: a shuffle cut into megabatches of
    min(n / 4·batch, 50) batches, each sorted by length): ``per_megabatch`` batches spread evenly
    through each of the first ``megabatches`` megabatches, so the timed data is a uniform draw
    with all its lengths and every batch is as tight as in a real epoch. The other arms get
    exactly those examples, shuffled into batches of the same size: the same data, the same
    number of steps."""
    lengths = [len(ids) for ids, _ in rows]
    mult = min(len(rows) // (batch * 4), 50)
    order = get_length_grouped_indices(lengths, batch, generator=torch.Generator().manual_seed(0))
    hf = [order[i : i + batch] for i in range(0, len(order), batch)]
    if per_megabatch > mult or megabatches * mult * batch > len(rows) - batch:
        raise ValueError(
            f"{megabatches} megabatches of {mult} batches of {batch} leave no warm-up batch"
        )
    grouped = [
        hf[m * mult + (2 * j + 1) * mult // (2 * per_megabatch)]
        for m in range(megabatches)
        for j in range(per_megabatch)
    ]
    timed = [i for b in grouped for i in b]
    g = torch.Generator().manual_seed(1)
    shuffled = [timed[i] for i in torch.randperm(len(timed), generator=g).tolist()]
    taken = set(timed)
    warm = [i for i in torch.randperm(len(rows), generator=g).tolist() if i not in taken][:batch]
    same = [warm] + [shuffled[i : i + batch] for i in range(0, len(shuffled), batch)]
    return {"limalab": same, "hf_pad": same, "hf_grouped": [warm, *grouped], "hf_flatten": same}


class Clock:
    """Wall time, this process's CPU time and counts from the end of the warm-up step to the end
    of the last step. On a shared machine the CPU time is the steadier figure (another job
    holding the core stretches wall time, not CPU time); both are reported."""

    def __init__(self) -> None:
        self.steps, self.slots, self.tokens = 0, 0, 0
        self.t0 = self.t1 = self.c0 = self.c1 = 0.0

    def step_end(self, tokens: int, slots: int) -> None:
        self.steps += 1
        now, cpu = time.perf_counter(), time.process_time()
        if self.steps == 1:
            self.t0, self.c0 = now, cpu
            return
        self.t1, self.c1, self.tokens, self.slots = (
            now,
            cpu,
            self.tokens + tokens,
            self.slots + slots,
        )

    def result(self) -> dict:
        dt = self.t1 - self.t0
        return {
            "tokens_per_s": round(self.tokens / dt, 1),
            "tokens_per_cpu_s": round(self.tokens / (self.c1 - self.c0), 1),
            "padding_efficiency": round(self.tokens / self.slots, 4),
            "seconds": round(dt, 2),
            "tokens": self.tokens,
            "timed_steps": self.steps - 1,
        }


def run_limalab(
    rows: list[Row], vocab: int, max_length: int, arch: dict, batches: list[list[int]]
) -> dict:
    cfg = limalab_config()
    kwargs, extras = split_trainer_config(cfg["trainer"])
    clock = Clock()

    class Timer(pl.Callback):
        def on_train_batch_end(self, trainer, pl_module, outputs, batch, batch_idx) -> None:
            clock.step_end(pl_module.last_step["tokens"], pl_module.last_step["slots"])

    class GivenOrder(ChatDataModule):  # the bench's step plan instead of the epoch shuffle
        def train_dataloader(self) -> DataLoader:
            collate = collate_fn(
                self.layout,
                self.pad_id,
                self.max_length,
                varlen=self.attention in VARLEN_ATTENTION,
                pad_to_multiple_of=self.pad_to_multiple_of,
            )
            return DataLoader(self.train_set, batch_sampler=batches, collate_fn=collate)

    m = prepare_model(model(vocab, max_length, arch), extras)
    dm = GivenOrder(
        rows,
        batching_of(
            {**cfg["train"], "batch_size": len(batches[0]), "max_length": max_length}, extras
        ),
        0,
        seed=0,
    )
    trainer = pl.Trainer(
        accelerator="cpu",
        devices=1,
        precision=kwargs["precision"],
        max_steps=len(batches),
        logger=False,
        enable_checkpointing=False,
        enable_progress_bar=False,
        enable_model_summary=False,
        use_distributed_sampler=False,
        callbacks=[Timer()],
    )
    trainer.fit(CausalLMModule(m, Recipe(lr=1e-4, fused=cfg["optim"]["fused"])), datamodule=dm)
    return clock.result() | {"layout": dm.layout, "attention": extras.get("attn_implementation")}


def run_hf(
    rows: list[Row],
    vocab: int,
    max_length: int,
    arch: dict,
    batches: list[list[int]],
    arm: str,
    work: Path,
) -> dict:
    from tokenizers import Tokenizer
    from tokenizers.models import WordLevel

    tok = PreTrainedTokenizerFast(
        tokenizer_object=Tokenizer(WordLevel({"<pad>": 0, "<unk>": 1}, unk_token="<unk>")),
        pad_token="<pad>",
        unk_token="<unk>",
    )
    base = (
        DataCollatorWithFlattening()
        if arm == "hf_flatten"
        else DataCollatorForSeq2Seq(tok, label_pad_token_id=IGNORE, padding="longest")
    )
    fetched: list[tuple[int, int]] = []  # (tokens, slots) per batch, in step order

    def collate(features: list[dict]) -> dict[str, torch.Tensor]:
        out = base(features)
        fetched.append((sum(len(f["input_ids"]) for f in features), out["input_ids"].numel()))
        return out

    clock = Clock()

    class Timer(TrainerCallback):
        def on_step_end(self, args, state, control, **kw) -> None:
            clock.step_end(*fetched[clock.steps])

    class GivenOrder(Trainer):  # the bench's step plan instead of HF's sampler
        def _get_train_sampler(self, train_dataset=None):
            return [i for b in batches for i in b]

    features = [
        {"input_ids": ids, "labels": lab}
        | ({} if arm == "hf_flatten" else {"attention_mask": [1] * len(ids)})
        for ids, lab in rows
    ]
    args = TrainingArguments(
        output_dir=str(work / arm),
        per_device_train_batch_size=len(batches[0]),
        max_steps=len(batches),
        learning_rate=1e-4,
        lr_scheduler_type="linear",
        optim="adamw_torch_fused",
        adam_beta2=0.95,
        weight_decay=0.1,
        max_grad_norm=0.0,
        logging_strategy="no",
        save_strategy="no",
        report_to=[],
        use_cpu=True,
        dataloader_num_workers=0,
        seed=0,
        disable_tqdm=True,
        remove_unused_columns=False,
    )
    GivenOrder(
        model=model(vocab, max_length, arch),
        args=args,
        train_dataset=features,
        data_collator=collate,
        callbacks=[Timer()],
    ).train()
    return clock.result()


def measure(
    rows: list[Row],
    vocab: int,
    max_length: int,
    arch: dict,
    plans: dict[str, list[list[int]]],
    repeats: int,
    work: Path,
    flatten_mask_gib: float,
) -> dict:
    widest = max(sum(len(rows[i][0]) for i in b) for b in plans["hf_flatten"])
    skipped = {}
    if widest**2 * 4 / 2**30 > flatten_mask_gib:  # SDPA on CPU takes the mask as fp32
        skipped["hf_flatten"] = (
            f"its widest row ({widest} tokens) needs a {widest**2 * 4 / 2**30:.1f} GiB mask"
        )
        plans = {k: v for k, v in plans.items() if k != "hf_flatten"}
    runs: dict[str, list[dict]] = {arm: [] for arm in plans}
    arms = list(plans)
    for r in range(repeats):
        for arm in arms[r % len(arms) :] + arms[: r % len(arms)]:
            fn = (
                (lambda a=arm: run_limalab(rows, vocab, max_length, arch, plans[a]))
                if arm == "limalab"
                else (lambda a=arm: run_hf(rows, vocab, max_length, arch, plans[a], a, work))
            )
            runs[arm].append(fn())
            print(f"  repeat {r} {arm}: {runs[arm][-1]['tokens_per_s']:.0f} tokens/s", flush=True)
    tokens = {arm: {x["tokens"] for x in rs} for arm, rs in runs.items()}
    if len(set().union(*tokens.values())) != 1:
        raise RuntimeError(f"arms trained different tokens: {tokens}")
    out = {
        arm: {
            "tokens_per_s": statistics.median(x["tokens_per_s"] for x in rs),
            "tokens_per_cpu_s": statistics.median(x["tokens_per_cpu_s"] for x in rs),
            "repeats": [x["tokens_per_s"] for x in rs],
            "repeats_cpu": [x["tokens_per_cpu_s"] for x in rs],
            **{
                k: v
                for k, v in rs[0].items()
                if k not in ("tokens_per_s", "tokens_per_cpu_s", "seconds")
            },
        }
        for arm, rs in runs.items()
    }
    best = max((a for a in HF_ARMS if a in out), key=lambda a: out[a]["tokens_per_s"])
    best_cpu = max((a for a in HF_ARMS if a in out), key=lambda a: out[a]["tokens_per_cpu_s"])
    out |= {
        "not_run": skipped,
        "hf_best": best,
        "batch": len(plans["limalab"][0]),
        "max_length": max_length,
        "timed_steps": len(plans["limalab"]) - 1,
        "vs_hf_best": round(out["limalab"]["tokens_per_s"] / out[best]["tokens_per_s"], 2),
        "vs_hf_best_per_repeat": [
            round(a["tokens_per_s"] / b["tokens_per_s"], 2)
            for a, b in zip(runs["limalab"], runs[best], strict=True)
        ],
        "hf_best_cpu": best_cpu,
        "vs_hf_best_cpu": round(
            out["limalab"]["tokens_per_cpu_s"] / out[best_cpu]["tokens_per_cpu_s"], 2
        ),
    }
    return out


def table(results: dict) -> list[str]:
    lines = [
        "| lengths | batch | arm | non-pad tokens/s (median) | repeats | tokens per CPU-second "
        "(median) | padding efficiency | limalab / arm (wall) | limalab / arm (CPU) |",
        "|---|---|---|---|---|---|---|---|---|",
    ]
    for (name, batch), d in results.items():
        label = f"{LABELS[name]} (max {d['max_length']:,})"
        for arm in ("limalab", *HF_ARMS):
            if arm not in d:
                lines.append(
                    f"| {label} | {batch} | {arm} | not run: {d['not_run'][arm]} | | | | | |"
                )
                continue
            r, lim = d[arm], d["limalab"]
            ratio = "" if arm == "limalab" else f"{lim['tokens_per_s'] / r['tokens_per_s']:.2f}"
            ratio_cpu = (
                "" if arm == "limalab" else f"{lim['tokens_per_cpu_s'] / r['tokens_per_cpu_s']:.2f}"
            )
            best = " (HF best)" if arm == d["hf_best"] else ""
            lines.append(
                f"| {label} | {batch} | {arm}{best} | {r['tokens_per_s']:.0f} | "
                f"{', '.join(f'{x:.0f}' for x in r['repeats'])} | {r['tokens_per_cpu_s']:.0f} | "
                f"{r['padding_efficiency']:.3f} | {ratio} | {ratio_cpu} |"
            )
    return lines


def main() -> None:
    ap = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument(
        "--only",
        action="append",
        default=[],
        metavar="NAME/BATCH",
        help="e.g. table1/32 (repeatable)",
    )
    # One intra-op thread per arm by default: on the project's 2 cores shared with other jobs a
    # 2-thread pool stalls at every op's barrier whenever another process holds a core (measured:
    # 7x slower, and erratic); every arm always runs with the same count.
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument(
        "--flatten-mask-gib", type=float, default=1.0, help="largest dense mask hf_flatten may need"
    )
    ap.add_argument(
        "--cache",
        type=Path,
        default=None,
        help="world cache (default: LIMALAB_CACHE or a temp dir)",
    )
    ap.add_argument("--out", type=Path, default=ROOT / "bench" / "latest.json")
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    work = Path(tempfile.mkdtemp(prefix="limalab-tput-", dir=os.environ.get("TMPDIR")))
    cache = args.cache or Path(os.environ.get("LIMALAB_CACHE", work / "cache"))
    data = {"table1": (table1_rows(VOCAB, 2048), VOCAB, 2048, ARCH)}
    results = {}
    load = [os.getloadavg()[0]]
    for name, batch, megabatches, per_megabatch in CONFIGS:
        if args.only and f"{name}/{batch}" not in args.only:
            continue
        if name not in data:
            arch = miniature_arch() if name == "miniature" else ARCH
            data[name] = world_rows(cache, arch)
        plans = step_plan(data[name][0], batch, megabatches, per_megabatch)
        print(
            f"{name} batch {batch}: {len(plans['limalab']) - 1} timed steps x {args.repeats} "
            "repeats",
            flush=True,
        )
        results[name, batch] = measure(
            *data[name], plans, args.repeats, work, args.flatten_mask_gib
        )
        load.append(os.getloadavg()[0])
    keys = {
        ("table1", 32): "train_tokens_per_s_vs_hf_best",
        ("world", 32): "world_train_tokens_per_s_vs_hf_best",
        ("table1", 8): "train_tokens_per_s_vs_hf_best_batch8",
        ("world", 8): "world_train_tokens_per_s_vs_hf_best_batch8",
        ("miniature", 32): "miniature_train_tokens_per_s_vs_hf_best",
        ("miniature", 8): "miniature_train_tokens_per_s_vs_hf_best_batch8",
    }
    out = {keys[k]: d["vs_hf_best"] for k, d in results.items()}
    out |= {f"{keys[k]}_cpu_time": d["vs_hf_best_cpu"] for k, d in results.items()}
    if ("table1", 32) in results:
        out["padding_efficiency"] = results["table1", 32]["limalab"]["padding_efficiency"]
    out["throughput_goals_met"] = {
        f"{k} >= 1.2": v >= 1.2
        for k, v in out.items()
        if k in keys.values() and not k.startswith("miniature")
    }
    out["throughput_detail"] = {f"{n}/{b}": d for (n, b), d in results.items()} | {
        "arch": ARCH,
        "miniature_arch": miniature_arch(),
        "threads": args.threads,
        "repeats": args.repeats,
        "host": platform.node(),
        "cpus": os.cpu_count(),
        "load_1min": [round(x, 2) for x in load],
        "started": time.ctime(),
    }
    old = json.loads(args.out.read_text()) if args.out.exists() else {}
    old = {
        k: v
        for k, v in old.items()
        if not k.startswith(
            ("train_tokens_per_s_vs", "world_train_tokens_per_s_vs", "miniature_train_tokens")
        )
    }
    args.out.write_text(json.dumps({**old, **out}, indent=2) + "\n")
    lines = table(results)
    cmd = "python bench/throughput.py" + "".join(f" --only {o}" for o in args.only)
    head = [
        f"`{cmd}` ({time.strftime('%Y-%m-%d')}; {args.threads} threads, {args.repeats} repeats "
        f"interleaved; 1-minute load average {', '.join(f'{x:.1f}' for x in load)} over the run)",
        "",
    ]
    ratios = ["", *(f"- `{k}`: {v}" for k, v in out.items() if k.startswith(tuple(keys.values())))]
    notes = [
        "",
        "limalab: its defaults (`train.layout=auto` -> flat rows, `varlen` attention, logits and "
        "the top layer's MLP only at labelled positions). HF `Trainer`: `hf_pad` (its padding "
        "collator), `hf_grouped` "
        "(`group_by_length`: the batches its own sampler forms over the 1,000 examples), "
        "`hf_flatten` (`DataCollatorWithFlattening`, SDPA with the dense block mask transformers "
        "builds). Same model, fp32, fused AdamW, no clipping, same threads; one untimed warm-up "
        "step on the same examples, then the same examples in the same number of steps; arms "
        "interleaved; medians. The ratio keys use each distribution's fastest HF arm (wall time; "
        "`_cpu_time`: on tokens per CPU-second). Detail in bench/latest.json "
        "(`throughput_detail`).",
    ]
    (args.out.parent / "throughput.md").write_text("\n".join(head + lines + ratios + notes) + "\n")
    print("\n".join(lines))
    print(json.dumps({k: v for k, v in out.items() if k != "throughput_detail"}, indent=2))


if __name__ == "__main__":
    main()
