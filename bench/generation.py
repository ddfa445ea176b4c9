"""Batched generation against one prompt at a time: same model (the miniature's tiny LLaMA
shape), same test prompts, same decoding, KV cache on in both, measured in the same run.

    python bench/generation.py [--prompts 48] [--k 5] [--max-new-tokens 48] [--out
    bench/latest.json]

Writes ``generation_batched_speedup`` (goal >= 5x) into bench/latest.json beside the slice's
figures. Weights are random: every sequence runs to max_new_tokens, so both modes do the same
number of decoding steps per sequence.
"""

from __future__ import annotations

import argparse
import json
import os
import tempfile
import time
from pathlib import Path

import torch
import yaml

from limalab.config.compose import compose
from limalab.data.chat import ChatFormat
from limalab.eval.generate import generate
from limalab.eval.spec import EvalSpec
from limalab.model.base import tiny_llama
from limalab.tracking.io import read_jsonl
from limalab.world.build import WorldConfig, build_world
from limalab.world.tokenizer import world_tokenizer

ROOT = Path(__file__).resolve().parents[1]
DECODING = {"do_sample": True, "top_p": 0.9, "temperature": 0.7, "repetition_penalty": 1.2}


def timed(fn) -> float:
    t0 = time.perf_counter()
    fn()
    return time.perf_counter() - t0


def main() -> None:
    ap = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    ap.add_argument("--prompts", type=int, default=48)
    ap.add_argument("--k", type=int, default=5)
    ap.add_argument("--max-new-tokens", type=int, default=48)
    ap.add_argument("--batch-size", type=int, default=16)
    ap.add_argument("--out", type=Path, default=ROOT / "bench" / "latest.json")
    args = ap.parse_args()
    cache = Path(os.environ.get("LIMALAB_CACHE") or tempfile.mkdtemp(prefix="limalab-genbench-"))
    world = build_world(WorldConfig(**compose(["experiment=smoke"])["world"]), cache)
    tok = world_tokenizer(world, cache, "<|eot|>")
    chat = ChatFormat(tok)
    arch = yaml.safe_load((ROOT / "conf" / "model" / "tiny.yaml").read_text())["arch"]
    model = tiny_llama(arch, tok, seed=0).eval()
    prompts = read_jsonl(world / "eval" / "test.jsonl")[: args.prompts]
    spec = EvalSpec("test", args.k, DECODING, args.max_new_tokens, seed=0)
    run = lambda bs: generate(model, chat, prompts, spec, bs)  # noqa: E731
    run(args.batch_size)  # warm-up (allocator, kernels)
    batched = min(timed(lambda: run(args.batch_size)) for _ in range(2))
    single = timed(lambda: run(1))
    n_seq = len(prompts) * args.k
    res = {
        "generation_batched_speedup": round(single / batched, 2),
        "generation": {
            "prompts": len(prompts),
            "k": args.k,
            "max_new_tokens": args.max_new_tokens,
            "batch_size": args.batch_size,
            "batched_s": round(batched, 2),
            "one_prompt_at_a_time_s": round(single, 2),
            "batched_tokens_per_s": round(n_seq * args.max_new_tokens / batched),
            "threads": torch.get_num_threads(),
            "goal": ">= 5x",
        },
    }
    old = json.loads(args.out.read_text()) if args.out.exists() else {}
    args.out.write_text(json.dumps({**old, **res}, indent=2) + "\n")
    print(json.dumps(res, indent=2))


if __name__ == "__main__":
    main()
