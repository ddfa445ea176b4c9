"""Multi-turn evaluation (LIMA §6): each test conversation is played turn by turn, every user
turn following the model's *own* earlier responses, and every turn is judged with the history
in the prompt. Reported per turn as the paper does: mean score and fail / pass / excellent
rates (``stats.CATEGORY``: 1-2 fail, 3-4 pass, 5-6 excellent)."""

from __future__ import annotations

from dataclasses import replace

from limalab.eval.evaluation import Evaluation, Responder
from limalab.eval.generate import generate
from limalab.eval.judges import judge_all
from limalab.eval.spec import completion
from limalab.eval.stats import category_rates, score_summary
from limalab.tracking.io import atomic_write_json, config_hash, finite, read_json, write_jsonl
from limalab.versions import RUBRIC_VERSION


def dialogue_id(ev: Evaluation) -> str:
    return "dialogue-" + config_hash(
        {
            "checkpoint": ev.checkpoint,
            "conversations": ev.prompts.rows,
            "spec": ev.spec.to_dict(),
            "judge": ev.judge.id,
            "rubric": RUBRIC_VERSION,
        }
    )


def evaluate_dialogue(ev: Evaluation, responder: Responder) -> dict:
    """``ev.prompts``: rows with ``conversation_id`` and ``turns`` (each turn a prompt with its
    ground truth); ``ev.spec.k`` independent plays per conversation. Returns the summary
    (``evals/dialogue-<id>/summary.json``), reused if complete. A rerun after a failed judge
    plays the conversations again (same seeds: the same responses) and asks the judge only for
    replies it has not cached."""
    d = ev.run_dir / "evals" / dialogue_id(ev)
    if (d / "summary.json").exists() and (done := read_json(d / "summary.json")).get(
        "status"
    ) == "complete":
        return done
    conversations = ev.prompts.rows
    plays = [(c, s) for c in conversations for s in range(ev.spec.k)]
    history: dict[tuple[str, int], list[str]] = {(c["conversation_id"], s): [] for c, s in plays}
    judged, turns = [], []
    for t in range(max(len(c["turns"]) for c in conversations)):
        turn_rows = _play_turn(ev, responder, plays, history, t)
        judged += turn_rows
        turns.append(
            {"turn": t + 1, **score_summary(turn_rows), "categories": category_rates(turn_rows)}
        )
    d.mkdir(parents=True, exist_ok=True)
    write_jsonl(d / "judgments.jsonl", judged)
    scores = score_summary(judged)
    state = completion(len(judged), scores["n_invalid"], ev.max_invalid_fraction)
    summary = {
        "eval_id": d.name,
        "checkpoint": ev.checkpoint,
        "judge": ev.judge.id,
        "rubric_version": RUBRIC_VERSION,
        **ev.spec.to_dict(),
        "prompt_set": "dialogue",
        "status": state.status,
        "status_reason": state.reason,
        "n_conversations": len(conversations),
        **scores,
        "categories": category_rates(judged),
        "turns": turns,
    }
    atomic_write_json(
        d / "summary.json", summary
    )  # last: the evaluation finished (complete or not)
    return finite(summary)


def _play_turn(
    ev: Evaluation,
    responder: Responder,
    plays: list[tuple[dict, int]],
    history: dict[tuple[str, int], list[str]],
    t: int,
) -> list[dict]:
    """Turn ``t`` of every play still going: generated after the play's own history, judged."""
    rows = []
    for c, s in plays:
        if t < len(c["turns"]):
            key = (c["conversation_id"], s)
            rows.append(
                {
                    **c["turns"][t],
                    "prompt_id": f"{key[0]}/{s}/turn{t + 1}",
                    "history": list(history[key]),
                    "conversation_id": key[0],
                    "play": s,
                }
            )
    model, chat = responder.model()
    turn_spec = replace(ev.spec, k=1, seed=ev.spec.seed * 1009 + t)
    gens = generate(model, chat, rows, turn_spec, desc=f"dialogue turn {t + 1}")
    by_id = {r["prompt_id"]: r for r in rows}
    verdicts = judge_all(
        ev.judge, [(by_id[g["prompt_id"]], g["response"], g["terminated"]) for g in gens]
    )
    out = []
    for g, v in zip(gens, verdicts, strict=True):
        row = by_id[g["prompt_id"]]
        history[(row["conversation_id"], row["play"])] += [row["prompt"], g["response"]]
        # plays of one conversation are samples of one prompt: intervals are over conversations
        out.append(
            {
                "prompt_id": f"{row['conversation_id']}/turn{t + 1}",
                "sample": row["play"],
                "conversation_id": row["conversation_id"],
                "play": row["play"],
                "turn": t + 1,
                "type": row.get("type"),
                "history": row["history"],
                "prompt": row["prompt"],
                "response": g["response"],
                "terminated": g["terminated"],
                **v.to_dict(),
            }
        )
    return out
