"""Where an ablation run's time goes, and what the default ``make ablations`` would cost under
the derived regime, from measured per-run costs (nothing here trains).

    python bench/ablations_budget.py profile runs/ablations-smoke        # by grid and stage
    python bench/ablations_budget.py estimate runs/pilot/<run id> [--scale 1/8] [--seeds 0,1,2] \
        [--s-per-step S] [--s-per-candidate S] [--s-per-test S] [--tokens]
    python bench/ablations_budget.py replay make-ablations.log [--jobs 2]
    python bench/ablations_budget.py replay reports/ablations/pool.json [--jobs 2]

``profile`` reads the run directories: each run's wall time (``results.json``), its training
time (between the data and train stage records), its checkpoint-selection and test evaluations
(each evaluation's own ``wall_s``), and the rest (data, export, loading).

``estimate`` takes one measured run of the default model (a pilot, on another world seed) and
prices every run of the default grids: training in proportion to the tokens it trains on (the
flat layout's cost is per token; each arm's tokens per example measured on the pilot's world by
building its mix), checkpoint selection per candidate epoch and the test evaluation as measured.
Runs shared by grids, and runs already complete, count once.

``replay`` reads the log of a ``make ablations --jobs N`` (the pool's ``[job i/n]`` lines, each
job's measured seconds), or the same jobs as the pool records them beside the report
(``reports/ablations/pool.json``; ``jobs.json`` in its launch directory), and replays those
durations through the pool's rules (the first job alone when it builds the world or base, as
the pool says; a run's later jobs after its first; N workers) in the order the pool used and in
the best order it could have known (longest measured first): the difference is what the queue's
order cost. Durations were measured beside the other worker, as the pool runs them.
"""

from __future__ import annotations

import argparse
import json
import math
from collections import defaultdict
from datetime import datetime
from pathlib import Path
from typing import Any

import yaml

ROOT = Path(__file__).resolve().parents[1]


def _t(stamp: str) -> float:
    return datetime.strptime(stamp, "%Y-%m-%dT%H:%M:%S%z").timestamp()


def run_costs(rd: Path) -> dict[str, Any]:
    """One complete run's wall time split into train / select / test / other (seconds)."""
    res = json.loads((rd / "results.json").read_text())
    cfg = yaml.safe_load((rd / "config.yaml").read_text())
    stages = {p.stem: json.loads(p.read_text()) for p in (rd / "stages").glob("*.json")}
    train = (
        _t(stages["train"]["finished_at"]) - _t(stages["data"]["finished_at"])
        if {"train", "data"} <= set(stages)
        else 0.0
    )
    evals = [json.loads(p.read_text()) for p in (rd / "evals").glob("*/summary.json")]
    select = sum(e.get("wall_s", 0.0) for e in evals if e.get("role") == "select")
    test = sum(e.get("wall_s", 0.0) for e in evals if e.get("role") != "select")
    wall = float(res.get("wall_s") or 0.0)
    return {
        "run": rd.name,
        "grid": cfg["logger"].get("group") or "?",
        "data": cfg["data"]["name"],
        "n_examples": res["n_examples"],
        "steps": res["budget"]["steps"],
        "tokens": res.get("tokens_trained", 0),
        "candidates": len(res.get("selection", [])),
        "wall": wall,
        "train": train,
        "select": select,
        "test": test,
        "other": max(0.0, wall - train - select - test),
    }


def profile(runs_dir: Path) -> list[dict[str, Any]]:
    runs = [
        run_costs(p.parent)
        for p in sorted(runs_dir.glob("*/results.json"))
        if json.loads(p.read_text()).get("status") == "complete"
    ]
    by: dict[str, dict[str, float]] = defaultdict(lambda: defaultdict(float))
    for r in runs:
        g = by[r["grid"]]
        g["runs"] += 1
        for k in ("wall", "train", "select", "test", "other", "steps"):
            g[k] += r[k]
    rows = [{"grid": k, **{m: round(v, 1) for m, v in g.items()}} for k, g in by.items()]
    total = {
        m: round(sum(r[m] for r in rows), 1)
        for m in ("runs", "wall", "train", "select", "test", "other", "steps")
    }
    return rows + [{"grid": "all", **total}]


def tokens_per_example(overrides: list[str]) -> float:
    """Training tokens per example of an arm, built on the composed config's world (cached)."""
    from limalab.config.compose import compose
    from limalab.data.mix import build_mix, needs_world
    from limalab.pipeline.prepare_data import response_counter
    from limalab.world.build import WorldConfig, build_world
    from limalab.world.tokenizer import world_tokenizer

    cfg = compose(overrides)
    cache = Path(cfg["cache_dir"])
    world = build_world(WorldConfig(**cfg["world"]), cache)
    tok = world_tokenizer(world, cache, cfg["model"]["eot_token"])
    from limalab.data.chat import ChatFormat

    chat = ChatFormat(tok, cfg["model"]["eot_token"])
    examples, _ = build_mix(
        cfg["data"],
        world if needs_world(cfg["data"]) else None,
        cache,
        cfg["plugins"],
        response_counter(tok),
    )
    lengths = [
        len(chat.encode_dialogue(e.turns, int(cfg["train"]["max_length"]))[0]) for e in examples
    ]
    return sum(lengths) / len(lengths)


