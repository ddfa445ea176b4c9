"""What W&B is told about a run, unit by unit: the readable name, the group, the tags, the
summary scalars (CI bounds split), the dotted config a sweep merges into, the model artifact
uploaded or by reference, and overrides with their secrets redacted."""

from __future__ import annotations

from pathlib import Path

import pytest

from limalab.tracking.loggers import (
    agent_run_id,
    flat_config,
    model_artifact,
    run_group,
    run_name,
    run_tags,
    scalars,
    wandb_mode,
)
from limalab.tracking.rundir import redact_overrides

CFG = {
    "data": {"name": "se_filtered", "size": 250},
    "seed": 2,
    "tags": ["mine"],
    "model": {"source": "miniature", "init": "random"},
    "logger": {"group": None},
}


def test_names_groups_and_tags() -> None:
    assert run_name(CFG, "0123456789") == "se_filtered-n250-s2-012345"
    assert run_group(CFG, None) == "se_filtered"  # a single run: its arm
    assert (
        run_group(CFG, {"multirun": "multirun-2026-12-02_03-10-00"})
        == "multirun-2026-12-02_03-10-00"
    )
    grid = CFG | {"logger": {"group": "quality"}}
    assert run_group(grid, {"multirun": "multirun-x"}) == "quality"  # the ablation wins
    assert run_tags(grid, ["quality", "diversity"]) == [
        "mine",
        "data:se_filtered",
        "n:250",
        "seed:2",
        "model:miniature-random",
        "grid:quality",
        "grid:diversity",
    ]


def test_summary_scalars_split_the_ci() -> None:
    got = scalars(
        "test/",
        {
            "judge_mean": 3.5,
            "judge_ci95": [3.1, 3.9],
            "n": 24,
            "ok": True,
            "nan": float("nan"),
            "by_type": {"a": 1},
            "list": [1, 2, 3],
        },
    )
    assert got == {
        "test/judge_mean": 3.5,
        "test/judge_ci95_lo": 3.1,
        "test/judge_ci95_hi": 3.9,
        "test/n": 24,
        "test/ok": 1.0,
    }


def test_config_is_dotted_like_a_sweeps_parameters() -> None:
    assert flat_config(
        {"data": {"name": "x", "sources": {"a": {"w": 1}}, "empty": {}}, "seed": 0}
    ) == {"data.name": "x", "data.sources.a.w": 1, "data.empty": {}, "seed": 0}


def test_mode_and_id_under_an_agent(monkeypatch: pytest.MonkeyPatch) -> None:
    for var in ("WANDB_MODE", "WANDB_SWEEP_ID", "WANDB_RUN_ID"):
        monkeypatch.delenv(var, raising=False)
    assert (
        wandb_mode(None) == "offline"
        and wandb_mode("online") == "online"
        and agent_run_id() is None
    )
    monkeypatch.setenv("WANDB_RUN_ID", "abc")
    assert agent_run_id() is None  # an id alone is not an agent
    monkeypatch.setenv("WANDB_SWEEP_ID", "s1")
    assert (
        wandb_mode(None) == "online" and agent_run_id() == "abc"
    )  # an agent's run reaches its sweep
    monkeypatch.setenv("WANDB_MODE", "offline")
    assert wandb_mode(None) == "offline"  # the environment still wins


def test_model_artifact_uploads_small_and_references_large(tmp_path: Path) -> None:
    (tmp_path / "model.safetensors").write_bytes(b"w" * 4096)
    (tmp_path / "config.json").write_text("{}")
    (tmp_path / "README.md").write_text("card")
    small = model_artifact(tmp_path, "rid", upload_max_mb=1, description="card")
    large = model_artifact(tmp_path, "rid", upload_max_mb=0.001)
    assert small.name == "model-rid" and small.type == "model" and small.description == "card"
    assert (
        sorted(small.manifest.entries)
        == sorted(large.manifest.entries)
        == ["config.json", "model.safetensors"]
    )
    assert not any(e.ref for e in small.manifest.entries.values())
    assert all(
        e.ref == (tmp_path / n).resolve().as_uri() for n, e in large.manifest.entries.items()
    )
    assert model_artifact(tmp_path, "rid", 1).digest == small.digest  # built twice, one version


def test_overrides_lose_their_secrets(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("OPENAI_API_KEY", "sk-very-secret-value")
    got = redact_overrides(
        [
            "data.size=40",
            "judge.api_key=abc",
            "+judge.token=x",
            "judge.base_url=sk-very-secret-value",
            "judge=likert",
        ]
    )
    assert got == [
        "data.size=40",
        "judge.api_key=<redacted>",
        "+judge.token=<redacted>",
        "judge.base_url=<redacted>",
        "judge=likert",
    ]


class FakeServerRun:
    def __init__(self) -> None:
        self.tags, self.updates = ["grid:quality", "data:se_filtered"], 0

    def update(self) -> None:
        self.updates += 1


class FakeApi:
    default_entity = "me"

    def __init__(self, fail: bool = False) -> None:
        self.fail, self.paths, self.run_ = fail, [], FakeServerRun()

    def run(self, path: str) -> FakeServerRun:
        self.paths.append(path)
        if self.fail:
            raise ValueError(f"Could not find run {path}")
        return self.run_


def test_a_run_skipped_under_an_agent_tags_its_original_run_where_online(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from limalab.tracking.loggers import tag_on_server

    monkeypatch.delenv("WANDB_MODE", raising=False)
    online = {"logger": {"mode": "online", "project": "limalab"}}
    api = FakeApi()
    assert tag_on_server(online, "orig1", ["grid:quality", "grid:diversity"], api) is None
    assert api.paths == ["me/limalab/orig1"] and api.run_.updates == 1
    assert api.run_.tags == [
        "grid:quality",
        "data:se_filtered",
        "grid:diversity",
    ]  # added, none lost
    assert "ValueError: Could not find run" in tag_on_server(
        online, "orig1", ["grid:x"], FakeApi(fail=True)
    )
    monkeypatch.setenv("WANDB_MODE", "offline")
    idle = FakeApi()
    assert "offline" in tag_on_server(online, "orig1", ["grid:x"], idle) and idle.paths == []


def test_under_an_agent_offline_a_skipped_run_records_the_grid_and_starts_no_wandb_run(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture
) -> None:
    from types import SimpleNamespace

    from limalab.pipeline.run import _join_grid
    from limalab.tracking.rundir import RunDir

    monkeypatch.setenv("WANDB_SWEEP_ID", "sweep2")
    monkeypatch.setenv("WANDB_RUN_ID", "agentrun2")
    monkeypatch.setenv("WANDB_MODE", "offline")
    rd = RunDir(tmp_path / "rid")
    rd.path.mkdir()
    rd.update_provenance(grids=["quality"], wandb_id="orig1", wandb_group="quality")
    ctx = SimpleNamespace(
        rd=rd, run_id="rid", grids=["quality", "diversity"], cfg={"logger": {"wandb": True}}
    )
    _join_grid(ctx)
    assert rd.read_provenance()["grids"] == ["quality", "diversity"]
    printed = capsys.readouterr().out
    assert "is W&B run orig1; not tagged grid:quality grid:diversity (offline" in printed
    assert not (rd.path / "wandb").exists()  # never the agent's run dressed as the original
