"""The ablation's W&B dashboard as code, built and checked offline: its runs are the
ablation's train runs by their grid tag, and every panel reads keys a run really logs (the
summary and history keys of a smoke run's offline records)."""

from __future__ import annotations

from pathlib import Path

import pytest

pytest.importorskip(
    "wandb_workspaces", reason="the dashboard extra (wandb-workspaces) is not installed"
)

from limalab.ablations.dashboard import build_report, main, spec  # noqa: E402
from tests.conftest import the_run  # noqa: E402
from tests.wandb_records import run_views  # noqa: E402


def panel_keys(panel: dict) -> set[str]:
    c = panel["config"]
    keys = {c.get("xAxis"), c.get("yAxis"), *c.get("metrics", []), c.get("groupBy")} - {None}
    return {k.split(":", 1)[-1].removeprefix("summary_metrics.") for k in keys}


@pytest.mark.parametrize(
    ("group", "headline"), [("quality", "Bar Chart"), ("quantity", "Scatter Plot")]
)
def test_the_dashboard_spec(group: str, headline: str) -> None:
    s = spec(build_report("me", "limalab", group))
    [runset] = s["runsets"]
    assert runset["filters"] == f"Tags('grid:{group}') == True and Metric('JobType') == 'train'"
    assert {"summary:test/judge_ci95_lo", "summary:test/judge_ci95_hi"} <= set(
        runset["pinned_columns"]
    )
    views = [p["viewType"] for p in s["panels"]]
    assert views[0] == headline and views.count("Run History Line Plot") == 2
    titles = [p["config"]["chartTitle"] for p in s["panels"]]
    assert titles[0].startswith("Fig. 5" if group == "quality" else "Fig. 6") and titles[
        1
    ].startswith("Fig. 9")


@pytest.mark.slow
def test_every_panel_reads_what_a_run_logs(smoke_run: tuple[Path, str]) -> None:
    [train] = [
        v for v in run_views(the_run(smoke_run[0] / "runs") / "wandb") if v["job_type"] == "train"
    ]
    logged = set(train["summary"]) | set(train["history"]) | {f"{k}.value" for k in train["config"]}
    for group in ("quality", "quantity"):
        for panel in spec(build_report("me", "limalab", group))["panels"]:
            assert panel_keys(panel) <= logged, (
                group,
                panel["config"]["chartTitle"],
                panel_keys(panel) - logged,
            )


def test_the_command_prints_the_spec_offline(capsys: pytest.CaptureFixture) -> None:
    main(["--entity", "me", "--group", "diversity"])
    assert "Tags('grid:diversity')" in capsys.readouterr().out
