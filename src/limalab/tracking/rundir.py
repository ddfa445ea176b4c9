"""The run directory contract (DESIGN.md, docs/rundir.md): one directory per run, named by its
identity, read and written only through ``RunDir``.

    <runs_dir>/<run_id>/
      config.yaml  provenance.json  manifest.json  checkpoints/  model/  evals/<eval_id>/
      stages/<stage>.json   one record per finished stage: status, what it wrote (SHA-256), facts
      results.json          written when the run ends: status complete, or why not
"""

from __future__ import annotations

import getpass
import logging
import os
import platform
import re
import socket
import subprocess
import time
from dataclasses import dataclass
from importlib import metadata
from pathlib import Path
from typing import Any

import yaml

from limalab.tracking.io import (
    CorruptFile,
    atomic_write_json,
    atomic_write_text,
    file_sha256,
    read_json,
)
from limalab.versions import PIPELINE_VERSION, RUBRIC_VERSION, WORLD_VERSION

log = logging.getLogger(__name__)

# config keys that hold secrets (not "max_new_tokens" or "eot_token": those are settings)
SECRET_KEY = re.compile(
    r"(api[_-]?key|secret|passw(or)?d|credential|(access|auth|hf|api|bearer)[_-]?token|^token$)",
    re.I,
)
# environment variables whose values are secrets: OPENAI_API_KEY, HF_TOKEN, WANDB_API_KEY, ...
SECRET_ENV = re.compile(r"(KEY|TOKEN|SECRET|PASSWORD|CREDENTIALS?)$", re.I)
PACKAGES = (
    "limalab",
    "torch",
    "pytorch-lightning",
    "transformers",
    "tokenizers",
    "datasets",
    "hydra-core",
    "wandb",
    "optuna",
)


STAGE_RECORD_VERSION = 1


@dataclass(frozen=True)
class RunDir:
    path: Path

    config = property(lambda self: self.path / "config.yaml")
    provenance = property(lambda self: self.path / "provenance.json")
    manifest = property(lambda self: self.path / "manifest.json")
    checkpoints = property(lambda self: self.path / "checkpoints")
    model = property(lambda self: self.path / "model")
    evals = property(lambda self: self.path / "evals")
    stages = property(lambda self: self.path / "stages")
    results = property(lambda self: self.path / "results.json")

    def read_results(self) -> dict | None:
        """The results of a complete run, else ``None`` (unfinished, failed or unreadable: the
        run is simply not complete, and rerunning it redoes what is missing)."""
        data = self._read_optional(self.results)
        return data if data and data.get("status") == "complete" else None

    def read_any_results(self) -> dict | None:
        return self._read_optional(self.results)

    def write_results(self, results: dict[str, Any]) -> None:
        atomic_write_json(self.results, results)

    def read_config(self) -> dict[str, Any]:
        try:
            data = yaml.safe_load(self.config.read_text())
        except (OSError, yaml.YAMLError) as e:
            raise CorruptFile(
                f"{self.config}: unreadable run config ({e}); "
                "rerun the run's train.py command (force=true) to rewrite it"
            ) from None
        if not isinstance(data, dict):
            raise CorruptFile(f"{self.config}: expected a mapping of config groups")
        return data

    def read_provenance(self) -> dict[str, Any]:
        return self._read_optional(self.provenance) or {}

    def update_provenance(self, **fields: Any) -> dict:
        data = self.read_provenance()
        data.update(fields)
        atomic_write_json(self.provenance, data)
        return data

    def read_manifest(self) -> dict | None:
        return self._read_optional(self.manifest)

    def write_manifest(self, manifest: dict[str, Any]) -> None:
        atomic_write_json(self.manifest, manifest)

    # --- stage records
    def stage_record(self, stage: str) -> dict | None:
        """A finished stage's record if every file it lists is unchanged, else ``None``."""
        path = self.stages / f"{stage}.json"
        record = self._read_optional(path)
        if record is None:
            return None
        for rel, want in record.get("outputs", {}).items():
            p = self.path / rel
            if (
                not p.is_file()
                or p.stat().st_size != want["size"]
                or file_sha256(p) != want["sha256"]
            ):
                log.warning(
                    "stage %s of run %s: %s is missing or changed since it was written: redoing "
                    "the stage",
                    stage,
                    self.path.name,
                    rel,
                )
                return None
        return record

    def write_stage(
        self, stage: str, status: str, outputs: list[Path] | None = None, **facts: Any
    ) -> dict:
        """Record a finished stage: its status, the files it wrote (size, SHA-256) and its facts."""
        record = {
            "stage": stage,
            "status": status,
            "version": STAGE_RECORD_VERSION,
            "finished_at": now(),
            "outputs": {
                str(p.relative_to(self.path)): {"size": p.stat().st_size, "sha256": file_sha256(p)}
                for p in sorted(outputs or [])
            },
            **facts,
        }
        atomic_write_json(self.stages / f"{stage}.json", record)
        return record

    def _read_optional(self, path: Path) -> dict | None:
        """A JSON record of this run: ``None`` if absent; a corrupt one is set aside (``.corrupt``)
        with a warning, so the stage that wrote it runs again."""
        if not path.exists():
            return None
        try:
            data = read_json(path)
            if not isinstance(data, dict):
                raise CorruptFile(f"{path}: expected a JSON object")
            return data
        except CorruptFile as e:
            aside = path.with_name(path.name + ".corrupt")
            path.replace(aside)
            log.warning("%s (kept as %s): it will be written again", e, aside.name)
            return None

    def set_aside(self) -> Path:
        """force=true: the run's files move to ``<runs_dir>/.replaced/<id>-<n>/`` (kept, not
        deleted), so the run starts from scratch in its own directory."""
        replaced = self.path.parent / ".replaced"
        n = len(list(replaced.glob(f"{self.path.name}-*"))) if replaced.exists() else 0
        dest = replaced / f"{self.path.name}-{n}"
        dest.mkdir(parents=True)
        for p in self.path.iterdir():
            if p.name != ".lock":
                p.rename(dest / p.name)
        return dest


