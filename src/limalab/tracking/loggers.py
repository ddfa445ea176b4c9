"""Lightning loggers for a run — W&B (offline unless the user opts in) and a CSV record always —
and what W&B shows of a run: a readable name (arm, size, seed), a group (the ablation, the
multirun, or the arm of a single run), tags, job types, the headline with its CI bounds as
summary scalars, the dev score of each candidate checkpoint, and artifacts with lineage:

    data (dataset) --used by--> train run --logs--> model --used by--> evaluate run --logs-->
    evaluation

Offline, W&B's ``use_artifact`` refuses to run; the same record it writes online for a local
artifact (logged with ``use_after_commit``: the artifact becomes an input of the run when
synced) is written instead, so ``wandb sync`` gives the same graph. A model artifact built
twice from the same files has the same digest, so the evaluate run uses the train run's
version, not a copy."""

from __future__ import annotations

import json
import math
import os
import sys
from pathlib import Path
from typing import Any

from pytorch_lightning.loggers import CSVLogger, Logger, WandbLogger

RESULTS_ARTIFACT_TYPE = "run-results"
EVAL_ARTIFACT_TYPE = "evaluation"
MODEL_ARTIFACT_TYPE = "model"


def wandb_mode(cfg_mode: str | None) -> str:
    """``WANDB_MODE`` from the environment wins; then a W&B agent (``WANDB_SWEEP_ID``: the sweep
    lives on the server, so its runs must reach it); then the config; offline by default."""
    if os.environ.get("WANDB_MODE"):
        return os.environ["WANDB_MODE"]
    return "online" if os.environ.get("WANDB_SWEEP_ID") else cfg_mode or "offline"


def agent_run_id() -> str | None:
    """The run id a W&B agent gave this process: under an agent, ``wandb.init`` ignores any other
    id, so the run directory adopts this one."""
    return os.environ.get("WANDB_RUN_ID") if os.environ.get("WANDB_SWEEP_ID") else None


def flat_config(cfg: dict[str, Any], prefix: str = "") -> dict[str, Any]:
    """The config as dotted keys (``data.size``), the form of a sweep's parameters and of Hydra
    overrides: a sweep parameter then sets its own key and never replaces a nested group (a
    sweep's ``data: se_filtered`` next to the composed ``data.*``)."""
    out: dict[str, Any] = {}
    for k, v in cfg.items():
        if isinstance(v, dict) and v:
            out |= flat_config(v, f"{prefix}{k}.")
        else:
            out[f"{prefix}{k}"] = v
    return out


def wandb_config(cfg: dict[str, Any], run_id: str, launch: dict[str, Any] | None) -> dict[str, Any]:
    """What W&B's config holds: every key dotted, the Hydra group choices (``data: se_filtered``,
    as a sweep sets them), the run id and how it was launched."""
    launch = launch or {}
    return (
        flat_config(cfg)
        | dict(launch.get("choices") or {})
        | {
            "run_id": run_id,
            "launch.dir": launch.get("dir"),
            "launch.overrides": launch.get("overrides"),
        }
    )


def run_name(cfg: dict[str, Any], run_id: str) -> str:
    """``<arm>-n<size>-s<seed>-<run id's first 6>``: readable in a runs table, still unique."""
    data = cfg.get("data") or {}
    size = data.get("size")
    n = size if size is not None else "all"
    return f"{data.get('name', 'run')}-n{n}-s{cfg.get('seed', 0)}-{run_id[:6]}"


def run_group(cfg: dict[str, Any], launch: dict[str, Any] | None) -> str:
    """The ablation (``logger.group``, set by each sweep file), else the multirun it was
    launched in, else the arm: runs that belong together chart together."""
    lcfg = cfg.get("logger") or {}
    return (
        lcfg.get("group")
        or (launch or {}).get("multirun")
        or str((cfg.get("data") or {}).get("name", "runs"))
    )


