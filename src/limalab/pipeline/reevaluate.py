"""``src/evaluate.py``: evaluate an existing run again — another judge, other prompts, other
decoding, or a pairwise comparison with another run — from its exported model, writing new
``evals/<eval_id>/`` directories beside the old ones and never touching ``results.json``. A
complete evaluation of a run that logs to W&B becomes an evaluate W&B run, the one the
pipeline's evaluate stage makes (``tracking.loggers.log_evaluation_run``)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from omegaconf import OmegaConf
from transformers import AutoModelForCausalLM, AutoTokenizer

from limalab.data.chat import ChatFormat
from limalab.data.messages import ConversationError, prompt_fields
from limalab.eval.dialogue import evaluate_dialogue
from limalab.eval.drift import rejudge
from limalab.eval.evaluation import (
    Evaluation,
    Responder,
    cached_generations,
    evaluate,
    headline_metrics,
)
from limalab.eval.judges import build_judge, ground_truth_judge
from limalab.eval.spec import EvalSpec, PromptSet, completion
from limalab.tracking.io import (
    atomic_write_json,
    config_hash,
    finite,
    read_json,
    read_jsonl,
    write_jsonl,
)
from limalab.tracking.loggers import (
    log_evaluation_run,
    model_artifact,
    offline_sync_hint,
    run_group,
)
from limalab.tracking.rundir import RunDir
from limalab.world.build import WorldConfig, build_world, load_world


class RunState:
    """What a finished run offers for evaluation: its config, exported model and checkpoint id."""

    def __init__(self, path: str | Path) -> None:
        self.rd = RunDir(Path(path))
        export = self.rd.stage_record("export")
        self.results = self.rd.read_any_results()
        if export is None or export["status"] != "complete" or self.results is None:
            raise FileNotFoundError(
                f"run_dir: {self.rd.path} holds no finished run (its model was never exported: "
                "run its src/train.py command first)"
            )
        self.cfg = self.rd.read_config()
        self.checkpoint = export["checkpoint"]
        self._chat: ChatFormat | None = None
        self._model = None

    def load(self) -> tuple[Any, ChatFormat]:
        if self._model is None:
            tok = AutoTokenizer.from_pretrained(self.rd.model)
            self._chat = ChatFormat(
                tok, tok.init_kwargs.get("eot_token", self.cfg["model"]["eot_token"])
            )
            self._model = AutoModelForCausalLM.from_pretrained(self.rd.model).eval()
        return self._model, self._chat

    def responder(self) -> Responder:
        return Responder(self.load, self.rd.model)

    def model_artifact(self) -> Any:
        """The export as the train run logged it (same files, same digest: the same version)."""
        card = self.rd.model / "README.md"
        max_mb = float(
            (self.cfg.get("logger") or {}).get("model_upload_max_mb", 200)
        )  # conf/logger/wandb.yaml
        return model_artifact(
            self.rd.model, self.results["run_id"], max_mb, card.read_text() if card.exists() else ""
        )


def load_prompts(cfg: dict[str, Any], world_dir: Path) -> PromptSet:
    """``prompts=<jsonl>`` if given, else the world's ``eval.prompt_set``."""
    mp = cfg["eval"]["max_prompts"]
    if not cfg.get("prompts"):
        name = cfg["eval"]["prompt_set"]
        return PromptSet.from_file(world_dir / "eval" / f"{name}.jsonl", name, mp)
    path = Path(cfg["prompts"]).expanduser()
    if not path.exists():
        raise FileNotFoundError(f"prompts: {path} does not exist")
    rows = []
    for n, row in enumerate(read_jsonl(path), start=1):
        try:  # a `prompt`, or a conversation ending on a user turn (LIMA's test file, chat files)
            fields = prompt_fields(row)
        except ConversationError as e:
            raise ValueError(f"{path}: line {n}: {e}") from None
        rows.append(
            {
                "prompt_id": str(row.get("prompt_id", row.get("id", n))),
                "type": row.get("type"),
                **row,
                **fields,
            }
        )
    return PromptSet.from_rows(rows, path.stem, mp)


