"""Multi-turn evaluation (LIMA §6): each test conversation is played turn by turn, every user
turn following the model's *own* earlier responses, and every turn is judged with the history
in the prompt. Reported per turn as the paper does: mean score and fail / pass / excellent
rates (``stats.CATEGORY``: 1-2 fail, 3-4 pass, 5-6 excellent)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import torch

from limalab.data.chat import ChatFormat
from limalab.eval.generate import generate
from limalab.eval.judges import judge_all
from limalab.eval.judges.base import Judge
from limalab.eval.spec import completion
from limalab.eval.stats import category_rates, score_summary
from limalab.tracking.io import atomic_write_json, config_hash, finite, read_json, write_jsonl
from limalab.versions import RUBRIC_VERSION


def evaluate_dialogue(run_dir: Path, model: torch.nn.Module, chat: ChatFormat, conversations: list[dict],
                      checkpoint: str, spec: dict[str, Any], judge: Judge, batch_size: int = 16,
                      max_invalid_fraction: float = 0.01) -> dict:
    """``conversations``: rows with ``conversation_id`` and ``turns`` (each turn a prompt with its
    ground truth). ``spec["k"]`` independent plays per conversation. Returns the summary
    (``evals/dialogue-<id>/summary.json``), reused if it exists."""
    eid = "dialogue-" + config_hash({"checkpoint": checkpoint, "conversations": conversations, "spec": spec,
                                     "judge": judge.id, "rubric": RUBRIC_VERSION})
    d = run_dir / "evals" / eid
    if (d / "summary.json").exists() and (done := read_json(d / "summary.json")).get("status") == "complete":
        return done
    plays = [(c, s) for c in conversations for s in range(spec["k"])]
    history: dict[tuple[str, int], list[str]] = {(c["conversation_id"], s): [] for c, s in plays}
    judged, turns = [], []
    n_turns = max(len(c["turns"]) for c in conversations)
    for t in range(n_turns):
        rows = []
        for c, s in plays:
            if t < len(c["turns"]):
                key = (c["conversation_id"], s)
                rows.append({**c["turns"][t], "prompt_id": f"{key[0]}/{s}/turn{t + 1}", "history": list(history[key]),
                             "conversation_id": key[0], "play": s})
        gens = generate(model, chat, rows, 1, spec["decoding"], spec["max_new_tokens"], batch_size,
                        spec["seed"] * 1009 + t, desc=f"dialogue turn {t + 1}")
        by_id = {r["prompt_id"]: r for r in rows}
        verdicts = judge_all(judge, [(by_id[g["prompt_id"]], g["response"], g["terminated"]) for g in gens])
        turn_rows = []
        for g, v in zip(gens, verdicts, strict=True):
            row = by_id[g["prompt_id"]]
            history[(row["conversation_id"], row["play"])] += [row["prompt"], g["response"]]
            # plays of one conversation are samples of one prompt: intervals are over conversations
            turn_rows.append({"prompt_id": f"{row['conversation_id']}/turn{t + 1}", "sample": row["play"],
                              "conversation_id": row["conversation_id"], "play": row["play"],
                              "turn": t + 1, "type": row.get("type"), "history": row["history"], "prompt": row["prompt"],
                              "response": g["response"], "terminated": g["terminated"], **v.to_dict()})
        judged += turn_rows
        turns.append({"turn": t + 1, **score_summary(turn_rows), "categories": category_rates(turn_rows)})
    d.mkdir(parents=True, exist_ok=True)
    write_jsonl(d / "judgments.jsonl", judged)
    scores = score_summary(judged)
    state = completion(len(judged), scores["n_invalid"], max_invalid_fraction)
    summary = {"eval_id": eid, "checkpoint": checkpoint, "judge": judge.id, "rubric_version": RUBRIC_VERSION, **spec,
               "prompt_set": "dialogue", "status": state.status, "status_reason": state.reason,
               "n_conversations": len(conversations), **scores, "categories": category_rates(judged), "turns": turns}
    atomic_write_json(d / "summary.json", summary)  # last: the evaluation finished (complete or not)
    return finite(summary)
