"""A recorded report's figures redrawn from its recorded tables by the current figure code
(``python -m analysis.figures --from-report DIR``): the report draws from the ``summary.json``
it writes, so a redraw of its folder gives the same PNGs; a summary recorded before a field
existed draws what it holds and says what is missing; bad input is one line."""

from __future__ import annotations

import json
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pytest  # noqa: E402
import yaml  # noqa: E402

from analysis import figures, report  # noqa: E402
from analysis.figures import FIG5, FIG6, FIG9, PAPER_FIGURE, redraw, report_figures  # noqa: E402
from limalab.tracking.io import atomic_write_json, write_jsonl  # noqa: E402
from limalab.world.reference_judge import ReferenceJudge  # noqa: E402

PNG = b"\x89PNG\r\n\x1a\n"


@pytest.fixture(autouse=True)
def close_all():
    yield
    plt.close("all")


def row(mean: float, **kw) -> dict:
    return {"mean": mean, "ci95": [mean - 0.1, mean + 0.1], "n_seeds": 3, "sd": 0.05, **kw}


def old_summary() -> dict:
    """A summary.json as ``analysis.report`` wrote it before n_prompts, the fitted design and
    the Fig. 9 rows were recorded (docs/results/ablations-world-v5): a missing number is null."""
    return {
        "fig5": [
            row(1.96, arm="se_filtered", label="filtered Stack Exchange", size=250, paper=3.83),
            row(1.97, arm="wikihow", label="wikiHow", size=250, paper=3.49),
            row(1.91, arm="se_longest", label="N longest", size=250, paper=None),
        ],
        "fig6": [row(1.9 + 0.4 * i, size=250 * 2**i) for i in range(3)],
        "slope": {"slope": 0.37, "ci95": [0.21, 0.54], "n": 9, "p": 0.001},
        "positive_control": [
            {**row(1.04, size="base, zero-shot"), "n_seeds": 1},
            {**row(1.0, size=250), "n_seeds": 1, "ci95": [None, None]},
            {**row(2.8, size=4000), "n_seeds": 1},
        ],
        "positive_control_slope": {"slope": 0.44, "ci95": [-1.2, 2.1], "n": 2},
        "fig9_spearman": 0.19,
    }


def recorded(tmp_path: Path, name: str, data: dict) -> Path:
    folder = tmp_path / "docs" / "results" / "recorded"
    folder.mkdir(parents=True)
    (folder / name).write_text(json.dumps(data, indent=2) + "\n")
    return folder


def texts(fig) -> str:
    parts = [t.get_text() for t in fig.texts]
    for ax in fig.axes:
        parts += [ax.get_title(), *(t.get_text() for t in ax.get_xticklabels())]
        parts += [t.get_text() for t in ax.texts]
        if ax.get_legend():
            parts += [t.get_text() for t in ax.get_legend().get_texts()]
    return "\n".join(parts)


def test_an_old_summary_draws_what_it_holds_and_says_what_it_lacks(tmp_path: Path) -> None:
    folder = recorded(tmp_path, "summary.json", old_summary())
    lines = redraw(folder)
    assert lines[:2] == [f"wrote {folder / FIG5}", f"wrote {folder / FIG6}"]
    assert "fig9_ppl_vs_quality.png: not drawn" in lines[2] and "rho = 0.19" in lines[2]
    for name in (FIG5, FIG6):
        assert (folder / name).read_bytes().startswith(PNG)
    assert not (folder / FIG9).exists()
    assert not list(folder.glob(".*.tmp"))  # no temp file left behind
    figs, _ = report_figures(old_summary(), plt)
    five, six = texts(figs[FIG5]), texts(figs[FIG6])
    assert five.count("n = 3 runs\n(prompts per run: not recorded)") == 3
    assert "2,000 examples" in five and "conf/regime/lima_7b_ablation.yaml" in five
    assert "N longest responses" in five
    assert (
        "flat ~3.8" in six and "+-0.1" in six and "records no paper_results or decision_rule" in six
    )
    left, right = figs[FIG6].axes
    base = [ln for ln in right.get_lines() if ln.get_label() == "base model, zero-shot"]
    assert base and np.allclose(base[0].get_ydata(), 1.04)  # the base row is a level, not a point


def test_a_current_summary_draws_every_figure_by_its_recorded_rule(tmp_path: Path) -> None:
    s = old_summary() | {
        "matched": [row(2.0 + 0.1 * i, size=250 * 2**i) for i in range(3)],
        "matched_slope": {"slope": 0.1, "ci95": [0.0, 0.2], "n": 9},
        "decision_rule": {"alpha": 0.05, "power": 0.8, "flat_delta": 0.25},
        "paper_results": {"fig5_size": 2000, "fig6_flat": 3.8},
        "fig9": [
            {"run_id": "r", "epoch": e, "dev_ppl": p, "dev_judge_mean": 3.0, "dev_judge_ci95": None}
            for e, p in enumerate([5.0, 6.0, 900.0])
        ],
    }
    s["fig5"] = [t | {"n_runs": 3, "n_prompts": 300} for t in s["fig5"]]
    figs, missing = report_figures(s, plt)
    assert set(figs) == {FIG5, FIG6, FIG9} and missing == []
    assert "+-0.25" in texts(figs[FIG6]) and "conf/regime" not in texts(figs[FIG6])
    assert "n = 3 runs x 300 prompts" in texts(figs[FIG5]) and not figs[FIG5].texts
    assert "n = 3" in texts(figs[FIG9]) and figs[FIG9].axes[0].get_xscale() == "log"


