"""An ablation's W&B dashboard as code: a W&B report (``wandb-workspaces``' report API, the
``dashboard`` extra) over the ablation's train runs — every run tagged ``grid:<ablation>``, so a
run shared with another grid is in both — with the panels of the paper's figures:

- Fig. 5 (``quality``, ``diversity``): the test judge mean per arm (bars, mean and standard
  error over seeds), and the runs table with the 95% CI bounds each run logged;
- Fig. 6 (``quantity``, ``positive_control``): the test judge mean against the number of
  examples (log x);
- Fig. 9 (every ablation): each run's candidates, dev judge score against dev perplexity, and
  the dev score over the candidate epochs (what selection chose from).

Built offline (``build_report`` only makes objects); ``--save`` creates it in the project, online.

    python -m limalab.ablations.dashboard --entity me --project limalab --group quality [--save]
"""

from __future__ import annotations

import argparse
import json
from typing import Any

ARMS = {
    "quality": "Fig. 5 (quality): filtered vs unfiltered Stack Exchange",
    "diversity": "Fig. 5 (diversity): Stack Exchange vs wikiHow",
    "quantity": "Fig. 6 (quantity): more examples of the same source",
    "positive_control": "Quantity's positive control: passages the base never saw",
    "controls": "Controls: pretrained vs random init",
    "base": "Base model, zero- and few-shot",
}
SIZE_GRIDS = ("quantity", "positive_control")
# the W&B config holds dotted keys (tracking/loggers.py flat_config): the column of key "data.name"
# is config:data.name.value (wandb-workspaces' Config("data.name") would mean a nested data: {name})
CONFIG_ARM = "config:data.name.value"
HEADLINE = (
    "test/judge_mean",
    "test/judge_ci95_lo",
    "test/judge_ci95_hi",
    "dev/judge_mean",
    "dev/ppl",
)


def runs_filter(group: str) -> str:
    """The ablation's train runs: tagged with its grid (a W&B run has one group, several tags)."""
    return f"Tags('grid:{group}') == True and Metric('JobType') == 'train'"


def figure_panels(group: str) -> list[Any]:
    import wandb_workspaces.reports.v2 as wr

    score = wr.SummaryMetric("test/judge_mean")
    if group in SIZE_GRIDS:
        headline = [
            wr.ScatterPlot(
                title="Fig. 6: test judge mean against examples (log x)",
                x=wr.SummaryMetric("run/n_examples"),
                y=score,
                log_x=True,
                regression=True,
            )
        ]
    else:
        headline = [
            wr.BarPlot(
                title="Fig. 5: test judge mean per arm (mean ± standard error over seeds)",
                metrics=[score],
                groupby=CONFIG_ARM,
                groupby_aggfunc="mean",
                groupby_rangefunc="stderr",
                orientation="v",
            )
        ]
    selection = [
        wr.LinePlot(
            title="Fig. 9: dev judge score against dev perplexity, per candidate checkpoint",
            x="select/dev_ppl",
            y=["select/dev_judge_mean"],
            log_x=True,
        ),
        wr.LinePlot(
            title="Dev judge score of each candidate epoch (selection picks the best)",
            x="select/epoch",
            y=["select/dev_judge_mean"],
        ),
    ]
    return headline + selection


def build_report(entity: str, project: str, group: str) -> Any:
    """The report object (nothing leaves the machine until ``save``)."""
    import wandb_workspaces.reports.v2 as wr

    runset = wr.Runset(
        entity=entity,
        project=project,
        name=f"{group} runs",
        filters=runs_filter(group),
        pinned_columns=[f"summary:{k}" for k in HEADLINE]
        + [CONFIG_ARM, "config:data.size.value", "config:seed.value"],
    )
    title = ARMS.get(group, group)
    return wr.Report(
        project=project,
        entity=entity,
        title=f"limalab: {title}",
        description=f"The {group} ablation's train runs (tag grid:{group}); 95% CIs in the runs "
        "table.",
        blocks=[
            wr.H1(text=title),
            wr.P(
                text="Each point or bar is a run's test judge mean; its 95% CI bounds are "
                "test/judge_ci95_lo and _hi in the table below."
            ),
            wr.PanelGrid(runsets=[runset], panels=figure_panels(group)),
        ],
    )


def spec(report: Any) -> dict[str, Any]:
    """What the report holds, checked offline: its title, the runsets (their filters and columns)
    and each panel as the JSON W&B would receive. (A runset's own JSON needs the project's id from
    the server, so it is described by its fields.)"""
    import wandb_workspaces.reports.v2 as wr

    def dump(obj: Any) -> dict[str, Any]:
        return obj._to_model().model_dump(by_alias=True, exclude_none=True, mode="json")

    grids = [b for b in report.blocks if isinstance(b, wr.PanelGrid)]
    return {
        "title": report.title,
        "entity": report.entity,
        "project": report.project,
        "runsets": [
            {"name": rs.name, "filters": rs.filters, "pinned_columns": list(rs.pinned_columns)}
            for g in grids
            for rs in g.runsets
        ],
        "panels": [dump(p) for g in grids for p in g.panels],
    }


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    ap.add_argument("--entity", required=True)
    ap.add_argument("--project", default="limalab")
    ap.add_argument("--group", required=True, help="the ablation (a sweep file's logger.group)")
    ap.add_argument("--save", action="store_true", help="create the report in the project (online)")
    args = ap.parse_args(argv)
    try:
        report = build_report(args.entity, args.project, args.group)
    except ImportError:
        raise SystemExit(
            "the dashboard needs wandb-workspaces: pip install 'limalab[dashboard]'"
        ) from None
    if not args.save:
        print(json.dumps(spec(report), indent=1)[:4000])
        return
    report.save()
    print(f"report: {report.url}")


if __name__ == "__main__":
    main()
