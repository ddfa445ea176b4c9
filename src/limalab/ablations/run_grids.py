"""``make ablations``: every grid in ``sweeps/`` as a Hydra multirun of ``src/train.py`` (one
subprocess per grid, runs in sequence; ``--jobs N``: every run its own process, N at a time,
limalab.ablations.job_pool), then the report. Rerunning the same command skips
finished runs and resumes an interrupted one, so a killed ablation loses nothing.

    python -m limalab.ablations.run_grids [--scale 1/8] [--seeds 0,1,2] [--subsets 0] [--worlds 0]
        [--full] [--smoke] [--jobs N]

``--subsets`` adds the subset draw (``data.subset_seed``) as a replicate axis of the replicated
grids beside the training seed; ``--full`` also runs ``sweeps/extra/`` (Fig. 6 at fixed steps).
``make ablations-full`` is both.
"""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

from limalab.ablations.grid import (
    hydra_overrides,
    load_sweep,
    parse_scale,
    parse_where,
    restrict,
    wandb_runs,
)
from limalab.ablations.job_pool import jobs_of, run_pool

ROOT = Path(__file__).resolve().parents[3]
ORDER = (
    "base",
    "diversity",
    "quality",
    "long_is_more",
    "quantity",
    "positive_control",
    "controls",
    "quantity_matched",
)  # base first: it builds world and base model
# the smallest scale the regime holds at (batch 64/64 = 1); experiment=smoke then sets its own
# epochs and batch: the smoke checks the machinery, not the regime
SMOKE = {"scale": "1/64", "seeds": "0", "overrides": ["experiment=smoke"]}


def ints(text: str) -> list[int]:
    try:
        return [int(x) for x in text.split(",") if x.strip()]
    except ValueError:
        raise SystemExit(f"expected comma-separated integers, got {text!r}") from None


def _grid_axes(
    sweeps_dir: Path,
    seeds: list[int],
    worlds: list[int],
    subsets: list[int] | None,
    full: bool,
    where: dict[str, list[str]] | None = None,
) -> list[tuple[str, dict, dict[str, list]]]:
    """(grid name, sweep, added axes) per sweep file, in ORDER; ``full`` adds
    ``<sweeps_dir>/extra/``, ``subsets`` (other than the default draw 0 alone) a subset-draw
    axis of the replicated grids, which also take SEEDS; ``where`` slices the grids
    (``grid.restrict``: a grid left without a value of a key it varies is not run)."""
    files = {p.stem: p for p in sweeps_dir.glob("*.yaml")}
    if full:
        files |= {p.stem: p for p in (sweeps_dir / "extra").glob("*.yaml")}
    sweeps = {name: load_sweep(path) for name, path in files.items()}
    if where:
        unknown = sorted(set(where) - {k for sw in sweeps.values() for k in sw["parameters"]})
        if unknown:
            raise SystemExit(
                f"--where {', '.join(unknown)}: no grid in {sweeps_dir} varies or sets it "
                "(a slice narrows a grid's own parameters)"
            )
    out = []
    for name in [n for n in ORDER if n in files] + sorted(set(files) - set(ORDER)):
        sweep = restrict(sweeps[name], where) if where else sweeps[name]
        if sweep is None:
            continue
        extra: dict[str, list] = {"world.seed": worlds}
        if len(sweep["parameters"].get("seed", {}).get("values", [])) > 1:
            extra["seed"] = seeds
            if subsets and subsets != [0]:
                extra["data.subset_seed"] = subsets
        out.append((name, sweep, extra))
    return out


def plan(
    sweeps_dir: Path,
    scale: str,
    seeds: list[int],
    worlds: list[int],
    subsets: list[int] | None = None,
    full: bool = False,
    where: dict[str, list[str]] | None = None,
) -> list[tuple[str, list[str], int]]:
    """(grid name, Hydra multirun overrides, number of runs) per sweep file, in ORDER."""
    s = parse_scale(scale)
    return [
        (name, hydra_overrides(sweep, s, extra), len(wandb_runs(sweep, s, extra)))
        for name, sweep, extra in _grid_axes(sweeps_dir, seeds, worlds, subsets, full, where)
    ]


