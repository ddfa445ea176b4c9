"""The report in W&B (``analysis.report --wandb``): one run per ablation, in the ablation's group,
job type ``report``, with its figures as images, its table and verdict rows as tables (a missing
number an empty cell, never a NaN literal, never a crash), per-arm and per-finding summary
scalars, and ``use_artifact`` edges to the ``run-results`` of the runs it summarises — read back
from the offline ``.wandb`` records with wandb's own protobufs (tests/wandb_records.py).

The runs directory is written here in the run-directory layout (config.yaml, provenance.json,
results.json, manifest.json, evals/<id>/ with summary, judgments and generations), as the
pipeline writes it: a shared filtered-SE arm in three grids, no wikiHow run at all (the diversity
table's wikiHow row has no numbers), a Long-Is-More run that logs no W&B (no edge), a second
size for the quantity slope, and a run of a grid no figure draws."""

from __future__ import annotations

import json
import zlib
from pathlib import Path

import numpy as np
import pytest
import yaml

from analysis import report
from limalab.tracking.io import atomic_write_json, write_jsonl
from limalab.tracking.loggers import results_artifact
from limalab.world.reference_judge import ReferenceJudge
from tests.wandb_records import run_view

SECRET = "sk-report-never-in-wandb-0123"
N_PROMPTS = 12


def write_run(
    runs: Path,
    rid: str,
    data: str,
    n: int,
    seed: int,
    grids: list[str],
    level: float,
    wandb: bool = True,
) -> None:
    rng = np.random.default_rng(zlib.crc32(rid.encode()))
    rd = runs / rid
    eid = f"e{rid}"
    scores = np.clip(np.round(level + rng.normal(0, 0.8, N_PROMPTS)), 1, 6)
    (rd / "evals" / eid).mkdir(parents=True)
    cfg = {
        "data": {"name": data, "size": n, "subset_seed": 0},
        "model": {"init": "pretrained", "source": "miniature"},
        "train": {"epochs": 15, "budget": "epochs"},
        "seed": seed,
        "logger": {"group": grids[0], "project": "limalab", "wandb": wandb, "mode": "offline"},
    }
    (rd / "config.yaml").write_text(yaml.safe_dump(cfg))
    selection = [
        {
            "epoch": e,
            "dev_ppl": 9.0 - e - level / 10,
            "dev_judge_mean": level - 0.1 * e,
            "dev_judge_ci95": [level - 1, level + 1],
        }
        for e in (1, 2)
    ]
    atomic_write_json(
        rd / "results.json",
        {
            "run_id": rid,
            "status": "complete",
            "default_eval": eid,
            "n_examples": n,
            "data": data,
            "metrics": {"dev_ppl": 7.0, "judge_mean": float(scores.mean())},
            "selected_checkpoint": "epoch-1",
            "selection": selection,
            "wandb_run_id": f"w{rid}" if wandb else None,
            "grids": grids[:1],
            "tags": [],
        },
    )
    atomic_write_json(
        rd / "provenance.json", {"grids": grids, "wandb_id": f"w{rid}", "wandb_group": grids[0]}
    )
    atomic_write_json(
        rd / "manifest.json",
        {
            "data": data,
            "n_examples": n,
            "n_response_tokens": 40 * n,
            "n_trimmed": 1,
            "sha256": f"{rid:0>64}",
        },
    )
    write_jsonl(
        rd / "evals" / eid / "judgments.jsonl",
        [{"prompt_id": f"p{i}", "sample": 0, "score": float(s)} for i, s in enumerate(scores)],
    )
    write_jsonl(
        rd / "evals" / eid / "generations.jsonl",
        [
            {"prompt_id": f"p{i}", "sample": 0, "response": "r", "n_tokens": int(20 + 5 * s)}
            for i, s in enumerate(scores)
        ],
    )
    half = 1.96 * float(scores.std(ddof=1)) / np.sqrt(N_PROMPTS)
    atomic_write_json(
        rd / "evals" / eid / "summary.json",
        {
            "eval_id": eid,
            "judge": ReferenceJudge.id,
            "prompt_set": "test",
            "few_shot": 0,
            "status": "complete",
            "judge_mean": float(scores.mean()),
            "judge_ci95": [float(scores.mean()) - half, float(scores.mean()) + half],
            "n_judged": N_PROMPTS,
            "n_invalid": 0,
            "response_tokens_mean": 30.0,
            "eot_rate": 1.0,
            "decoding": {"repetition_penalty": 1.2},
        },
    )


