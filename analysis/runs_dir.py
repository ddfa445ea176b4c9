"""Where the analysis reads runs from: a local runs directory, or a W&B project.

``--source wandb --entity E --project P [--group G]`` downloads each run's ``run-results``
artifact (config, manifest, results, evaluations; logged at the end of every run) into
``<cache>/<run id>/`` — the run-directory layout — so every analysis script reads W&B exactly as
it reads a local directory.
"""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

from limalab.tracking.loggers import RESULTS_ARTIFACT_TYPE


def add_source_args(ap: argparse.ArgumentParser) -> None:
    ap.add_argument(
        "--source",
        choices=("local", "wandb"),
        default="local",
        help="local: runs_dir is a runs directory; wandb: download runs from a W&B project",
    )
    ap.add_argument("--entity", help="W&B entity (with --source wandb)")
    ap.add_argument("--project", help="W&B project (with --source wandb)")
    ap.add_argument("--group", help="only runs of this W&B group (an ablation)")


def resolve_runs_dir(args: argparse.Namespace, api: Any = None) -> Path:
    """``args.runs_dir`` itself, or (``--source wandb``) a directory filled from W&B, cached
    under it so a second call downloads nothing new."""
    if args.source == "local":
        return Path(args.runs_dir)
    if not args.entity or not args.project:
        raise SystemExit("--source wandb needs --entity and --project")
    return download_runs(args.entity, args.project, Path(args.runs_dir), args.group, api)


def download_runs(
    entity: str, project: str, dest: Path, group: str | None = None, api: Any = None
) -> Path:
    if api is None:
        import wandb

        api = wandb.Api()
    # a run shared by several grids has one group (its first) and a grid:<name> tag for each
    filters = {"$or": [{"group": group}, {"tags": {"$in": [f"grid:{group}"]}}]} if group else {}
    dest.mkdir(parents=True, exist_ok=True)
    n = 0
    for run in api.runs(f"{entity}/{project}", filters=filters):
        arts = [a for a in run.logged_artifacts() if a.type == RESULTS_ARTIFACT_TYPE]
        if not arts:
            continue  # unfinished, or from before results were logged
        art = arts[-1]  # the latest version: a resumed run logs once more
        run_id = art.metadata.get("run_id") or run.name
        target = dest / run_id
        if not (target / "results.json").exists():
            art.download(root=str(target))
        n += 1
    if n == 0:
        raise SystemExit(
            f"W&B {entity}/{project}{' group ' + group if group else ''}: no run has a "
            f"{RESULTS_ARTIFACT_TYPE} artifact"
        )
    print(f"wandb: {n} runs from {entity}/{project} in {dest}")
    return dest