def test_the_paper_figure_redraws_from_paper_json(tmp_path: Path) -> None:
    one = {"n_seeds": 1}
    share = lambda v: {"mean": v, "ci95": [v, v], **one}  # noqa: E731 (paper.json: one seed)
    data = {
        "headline": {"pairwise": {"win": share(0.86), "tie": share(0.14), "loss": share(0.0)}},
        "dialogue": {
            arm: {"turns": {str(t): {"excellent": share(v)} for t, v in ((1, 0.3), (2, 0.0))}}
            for arm in ("lima", "lima_dialogue")
        },
    }
    folder = recorded(tmp_path, "paper.json", data)
    out = tmp_path / "redrawn"
    assert redraw(folder, out) == [f"wrote {out / PAPER_FIGURE}"]
    assert (out / PAPER_FIGURE).read_bytes().startswith(PNG)
    left, right = figures.paper_figures(data, plt)[0][PAPER_FIGURE].axes
    assert any("one seed: no CI" in t.get_text() for t in left.get_yticklabels())
    assert "one seed: no CI" in right.get_title()
    assert [t.get_text() for t in right.get_xticklabels()] == ["1", "2"]  # turns, not categories


def test_a_report_folder_redraws_to_the_figures_the_report_drew(tmp_path: Path) -> None:
    runs = tmp_path / "runs"
    for i, (n, seed) in enumerate([(250, 0), (250, 1), (500, 0), (500, 1)]):
        write_run(runs, f"r{i}", n, seed, 3.0 + 0.2 * i)
    out = tmp_path / "report"
    report.main([str(runs), "--out", str(out), "--scale", "1/8"])
    drawn = {p.name: p.read_bytes() for p in out.glob("*.png")}
    assert set(drawn) == {FIG5, FIG6, FIG9}
    summary = json.loads((out / "summary.json").read_text())
    assert len(summary["fig9"]) == 8 and summary["paper_results"]["fig6_flat"] == 3.8
    # what analysis.bases reads to tell two bases of one label apart (recipe, build)
    assert len(summary["base_recipe"]) == 8 and json.loads(summary["base_recipe_fields"])
    assert "base_build" in summary
    again = tmp_path / "again"
    redraw(out, again)
    assert {p.name: p.read_bytes() for p in again.glob("*.png")} == drawn


def test_bad_input_is_one_line(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    with pytest.raises(SystemExit) as e:
        figures.main(["--from-report", str(tmp_path)])
    assert str(e.value) == (
        f"{tmp_path}: no summary.json (analysis.report) or paper.json (analysis.paper) to draw from"
    )
    (tmp_path / "summary.json").write_text('{"fig5": [')
    with pytest.raises(SystemExit) as e:
        figures.main(["--from-report", str(tmp_path)])
    assert str(tmp_path / "summary.json") in str(e.value) and "\n" not in str(e.value)
    (tmp_path / "summary.json").write_text(json.dumps({"fig5": [{"label": "x"}]}))
    with pytest.raises(SystemExit) as e:
        figures.main(["--from-report", str(tmp_path)])
    assert str(e.value).startswith(f"{tmp_path / 'summary.json'}: a table lacks")
    assert not list(tmp_path.glob("*.png"))


def write_run(
    runs: Path, rid: str, n: int, seed: int, level: float, model: dict | None = None
) -> None:
    """One complete filtered-SE run as ``src/train.py`` leaves it: config, results with its
    checkpoint selection, a judged test evaluation (``model``: its model config)."""
    rd, eid = runs / rid, f"e{rid}"
    scores = np.clip(np.round(level + np.random.default_rng(seed + n).normal(0, 0.8, 12)), 1, 6)
    (rd / "evals" / eid).mkdir(parents=True)
    cfg = {
        "data": {"name": "se_filtered", "size": n, "subset_seed": 0},
        "model": model or {"init": "pretrained", "source": "miniature"},
        "train": {"epochs": 15, "budget": "epochs"},
        "seed": seed,
    }
    (rd / "config.yaml").write_text(yaml.safe_dump(cfg))
    selection = [
        {"epoch": e, "dev_ppl": 9.0 - e, "dev_judge_mean": level - 0.1 * e} for e in (1, 2)
    ]
    atomic_write_json(
        rd / "results.json",
        {
            "run_id": rid,
            "status": "complete",
            "default_eval": eid,
            "n_examples": n,
            "data": "se_filtered",
            "metrics": {"dev_ppl": 8.0, "judge_mean": float(scores.mean())},
            "selected_checkpoint": "epoch-1",
            "selection": selection,
        },
    )
    write_jsonl(
        rd / "evals" / eid / "judgments.jsonl",
        [{"prompt_id": f"p{i}", "sample": 0, "score": float(s)} for i, s in enumerate(scores)],
    )
    write_jsonl(
        rd / "evals" / eid / "generations.jsonl",
        [{"prompt_id": f"p{i}", "sample": 0, "response": "r", "n_tokens": 30} for i in range(12)],
    )
    mean, half = float(scores.mean()), 1.96 * float(scores.std(ddof=1)) / np.sqrt(12)
    atomic_write_json(
        rd / "evals" / eid / "summary.json",
        {
            "eval_id": eid,
            "judge": ReferenceJudge.id,
            "prompt_set": "test",
            "few_shot": 0,
            "status": "complete",
            "judge_mean": mean,
            "judge_ci95": [mean - half, mean + half],
            "n_judged": 12,
            "response_tokens_mean": 30.0,
        },
    )