@pytest.fixture()
def runs(tmp_path: Path) -> Path:
    runs = tmp_path / "runs"
    for seed in (0, 1):
        write_run(
            runs, f"filt{seed}", "se_filtered", 250, seed, ["quality", "diversity", "quantity"], 4.0
        )
        write_run(runs, f"unf{seed}", "se_unfiltered", 250, seed, ["quality"], 3.0)
    write_run(runs, "long0", "se_longest", 250, 0, ["long_is_more"], 3.5, wandb=False)
    write_run(runs, "big0", "se_filtered", 500, 0, ["quantity"], 4.0)
    write_run(runs, "mine0", "se_filtered", 1000, 0, ["my_grid"], 4.0)
    return runs


def views(out: Path) -> dict[str, tuple[dict, Path]]:
    """Each report run's view, by its group, with its offline run directory."""
    got = {}
    for d in sorted((out / "wandb").glob("offline-run-*")):
        v = run_view(next(d.glob("*.wandb")))
        got[v["group"]] = (v, d)
    return got


def table(view: dict, run_dir: Path, key: str) -> dict[str, list]:
    text = (run_dir / "files" / view["summary"][f"{key}/path"]).read_text()
    assert "NaN" not in text and "Infinity" not in text, key
    t = json.loads(text)
    return {
        "columns": t["columns"],
        "rows": [dict(zip(t["columns"], r, strict=True)) for r in t["data"]],
    }


