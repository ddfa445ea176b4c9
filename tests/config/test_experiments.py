"""``experiment=lima_paper`` and ``experiment=lima_7b_ablation`` hold the paper's recipe value by
value. The expected values are LIMA.md's (§3 Training recipe, §4.1 Generation, §5 Ablations);
where ../shared/LIMA.md is present its rows are checked to still say so."""

from __future__ import annotations

import pytest
from hydra import compose, initialize_config_dir
from omegaconf import OmegaConf

from limalab.model.callbacks import window_epochs
from tests.conftest import ROOT

LIMA_MD = ROOT.parent / "shared" / "LIMA.md"

# (config key, value, the LIMA.md text that states it)
RECIPE = [
    ("model.name", "llama_65b", "base | LLaMA 65B"),
    ("model.eot_token", "<|eot|>", "end-of-turn token (EOT)"),
    ("data.name", "lima_mix", "Training data (Table 1) — 1,000 examples"),
    ("data.size", 1000, "1,000 examples"),
    ("train.epochs", 15, "epochs | 15"),
    ("optim.betas", [0.9, 0.95], "AdamW β1 0.9, β2 0.95"),
    ("optim.weight_decay", 0.1, "weight decay 0.1"),
    ("optim.lr", 1e-5, "1e-5, linear decay to 1e-6"),
    ("optim.final_lr_ratio", 0.1, "1e-5, linear decay to 1e-6"),
    ("optim.schedule", "linear", "linear decay"),
    ("optim.warmup_steps", 0, "no warmup"),
    ("optim.lm_head_lr_scale", 1.0, "AdamW"),
    ("train.batch_size", 32, "32 examples"),
    ("train.max_length", 2048, "2,048 tokens; longer texts trimmed"),
    ("model.residual_dropout", 0.3, "rising linearly to 0.3 at the last"),
    ("eval.decoding.top_p", 0.9, "p = 0.9"),
    ("eval.decoding.temperature", 0.7, "temperature 0.7"),
    ("eval.decoding.repetition_penalty", 1.2, "repetition penalty 1.2"),
    ("eval.max_new_tokens", 2048, "at most\n2,048 tokens"),
    ("trainer.strategy.name", "fsdp", None),
    ("trainer.precision", "bf16-mixed", None),
]
ABLATION = {
    "model.name": ("llama_7b", "ablations: LLaMA 7B"),
    "train.batch_size": (64, "64 for smaller models"),
    "model.residual_dropout": (0.2, "0.2 for smaller models"),
    "eval.k": (5, "The ablations sample 5 responses per test prompt"),
}


def composed(experiment: str):
    with initialize_config_dir(str(ROOT / "conf"), version_base=None):
        return compose("train", overrides=[f"experiment={experiment}"])


@pytest.mark.parametrize("experiment", ["lima_paper", "lima_7b_ablation"])
def test_recipe_values(experiment: str) -> None:
    cfg = composed(experiment)
    expected = {k: v for k, v, _ in RECIPE}
    if experiment == "lima_7b_ablation":
        expected |= {k: v for k, (v, _) in ABLATION.items()}
    for key, value in expected.items():
        got = OmegaConf.select(cfg, key)
        got = OmegaConf.to_container(got) if OmegaConf.is_config(got) else got
        assert got == value, f"{experiment}: {key} = {got!r}, the paper says {value!r}"
    # checkpoint selection between epochs 5 and 10 of 15
    assert window_epochs(cfg.train.epochs, tuple(cfg.train.select.window)) == list(range(5, 11))


def test_paper_text_still_says_so() -> None:
    if not LIMA_MD.exists():
        pytest.skip("../shared/LIMA.md is not on this machine")
    text = LIMA_MD.read_text(encoding="utf-8")
    for quote in [q for _, _, q in RECIPE if q] + [q for _, q in ABLATION.values()]:
        assert quote in text, quote


def test_experiments_compose_with_their_trainers() -> None:
    cfg = composed("lima_paper")
    assert cfg.trainer.activation_checkpointing is True and cfg.trainer.accelerator == "gpu"
    assert cfg.model.source == "checkpoint"
