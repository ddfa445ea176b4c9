"""``analysis --source wandb``: runs come back from a W&B project's ``run-results`` artifacts in
the run-directory layout, and the analysis reads them exactly as it reads a local directory.
The W&B API is replaced by a stand-in serving a real smoke run's files (no network here)."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from analysis import summarize
from analysis.runs_dir import download_runs
from limalab.tracking.loggers import RESULTS_ARTIFACT_TYPE
from tests.conftest import the_run


class FakeArtifact:
    def __init__(self, run_dir: Path, kind: str = RESULTS_ARTIFACT_TYPE) -> None:
        self.run_dir, self.type = run_dir, kind
        self.metadata = {"run_id": run_dir.name}
        self.downloads = 0

    def download(
        self, root: str
    ) -> str:  # what the artifact holds: the files log_results_artifact adds
        self.downloads += 1
        out = Path(root)
        out.mkdir(parents=True)
        for name in ("config.yaml", "manifest.json", "results.json"):
            shutil.copy(self.run_dir / name, out / name)
        shutil.copytree(self.run_dir / "evals", out / "evals")
        return root


class FakeRun:
    def __init__(self, name: str, arts: list[FakeArtifact]) -> None:
        self.name, self._arts = name, arts

    def logged_artifacts(self) -> list[FakeArtifact]:
        return self._arts


class FakeApi:
    def __init__(self, runs: list[FakeRun]) -> None:
        self._runs, self.queries = runs, []

    def runs(self, path: str, filters: dict) -> list[FakeRun]:
        self.queries.append((path, filters))
        return self._runs


def test_wandb_runs_analyse_like_local_ones(smoke_run, tmp_path: Path) -> None:
    work, _ = smoke_run
    rd = the_run(work / "runs")
    art = FakeArtifact(rd)
    api = FakeApi([FakeRun("unfinished", []), FakeRun(rd.name, [FakeArtifact(rd, "dataset"), art])])
    dest = download_runs("me", "limalab", tmp_path / "from-wandb", group="quantity", api=api)
    assert api.queries == [
        ("me/limalab", {"$or": [{"group": "quantity"}, {"tags": {"$in": ["grid:quantity"]}}]})
    ]
    assert summarize.collect(dest) == summarize.collect(work / "runs")
    download_runs("me", "limalab", dest, api=api)
    assert art.downloads == 1  # already there: not downloaded again
    assert json.loads((dest / rd.name / "results.json").read_text())["status"] == "complete"


def test_an_empty_project_is_a_clear_error(tmp_path: Path) -> None:
    with pytest.raises(SystemExit, match="me/empty: no run has a run-results artifact"):
        download_runs("me", "empty", tmp_path, api=FakeApi([FakeRun("x", [])]))


def test_cli_needs_entity_and_project(tmp_path: Path) -> None:
    with pytest.raises(SystemExit, match="--source wandb needs --entity and --project"):
        summarize.main([str(tmp_path), "--source", "wandb"])
