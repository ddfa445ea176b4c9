"""The export in plain transformers, as a Hugging Face user meets it: loaded and generated from
in a process that cannot import limalab (tests/export_check.py), with ``generate`` and
``pipeline("text-generation")``; and its model card."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from tests.conftest import ROOT, the_run

pytestmark = pytest.mark.slow


def plain_transformers(model_dir: Path, prompt: str) -> dict:
    env = {k: v for k, v in os.environ.items() if not k.startswith("PYTHON")} | {
        "HF_HUB_OFFLINE": "1"
    }
    proc = subprocess.run(
        [sys.executable, "-I", str(ROOT / "tests" / "export_check.py"), str(model_dir), prompt],
        capture_output=True,
        text=True,
        env=env,
        timeout=600,
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    return json.loads(proc.stdout.strip().splitlines()[-1])


def test_export_stops_at_eot_with_the_papers_decoding(smoke_run: tuple[Path, str]) -> None:
    rd = the_run(smoke_run[0] / "runs")
    results = json.loads((rd / "results.json").read_text())
    prompt = json.loads(
        (next((rd / "evals").iterdir()) / "generations.jsonl").read_text().splitlines()[0]
    )["prompt"]
    got = plain_transformers(rd / "model", prompt)
    assert not got["limalab_imported"]
    gc, eot, eos = got["generation_config"], got["eot"], got["eos"]
    assert set(gc["eos_token_id"]) == {eot, eos} and eot != eos
    assert (gc["do_sample"], gc["top_p"], gc["temperature"], gc["repetition_penalty"]) == (
        True,
        0.9,
        0.7,
        1.2,
    )
    assert gc["max_new_tokens"] == results["max_new_tokens"]
    assert got["model_max_length"] == got["max_position_embeddings"] == 512
    limit = results["max_new_tokens"]
    for name, samples in (("generate", got["samples"]), ("pipeline", got["pipeline_ids"])):
        for s in samples:  # a turn ends at its first EOT, or runs to the limit: never past an EOT
            assert eot not in s[:-1] and eos not in s[:-1], (name, s)
            assert s[-1] in (eot, eos) or len(s) == limit, (name, s)
        assert any(s[-1] == eot and len(s) < limit for s in samples), (name, samples)
    assert all(
        r["role"] == "assistant" and "<|eot|>" not in r["content"] for r in got["pipeline_replies"]
    )


def test_model_card_has_the_results_and_stays_out_of_the_export_record(
    smoke_run: tuple[Path, str],
) -> None:
    rd = the_run(smoke_run[0] / "runs")
    results = json.loads((rd / "results.json").read_text())
    card = (rd / "model" / "README.md").read_text()
    assert card.startswith("---\nlibrary_name: transformers\npipeline_tag: text-generation\n")
    m = results["metrics"]
    lo, hi = m["judge_ci95"]
    assert (
        rd.name in card and f"{m['judge_mean']:.3f} | {lo:.3f}–{hi:.3f} | {m['n_judged']}" in card
    )
    manifest = json.loads((rd / "manifest.json").read_text())
    assert manifest["sha256"] in card and f"{manifest['n_examples']} examples" in card
    assert f"selected on the dev prompts by judge score: {results['selected_checkpoint']}" in card
    # the card is rewritten with each result: the export record does not hash it, results.json does
    record = json.loads((rd / "stages" / "export.json").read_text())
    assert (
        "model/model.safetensors" in record["outputs"]
        and "model/README.md" not in record["outputs"]
    )
    import hashlib

    assert results["model_card"] == {
        "path": "model/README.md",
        "sha256": hashlib.sha256((rd / "model" / "README.md").read_bytes()).hexdigest(),
    }
