"""The LLM judges' instructions, written for limalab after the structure of LIMA's Appendix D
(Likert helpfulness, six levels, reason first, then the number alone on its own line, twice)
and Appendix C (the pairwise preference question). Versioned: a change to any text here is a
new ``LIKERT_VERSION`` / ``PAIRWISE_VERSION``, so cached replies are never reused across texts.
"""

from __future__ import annotations

import json
import re

LIKERT_VERSION = "likert-1"
LIKERT_JSON_VERSION = "likert-json-1"  # the same rubric, the reply asked as a JSON object
PAIRWISE_VERSION = "pairwise-1"

LEVELS = {
    1: (
        "not helpful",
        "the submission is off-topic, unclear or unfinished, and gives the user nothing usable",
    ),
    2: (
        "somewhat helpful",
        "it touches the task but stays unclear or unfinished; the user gets only part of an answer",
    ),
    3: (
        "moderately helpful",
        "it answers the task clearly and completely, but with no detail or explanation beyond the "
        "bare answer",
    ),
    4: (
        "helpful",
        "clear, complete and detailed, with useful additional information; some points repeat or "
        "could be merged",
    ),
    5: (
        "very helpful",
        "everything in 4, plus insightful extras (examples, analogies, context); but the answer is "
        "not well organised",
    ),
    6: (
        "highly helpful",
        "everything in 5, and logically organised: headings, bullet points or numbered steps where "
        "they help",
    ),
}

LIKERT_SYSTEM = "You are a careful grader of answers written by an AI assistant."


def task_text(prompt: dict) -> str:
    """The task an LLM judge sees: the prompt, after the conversation so far when there is one
    (multi-turn evaluation judges each turn with its history)."""
    history = prompt.get("history") or []
    if not history:
        return prompt["prompt"]
    turns = [f"{'User' if i % 2 == 0 else 'Assistant'}: {t}" for i, t in enumerate(history)]
    return "\n".join(
        [*turns, f"User: {prompt['prompt']}", "(Grade the assistant's answer to this last turn.)"]
    )


def _likert_head(task: str, submission: str) -> str:
    scale = "\n".join(f"{n} = {label}: {meaning}." for n, (label, meaning) in LEVELS.items())
    return (
        "Grade how helpful a submission is for the task below.\n\n"
        f"[BEGIN TASK]\n{task}\n[END TASK]\n\n"
        f"[BEGIN SUBMISSION]\n{submission}\n[END SUBMISSION]\n\n"
        "The criterion is helpfulness, on this scale:\n"
        f"{scale}\n\n"
    )


def likert_prompt(task: str, submission: str) -> str:
    return _likert_head(task, submission) + (
        "Reason step by step about the submission against the criterion. Do not give a score "
        "first. At the end, print only the number of the level you choose (1 to 6) on a line of "
        "its own, and then print the same number again on the next line."
    )


# Structured output: the reason first (so the grade follows from it), then the level, whose
# schema admits only 1..6. Sent as llama.cpp's and vLLM's ``{"type": "json_object", "schema":
# ...}``; an endpoint that refuses it is asked in text (``likert_prompt``) instead.
LIKERT_SCHEMA = {
    "type": "object",
    "properties": {
        "reason": {"type": "string", "maxLength": 400},
        "score": {"type": "integer", "enum": [1, 2, 3, 4, 5, 6]},
    },
    "required": ["reason", "score"],
}
LIKERT_RESPONSE_FORMAT = {"type": "json_object", "schema": LIKERT_SCHEMA}


def likert_json_prompt(task: str, submission: str) -> str:
    return _likert_head(task, submission) + (
        "Reason briefly about the submission against the criterion, then choose a level. Reply "
        'with a JSON object only: {"reason": "<your reasoning>", "score": <the level, 1 to 6>}.'
    )


def parse_likert_json(reply: str) -> int | None:
    """The level from a JSON reply ``{"reason": ..., "score": n}``; a reply that is not such an
    object (an endpoint that ignored the format) is read as text by ``parse_likert``."""
    try:
        data = json.loads(reply)
    except ValueError:
        return parse_likert(reply)
    score = data.get("score") if isinstance(data, dict) else None
    if isinstance(score, str) and score.strip().isdigit():
        score = int(score)
    return (
        score
        if isinstance(score, int) and not isinstance(score, bool) and 1 <= score <= 6
        else None
    )


PAIRWISE_SYSTEM = "You compare answers to the same question on behalf of a user."


def pairwise_prompt(task: str, a: str, b: str) -> str:
    return (
        "Imagine that you have a super-intelligent AI assistant at hand to help with the question "
        "below. Two candidate answers follow. Which one would best satisfy your needs?\n\n"
        f"[BEGIN QUESTION]\n{task}\n[END QUESTION]\n\n"
        f"[BEGIN ANSWER A]\n{a}\n[END ANSWER A]\n\n"
        f"[BEGIN ANSWER B]\n{b}\n[END ANSWER B]\n\n"
        "Explain your reasoning briefly. Then, on the last line, print exactly one of: "
        "'A' (answer A is significantly better), 'B' (answer B is significantly better) or "
        "'tie' (neither is significantly better)."
    )


_LINE_NUMBER = re.compile(r"^\W*(?:score|rating|level)?\W*([1-6])(?:\s*/\s*6)?\W*$", re.I)


def parse_likert(reply: str) -> int | None:
    """The level from the reply's closing lines: the last line holding only a number 1-6
    (tolerating "Score: 5", "**5**", "5/6"); if the line above it holds another such number the
    reply contradicts itself and is invalid. Anything else is invalid (``None``), never guessed."""
    lines = [ln.strip() for ln in reply.strip().splitlines() if ln.strip()]
    found = [(i, int(m.group(1))) for i, ln in enumerate(lines) if (m := _LINE_NUMBER.match(ln))]
    if not found or found[-1][0] < len(lines) - 2:  # the number must close the reply
        return None
    last_i, last = found[-1]
    prev = [v for i, v in found if i == last_i - 1]
    if prev and prev[0] != last:
        return None
    return last


_VERDICT = re.compile(r"^\W*(?:verdict|answer|final answer)?\W*(A|B|tie)\W*$", re.I)


def parse_pairwise(reply: str) -> str | None:
    """'A', 'B' or 'tie' from the reply's last line, else None."""
    lines = [ln.strip() for ln in reply.strip().splitlines() if ln.strip()]
    if not lines or not (m := _VERDICT.match(lines[-1])):
        return None
    v = m.group(1)
    return "tie" if v.lower() == "tie" else v.upper()
