"""Run identity and the run directory's bookkeeping."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from limalab.tracking.identity import run_id
from limalab.tracking.io import atomic_write_json
from limalab.tracking.rundir import redact

BASE = {
    "world": {"seed": 0},
    "data": {"name": "lima_mix", "size": None, "num_workers": 0},
    "model": {"init": "pretrained"},
    "optim": {"lr": 5e-4},
    "train": {"epochs": 6},
    "seed": 0,
    "trainer": {"precision": "32-true", "devices": 1},
    "runs_dir": "runs",
    "cache_dir": ".cache",
    "eval": {"k": 5},
    "logger": {"project": "p"},
}


def test_run_id_ignores_paths_loggers_workers_and_eval() -> None:
    same = {
        **BASE,
        "runs_dir": "/elsewhere",
        "cache_dir": "/c",
        "eval": {"k": 1},
        "logger": {"project": "q"},
        "data": {**BASE["data"], "num_workers": 8},
        "trainer": {**BASE["trainer"], "devices": 4},
    }
    assert run_id(same) == run_id(BASE)


@pytest.mark.parametrize(
    "change",
    [
        {"data": {**BASE["data"], "size": 2000}},
        {"seed": 1},
        {"world": {"seed": 1}},
        {"optim": {"lr": 1e-5}},
        {"model": {"init": "random"}},
        {"train": {"epochs": 15}},
        {"trainer": {"precision": "bf16-mixed"}},
        {"trainer": {**BASE["trainer"], "attn_implementation": "sdpa"}},
        {"train": {"epochs": 6, "layout": "pad"}},
    ],
)
def test_run_id_changes_with_what_changes_results(change: dict) -> None:
    assert run_id({**BASE, **change}) != run_id(BASE)


def test_redact_removes_secret_keys_and_values(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("OPENAI_API_KEY", "sk-test-1234567890")
    out = redact({"judge": {"api_key": "x", "note": "sk-test-1234567890", "model": "gpt"}})
    assert out == {"judge": {"api_key": "<redacted>", "note": "<redacted>", "model": "gpt"}}
    # settings that merely mention tokens are kept: the saved config must stay usable
    kept = {"max_new_tokens": 24, "eot_token": "<|eot|>", "n_tokens": 5, "max_tokens": 9}
    assert redact(kept) == kept
    assert redact({"hf_token": "abc", "auth_token": "def", "token": "x"}) == dict.fromkeys(
        ("hf_token", "auth_token", "token"), "<redacted>"
    )


def test_atomic_write_leaves_no_partial_file(tmp_path: Path) -> None:
    target = tmp_path / "results.json"
    atomic_write_json(target, {"a": 1})
    with pytest.raises(TypeError):
        atomic_write_json(target, {"a": _Unserialisable()})
    assert json.loads(target.read_text()) == {"a": 1}
    assert [p.name for p in tmp_path.iterdir()] == ["results.json"]


class _Unserialisable:
    def __repr__(self) -> str:
        raise TypeError("cannot serialise")


@pytest.mark.parametrize("umask", [0o002, 0o022, 0o077])
def test_written_files_follow_the_umask(tmp_path, umask):
    """Teammates sharing a runs directory read each other's records: no 0600 temp-file modes."""
    import os
    import stat

    from limalab.tracking.io import atomic_write_json, write_jsonl

    old = os.umask(umask)
    try:
        atomic_write_json(tmp_path / "results.json", {"a": 1})
        write_jsonl(tmp_path / "rows.jsonl", [{"a": 1}])
        (tmp_path / "plain.txt").write_text("x")  # what open() gives, for comparison
    finally:
        os.umask(old)
    want = stat.S_IMODE((tmp_path / "plain.txt").stat().st_mode)
    assert want == 0o666 & ~umask
    for name in ("results.json", "rows.jsonl"):
        assert stat.S_IMODE((tmp_path / name).stat().st_mode) == want, name


def test_json_records_never_hold_nan(tmp_path):
    import json

    from limalab.tracking.io import atomic_write_json

    atomic_write_json(tmp_path / "s.json", {"judge_mean": float("nan"), "ci": [float("-inf"), 2.0]})
    text = (tmp_path / "s.json").read_text()
    assert "NaN" not in text and "Infinity" not in text
    assert json.loads(text) == {"judge_mean": None, "ci": [None, 2.0]}