def plan_runs(
    sweeps_dir: Path,
    scale: str,
    seeds: list[int],
    worlds: list[int],
    subsets: list[int] | None = None,
    full: bool = False,
    where: dict[str, list[str]] | None = None,
) -> list[tuple[str, list[dict]]]:
    """The same grids as ``plan``, each expanded to its runs (``{key: value}`` per run)."""
    s = parse_scale(scale)
    return [
        (name, wandb_runs(sweep, s, extra))
        for name, sweep, extra in _grid_axes(sweeps_dir, seeds, worlds, subsets, full, where)
    ]


def reuse_runs(
    runs: list[tuple[str, list[dict]]], extra: list[str], runs_dir: Path, sources: list[Path]
) -> list[str]:
    """Copy into ``runs_dir`` every planned run that another runs directory holds complete
    (``make saturation`` shares its tiny-base runs with ``make ablations``' Fig. 6, and its
    larger-base 2,000 runs with ``make capacity``): a run id is its semantic config, so the copy
    is the same run, and the run still checks its stages before it is skipped. A source is used
    only if its results say complete and its own config gives the directory's id."""
    import yaml

    from limalab.tracking.identity import run_id
    from limalab.tracking.rundir import RunDir

    copied = []
    for rid in dict.fromkeys(g[0].run_id for g in jobs_of(runs, extra)):
        if (runs_dir / rid).exists():
            continue
        for src in sources:
            rd = RunDir(src / rid)
            if not rd.path.is_dir() or rd.read_results() is None:
                continue
            try:
                same = run_id(yaml.safe_load(rd.config.read_text())) == rid
            except Exception:  # an unreadable config: not a source to trust
                same = False
            if not same:
                print(f"reuse: {rd.path} does not compose to run {rid}: not copied", flush=True)
                continue
            runs_dir.mkdir(parents=True, exist_ok=True)
            tmp = runs_dir / f".{rid}.reuse-{os.getpid()}"
            shutil.rmtree(tmp, ignore_errors=True)
            shutil.copytree(rd.path, tmp, symlinks=True)
            tmp.rename(runs_dir / rid)  # a killed copy leaves no half run behind
            copied.append(rid)
            print(f"reuse: run {rid} is complete in {src}: copied to {runs_dir}", flush=True)
            break
    return copied


def _parser() -> argparse.ArgumentParser:
    ap = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    ap.add_argument("--scale", default=os.environ.get("SCALE", "1/8"))
    ap.add_argument("--seeds", default=os.environ.get("SEEDS", "0,1,2"))
    ap.add_argument("--worlds", default=os.environ.get("WORLDS", "0"))
    ap.add_argument(
        "--subsets", default=os.environ.get("SUBSETS", "0"), help="subset draws (data.subset_seed)"
    )
    ap.add_argument("--full", action="store_true", help="also the grids in <sweeps>/extra/")
    ap.add_argument("--sweeps", type=Path, default=ROOT / "sweeps")
    ap.add_argument("--runs-dir", type=Path, default=Path("runs/ablations"))
    ap.add_argument("--report", type=Path, default=Path("reports/ablations"))
    ap.add_argument(
        "--smoke", action="store_true", help="the same pipeline on the smoke world and a tiny grid"
    )
    ap.add_argument("--only", help="comma-separated grid names")
    ap.add_argument(
        "--where",
        action="append",
        metavar="KEY=V1,V2",
        help="run a slice of the grids: KEY's values cut to those listed, in the sweep files' "
        "units (the paper's sizes); repeatable; a grid left with none of them is not run",
    )
    ap.add_argument(
        "--wandb",
        action="store_true",
        help="the report also goes to W&B, one run per ablation in its group "
        "(analysis.report --wandb; offline unless WANDB_MODE=online, its files under the report "
        "directory)",
    )
    ap.add_argument(
        "--no-report",
        action="store_true",
        help="train only (make saturation writes its own report)",
    )
    ap.add_argument(
        "--jobs",
        type=int,
        default=int(os.environ.get("JOBS", "1")),
        help="runs at a time on this machine, the cores split between them (limalab.ablations."
        "job_pool); 1: one Hydra multirun per grid, as with a launcher override "
        "(hydra/launcher=slurm), which always takes that path",
    )
    ap.add_argument(
        "--reuse-from",
        action="append",
        type=Path,
        metavar="RUNS_DIR",
        help="copy a planned run that this runs directory holds complete instead of training it "
        "again (repeatable)",
    )
    ap.add_argument("overrides", nargs="*", help="extra Hydra overrides for every run")
    return ap


