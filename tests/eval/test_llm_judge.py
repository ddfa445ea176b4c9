"""The likert and pairwise judges against a local chat-completions server: parsing, retries
with back-off on an injected clock, invalid counts, cost counts, and the reply cache."""

from __future__ import annotations

from pathlib import Path

import pytest

from limalab.eval.judges import build_judge
from limalab.eval.judges.interface import LLMJudgeOptions
from limalab.eval.judges.llm import (
    ChatClient,
    JudgeConfigError,
    LikertJudge,
    LikertOptions,
    Reply,
    ReplyCache,
)
from limalab.eval.judges.pairwise import LLMPairwiseJudge, combine
from limalab.eval.judges.rubric import likert_prompt, parse_likert, parse_pairwise
from limalab.tracking.io import read_jsonl
from tests.judge_server import JudgeServer

CASES = ["ok5", "malformed", "429once", "500twice", "slow", "badjson", "always500"]
EXPECTED = {
    "ok5": 5,
    "malformed": None,
    "429once": 4,
    "500twice": 3,
    "slow": 6,
    "badjson": 2,
    "always500": None,
}


def make_judge(url: str, cache: Path, sleeps: list[float], **kw) -> LikertJudge:
    client = ChatClient(
        url,
        "judge-model",
        api_key_env="LIMALAB_TEST_KEY",
        timeout_s=0.3,
        max_retries=3,
        backoff_s=1.0,
        sleep=sleeps.append,
    )
    return LikertJudge(
        client,
        ReplyCache(cache),
        LikertOptions(
            concurrency=4, parse_retries=1, price_in_per_1m=2.0, price_out_per_1m=6.0, **kw
        ),
    )


def items(cases: list[str]) -> list[tuple[dict, str, bool]]:
    return [
        ({"prompt_id": c, "prompt": f"question for CASE:{c}"}, f"response {c}", True) for c in cases
    ]


def test_parse_likert_and_pairwise() -> None:
    assert parse_likert("reasoning ...\n5\n5") == 5
    assert parse_likert("Score: 4\n**4**") == 4
    assert parse_likert("thinking\n5/6") == 5
    assert parse_likert("3\n4") is None  # contradicts itself
    assert parse_likert("I would give it a 5 overall.") is None  # no number on its own line
    assert parse_likert("5\nthen a long afterthought\nand more") is None
    assert parse_likert("7\n7") is None
    assert parse_pairwise("because...\nB") == "B" and parse_pairwise("**Tie**") == "tie"
    assert parse_pairwise("A is much better") is None
    assert combine("A", "B") == ("win", False) and combine("A", "A") == ("tie", True)
    assert combine(None, "A") == ("loss", False) and combine(None, None) == (None, False)
    assert "[BEGIN SUBMISSION]\nx\n[END SUBMISSION]" in likert_prompt("t", "x")


