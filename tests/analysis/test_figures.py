"""The report's figures a reader understands at a glance (issue 20): every panel has axis labels,
n, 95% CIs and the paper's values where the paper has them — checked on the matplotlib objects."""

from __future__ import annotations

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pytest  # noqa: E402
from matplotlib.collections import PolyCollection  # noqa: E402
from matplotlib.container import BarContainer, ErrorbarContainer  # noqa: E402

from analysis.figures import draw_fig5, draw_fig6, draw_fig9  # noqa: E402
from analysis.report import grid_arms  # noqa: E402


def arm(label: str, mean: float, paper: float, size: int = 250) -> dict:
    return {
        "label": label,
        "mean": mean,
        "ci95": [mean - 0.1, mean + 0.1],
        "paper": paper,
        "n_runs": 3,
        "n_prompts": 100,
        "size": size,
    }


def curve(sizes: list[int], base: float) -> list[dict]:
    return [
        {
            "size": n,
            "mean": base + 0.1 * i,
            "ci95": [base + 0.1 * i - 0.2, base + 0.1 * i + 0.2],
            "n_seeds": 3,
        }
        for i, n in enumerate(sizes)
    ]


FIT = {"slope": 0.1, "ci95": [0.0, 0.2]}


@pytest.fixture(autouse=True)
def close_all():
    yield
    plt.close("all")


def labelled(ax) -> None:
    assert ax.get_xlabel() and ax.get_ylabel() and ax.get_title()
    assert ax.get_legend() is not None and ax.get_legend().get_texts()


def test_fig5_has_ns_cis_and_the_papers_bars_at_2000() -> None:
    fig = draw_fig5(
        [
            arm("filtered SE", 3.0, 3.83),
            arm("wikiHow", 2.9, 3.49),
            arm("N longest", 3.1, float("nan")),
        ],
        2000,
        plt,
    )
    (ax,) = fig.axes
    labelled(ax)
    bars = [c for c in ax.containers if isinstance(c, BarContainer)]
    ours, paper = bars
    assert [b.get_height() for b in paper] == pytest.approx(
        [3.83, 3.49]
    )  # no paper bar for the baseline
    assert ours.errorbar is not None  # 95% CIs on ours
    ticks = [t.get_text() for t in ax.get_xticklabels()]
    assert all("n = 3 runs x 100 prompts" in t for t in ticks)
    legend = " ".join(t.get_text() for t in ax.get_legend().get_texts())
    assert "2,000 examples" in legend and "250 examples" in legend


def test_fig6_draws_the_papers_flat_line_cis_n_and_the_matched_curve() -> None:
    sizes = [250, 500, 1000, 2000, 4000]
    fig = draw_fig6(
        {
            "table": curve(sizes, 2.0),
            "fit": FIT,
            "matched": curve(sizes, 2.5),
            "matched_fit": FIT,
            "paper_flat": 3.8,
            "delta": 0.1,
        },
        {"table": curve([250, 1000, 4000], 1.0), "fit": FIT, "base": 1.2},
        plt,
    )
    left, right = fig.axes
    for ax in (left, right):
        labelled(ax)
        assert ax.get_xscale() == "log"
        assert any(isinstance(c, ErrorbarContainer) for c in ax.containers)
        assert any(isinstance(c, PolyCollection) for c in ax.collections)  # the CI band
        assert any(t.get_text().startswith("n=") for t in ax.texts)
    flat = [ln for ln in left.get_lines() if np.allclose(ln.get_ydata(), 3.8)]
    assert flat and "flat ~3.8" in flat[0].get_label()
    assert (
        len([c for c in left.containers if isinstance(c, ErrorbarContainer)]) == 2
    )  # epochs and fixed steps
    assert "+-0.1" in left.get_title()


def test_fig9_is_on_a_log_axis_with_rho_n_and_the_papers_trend() -> None:
    rng = np.random.default_rng(0)
    sel = [
        {
            "dev_ppl": float(p),
            "dev_judge_mean": float(s),
            "dev_judge_ci95": [float(s) - 0.2, float(s) + 0.2],
        }
        for p, s in zip(
            np.concatenate([rng.uniform(4, 8, 30), [900.0, 2000.0]]),
            rng.uniform(2, 4, 32),
            strict=True,
        )
    ]
    fig = draw_fig9(sel, -0.3, plt)
    (ax,) = fig.axes
    labelled(ax)
    assert ax.get_xscale() == "log"
    legend = " ".join(t.get_text() for t in ax.get_legend().get_texts())
    assert "n = 32" in legend and "rho = -0.30" in legend and "3.9 -> 4.1" in legend
    assert any(isinstance(c, ErrorbarContainer) for c in ax.containers)


def test_figure_membership_comes_from_the_sweep_files() -> None:
    arms = grid_arms()
    assert arms["fig5"] == ["se_filtered", "wikihow", "se_unfiltered", "se_longest"]
    assert arms["quantity"] == ["se_filtered"] and arms["positive_control"] == ["passage_qa"]


def test_the_paper_experiments_figure_has_labels_n_cis_and_the_papers_numbers() -> None:
    from analysis.paper import draw_paper_figure

    ci = {"mean": 0.5, "ci95": [0.4, 0.6], "n_seeds": 2}
    data = {
        "headline": {
            "pairwise": {"win": ci, "tie": {**ci, "mean": 0.2}, "loss": {**ci, "mean": 0.3}}
        },
        "dialogue": {
            arm: {
                "turns": {
                    t: {"excellent": {"mean": 0.4, "ci95": [0.3, 0.5], "n_seeds": 2}}
                    for t in (1, 2, 3)
                }
            }
            for arm in ("lima", "lima_dialogue")
        },
    }
    left, right = draw_paper_figure(data, plt).axes
    for ax in (left, right):
        assert ax.get_xlabel() and ax.get_title() and ax.get_legend() is not None
    assert right.get_ylabel()
    assert any("n = 2 seeds" in t.get_text() for t in left.get_yticklabels())
    assert any(isinstance(c, ErrorbarContainer) for c in left.containers)
    assert any(isinstance(c, ErrorbarContainer) for c in right.containers)
    papers = sorted(
        float(ln.get_ydata()[0]) for ln in right.get_lines() if ln.get_label().startswith("paper")
    )
    assert papers == pytest.approx([0.452, 0.761])