def run_eval_config(run_eval: dict[str, Any], overrides: list[str]) -> dict[str, Any]:
    """The run's own eval settings with the command line's ``eval.*`` overrides applied."""
    merged = OmegaConf.merge(
        OmegaConf.create({"eval": run_eval}), OmegaConf.from_dotlist(overrides)
    )
    return OmegaConf.to_container(merged, resolve=True)["eval"]


def reevaluate(cfg: dict[str, Any], eval_overrides: list[str] | None = None) -> dict:
    run = RunState(cfg["run_dir"])
    other = RunState(cfg["compare_to"]) if cfg.get("compare_to") else None
    summary = _evaluate(
        run, other, {**cfg, "eval": run_eval_config(run.cfg["eval"], eval_overrides or [])}
    )
    log_to_wandb(run, summary, [other] if other else [])
    return summary


def log_to_wandb(run: RunState, summary: dict[str, Any], others: list[RunState]) -> None:
    """A complete evaluation of a run that logs to W&B as an evaluate W&B run in the train run's
    group: it uses the model artifact (both runs' for a comparison) and logs the evaluation."""
    lcfg, results = run.cfg.get("logger") or {}, run.results
    if (
        not lcfg.get("wandb", True)
        or not results.get("wandb_run_id")
        or summary.get("status", "complete") != "complete"
    ):
        return
    prov = run.rd.read_provenance()
    where = (
        prov.get("wandb_group") or run_group(run.cfg, None),
        prov.get("grids") or results.get("grids"),
    )
    spec = {k: summary[k] for k in EvalSpec.__dataclass_fields__ if k in summary}
    record = {
        **results,
        "evals": {**(results.get("evals") or {}), summary["eval_id"]: {"spec": spec}},
    }
    log_evaluation_run(
        run.rd.path,
        record,
        run.cfg,
        [r.model_artifact() for r in (run, *others)],
        where,
        summary["eval_id"],
        headline_metrics(summary),
    )
    if hint := offline_sync_hint(run.rd.path):
        print(hint)


def _evaluate(run: RunState, other: RunState | None, cfg: dict[str, Any]) -> dict:
    cache_dir = Path(cfg["cache_dir"])
    world_dir = build_world(WorldConfig(**run.cfg["world"]), cache_dir)
    world = load_world(world_dir)
    prompts = load_prompts(cfg, world_dir)
    from_world = not cfg.get("prompts")
    judge = build_judge(cfg["judge"], world=world, cache_dir=cache_dir)
    if (
        getattr(judge, "needs_world", False)
        and not from_world
        and not all("entities" in p for p in prompts.rows)
    ):
        raise ValueError(
            f"judge={cfg['judge']['name']} grades against the world's facts: it needs the world's "
            "prompt sets (eval.prompt_set), not prompts=<file>; use judge=likert or judge=hf_local"
        )
    e = cfg["eval"]
    mnt = (
        e["max_new_tokens"]
        if isinstance(e.get("max_new_tokens"), int)
        else run.results["max_new_tokens"]
    )
    spec = EvalSpec.from_config(e, mnt, prompt_set=prompts.name, few_shot=0)
    if other is not None:
        return compare(run, other, prompts, spec, judge, e)
    if not getattr(judge, "grades", True):
        raise ValueError(
            f"judge={cfg['judge']['name']} compares two runs: add compare_to=<run_dir>"
        )
    ev = Evaluation(
        run.rd.path,
        prompts,
        run.checkpoint,
        spec,
        judge,
        None,
        ground_truth_judge(world) if from_world else None,
        e["max_invalid_fraction"],
    )
    if "turns" in prompts.rows[0]:  # conversations: played and judged turn by turn
        return evaluate_dialogue(ev, run.responder())
    summary = evaluate(ev, run.responder())
    if (
        cfg.get("drift") and summary.get("status") == "complete"
    ):  # the same judge once more: do the passes agree?
        summary = {
            **summary,
            "drift": rejudge(run.rd.evals / summary["eval_id"], prompts.rows, judge),
        }
    return summary