def _job_costs(cfg: dict[str, Any], p: dict[str, Any], tpe: float) -> dict[str, float]:
    """A run's training and selection cost from the pilot's: training per optimizer step (at the
    regime's batch of 8 short examples a step's fixed cost dominates: the pilot's tokens per step
    are a few hundred) and, as a second figure, per token; selection per candidate epoch."""
    from limalab.model.callbacks import window_epochs

    epochs, n = int(cfg["train"]["epochs"]), int(cfg["data"]["size"] or 0)
    steps = epochs * math.ceil(n / int(cfg["train"]["batch_size"])) if epochs else 0
    cands = len(window_epochs(epochs, tuple(cfg["train"]["select"]["window"]))) if epochs else 0
    return {
        "steps": steps,
        "train": steps * p["train"] / max(1, p["steps"]),
        "train_by_tokens": epochs * n * tpe * p["train"] / max(1, p["tokens"]),
        "select": cands * p["select"] / max(1, p["candidates"]),
        "other": p["other"],
    }


def estimate(
    pilot: Path,
    scale: str,
    seeds: list[int],
    world: int,
    costs: dict[str, float | None] | None = None,
    tokens: bool = False,
) -> dict[str, Any]:
    """Price every run of the default grids from the pilot's measured costs: training and
    selection once per run id, a test evaluation once per (run id, prompt set, few-shot).
    ``costs`` replaces the pilot's whole-run averages (``s_per_step``, ``s_per_candidate``,
    ``s_per_test``) with figures measured at a known load, e.g. its throughput log's;
    ``tokens`` also prices training per token (builds every arm's mix: slow)."""
    from limalab.ablations.grid import expand_hydra
    from limalab.ablations.run_grids import plan
    from limalab.config.compose import compose
    from limalab.tracking.identity import run_id

    p = run_costs(pilot)
    c = {k: v for k, v in (costs or {}).items() if v is not None}
    if "s_per_step" in c:
        p["train"] = c["s_per_step"] * p["steps"]
    if "s_per_candidate" in c:
        p["select"] = c["s_per_candidate"] * max(1, p["candidates"])
    if "s_per_test" in c:
        p["test"] = c["s_per_test"]
    runs: dict[str, dict[str, Any]] = {}
    evals: set[tuple] = set()
    tpe: dict[tuple, float] = {}
    for grid, overrides, _ in plan(ROOT / "sweeps", scale, seeds, [world]):
        for job in expand_hydra(overrides):
            ov = [f"{k}={v}" for k, v in job.items()]
            cfg = compose(ov)
            rid = run_id(cfg)
            key = (cfg["data"]["name"], cfg["data"]["size"], cfg["world"]["seed"])
            if tokens and int(cfg["train"]["epochs"]) and key not in tpe:
                tpe[key] = tokens_per_example(
                    [o for o in ov if o.split("=")[0] in ("data", "data.size", "world.seed")]
                )
            if rid not in runs:
                runs[rid] = {"grid": grid, **_job_costs(cfg, p, tpe.get(key, 0.0)), "test": 0.0}
            ev = (rid, cfg["eval"]["prompt_set"], cfg["eval"]["few_shot"])
            if ev not in evals:
                evals.add(ev)
                runs[rid]["test"] += p["test"]
    parts = ("train", "select", "test", "other")
    total = {k: sum(r[k] for r in runs.values()) for k in (*parts, "train_by_tokens", "steps")}
    return {
        "pilot": p,
        "train_s_per_step": p["train"] / max(1, p["steps"]),
        "train_s_per_token": p["train"] / max(1, p["tokens"]),
        "tokens_per_example": {str(k): v for k, v in tpe.items()},
        "runs": len(runs),
        "evaluations": len(evals),
        "seconds": total,
        "minutes": sum(total[k] for k in parts) / 60,
        "by_grid_minutes": {
            g: round(sum(sum(r[k] for k in parts) for r in runs.values() if r["grid"] == g) / 60, 1)
            for g in dict.fromkeys(r["grid"] for r in runs.values())
        },
    }


def pool_jobs(log: str) -> list[dict[str, Any]]:
    """The pool's jobs in launch order: number, grid, run id and measured seconds."""
    import re

    jobs: dict[int, dict[str, Any]] = {}
    for m in re.finditer(r"^\[job (\d+)/\d+\] (\S+): run (\w+): ", log, re.M):
        jobs[int(m[1])] = {"n": int(m[1]), "grid": m[2], "run": m[3]}
    for m in re.finditer(r"^\[job (\d+)/\d+\] \S+: run \w+ done in (\d+) s", log, re.M):
        jobs[int(m[1])]["s"] = int(m[2])
    return sorted((j for j in jobs.values() if "s" in j), key=lambda j: j["n"])


