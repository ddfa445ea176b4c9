"""Stage ``evaluate``: the test evaluation of the selected checkpoint (``eval.*`` with the
configured judge), run on the exported model. Each judge and spec is its own evaluation, so a
rerun with another judge adds one; ``src/evaluate.py`` runs the same stage alone on a finished
run."""

from __future__ import annotations

from typing import Any

from limalab.eval.evaluation import Evaluation, Responder, evaluate, finished_summary
from limalab.eval.spec import EvalSpec, PromptSet, completion
from limalab.pipeline.context import RunContext, StageFailed
from limalab.pipeline.export_model import selected_model

NAME = "evaluate"


def test_evaluation(ctx: RunContext) -> Evaluation:
    e = ctx.cfg["eval"]
    spec = EvalSpec.from_config(e, ctx.max_new_tokens)
    prompts = PromptSet.from_file(
        ctx.world_dir / "eval" / f"{e['prompt_set']}.jsonl", e["prompt_set"], e["max_prompts"]
    )
    few_shot = [ex.turns for ex in ctx.examples[: spec.few_shot]]
    return Evaluation(
        ctx.rd.path,
        prompts,
        ctx.records["select"]["checkpoint"],
        spec,
        ctx.judge,
        few_shot,
        ctx.reference,
        e["max_invalid_fraction"],
    )


def done(ctx: RunContext) -> dict | None:
    """The summary of this run's test evaluation under the current judge and spec, if complete."""
    ev = test_evaluation(ctx)
    s = finished_summary(ev.dir)
    if (
        s is None
        or not completion(
            s["n_judged"] + s["n_invalid"], s["n_invalid"], ev.max_invalid_fraction
        ).complete
    ):
        return None
    return s


def run(ctx: RunContext) -> dict[str, Any]:
    ev = test_evaluation(ctx)
    responder = Responder(lambda: (selected_model(ctx), ctx.chat), ctx.rd.model)
    summary = evaluate(ev, responder)
    if summary["status"] != "complete":
        raise StageFailed(NAME, summary["status"], summary["status_reason"])
    return summary