def run_tags(cfg: dict[str, Any], grids: list[str] | None = None) -> list[str]:
    """The user's tags, then ``data:``, ``n:``, ``seed:``, ``model:`` and ``grid:`` tags to filter
    by (a run in several grids carries one ``grid:`` tag per grid: a W&B run has one group)."""
    data, model = cfg.get("data") or {}, cfg.get("model") or {}
    grids = [(cfg.get("logger") or {}).get("group"), *(grids or [])]
    tags = [
        *map(str, cfg.get("tags") or []),
        f"data:{data.get('name')}",
        f"n:{data.get('size')}",
        f"seed:{cfg.get('seed')}",
        f"model:{model.get('source')}-{model.get('init', 'checkpoint')}",
        *(f"grid:{g}" for g in grids if g),
    ]
    return list(dict.fromkeys(t[:64] for t in tags))  # W&B caps a tag at 64 characters


def make_loggers(
    run_dir: Path,
    run_id: str,
    wandb_id: str,
    cfg: dict[str, Any],
    config_for_wandb: dict,
    launch: dict[str, Any] | None = None,
    grids: list[str] | None = None,
    group: str | None = None,
) -> list[Logger]:
    """The CSV logger, and W&B's unless ``logger.wandb`` is off. ``group``: the run's W&B group if
    it has one already (a run keeps its first group), else ``run_group``."""
    loggers: list[Logger] = [CSVLogger(save_dir=str(run_dir), name="", version="logs")]
    lcfg = cfg.get("logger", {}) or {}
    if lcfg.get("wandb", True):
        finish_wandb()  # a multirun is one process: never log into the previous run's W&B run
        # the run's files go to save_dir (dir=): no WANDB_DIR, which would pin every later run
        # of a multirun to the first one's directory
        os.environ.setdefault("WANDB_SILENT", "true")
        loggers.append(
            WandbLogger(
                project=lcfg.get("project", "limalab"),
                entity=lcfg.get("entity"),
                group=group or run_group(cfg, launch),
                job_type=lcfg.get("job_type", "train"),
                tags=run_tags(cfg, grids),
                name=run_name(cfg, run_id),
                id=wandb_id,
                resume="allow",
                save_dir=str(run_dir),
                mode=wandb_mode(lcfg.get("mode")),
                config=wandb_config(config_for_wandb, run_id, launch),
            )
        )
    return loggers


def wandb_run(loggers: list[Logger]) -> Any | None:
    """The W&B run behind the loggers, if any."""
    for lg in loggers:
        if isinstance(lg, WandbLogger):
            return lg.experiment
    return None


def finish_wandb() -> None:
    """Close the process's W&B run, if any (the end of a run, or before the next one)."""
    if "wandb" in sys.modules:
        import wandb

        if wandb.run is not None:
            wandb.finish()


def use_artifact(run: Any, artifact: Any, aliases: list[str] | None = None) -> None:
    """``run.use_artifact`` for an artifact built here (online), or, offline where W&B refuses it,
    the record it writes for one: the artifact logged with ``use_after_commit`` (an input)."""
    if run.settings._offline:
        run._log_artifact(
            artifact, aliases=aliases or [], is_user_created=True, use_after_commit=True
        )
    else:
        run.use_artifact(artifact, aliases=aliases)


def offline_sync_hint(run_dir: Path) -> str | None:
    """The command that uploads a run logged offline (``None`` if it has no offline records)."""
    dirs = sorted((run_dir / "wandb").glob("offline-run-*"))
    if not dirs:
        return None
    return (
        f"W&B offline: records in {run_dir / 'wandb'}; upload them with: wandb sync "
        f"{run_dir / 'wandb'}/offline-run-*"
    )


def manifest_artifact_name(manifest: dict[str, Any]) -> str:
    """One artifact per distinct training set: runs sharing data share the artifact."""
    return f"data-{manifest['sha256'][:16]}"


def log_manifest_artifact(
    loggers: list[Logger], manifest_path: Path, manifest: dict[str, Any]
) -> None:
    """The run's data manifest as a W&B ``dataset`` artifact named by its hash, used by the run
    (an input: the first edge of the lineage); the arm and size are aliases, the counts and
    filter drops metadata (no example text leaves the run)."""
    run = wandb_run(loggers)
    if run is None:
        return
    import wandb

    art = wandb.Artifact(
        manifest_artifact_name(manifest),
        type="dataset",
        metadata={
            k: manifest.get(k)
            for k in (
                "data",
                "sha256",
                "n_examples",
                "source_counts",
                "pool_sizes",
                "filter_stats",
                "bad_records",
                "subset_seed",
            )
        },
    )
    art.add_file(str(manifest_path), name="manifest.json")
    use_artifact(
        run, art, aliases=["latest", str(manifest.get("data")), f"n{manifest['n_examples']}"]
    )