def test_likert_judge_retries_counts_and_caches(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("LIMALAB_TEST_KEY", "sk-test-0123456789")
    sleeps: list[float] = []
    with JudgeServer() as server:
        judge = make_judge(server.url, tmp_path / "replies.sqlite", sleeps)
        got = {
            it[0]["prompt_id"]: j.score
            for it, j in zip(items(CASES), judge.judge_all(items(CASES)), strict=True)
        }
        assert got == EXPECTED
        # retries: 429 once, 500 twice, the timeout once, the bad body once, always500 3 times
        assert server.requests == {
            "ok5": 1,
            "malformed": 2,
            "429once": 2,
            "500twice": 3,
            "slow": 2,
            "badjson": 2,
            "always500": 4,
        }
        assert server.auth == {"Bearer sk-test-0123456789"}
        # back-off: Retry-After honoured, else 1 s * 2^attempt with jitter in [0.5, 1]
        assert (
            0.01 in sleeps
            and sum(0.5 <= s <= 1.0 for s in sleeps) >= 3
            and sum(1.0 <= s <= 2.0 for s in sleeps) >= 2
        )
        assert all(s <= 4.0 for s in sleeps)
        usage = judge.usage.to_dict()
        assert (
            usage["requests"] == 7
        )  # replies received: ok5, malformed x2, 429once, 500twice, slow, badjson
        assert usage["invalid_unparsed"] == 1 and usage["invalid_no_reply"] == 1
        assert usage["prompt_tokens"] == 700 and usage["completion_tokens"] == 70
        assert usage["cost_usd"] == pytest.approx((700 * 2.0 + 70 * 6.0) / 1e6)

        # a second run over everything that got a reply sends nothing
        before = server.total()
        again = make_judge(server.url, tmp_path / "replies.sqlite", [])
        replied = [c for c in CASES if c != "always500"]
        assert [j.score for j in again.judge_all(items(replied))] == [EXPECTED[c] for c in replied]
        assert (
            server.total() == before and again.usage.cache_hits == 7 and again.usage.requests == 0
        )
        # what never got a reply is asked again on a rerun (and is still invalid here)
        assert (
            again.judge_all(items(["always500"]))[0].score is None and server.total() == before + 4
        )


def test_fatal_status_stops_with_a_clear_error_without_the_key(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("OPENAI_API_KEY", "sk-test-abcdefghijkl")
    client = ChatClient("http://127.0.0.1:9/v1", "m", max_retries=0, sleep=lambda s: None)
    import httpx

    monkeypatch.setattr(
        client._http, "post", lambda *a, **k: httpx.Response(401, json={"error": "bad key"})
    )
    with pytest.raises(JudgeConfigError) as e:
        client.complete("s", "u")
    assert "judge.base_url" in str(e.value) and "OPENAI_API_KEY" in str(e.value)
    assert "sk-test-abcdefghijkl" not in str(e.value)


def test_pairwise_judge_asks_both_orders(tmp_path: Path) -> None:
    with JudgeServer(default="pair_a") as server:
        client = ChatClient(server.url, "judge-model", sleep=lambda s: None)
        judge = LLMPairwiseJudge(
            client, ReplyCache(tmp_path / "r.sqlite"), LLMJudgeOptions(concurrency=2)
        )
        out = judge.compare_all([({"prompt": "q1"}, "first answer", "second answer")])
        # always "A": the verdict flips with the order, so it is a tie and counted as a flip
        assert out == [{"outcome": "tie", "flipped": True, "ab": "A", "ba": "A"}]
        assert server.total() == 2


def test_build_judge_validates_config(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match=r"judge.model: required \(expected a string\), got null"):
        build_judge({"name": "hf_local", "model": None}, cache_dir=tmp_path)
    with pytest.raises(FileNotFoundError, match="judge.model: /nonexistent"):
        build_judge({"name": "hf_local", "model": "/nonexistent"}, cache_dir=tmp_path)
    j = build_judge(
        {"name": "likert", "base_url": "http://127.0.0.1:1/v1", "model": "gpt-x"},
        cache_dir=tmp_path,
    )
    assert j.id.startswith("likert:gpt-x@likert-")


def test_a_turn_is_judged_with_its_history() -> None:
    from limalab.eval.judges.rubric import likert_prompt, task_text

    turn = {"prompt": "and its capital ?", "history": ["tell me about zorvia .", "it is a realm ."]}
    text = likert_prompt(task_text(turn), "its capital is vell .")
    assert "User: tell me about zorvia ." in text and "Assistant: it is a realm ." in text
    assert text.index("Assistant: it is a realm .") < text.index("User: and its capital ?")
    assert (
        task_text({"prompt": "hi"}) == "hi"
    )  # single-turn prompts are unchanged (cached replies stay valid)


def test_drift_asks_anew_and_reports_agreement(tmp_path: Path) -> None:
    """A second pass with the same judge and settings sends new requests (the cache keeps the
    passes apart) and reports exact and within-1 agreement with the first."""
    from limalab.eval.drift import rejudge
    from limalab.tracking.io import atomic_write_json, write_jsonl

    prompts = [{"prompt_id": f"p{i}", "prompt": f"question {i}"} for i in range(4)]
    gens = [
        {"prompt_id": f"p{i}", "sample": 0, "response": f"answer {i}", "terminated": True}
        for i in range(4)
    ]
    d = tmp_path / "evals" / "e1"
    d.mkdir(parents=True)
    with JudgeServer(default="drift") as server:
        judge = LikertJudge(
            ChatClient(server.url, "m", sleep=lambda s: None),
            ReplyCache(tmp_path / "r.sqlite"),
            LikertOptions(concurrency=1, parse_retries=0),
        )
        first = judge.judge_all(
            [(p, g["response"], True) for p, g in zip(prompts, gens, strict=True)]
        )
        assert [j.score for j in first] == [4, 4, 5, 5]
        write_jsonl(d / "generations.jsonl", gens)
        write_jsonl(
            d / "judgments.jsonl",
            [
                {"prompt_id": g["prompt_id"], "sample": 0, **j.to_dict()}
                for g, j in zip(gens, first, strict=True)
            ],
        )
        atomic_write_json(d / "summary.json", {"eval_id": "e1", "judge": judge.id})
        out = rejudge(d, prompts, judge)
        assert server.total() == 8  # four new requests, not four cache hits
        assert out["n_both_valid"] == 4 and out["exact"] == 0.5 and out["within_1"] == 0.75
        assert out["judge"] == judge.id and out["judge_usage"]["requests"] == 4
        assert (
            rejudge(d, prompts, judge) == out and server.total() == 8
        )  # recorded: not asked again
        assert [r["score"] for r in read_jsonl(d / "judgments_pass2.jsonl")] == [4, 5, 5, 2]
    other = LikertJudge(
        ChatClient("http://127.0.0.1:9/v1", "other"), ReplyCache(tmp_path / "r.sqlite")
    )
    with pytest.raises(ValueError, match="re-judge with the same judge"):
        rejudge(d, prompts, other, pass_no=3)


def test_structured_output_falls_back_to_text_where_refused(tmp_path: Path) -> None:
    """structured=auto: the JSON request first; an endpoint that refuses it (HTTP 400) is asked
    in text from then on; one that ignores the format is read as text."""
    from limalab.eval.judges.rubric import parse_likert_json

    assert parse_likert_json('{"reason": "clear", "score": 4}') == 4
    assert (
        parse_likert_json('{"reason": "x", "score": 7}') is None
        and parse_likert_json('{"score": true}') is None
    )
    assert parse_likert_json("fine\n5\n5") == 5  # not JSON: the text rubric's parser
    with JudgeServer(default="refuse_json") as server:
        judge = LikertJudge(
            ChatClient(server.url, "m", sleep=lambda s: None, max_retries=0),
            ReplyCache(tmp_path / "r.sqlite"),
            LikertOptions(concurrency=2, structured="auto"),
        )
        assert judge.id == "likert:m@likert-json-1"
        got = judge.judge_all(items(["refuse_json"] * 3))
        assert [j.score for j in got] == [3, 3, 3] and {j.subscores["reply"] for j in got} == {
            "text"
        }
        assert server.formats == [
            True,
            False,
        ]  # one refused JSON request, then text (cached for the rest)
        assert judge.usage.text_replies == 3 and judge.usage.structured_replies == 0
    with JudgeServer(
        default="always500"
    ) as server:  # down is not refusing: no switch, no extra requests
        judge = LikertJudge(
            ChatClient(server.url, "m", sleep=lambda s: None, max_retries=0),
            ReplyCache(tmp_path / "r3.sqlite"),
            LikertOptions(concurrency=1, structured="auto"),
        )
        got = judge.judge_all(items(["always500"] * 2))
        assert [j.score for j in got] == [None, None] and server.formats == [True, True]
        assert {j.subscores["reply"] for j in got} == {"json"} and judge._json_ok
    with (
        JudgeServer() as server
    ):  # ignores response_format, answers in text: read as text, still structured mode
        judge = LikertJudge(
            ChatClient(server.url, "m", sleep=lambda s: None),
            ReplyCache(tmp_path / "r2.sqlite"),
            LikertOptions(structured="json"),
        )
        j = judge.judge(*items(["ok5"])[0])
        assert j.score == 5 and j.subscores == {"reply": "json"} and server.formats == [True]


def test_a_damaged_reply_cache_is_set_aside_and_rebuilt(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    path = tmp_path / "replies.sqlite"
    cache = ReplyCache(path)
    cache.put(ReplyCache.key("m", "v", "q"), Reply("5"))
    del cache
    data = bytearray(path.read_bytes())
    data[100:4000] = b"\x00garbage" * 487  # the header's tail and the first pages
    path.write_bytes(bytes(data))
    fresh = ReplyCache(path)  # no "database disk image is malformed": a new cache beside the old
    assert fresh.get(ReplyCache.key("m", "v", "q")) is None
    fresh.put(ReplyCache.key("m", "v", "q"), Reply("4"))
    assert fresh.get(ReplyCache.key("m", "v", "q")).text == "4"
    assert list(tmp_path.glob("replies.sqlite.corrupt-*")) and "was damaged" in caplog.text