def test_one_report_run_per_ablation(
    runs: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture
) -> None:
    monkeypatch.setenv("WANDB_MODE", "offline")
    monkeypatch.setenv("OPENAI_API_KEY", SECRET)
    out = tmp_path / "report"
    report.main([str(runs), "--out", str(out), "--scale", "1/8", "--wandb"])
    printed = capsys.readouterr().out
    summary = json.loads((out / "summary.json").read_text())
    got = views(out)
    assert set(got) == {"quality", "diversity", "quantity", "long_is_more"}  # my_grid draws nothing
    assert "grid(s) my_grid draw no part of the report" in printed and "wandb sync" in printed
    for group, (v, _) in got.items():
        assert (v["name"], v["job_type"]) == (f"report-{group}", "report")
        assert v["config"]["ablation"] == group and "grid:" + group in v["tags"]
        assert v["summary"]["figures/fig9_ppl_vs_quality/_type"] == "image-file"
        assert {a["type"] for a in v["logged"]} == {
            "run_table"
        }  # only its tables: it uses the runs'

    # quality: both arms' scalars, its verdict, its tables; edges to its four runs' run-results
    q, qdir = got["quality"]
    s = q["summary"]
    filt = next(t for t in summary["fig5"] if t["arm"] == "se_filtered")
    assert (
        s["fig5/se_filtered/mean"],
        s["fig5/se_filtered/ci95_lo"],
        s["fig5/se_filtered/ci95_hi"],
    ) == pytest.approx((filt["mean"], *filt["ci95"]))
    assert s["fig5/se_filtered/n"] == 2 and s["fig5/se_unfiltered/n"] == 2
    [finding] = [f for f in summary["findings"] if f["ablation"] == "quality"]
    assert s["verdict/fig_5_quality"] == finding["verdict"]
    assert s["finding/fig_5_quality/effect"] == pytest.approx(finding["effect"])
    assert s["figures/fig5_diversity_quality/_type"] == "image-file"
    assert (qdir / "files" / s["figures/fig5_diversity_quality/path"]).exists()
    f5 = table(q, qdir, "tables/fig5")
    assert {r["arm"] for r in f5["rows"]} == {"se_filtered", "se_unfiltered"}
    assert {"mean", "ci95_lo", "ci95_hi", "paper", "n_runs"} <= set(f5["columns"])
    assert table(q, qdir, "tables/findings")["rows"][0]["verdict"] == finding["verdict"]
    used = sorted((a["type"], a["name"]) for a in q["used"])
    assert used == [("run-results", f"run-{r}") for r in ("filt0", "filt1", "unf0", "unf1")]
    by_name = {a["name"]: a for a in q["used"]}
    assert (
        by_name["run-filt0"]["digest"]
        == results_artifact(runs / "filt0", runs / "filt0" / "results.json").digest
    )

    # diversity: no wikiHow run: its row is there with empty numbers, no scalar pretends otherwise
    d, ddir = got["diversity"]
    wiki = next(r for r in table(d, ddir, "tables/fig5")["rows"] if r["arm"] == "wikihow")
    assert (
        wiki["mean"] is None
        and wiki["ci95_lo"] is None
        and wiki["n_runs"] == 0
        and wiki["paper"] == 3.49
    )
    assert "fig5/wikihow/mean" not in d["summary"] and d["summary"]["fig5/wikihow/n"] == 0
    assert "tables/findings/path" not in d["summary"]  # nothing to test without wikiHow

    # Long Is More: a verdict row without a paper effect (None), edges to the filtered-SE runs it
    # compares with (its own run logged no W&B)
    lim, ldir = got["long_is_more"]
    [row] = table(lim, ldir, "tables/findings")["rows"]
    assert row["paper_effect"] is None and row["ablation"] == "long_is_more"
    assert sorted(a["name"] for a in lim["used"]) == ["run-filt0", "run-filt1"]

    # quantity: Fig. 6, a row per size (the report selects runs by their configs: my_grid's run is a
    # filtered-SE size too), the slope and the flat verdict, an edge to each run behind its rows
    qt, qtdir = got["quantity"]
    assert qt["summary"]["figures/fig6_quantity/_type"] == "image-file"
    assert [r["size"] for r in table(qt, qtdir, "tables/fig6")["rows"]] == [
        250,
        500,
        1000,
    ]  # by config
    assert qt["summary"]["fig6/n250/n"] == 2 and "fig6/slope" in qt["summary"]
    assert qt["summary"]["verdict/fig_6_flat_epochs"] == next(
        f["verdict"] for f in summary["findings"] if f["ablation"] == "quantity"
    )
    assert sorted(a["name"] for a in qt["used"]) == [
        "run-big0",
        "run-filt0",
        "run-filt1",
        "run-mine0",
    ]

    for f in (out / "wandb").rglob("*"):
        if f.is_file():
            assert SECRET.encode() not in f.read_bytes(), f


def test_table_cells_w_and_b_accepts() -> None:
    """A column of numbers and text becomes text, a CI pair two columns, NaN an empty cell,
    a list its JSON: what wandb.Table takes without a TypeError."""
    import wandb

    from analysis.wandb_report import table_data

    rows = [
        {"size": 250, "mean": float("nan"), "ci95": [float("nan"), 3.5], "n": [6, 6]},
        {"size": "base, zero-shot", "mean": np.float64(2.5), "ci95": [2.0, 3.0], "extra": None},
    ]
    columns, data = table_data(rows)
    assert columns == ["size", "mean", "ci95_lo", "ci95_hi", "n", "extra"]
    assert data == [
        ["250", None, None, 3.5, "[6, 6]", None],
        ["base, zero-shot", 2.5, 2.0, 3.0, None, None],
    ]
    assert wandb.Table(columns=columns, data=data).data == data