def model_artifact(
    model_dir: Path, run_id: str, upload_max_mb: float, description: str = ""
) -> Any:
    """The export as a ``model`` artifact: its files uploaded, or, above ``upload_max_mb``, by
    reference (``file://``: checksummed, not copied). The model card is the description, not a
    file: a new result rewrites the card and must not make a new model version."""
    import wandb

    files = sorted(p for p in model_dir.rglob("*") if p.is_file() and p.name != "README.md")
    art = wandb.Artifact(
        f"model-{run_id}",
        type=MODEL_ARTIFACT_TYPE,
        description=description[:4000],
        metadata={"run_id": run_id, "bytes": sum(p.stat().st_size for p in files)},
    )
    by_reference = sum(p.stat().st_size for p in files) > upload_max_mb * 2**20
    for p in files:
        rel = str(p.relative_to(model_dir))
        if by_reference:
            art.add_reference(p.resolve().as_uri(), name=rel)
        else:
            art.add_file(str(p), name=rel)
    return art


def log_eval_table(loggers: list[Logger], eval_dir: Path, key: str = "test/generations") -> None:
    """The evaluation's generations with their judgments as a W&B table (one row per sample)."""
    from limalab.tracking.io import read_jsonl

    run = wandb_run(loggers)
    if run is None:
        return
    import wandb

    gens = read_jsonl(eval_dir / "generations.jsonl")
    judged = {(j["prompt_id"], j["sample"]): j for j in read_jsonl(eval_dir / "judgments.jsonl")}
    cols = ["prompt_id", "sample", "type", "prompt", "response", "score", "terminated", "n_tokens"]
    rows = [
        [
            g["prompt_id"],
            g["sample"],
            g.get("type"),
            g["prompt"],
            g["response"],
            judged.get((g["prompt_id"], g["sample"]), {}).get("score"),
            g["terminated"],
            g["n_tokens"],
        ]
        for g in gens
    ]
    run.log({key: wandb.Table(columns=cols, data=rows)})


def _finite(v: Any) -> bool:
    return isinstance(v, int | float) and not isinstance(v, bool) and math.isfinite(v)


def scalars(prefix: str, metrics: dict[str, Any]) -> dict[str, float]:
    """Numbers only, with a ``*ci95`` pair as ``*ci95_lo`` and ``*ci95_hi`` (a runs-table bar
    chart's error bars); NaN, infinities and lists otherwise are left out."""
    out: dict[str, float] = {}
    for k, v in metrics.items():
        if isinstance(v, bool):
            out[f"{prefix}{k}"] = float(v)
        elif _finite(v):
            out[f"{prefix}{k}"] = v
        elif (
            k.endswith("ci95")
            and isinstance(v, list | tuple)
            and len(v) == 2
            and all(_finite(x) for x in v)
        ):
            out[f"{prefix}{k}_lo"], out[f"{prefix}{k}_hi"] = float(v[0]), float(v[1])
    return out


def log_selection(loggers: list[Logger], candidates: list[dict[str, Any]]) -> None:
    """The dev score of every candidate checkpoint, a line over ``select/epoch``, and a table."""
    run = wandb_run(loggers)
    if run is None or not candidates:
        return
    import wandb

    run.define_metric("select/epoch")
    run.define_metric("select/*", step_metric="select/epoch")
    cols = [
        "epoch",
        "checkpoint",
        "status",
        "dev_judge_mean",
        "dev_judge_ci95_lo",
        "dev_judge_ci95_hi",
        "dev_ppl",
    ]
    rows = []
    for c in sorted(candidates, key=lambda c: c["epoch"]):
        s = scalars(
            "select/", {k: c.get(k) for k in ("dev_judge_mean", "dev_judge_ci95", "dev_ppl")}
        )
        run.log({"select/epoch": c["epoch"], **s})
        rows.append(
            [c["epoch"], c["checkpoint"], c["status"], *(s.get(f"select/{k}") for k in cols[3:])]
        )
    run.log({"select/candidates": wandb.Table(columns=cols, data=rows)})


