"""What the stages of one run share: the config, the run directory, and the resources built on
first use (world, tokenizer, base model, judge, loggers), so a stage that is skipped builds
nothing it does not need."""

from __future__ import annotations

import time
import uuid
from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path
from typing import Any

import pytorch_lightning as pl
import torch
from pytorch_lightning.plugins.environments import LightningEnvironment
from transformers import PreTrainedTokenizerBase

from limalab.data.chat import ChatFormat
from limalab.data.example import Example
from limalab.eval.judges import build_judge, ground_truth_judge
from limalab.eval.spec import size_max_new_tokens
from limalab.model.base import load_base
from limalab.model.checkpoint import chat_tokenizer
from limalab.model.dropout import add_residual_dropout
from limalab.model.strategy import split_trainer_config
from limalab.ranks import worker_rank
from limalab.tracking.loggers import agent_run_id, make_loggers, run_group
from limalab.tracking.rundir import RunDir, redact
from limalab.world.build import WorldConfig, build_world, load_world
from limalab.world.pretrain import base_probe, pretrained_base
from limalab.world.tokenizer import world_tokenizer


class StageFailed(Exception):
    """A stage ended without a valid result (e.g. ``judge_failed``): the run is recorded with
    this status, the exit code is non-zero, and a rerun redoes only what is missing."""

    def __init__(self, stage: str, status: str, reason: str) -> None:
        super().__init__(f"stage {stage}: {status}: {reason}")
        self.stage, self.status, self.reason = stage, status, reason


