"""Batched generation against one prompt at a time, and the static KV cache against HF's
dynamic one: same model (the miniature's tiny LLaMA shape), same test prompts, same decoding,
measured in the same run.

    python bench/generation.py [--prompts 48] [--k 5] [--max-new-tokens 48] [--long 400]
        [--out bench/latest.json]

Writes ``generation_batched_speedup`` (goal >= 5x), ``generation_static_cache_speedup``
(goal >= 1.5x on long answers, the Long-Is-More arm's case; each cache timed cold, in a fresh
process, as a run's test evaluation meets it) and ``generation_eager_attention_speedup`` (eager
attention against SDPA while decoding on the CPU, ``eval.attention=auto``'s choice; goal > 1x,
long answers, a test evaluation's batch) into bench/latest.json beside the slice's figures.
Weights are random: every sequence runs to max_new_tokens, so all modes do the same number of
decoding steps per sequence.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from dataclasses import replace
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


def setup(cache: Path, prompts: int, k: int, max_new_tokens: int) -> tuple:
    world = build_world(WorldConfig(**compose(["experiment=smoke"])["world"]), cache)
    tok = world_tokenizer(world, cache, "<|eot|>")
    arch = yaml.safe_load((ROOT / "conf" / "model" / "tiny.yaml").read_text())["arch"]
    model = tiny_llama(arch, tok, seed=0).eval()
    rows = read_jsonl(world / "eval" / "test.jsonl")[:prompts]
    return model, ChatFormat(tok), rows, EvalSpec("test", k, DECODING, max_new_tokens, seed=0)


def cold_seconds(cache: Path, kv_cache: str, prompts: int, k: int, long: int) -> float:
    """One generation of ``prompts`` x ``k`` sequences to ``long`` tokens, the first in a fresh
    process (every kernel shape is new there, as in a run's test evaluation)."""
    here = str(Path(__file__).parent)
    code = (
        f"import sys, time; sys.path.insert(0, {here!r}); from generation import *; "
        f"m, c, r, s = setup(Path({str(cache)!r}), {prompts}, {k}, {long}); "
        f"s = replace(s, kv_cache={kv_cache!r}, batch_size={prompts}); "
        "t = time.perf_counter(); generate(m, c, r, s); print(time.perf_counter() - t)"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    return float(out.stdout.strip().splitlines()[-1])


def main() -> None:
    ap = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    ap.add_argument("--prompts", type=int, default=48)
    ap.add_argument("--k", type=int, default=5)
    ap.add_argument("--max-new-tokens", type=int, default=48)
    ap.add_argument("--batch-size", type=int, default=16)
    ap.add_argument("--long", type=int, default=400, help="new tokens of the cache comparison")
    ap.add_argument("--out", type=Path, default=ROOT / "bench" / "latest.json")
    args = ap.parse_args()
    cache = Path(os.environ.get("LIMALAB_CACHE") or tempfile.mkdtemp(prefix="limalab-genbench-"))
    model, chat, prompts, spec = setup(cache, args.prompts, args.k, args.max_new_tokens)
    run = lambda bs: generate(model, chat, prompts, replace(spec, batch_size=bs))  # noqa: E731
    run(args.batch_size)  # warm-up (allocator, kernels)
    batched = min(timed(lambda: run(args.batch_size)) for _ in range(2))
    single = timed(lambda: run(1))
    n_seq = len(prompts) * args.k
    cold = {c: cold_seconds(cache, c, 16, args.k, args.long) for c in ("dynamic", "static")}
    long_spec = replace(spec, max_new_tokens=args.long, batch_size=len(prompts))
    kernel = {  # warm (the batched run above set the allocator up), one after the other
        a: timed(lambda a=a: generate(model, chat, prompts, replace(long_spec, attention=a)))
        for a in ("sdpa", "eager")
    }
    res = {
        "generation_batched_speedup": round(single / batched, 2),
        "generation_static_cache_speedup": round(cold["dynamic"] / cold["static"], 2),
        "generation_cache": {
            "prompts": 16,
            "k": args.k,
            "max_new_tokens": args.long,
            "dynamic_s": round(cold["dynamic"], 2),
            "static_s": round(cold["static"], 2),
            "goal": ">= 1.5x",
        },
        "generation_eager_attention_speedup": round(kernel["sdpa"] / kernel["eager"], 2),
        "generation_attention": {
            "prompts": len(prompts),
            "k": args.k,
            "max_new_tokens": args.long,
            "sdpa_s": round(kernel["sdpa"], 2),
            "eager_s": round(kernel["eager"], 2),
            "goal": "> 1x",
        },
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
