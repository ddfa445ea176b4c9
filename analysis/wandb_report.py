"""The report in W&B: one run per ablation, in the ablation's group (the group of its train runs,
so it shows in that group's workspace beside them), job type ``report``, named
``report-<ablation>``. Each holds its part of the report:

- figures: the PNGs the ablation draws into (Fig. 5 for diversity, quality and Long Is More;
  Fig. 6 for quantity, its compute-matched grid and the positive control; Fig. 9, over every
  checkpoint of the report's runs, for all) as ``figures/<name>`` images;
- tables: its rows of the report's tables as ``tables/<name>`` (missing numbers as empty cells,
  a CI pair as ``*_lo``/``*_hi`` columns) and its verdict rows as ``tables/findings``;
- summary scalars: per arm ``<table>/<arm>/mean``, ``ci95_lo``, ``ci95_hi``, ``n`` (runs), the
  fitted slope where the ablation has one, and per finding ``verdict/<finding>`` with its effect,
  CI and p under ``finding/<finding>/``;
- lineage: a ``use_artifact`` edge to the ``run-results`` artifact of every run behind its rows
  (each table row lists its ``run_ids``; runs that log to W&B): rebuilt from the run directory's
  files, which gives the train run's own version (same files, same digest); a run re-evaluated
  since it logged it (``src/evaluate.py`` adds ``evals/``) has new files, so the edge goes to a
  new version holding them.

An ablation gets a report run when a run of the report belongs to its grid: every grid that
launched it (``grids`` in its provenance and results, and its ``logger.group``), as its W&B
``grid:`` tags say. The W&B run id is derived from the ablation and the report directory:
writing the same report again continues its runs.
"""

from __future__ import annotations

import hashlib
import json
import re
from collections import Counter
from pathlib import Path
from typing import Any

import yaml

from analysis.report import FIG5_BASELINE, LABELS, SWEEPS, control_rises, sweep_arms
from limalab.tracking.io import finite
from limalab.tracking.loggers import (
    finish_wandb,
    offline_sync_hint,
    results_artifact,
    scalars,
    use_artifact,
    wandb_mode,
)

FIG5, FIG6, FIG9 = "fig5_diversity_quality", "fig6_quantity", "fig9_ppl_vs_quality"
FIG5_GRIDS = ("diversity", "quality", "long_is_more")
# the fig6-like grids: the table each draws from, and the slope fitted over it
SIZE_GRIDS = {
    "quantity": ("fig6", "slope"),
    "quantity_matched": ("matched", "matched_slope"),
    "positive_control": ("positive_control", "positive_control_slope"),
}
CI_KEYS = ("ci", "ci95")


def grid_runs(runs_dir: Path) -> dict[str, list[str]]:
    """Grid (ablation) -> the complete runs it launched: each run's ``grids`` (provenance, where
    a run launched again by another grid records it, and results) and its ``logger.group``."""
    out: dict[str, list[str]] = {}
    for path in sorted(Path(runs_dir).glob("*/results.json")):
        res = json.loads(path.read_text())
        if res.get("status") != "complete":
            continue
        prov_path, cfg = path.parent / "provenance.json", _config(path.parent)
        prov = json.loads(prov_path.read_text()) if prov_path.exists() else {}
        grids = [
            *(prov.get("grids") or []),
            *(res.get("grids") or []),
            (cfg.get("logger") or {}).get("group"),
        ]
        for g in dict.fromkeys(g for g in grids if g):
            out.setdefault(g, []).append(res["run_id"])
    return out


def _config(run_dir: Path) -> dict[str, Any]:
    path = run_dir / "config.yaml"
    return (yaml.safe_load(path.read_text()) or {}) if path.exists() else {}


