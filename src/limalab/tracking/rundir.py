"""The run directory contract (DESIGN.md): one directory per run, named by its identity.

    <runs_dir>/<run_id>/
      config.yaml  provenance.json  manifest.json  checkpoints/  model/  evals/<eval_id>/
      results.json   (written last, atomically)
"""

from __future__ import annotations

import getpass
import json
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

from limalab.tracking.io import atomic_write_json, atomic_write_text
from limalab.versions import PIPELINE_VERSION, RUBRIC_VERSION, WORLD_VERSION

# config keys that hold secrets (not "max_new_tokens" or "eot_token": those are settings)
SECRET_KEY = re.compile(r"(api[_-]?key|secret|passw(or)?d|credential|(access|auth|hf|api|bearer)[_-]?token|^token$)", re.I)
# environment variables whose values are secrets: OPENAI_API_KEY, HF_TOKEN, WANDB_API_KEY, ...
SECRET_ENV = re.compile(r"(KEY|TOKEN|SECRET|PASSWORD|CREDENTIALS?)$", re.I)
PACKAGES = ("limalab", "torch", "pytorch-lightning", "transformers", "tokenizers", "datasets", "hydra-core",
            "wandb", "optuna")


@dataclass(frozen=True)
class RunDir:
    path: Path

    config = property(lambda self: self.path / "config.yaml")
    provenance = property(lambda self: self.path / "provenance.json")
    manifest = property(lambda self: self.path / "manifest.json")
    checkpoints = property(lambda self: self.path / "checkpoints")
    model = property(lambda self: self.path / "model")
    evals = property(lambda self: self.path / "evals")
    results = property(lambda self: self.path / "results.json")

    def read_results(self) -> dict | None:
        if not self.results.exists():
            return None
        data = json.loads(self.results.read_text())
        return data if data.get("status") == "complete" else None


def redact(obj: Any) -> Any:
    """Drop values of secret-looking keys, and any value equal to a secret in the environment."""
    secrets = {v for k, v in os.environ.items() if (SECRET_ENV.search(k) or SECRET_KEY.search(k)) and len(v) >= 8}
    if isinstance(obj, dict):
        return {k: "<redacted>" if SECRET_KEY.search(str(k)) else redact(v) for k, v in obj.items()}
    if isinstance(obj, list):
        return [redact(v) for v in obj]
    if isinstance(obj, str) and obj in secrets:
        return "<redacted>"
    return obj


def write_config(rd: RunDir, cfg: dict[str, Any]) -> None:
    atomic_write_text(rd.config, yaml.safe_dump(redact(cfg), sort_keys=False))


def git_state() -> dict[str, Any]:
    def git(*args: str) -> str:
        return subprocess.run(["git", *args], capture_output=True, text=True, timeout=10,
                              cwd=Path(__file__).parent).stdout.strip()

    try:
        sha = git("rev-parse", "HEAD")
        return {"git_sha": sha or None, "git_dirty": bool(git("status", "--porcelain", "--untracked-files=no"))}
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
        "versions": {"world": WORLD_VERSION, "pipeline": PIPELINE_VERSION, "rubric": RUBRIC_VERSION},
        "packages": versions,
        "python": platform.python_version(),
        "host": socket.gethostname(),
        "user": getpass.getuser(),
        **extra,
    }


def update_provenance(rd: RunDir, **fields: Any) -> dict:
    data = json.loads(rd.provenance.read_text()) if rd.provenance.exists() else {}
    data.update(fields)
    atomic_write_json(rd.provenance, data)
    return data


def now() -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%S%z")