def log_headline(loggers: list[Logger], results: dict[str, Any]) -> None:
    """The run's outcome: the test headline as ``test/*`` (CI bounds as scalars), the selected
    checkpoint's dev numbers as ``dev/*``, and the run's facts, in the W&B summary (what a
    runs table and a bar chart over a group read); the CSV record gets the same numbers."""
    m = dict(results.get("metrics") or {})
    best = next(
        (
            c
            for c in results.get("selection") or []
            if f"epoch-{c['epoch']}" == results.get("selected_checkpoint")
        ),
        {},
    )
    dev = {
        "judge_mean": m.pop("dev_judge_mean", None),
        "ppl": m.pop("dev_ppl", None),
        "judge_ci95": best.get("dev_judge_ci95"),
    }
    facts = {
        "n_examples": results.get("n_examples"),
        "tokens_trained": results.get("tokens_trained"),
        "complete": results.get("status") == "complete",
    }
    numbers = scalars("test/", m) | scalars("dev/", dev) | scalars("run/", facts)
    for lg in loggers:
        if isinstance(lg, WandbLogger):
            lg.experiment.summary.update(
                numbers
                | {
                    "run/status": results.get("status"),
                    "run/selected_checkpoint": results.get("selected_checkpoint"),
                }
            )
        elif hasattr(lg, "log_metrics"):
            lg.log_metrics(numbers)


def results_artifact(run_dir: Path, results_json: Path) -> Any:
    """The run directory's readable record as a ``run-<run id>`` artifact: config, manifest,
    results (``results_json``) and every evaluation (summaries, judgments, generations). Built
    from the same files, it has the same digest: the report run uses the train run's version."""
    import wandb

    results = json.loads(results_json.read_text())
    art = wandb.Artifact(
        f"run-{results['run_id']}",
        type=RESULTS_ARTIFACT_TYPE,
        metadata={k: results.get(k) for k in ("run_id", "data", "n_examples", "tags", "grids")},
    )
    for name in ("config.yaml", "manifest.json"):
        if (run_dir / name).exists():
            art.add_file(str(run_dir / name), name=name)
    art.add_file(str(results_json), name="results.json")
    for d in sorted((run_dir / "evals").glob("*")):
        if (d / "summary.json").exists():
            art.add_dir(str(d), name=f"evals/{d.name}")
    return art


def log_results_artifact(loggers: list[Logger], run_dir: Path, results: dict[str, Any]) -> None:
    """The run's ``run-results`` artifact (``results_artifact``). ``analysis --source wandb``
    downloads these into the run-directory layout, so the same analysis reads either."""
    import tempfile

    from limalab.tracking.io import json_text

    run = wandb_run(loggers)
    if run is None:
        return
    with tempfile.TemporaryDirectory(dir=run_dir) as tmp:  # results.json itself is written last
        path = Path(tmp) / "results.json"
        path.write_text(json_text(results))  # the bytes the run directory's results.json will hold
        run.log_artifact(results_artifact(run_dir, path), aliases=["latest"])


EVAL_FILES = ("generations.jsonl", "judgments.jsonl", "pairs.jsonl", "summary.json")


def evaluation_artifact(run_dir: Path, run_id: str, eval_id: str) -> Any:
    """An evaluation (generations, judgments or a pairwise comparison's pairs, summary) as an
    ``evaluation`` artifact."""
    import wandb

    art = wandb.Artifact(
        f"eval-{run_id}-{eval_id}",
        type=EVAL_ARTIFACT_TYPE,
        metadata={"run_id": run_id, "eval_id": eval_id},
    )
    for name in EVAL_FILES:
        if (run_dir / "evals" / eval_id / name).exists():
            art.add_file(str(run_dir / "evals" / eval_id / name), name=name)
    return art