def sections(tables: dict[str, Any], sweeps: Path = SWEEPS) -> dict[str, dict[str, Any]]:
    """Each ablation's part of the report: figures, tables (name -> rows), arms (the rows whose
    mean and CI become summary scalars), its slope, and its findings (verdict rows)."""
    size5, comps = tables["size5"], tables["components"]
    out: dict[str, dict[str, Any]] = {}
    for name in FIG5_GRIDS:  # each Fig. 5 finding compares an arm with filtered SE
        arms = list(dict.fromkeys([FIG5_BASELINE, *sweep_arms(name, sweeps)]))
        labels = {f"{LABELS.get(a, a)} @ {size5}" for a in arms}
        rows = [t for t in tables["fig5"] if t["arm"] in arms]
        out[name] = {
            "figures": [FIG5],
            "tables": {"fig5": rows, "components": [c for c in comps if c["arm"] in labels]},
            "arms": [("fig5", t["arm"], t) for t in rows],
        }
    for name, (table, fit) in SIZE_GRIDS.items():
        rows = tables[table]
        out[name] = {
            "figures": [FIG6],
            "tables": {table: rows},
            "arms": [
                (table, f"n{t['size']}" if isinstance(t["size"], int) else _slug(t["size"]), t)
                for t in rows
            ],
            "slope": (table, tables[fit]),
        }
    q = (sweep_arms("quantity", sweeps) or [FIG5_BASELINE])[0]  # as report.grid_arms reads it
    out["quantity"]["tables"]["components"] = [
        c for c in comps if c["arm"].startswith(f"{LABELS.get(q, q)} @ ")
    ]
    for name, base in (("controls", False), ("base", True)):
        rows = [c for c in tables["controls"] if c["control"].startswith("base") == base]
        out[name] = {
            "figures": [],
            "tables": {"controls": rows},
            "arms": [("controls", _slug(c["control"]), c) for c in rows],
        }
    for name, sec in out.items():
        sec["figures"].append(FIG9)
        sec["findings"] = [f for f in tables["findings"] if f.get("ablation") == name]
    return out


def _slug(text: str) -> str:
    return re.sub(r"[^a-z0-9]+", "_", str(text).lower()).strip("_")


def finding_key(label: str) -> str:
    """``Fig. 6 flat, epochs (the paper's design)`` -> ``fig_6_flat_epochs``."""
    return _slug(re.split(r"[:(]", label)[0])


def _cell(v: Any) -> Any:
    """A table cell: numbers and text as they are, missing numbers (NaN, inf) as None, anything
    nested as its JSON text."""
    v = finite(v)
    return json.dumps(v) if isinstance(v, list | dict) else v


def table_data(rows: list[dict[str, Any]]) -> tuple[list[str], list[list[Any]]]:
    """Columns (the union of the rows' keys; a CI pair as ``<key>_lo``, ``<key>_hi``) and data.
    A column holding both text and numbers is written as text (a W&B table column has one type)."""
    flat = []
    for r in rows:
        row: dict[str, Any] = {}
        for k, v in r.items():
            if (
                (k in CI_KEYS or k.endswith("_ci95"))
                and isinstance(v, list | tuple)
                and len(v) == 2
            ):
                row[f"{k}_lo"], row[f"{k}_hi"] = _cell(v[0]), _cell(v[1])
            else:
                row[k] = _cell(v)
        flat.append(row)
    columns = list(dict.fromkeys(k for r in flat for k in r))
    data = [[r.get(c) for c in columns] for r in flat]
    for j in range(len(columns)):
        kinds = {type(row[j]) is str for row in data if row[j] is not None}
        if kinds == {True, False}:
            for row in data:
                row[j] = None if row[j] is None else str(row[j])
    return columns, data


def summary_of(sec: dict[str, Any], tables: dict[str, Any]) -> dict[str, Any]:
    """The run's summary: per arm its mean, 95% CI bounds and runs; the slope; per finding its
    verdict, effect, CI and p; Fig. 9's rank correlation. Missing numbers are left out."""
    out: dict[str, Any] = {}
    for table, arm, row in sec["arms"]:
        n = row.get("n_seeds", row.get("n_runs"))
        out |= scalars(
            f"{table}/{arm}/",
            {"mean": row.get("mean"), "ci95": row.get("ci95"), "n": n, "paper": row.get("paper")},
        )
    if "slope" in sec:
        table, fit = sec["slope"]
        out |= scalars(
            f"{table}/",
            {"slope": fit.get("slope"), "slope_ci95": fit.get("ci95"), "slope_n": fit.get("n")},
        )
        if table == "positive_control" and (rises := control_rises(fit)) is not None:
            out["verdict/positive_control"] = "rises" if rises else "flat"
    for f in sec["findings"]:
        key = finding_key(f["finding"])
        out[f"verdict/{key}"] = f["verdict"]
        out |= scalars(
            f"finding/{key}/",
            {"effect": f["effect"], "ci95": f["ci"], "p": f["p"], "mde": f["mde"]},
        )
    out |= scalars("fig9/", {"spearman": tables["fig9_spearman"]})
    return out


