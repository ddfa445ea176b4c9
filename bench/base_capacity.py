"""Both miniature bases on the default world (issue 21): parameter counts, training FLOPs per
token, and pretraining step times measured in one process, the two shapes alternating step by
step so both see the same machine load; then the larger base's pretraining time estimated from
a measured time of today's base, scaled by the FLOP ratio and by the measured step ratio.

    python bench/base_capacity.py [--rounds 30] [--threads 2] [--tiny-seconds 320]

``--tiny-seconds``: today's base's measured full pretraining time on this machine (about 295 s
for 2.43M tokens in an earlier issue note; the default scales it to world v5's 2.66M tokens).
"""

from __future__ import annotations

import argparse
import statistics
import time
from pathlib import Path

import torch

from limalab.config.compose import compose
from limalab.model.base import tiny_llama
from limalab.world.build import WorldConfig, build_world
from limalab.world.pretrain import corpus_chunks
from limalab.world.tokenizer import world_tokenizer

BASES = {"tiny": [], "tiny_large": ["model=tiny_large"]}


def flops_per_token(n_non_embedding: int, arch: dict, context: int) -> float:
    """Training FLOPs per token, 6N + 12 * layers * context * width (Kaplan et al. 2020)."""
    return 6 * n_non_embedding + 12 * arch["num_hidden_layers"] * context * arch["hidden_size"]


def main() -> None:
    ap = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    ap.add_argument("--rounds", type=int, default=30)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--tiny-seconds", type=float, default=320.0)
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    cfgs = {k: compose(o) for k, o in BASES.items()}
    cfg = cfgs["tiny"]
    wd = build_world(WorldConfig(**cfg["world"]), Path(cfg["cache_dir"]))
    tok = world_tokenizer(wd, Path(cfg["cache_dir"]), cfg["model"]["eot_token"])
    pre = cfg["model"]["pretrain"]
    chunks = corpus_chunks(wd / "corpus" / "pretrain.txt", tok, pre["seq_len"])
    steps = -(-len(chunks) // pre["batch_size"]) * pre["epochs"]
    print(
        f"world: vocabulary {len(tok):,}; {len(chunks):,} chunks of {pre['seq_len']} tokens; "
        f"{len(chunks) * pre['seq_len'] * pre['epochs']:,} tokens and {steps:,} steps in "
        f"{pre['epochs']} passes"
    )
    x = torch.tensor([c[0] for c in chunks[: pre["batch_size"]]])
    models, opts, flops = {}, {}, {}
    for k, c in cfgs.items():
        m = c["model"]
        models[k] = tiny_llama(m["arch"], tok, 0).train()
        opts[k] = torch.optim.AdamW(models[k].parameters(), lr=m["pretrain"]["lr"])
        n = sum(p.numel() for p in models[k].parameters())
        n_ne = n - models[k].model.embed_tokens.weight.numel()
        flops[k] = flops_per_token(n_ne, m["arch"], pre["seq_len"])
        print(
            f"{k}: {n:,} parameters ({n / 1e6:.2f}M; {n_ne:,} without the input embedding), "
            f"{flops[k] / 1e6:.1f} MFLOPs per training token; "
            f"pretraining lr {m['pretrain']['lr']:g}, "
            f"{m['pretrain']['epochs']} passes"
        )

    def step(k: str) -> float:
        t = time.perf_counter()
        models[k](input_ids=x, labels=x).loss.backward()
        opts[k].step()
        opts[k].zero_grad(set_to_none=True)
        return time.perf_counter() - t

    for k in cfgs:
        for _ in range(3):  # warm up
            step(k)
    pairs = [(step("tiny"), step("tiny_large")) for _ in range(args.rounds)]
    ratios = [b / a for a, b in pairs]
    q = statistics.quantiles(ratios, n=4)
    fr = flops["tiny_large"] / flops["tiny"]
    for i, k in enumerate(cfgs):
        ts = [p[i] for p in pairs]
        print(
            f"{k}: step median {statistics.median(ts):.3f} s, fastest {min(ts):.3f} s "
            f"({args.rounds} steps)"
        )
    print(
        f"step time ratio (paired rounds): median {statistics.median(ratios):.2f}, "
        f"quartiles {q[0]:.2f}-{q[2]:.2f}; "
        f"FLOP ratio {fr:.2f}"
    )
    print(
        f"estimate: tiny_large pretraining {args.tiny_seconds * fr / 60:.0f} min by FLOPs, "
        f"{args.tiny_seconds * statistics.median(ratios) / 60:.0f} min by the measured ratio "
        f"(today's base {args.tiny_seconds:.0f} s); fastest steps x {steps} steps: "
        f"{min(p[1] for p in pairs) * steps / 60:.0f} min"
    )


if __name__ == "__main__":
    main()