def redact(obj: Any) -> Any:
    """Drop values of secret-looking keys, and any value equal to a secret in the environment."""
    secrets = {
        v
        for k, v in os.environ.items()
        if (SECRET_ENV.search(k) or SECRET_KEY.search(k)) and len(v) >= 8
    }
    if isinstance(obj, dict):
        return {k: "<redacted>" if SECRET_KEY.search(str(k)) else redact(v) for k, v in obj.items()}
    if isinstance(obj, list):
        return [redact(v) for v in obj]
    if isinstance(obj, str) and obj in secrets:
        return "<redacted>"
    return obj


def redact_overrides(overrides: list[str]) -> list[str]:
    """Command-line overrides (``key=value``) with the values of secret keys, and any value equal
    to a secret in the environment, redacted (they go to provenance.json and W&B)."""
    out = []
    for o in overrides:
        key, eq, value = o.partition("=")
        secret = (
            SECRET_KEY.search(key.lstrip("+~").rsplit(".", 1)[-1]) or redact(value) == "<redacted>"
        )
        out.append(f"{key}{eq}<redacted>" if eq and secret else o)
    return out


def write_config(rd: RunDir, cfg: dict[str, Any]) -> None:
    atomic_write_text(rd.config, yaml.safe_dump(redact(cfg), sort_keys=False))


def git_state() -> dict[str, Any]:
    def git(*args: str) -> str:
        return subprocess.run(
            ["git", *args], capture_output=True, text=True, timeout=10, cwd=Path(__file__).parent
        ).stdout.strip()

    try:
        sha = git("rev-parse", "HEAD")
        return {
            "git_sha": sha or None,
            "git_dirty": bool(git("status", "--porcelain", "--untracked-files=no")),
        }
    except (OSError, subprocess.SubprocessError):
        return {"git_sha": None, "git_dirty": None}


def provenance(extra: dict[str, Any]) -> dict[str, Any]:
    versions = {}
    for p in PACKAGES:
        try:
            versions[p] = metadata.version(p)
        except metadata.PackageNotFoundError:
            versions[p] = None
    return {
        **git_state(),
        "versions": {
            "world": WORLD_VERSION,
            "pipeline": PIPELINE_VERSION,
            "rubric": RUBRIC_VERSION,
        },
        "packages": versions,
        "python": platform.python_version(),
        "host": socket.gethostname(),
        "user": getpass.getuser(),
        **extra,
    }


def now() -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%S%z")
