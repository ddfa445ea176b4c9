"""Lightning loggers for a run: W&B (offline unless the user opts in) and a CSV record always."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from pytorch_lightning.loggers import CSVLogger, Logger, WandbLogger


def wandb_mode(cfg_mode: str | None) -> str:
    """``WANDB_MODE`` from the environment wins; otherwise the config; offline by default."""
    return os.environ.get("WANDB_MODE") or cfg_mode or "offline"


def make_loggers(run_dir: Path, run_id: str, wandb_id: str, cfg: dict[str, Any], config_for_wandb: dict) -> list[Logger]:
    loggers: list[Logger] = [CSVLogger(save_dir=str(run_dir), name="", version="logs")]
    lcfg = cfg.get("logger", {}) or {}
    if lcfg.get("wandb", True):
        finish_wandb()  # a multirun is one process: never log into the previous run's W&B run
        os.environ.setdefault("WANDB_DIR", str(run_dir))
        os.environ.setdefault("WANDB_SILENT", "true")
        loggers.append(WandbLogger(
            project=lcfg.get("project", "limalab"), entity=lcfg.get("entity"), group=lcfg.get("group"),
            job_type=lcfg.get("job_type", "train"), tags=list(cfg.get("tags") or []), name=run_id, id=wandb_id,
            resume="allow", save_dir=str(run_dir), mode=wandb_mode(lcfg.get("mode")), config=config_for_wandb,
        ))
    return loggers


def finish_wandb() -> None:
    """Close the process's W&B run, if any (the end of a run, or before the next one)."""
    import sys

    if "wandb" in sys.modules:
        import wandb

        if wandb.run is not None:
            wandb.finish()


def manifest_artifact_name(manifest: dict[str, Any]) -> str:
    """One artifact per distinct training set: runs sharing data share the artifact."""
    return f"data-{manifest['sha256'][:16]}"


def log_manifest_artifact(loggers: list[Logger], manifest_path: Path, manifest: dict[str, Any]) -> None:
    """The run's data manifest as a W&B ``dataset`` artifact named by its hash; the arm and
    size are aliases, the counts and filter drops metadata (no example text leaves the run)."""
    for lg in loggers:
        if isinstance(lg, WandbLogger):
            import wandb

            art = wandb.Artifact(manifest_artifact_name(manifest), type="dataset", metadata={
                k: manifest.get(k) for k in ("data", "sha256", "n_examples", "source_counts", "pool_sizes",
                                             "filter_stats", "bad_records", "subset_seed")})
            art.add_file(str(manifest_path), name="manifest.json")
            lg.experiment.log_artifact(art, aliases=["latest", str(manifest.get("data")), f"n{manifest['n_examples']}"])


def log_eval_table(loggers: list[Logger], eval_dir: Path, key: str = "test/generations") -> None:
    """The evaluation's generations with their judgments as a W&B table (one row per sample)."""
    from limalab.tracking.io import read_jsonl

    for lg in loggers:
        if isinstance(lg, WandbLogger):
            import wandb

            gens = read_jsonl(eval_dir / "generations.jsonl")
            judged = {(j["prompt_id"], j["sample"]): j for j in read_jsonl(eval_dir / "judgments.jsonl")}
            cols = ["prompt_id", "sample", "type", "prompt", "response", "score", "terminated", "n_tokens"]
            rows = [[g["prompt_id"], g["sample"], g.get("type"), g["prompt"], g["response"],
                     judged.get((g["prompt_id"], g["sample"]), {}).get("score"), g["terminated"], g["n_tokens"]]
                    for g in gens]
            lg.experiment.log({key: wandb.Table(columns=cols, data=rows)})


RESULTS_ARTIFACT_TYPE = "run-results"


def log_results_artifact(loggers: list[Logger], run_dir: Path, results: dict[str, Any]) -> None:
    """The run directory's readable record as a W&B artifact (``run-<run id>``): config, manifest,
    results and every evaluation (summaries, judgments, generations). ``analysis --source wandb``
    downloads these into the run-directory layout, so the same analysis reads either."""
    import tempfile

    from limalab.tracking.io import to_json

    for lg in loggers:
        if isinstance(lg, WandbLogger):
            import wandb

            art = wandb.Artifact(f"run-{results['run_id']}", type=RESULTS_ARTIFACT_TYPE,
                                 metadata={k: results.get(k) for k in ("run_id", "data", "n_examples", "tags")})
            for name in ("config.yaml", "manifest.json"):
                if (run_dir / name).exists():
                    art.add_file(str(run_dir / name), name=name)
            with tempfile.TemporaryDirectory(dir=run_dir) as tmp:  # results.json itself is written last
                path = Path(tmp) / "results.json"
                path.write_text(to_json(results, indent=1))
                art.add_file(str(path), name="results.json")
                for d in sorted((run_dir / "evals").glob("*")):
                    if (d / "summary.json").exists():
                        art.add_dir(str(d), name=f"evals/{d.name}")
                lg.experiment.log_artifact(art, aliases=["latest"])