def log_evaluation_run(
    run_dir: Path,
    results: dict[str, Any],
    cfg: dict[str, Any],
    models: list[Any],
    where: tuple[str, list[str] | None],
    eval_id: str | None = None,
    metrics: dict[str, Any] | None = None,
) -> str:
    """An evaluation as its own W&B run (job type ``evaluate``, the train run's group; named
    after the train run + ``-eval``, + ``-eval-<eval id>`` for one added by ``src/evaluate.py``):
    it uses the model artifact(s) and logs the evaluation (generations, judgments, summary) as
    an ``evaluation`` artifact — the last edges of the lineage — with ``test/*`` (CI bounds as
    scalars) in its summary. ``where``: the train run's group and grids; ``eval_id``: the run's
    headline evaluation unless given; ``metrics``: the run's headline metrics unless given.
    Returns the W&B run id. (Under a W&B agent every ``wandb.init`` of the process gets the
    agent's run id, so there the train run logs the evaluation itself: pipeline/run.py.)"""
    import wandb

    lcfg = cfg.get("logger") or {}
    eval_id = eval_id or results["default_eval"]
    suffix = "-eval" if eval_id == results.get("default_eval") else f"-eval-{eval_id}"
    metrics = (results.get("metrics") or {}) if metrics is None else metrics
    group, grids = where
    finish_wandb()
    run = wandb.init(
        project=lcfg.get("project", "limalab"),
        entity=lcfg.get("entity"),
        group=group,
        job_type="evaluate",
        tags=run_tags(cfg, grids),
        name=run_name(cfg, results["run_id"]) + suffix,
        id=f"{results['wandb_run_id']}{suffix}",
        resume="allow",
        dir=str(run_dir),
        mode=wandb_mode(lcfg.get("mode")),
        config={
            "run_id": results["run_id"],
            "eval_id": eval_id,
            "spec": (results.get("evals") or {}).get(eval_id, {}).get("spec"),
        },
    )
    try:
        for model in models:
            use_artifact(run, model, aliases=["latest"])
        run.log_artifact(
            evaluation_artifact(run_dir, results["run_id"], eval_id), aliases=["latest"]
        )
        run.summary.update(
            scalars("test/", {k: v for k, v in metrics.items() if not k.startswith("dev_")})
        )
        return run.id
    finally:
        run.finish()


def join_grid(
    run_dir: Path, run_id: str, wandb_id: str, cfg: dict[str, Any], group: str, grids: list[str]
) -> None:
    """A complete run launched again by another grid (it is skipped, not retrained): its W&B run
    is resumed only to carry every grid's ``grid:`` tag (it keeps its one group), so each grid's
    dashboard and ``analysis --source wandb --group <grid>`` find it."""
    import wandb

    lcfg = cfg.get("logger") or {}
    finish_wandb()
    run = wandb.init(
        project=lcfg.get("project", "limalab"),
        entity=lcfg.get("entity"),
        group=group,
        job_type=lcfg.get("job_type", "train"),
        tags=run_tags(cfg, grids),
        id=wandb_id,
        resume="allow",
        name=run_name(cfg, run_id),
        dir=str(run_dir),
        mode=wandb_mode(lcfg.get("mode")),
    )
    run.finish()


def tag_on_server(
    cfg: dict[str, Any], wandb_id: str, tags: list[str], api: Any = None
) -> str | None:
    """Add ``tags`` to a W&B run already on the server, through the public API: how a complete run
    skipped under a W&B agent joins the agent's grid, since there every ``wandb.init`` is the
    agent's own run and cannot resume the original. Online only (offline nothing can reach the
    server); returns why it was not tagged, or ``None``."""
    lcfg = cfg.get("logger") or {}
    if wandb_mode(lcfg.get("mode")) != "online":
        return "offline, so the W&B server is out of reach"
    try:
        if api is None:
            import wandb

            api = wandb.Api()
        entity = lcfg.get("entity") or api.default_entity
        run = api.run(f"{entity}/{lcfg.get('project', 'limalab')}/{wandb_id}")
        run.tags = list(dict.fromkeys([*run.tags, *tags]))
        run.update()
    except Exception as e:  # no network, no such run (logged offline, never synced), no permission
        return f"{type(e).__name__}: {e}"
    return None