def _logger_settings(runs_dir: Path, run_ids: list[str]) -> dict[str, Any]:
    """The W&B project, entity and mode the grid's runs logged with (the most common)."""
    seen = Counter(
        json.dumps(
            {
                k: (_config(runs_dir / r).get("logger") or {}).get(k)
                for k in ("project", "entity", "mode")
            },
            sort_keys=True,
        )
        for r in run_ids
    )
    return json.loads(seen.most_common(1)[0][0]) if seen else {}


def summarised_runs(sec: dict[str, Any]) -> list[str]:
    """The runs behind the ablation's table rows."""
    return sorted(
        {rid for rows in sec["tables"].values() for r in rows for rid in r.get("run_ids") or []}
    )


def logged_runs(runs_dir: Path, run_ids: list[str]) -> list[Path]:
    """The run directories among ``run_ids`` whose run logged its ``run-results`` artifact to
    W&B."""
    out = []
    for rid in run_ids:
        rd, lcfg = runs_dir / rid, _config(runs_dir / rid).get("logger") or {}
        res = json.loads((rd / "results.json").read_text())
        if lcfg.get("wandb", True) and res.get("wandb_run_id"):
            out.append(rd)
    return out


def report_run_id(name: str, out: Path) -> str:
    return f"report-{name}-{hashlib.sha256(str(out.resolve()).encode()).hexdigest()[:8]}"


def log_ablation(
    name: str, sec: dict[str, Any], runs: tuple[Path, list[str]], out: Path, tables: dict[str, Any]
) -> str:
    """One ablation's report run; returns its W&B run id. ``runs``: the runs directory and the
    grid's own runs (whose W&B project it logs to)."""
    import wandb

    runs_dir, members = runs
    lcfg, d, summarised = (
        _logger_settings(runs_dir, members),
        tables["design"],
        summarised_runs(sec),
    )
    finish_wandb()
    run = wandb.init(
        project=lcfg.get("project") or "limalab",
        entity=lcfg.get("entity"),
        group=name,
        job_type="report",
        name=f"report-{name}",
        id=report_run_id(name, out),
        resume="allow",
        tags=[f"grid:{name}"],
        dir=str(out),
        mode=wandb_mode(lcfg.get("mode")),
        config={
            "ablation": name,
            "report_dir": str(out),
            "runs": summarised,
            "scale": str(tables["scale"]),
            "fig5_size": tables["size5"],
            "regime": d.get("name"),
            "decision_rule": d.get("verdicts"),
        },
    )
    try:
        for rd in logged_runs(runs_dir, summarised):
            use_artifact(run, results_artifact(rd, rd / "results.json"), aliases=["latest"])
        logs: dict[str, Any] = {}
        for fig in sec["figures"]:
            if (out / f"{fig}.png").exists():
                caption = (
                    "over every checkpoint of the report's runs"
                    if fig == FIG9
                    else f"the {name} grid"
                )
                logs[f"figures/{fig}"] = wandb.Image(str(out / f"{fig}.png"), caption=caption)
        for tname, rows in {**sec["tables"], "findings": sec["findings"]}.items():
            if rows:
                columns, data = table_data(rows)
                logs[f"tables/{tname}"] = wandb.Table(columns=columns, data=data)
        run.log(logs)
        run.summary.update(summary_of(sec, tables))
        return run.id
    finally:
        run.finish()


def log_report(
    runs_dir: Path, out: Path, tables: dict[str, Any], sweeps: Path = SWEEPS
) -> list[str]:
    """One W&B run per ablation the report's runs belong to; returns their ids."""
    members, secs = grid_runs(runs_dir), sections(tables, sweeps)
    ids = [
        log_ablation(name, secs[name], (runs_dir, rids), out, tables)
        for name, rids in sorted(members.items())
        if name in secs
    ]
    if ids:
        import wandb

        wandb.teardown()  # W&B's service writes the records after finish(): complete on return
    if unknown := sorted(set(members) - set(secs)):
        print(
            f"W&B: grid(s) {', '.join(unknown)} draw no part of the report: no report run for them"
        )
    if ids:
        print(
            f"W&B: report runs {', '.join(ids)} (job type report, one per ablation, in its group)"
        )
    else:
        print(
            f"W&B: no run under {runs_dir} belongs to an ablation grid (logger.group): "
            "no report run logged"
        )
    if hint := offline_sync_hint(out):
        print(hint)
    return ids