@dataclass
class RunContext:
    cfg: dict[str, Any]
    rd: RunDir
    run_id: str
    callbacks: list[pl.Callback] = field(
        default_factory=list
    )  # join the Trainer's (e.g. Optuna pruning)
    launch: dict[str, Any] = field(
        default_factory=dict
    )  # how it was launched: Hydra dir, overrides, multirun
    t0: float = field(default_factory=time.time)
    worker: bool = field(default_factory=lambda: worker_rank() != 0)
    # what the stages hand on (each also lives in the run directory)
    examples: list[Example] = field(default_factory=list)
    rows: list[tuple[list[int], list[int]]] = field(default_factory=list)
    manifest: dict[str, Any] = field(default_factory=dict)
    records: dict[str, dict] = field(default_factory=dict)  # stage name -> its record

    @property
    def cache_dir(self) -> Path:
        return Path(self.cfg["cache_dir"])

    @property
    def miniature(self) -> bool:
        return self.cfg["model"]["source"] == "miniature"

    @cached_property
    def world_dir(self) -> Path:
        return build_world(WorldConfig(**self.cfg["world"]), self.cache_dir)

    @cached_property
    def world(self) -> Any:
        return load_world(self.world_dir)

    @cached_property
    def trainer_kwargs(self) -> tuple[dict[str, Any], dict[str, Any]]:
        """(Lightning Trainer kwargs, limalab's trainer extras)."""
        return split_trainer_config(self.cfg["trainer"])

    @cached_property
    def tokenizer(self) -> PreTrainedTokenizerBase:
        m = self.cfg["model"]
        if (
            m["source"] == "checkpoint"
        ):  # a real model: its own tokenizer, with EOT and chat template added
            return chat_tokenizer(m["path"], m["eot_token"])
        return world_tokenizer(self.world_dir, self.cache_dir, m["eot_token"])

    @cached_property
    def chat(self) -> ChatFormat:
        return ChatFormat(self.tokenizer, self.cfg["model"]["eot_token"])

    @cached_property
    def base_dir(self) -> Path | None:
        """The pretrained miniature base (built once, cached); ``None`` for real checkpoints and
        the random-init control."""
        m = self.cfg["model"]
        if m["source"] != "miniature" or m["init"] != "pretrained":
            return None
        tkw = {
            k: v for k, v in self.trainer_kwargs[0].items() if k not in ("strategy", "num_nodes")
        }
        # one process with its own environment: in a SLURM job of several tasks, SLURM's would ask
        # for all
        return pretrained_base(
            m,
            self.world_dir,
            self.tokenizer,
            self.cache_dir,
            tkw | {"devices": 1, "plugins": [LightningEnvironment()]},
        )

    @property
    def base_name(self) -> str | None:
        return self.base_dir.name if self.base_dir else self.cfg["model"].get("path")

    @cached_property
    def probe(self) -> dict:
        return (
            base_probe(self.cfg["model"], self.base_dir, self.world_dir, self.cache_dir)
            if self.base_dir
            else {}
        )

    @cached_property
    def judge(self) -> Any:
        judge = build_judge(self.cfg["judge"], world=self.world, cache_dir=self.cache_dir)
        if not getattr(judge, "grades", True):
            raise ValueError(
                f"judge={self.cfg['judge']['name']} compares two runs: train with a grading judge, "
                "then python src/evaluate.py run_dir=<a> compare_to=<b> judge=pairwise"
            )
        return judge

    @cached_property
    def reference(self) -> Any:
        """The ground truth an LLM judge is validated against (the miniature's world)."""
        return ground_truth_judge(self.world)

    @cached_property
    def wandb_id(self) -> str:
        """The run's W&B id: a W&B agent's (under an agent wandb uses no other: the run directory
        adopts the latest agent's, and provenance keeps every id it had in ``wandb_ids``), else the
        one it was first given (so a resumed run continues its W&B run), else a new one."""
        return agent_run_id() or self.rd.read_provenance().get("wandb_id") or uuid.uuid4().hex[:12]

    @cached_property
    def wandb_group(self) -> str:
        """A run keeps the W&B group it was first logged in (a W&B run has one group)."""
        return self.rd.read_provenance().get("wandb_group") or run_group(self.cfg, self.launch)

    @cached_property
    def grids(self) -> list[str]:
        """Every ablation (``logger.group``) that launched this run: one ``grid:`` tag each."""
        group = (self.cfg.get("logger") or {}).get("group")
        return list(
            dict.fromkeys(
                [*self.rd.read_provenance().get("grids", []), *([group] if group else [])]
            )
        )

    @cached_property
    def loggers(self) -> list:
        if self.worker:
            return []
        return make_loggers(
            self.rd.path,
            self.run_id,
            self.wandb_id,
            self.cfg,
            redact(self.cfg),
            self.launch,
            self.grids,
            self.wandb_group,
        )

    @cached_property
    def max_new_tokens(self) -> int:
        """The generation limit of every evaluation of this run (set, or sized from the data)."""
        resp = [sum(1 for t in lab if t != -100) for _, lab in self.rows]
        return size_max_new_tokens(self.cfg["eval"], resp, int(self.cfg["train"]["max_length"]))

    def fresh_model(self) -> torch.nn.Module:
        """The model to fine-tune (base, random init or checkpoint), with the run's dropout."""
        model = load_base(self.cfg["model"], self.base_dir, self.tokenizer, self.cfg["seed"])
        add_residual_dropout(model, float(self.cfg["model"]["residual_dropout"]))
        return model

    def eval_device(self) -> torch.device:
        """Generation runs on one device: the first GPU when training used GPUs, else the CPU."""
        tkw = self.trainer_kwargs[0]
        gpu = tkw.get("accelerator") in ("gpu", "cuda") or (
            tkw.get("accelerator") == "auto" and torch.cuda.is_available()
        )
        return torch.device("cuda", 0) if gpu and torch.cuda.is_available() else torch.device("cpu")

    def weights(self, path: Path) -> torch.nn.Module:
        """A fresh model holding the weights of a snapshot file, on the eval device."""
        model = self.fresh_model()
        model.load_state_dict(torch.load(path, map_location="cpu", weights_only=True))
        return model.to(self.eval_device()).eval()