def compare(
    a: RunState, b: RunState, prompts: PromptSet, spec: EvalSpec, judge: Any, e: dict[str, Any]
) -> dict:
    """Pairwise preference of run a over run b on the same prompts and samples, both orders;
    complete only if at most ``eval.max_invalid_fraction`` of the pairs have no verdict."""
    if not getattr(judge, "compares", False):
        raise ValueError("compare_to needs a judge that compares (judge=pairwise)")
    gens = {
        run: cached_generations(run.rd.path, run.responder(), prompts, run.checkpoint, spec)[0]
        for run in (a, b)
    }
    cid = config_hash(
        {
            "a": a.checkpoint,
            "b": b.checkpoint,
            "prompts": prompts.sha,
            "spec": spec.to_dict(),
            "judge": judge.id,
        }
    )
    d = a.rd.evals / f"pairwise-{cid}"
    if (d / "summary.json").exists() and (done := read_json(d / "summary.json")).get(
        "status"
    ) == "complete":
        return done
    rows = _judge_pairs(gens[a], gens[b], prompts, judge)
    d.mkdir(parents=True, exist_ok=True)
    write_jsonl(d / "pairs.jsonl", rows)
    n_invalid = sum(r["outcome"] is None for r in rows)
    state = completion(len(rows), n_invalid, e["max_invalid_fraction"])
    summary = {
        "eval_id": d.name,
        "judge": judge.id,
        "a": str(a.rd.path),
        "b": str(b.rd.path),
        **spec.to_dict(),
        "status": state.status,
        "status_reason": state.reason,
        "n_pairs": len(rows),
        "n_invalid": n_invalid,
        **_preference_rates(rows),
    }
    if getattr(judge, "usage", None) is not None:
        summary["judge_usage"] = judge.usage.to_dict()
    atomic_write_json(d / "summary.json", summary)
    return finite(summary)


def _judge_pairs(
    gens_a: list[dict], gens_b: list[dict], prompts: PromptSet, judge: Any
) -> list[dict]:
    """One verdict per (prompt, sample) both runs answered, in run a's order."""
    by_id = {p["prompt_id"]: p for p in prompts.rows}
    gb = {(g["prompt_id"], g["sample"]): g for g in gens_b}
    pairs = [
        (ga, gb[(ga["prompt_id"], ga["sample"])])
        for ga in gens_a
        if (ga["prompt_id"], ga["sample"]) in gb
    ]
    verdicts = judge.compare_all(
        [(by_id[x["prompt_id"]], x["response"], y["response"]) for x, y in pairs]
    )
    return [
        {"prompt_id": x["prompt_id"], "sample": x["sample"], **v}
        for (x, _), v in zip(pairs, verdicts, strict=True)
    ]


def _preference_rates(rows: list[dict]) -> dict[str, float | None]:
    """Win/tie/loss over the pairs with a verdict, and the judge's position bias over those
    judged in both orders."""
    valid = [r for r in rows if r["outcome"] is not None]
    both = [r for r in valid if r["ab"] is not None and r["ba"] is not None]
    n = len(valid) or float("nan")  # no verdict: no rates (written as null), never 0%
    return {
        "win": sum(r["outcome"] == "win" for r in valid) / n,
        "tie": sum(r["outcome"] == "tie" for r in valid) / n,
        "loss": sum(r["outcome"] == "loss" for r in valid) / n,
        "position_flip_rate": (sum(r["flipped"] for r in both) / len(both)) if both else None,
        "first_position_preferred": (
            sum((r["ab"] == "A") + (r["ba"] == "A") for r in both) / (2 * len(both))
        )
        if both
        else None,
    }