def _groups(jobs: list[dict[str, Any]]) -> list[list[dict[str, Any]]]:
    """The pool's units: each run's jobs together (one worker runs a run's jobs in sequence), in
    the order their first jobs launched."""
    groups: dict[str, list[dict[str, Any]]] = {}
    for j in jobs:
        groups.setdefault(j["run"], []).append(j)
    return list(groups.values())


def makespan(
    first: dict[str, Any] | None, groups: list[list[dict[str, Any]]], workers: int
) -> float:
    """Seconds to run the first job alone (``None``: it queued with the rest), then ``groups``
    in this order on ``workers`` (each group on one worker, the next group to the first free
    worker: the pool's thread pool)."""
    free = [float(first["s"]) if first else 0.0] * workers
    for g in groups:
        w = min(range(workers), key=free.__getitem__)
        free[w] += sum(j["s"] for j in g)
    return max(free)


def replay(log: str, workers: int) -> dict[str, Any]:
    """The replay of a pool's log (its ``[job i/n]`` lines) or of its JSON record (``jobs.json``
    in the launch directory, ``pool.json`` beside the report)."""
    from limalab.ablations.job_pool import QUEUED_ALL

    if log.lstrip().startswith("{"):
        try:
            record = json.loads(log)
            jobs = sorted(
                ({k: j[k] for k in ("n", "grid", "run", "s")} for j in record["jobs"]),
                key=lambda j: j["n"],
            )
        except (ValueError, KeyError, TypeError) as e:
            raise SystemExit(
                f"replay: not a pool record (expected jobs with n, grid, run, s): {e!r}"
            ) from None
        first_alone = bool(record.get("first_alone", True))
    else:
        jobs, first_alone = pool_jobs(log), QUEUED_ALL not in log
    if not jobs:
        raise SystemExit("replay: no finished jobs in the log or record")
    return replay_jobs(jobs, first_alone, workers)


def replay_jobs(jobs: list[dict[str, Any]], first_alone: bool, workers: int) -> dict[str, Any]:
    """Measured jobs (in launch order) through the pool's rules, as run and longest first."""
    first = jobs[0] if first_alone else None
    groups = _groups(jobs[1:] if first else jobs)
    # the first run's other jobs stay first (queued before the rest); the rest longest first
    head = [g for g in groups if g[0]["run"] == jobs[0]["run"]]
    rest = [g for g in groups if g[0]["run"] != jobs[0]["run"]]
    best = head + sorted(rest, key=lambda g: -sum(j["s"] for j in g))
    total = sum(j["s"] for j in jobs)
    alone = first["s"] if first else 0
    return {
        "jobs": len(jobs),
        "job_seconds": round(total),
        "first_alone_s": round(alone),
        "lower_bound_s": round(alone + (total - alone) / workers),
        "as_run_s": round(makespan(first, groups, workers)),
        "longest_measured_first_s": round(makespan(first, best, workers)),
        "by_grid_s": {
            g: round(sum(j["s"] for j in jobs if j["grid"] == g))
            for g in dict.fromkeys(j["grid"] for j in jobs)
        },
    }


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    sub = ap.add_subparsers(dest="cmd", required=True)
    pr = sub.add_parser("profile")
    pr.add_argument("runs_dir", type=Path)
    es = sub.add_parser("estimate")
    es.add_argument("pilot", type=Path, help="a complete run directory of the default model")
    es.add_argument("--scale", default="1/8")
    es.add_argument("--seeds", default="0,1,2")
    es.add_argument(
        "--world",
        type=int,
        default=1,
        help="the world whose data the token counts come from (a pilot's)",
    )
    es.add_argument(
        "--s-per-step", type=float, help="seconds per optimizer step (default: the pilot's average)"
    )
    es.add_argument("--s-per-candidate", type=float, help="seconds per candidate's dev evaluation")
    es.add_argument("--s-per-test", type=float, help="seconds per test evaluation")
    es.add_argument(
        "--tokens", action="store_true", help="also price training per token (builds every mix)"
    )
    rp = sub.add_parser("replay")
    rp.add_argument(
        "log",
        type=Path,
        help="the output of make ablations --jobs N, or its record (<report>/pool.json)",
    )
    rp.add_argument("--jobs", type=int, default=2)
    args = ap.parse_args(argv)
    if args.cmd == "replay":
        print(json.dumps(replay(args.log.read_text(errors="replace"), args.jobs), indent=1))
    elif args.cmd == "profile":
        rows = profile(args.runs_dir)
        cols = ["grid", "runs", "wall", "train", "select", "test", "other", "steps"]
        print("| " + " | ".join(cols) + " |\n|" + "---|" * len(cols))
        for r in rows:
            print("| " + " | ".join(str(r.get(c, "")) for c in cols) + " |")
    else:
        costs = {
            "s_per_step": args.s_per_step,
            "s_per_candidate": args.s_per_candidate,
            "s_per_test": args.s_per_test,
        }
        out = estimate(
            args.pilot,
            args.scale,
            [int(s) for s in args.seeds.split(",")],
            args.world,
            costs,
            args.tokens,
        )
        print(json.dumps(out, indent=1, default=float))


if __name__ == "__main__":
    main()