def run_grids(
    grids: list[tuple[str, list[str], int]], extra: list[str], runs_dir: Path
) -> list[tuple[str, int]]:
    """Each grid as one Hydra multirun of ``src/train.py``, in order; the grids whose multirun
    failed (its failed jobs are listed in its output) with their exit codes."""
    failed = []
    for i, (name, overrides, n) in enumerate(grids, start=1):
        print(f"[{i}/{len(grids)}] {name}: {n} runs: {' '.join(overrides)}", flush=True)
        cmd = [
            sys.executable,
            str(ROOT / "src" / "train.py"),
            "-m",
            *overrides,
            *extra,
            f"runs_dir={runs_dir}",
            "trainer.enable_progress_bar=false",
        ]
        if (code := subprocess.run(cmd).returncode) != 0:  # go on with the other grids
            failed.append((name, code))
    return failed


def write_report(runs_dir: Path, report: Path, scale: str, sweeps: Path, wandb: bool) -> None:
    """``analysis.report`` over the complete runs, its figures drawing the arms of the same sweep
    files the grids ran; W&B (when asked) keeps its files in the report directory, offline
    unless WANDB_MODE says otherwise."""
    report_env = {
        **os.environ,
        "WANDB_DIR": str(report.resolve()),
        "WANDB_SILENT": "true",
        "WANDB_MODE": os.environ.get("WANDB_MODE") or "offline",
    }
    report.mkdir(parents=True, exist_ok=True)
    subprocess.run(
        [
            sys.executable,
            "-m",
            "analysis.report",
            str(runs_dir),
            "--out",
            str(report),
            "--scale",
            str(scale),
            "--sweeps",
            str(sweeps),
            *(["--wandb"] if wandb else []),
        ],
        check=True,
        cwd=ROOT,
        env=report_env,
    )


def main(argv: list[str] | None = None) -> None:
    args = _parser().parse_args(argv)
    extra = list(args.overrides)
    if args.smoke:
        args.scale, args.seeds = SMOKE["scale"], SMOKE["seeds"]
        extra = SMOKE["overrides"] + extra
    try:
        where = parse_where(args.where or [])
    except ValueError as e:
        raise SystemExit(str(e)) from None
    axes = (
        args.sweeps,
        args.scale,
        ints(args.seeds),
        ints(args.worlds),
        ints(args.subsets),
        args.full,
        where,
    )
    grids = plan(*axes)
    if args.only:
        keep = set(args.only.split(","))
        grids = [g for g in grids if g[0] in keep]
    total = sum(n for _, _, n in grids)
    print(
        f"ablations: {len(grids)} grids, {total} runs (scale {args.scale}, seeds {args.seeds}, "
        f"subsets {args.subsets}, worlds {args.worlds}"
        + "".join(f", {k} in {','.join(v)}" for k, v in where.items())
        + f") into {args.runs_dir}",
        flush=True,
    )
    t0 = time.time()
    runs = [r for r in plan_runs(*axes) if r[0] in {g[0] for g in grids}]
    if args.reuse_from:
        reuse_runs(runs, extra, args.runs_dir, args.reuse_from)
    if args.jobs > 1 and not any(o.startswith("hydra/launcher=") for o in extra):
        # the jobs' measured seconds beside the report (bench/ablations_budget.py replay)
        record = None if args.no_report else args.report / "pool.json"
        failed = run_pool(jobs_of(runs, extra), extra, args.runs_dir, args.jobs, record)
        failed = list(dict(failed).items())  # one entry per grid
    else:
        failed = run_grids(grids, extra, args.runs_dir)
    print(f"ablations: grids done in {time.time() - t0:.0f} s", flush=True)
    if not args.no_report:
        print(f"ablations: writing the report to {args.report}", flush=True)
        write_report(args.runs_dir, args.report, args.scale, args.sweeps, args.wandb)
    if failed:
        raise SystemExit(
            f"ablations: {len(failed)} of {len(grids)} grids had runs that did not complete "
            f"({', '.join(f'{g} (exit {c})' for g, c in failed)}); the report covers the complete "
            "runs only. Rerun the same command to finish the rest"
        )


if __name__ == "__main__":
    main()
