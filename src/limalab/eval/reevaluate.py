"""``src/evaluate.py``: evaluate an existing run again — another judge, other prompts, other
decoding, or a pairwise comparison with another run — from its exported model, writing new
``evals/<eval_id>/`` directories beside the old ones and never touching ``results.json``."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import yaml
from omegaconf import OmegaConf
from transformers import AutoModelForCausalLM, AutoTokenizer

from limalab.data.chat import ChatFormat
from limalab.data.messages import ConversationError, prompt_fields
from limalab.eval.dialogue import evaluate_dialogue
from limalab.eval.evaluate import cached_generations, evaluate
from limalab.eval.judges import ReferenceJudge, build_judge
from limalab.tracking.io import atomic_write_json, config_hash, read_jsonl, write_jsonl
from limalab.tracking.rundir import RunDir
from limalab.world.build import WorldConfig, build_world, load_world


class RunState:
    """What a completed run offers for evaluation: its config, exported model and checkpoint id."""

    def __init__(self, path: str | Path) -> None:
        self.rd = RunDir(Path(path))
        self.results = self.rd.read_results()
        if self.results is None:
            raise FileNotFoundError(f"run_dir: {self.rd.path} holds no complete run (no results.json with status complete)")
        self.cfg = yaml.safe_load(self.rd.config.read_text())
        default = self.rd.evals / self.results["default_eval"] / "summary.json"
        self.checkpoint = json.loads(default.read_text())["checkpoint"]
        self._chat: ChatFormat | None = None
        self._model = None

    def load(self) -> tuple[Any, ChatFormat]:
        if self._model is None:
            tok = AutoTokenizer.from_pretrained(self.rd.model)
            self._chat = ChatFormat(tok, tok.init_kwargs.get("eot_token", self.cfg["model"].get("eot_token", "<|eot|>")))
            self._model = AutoModelForCausalLM.from_pretrained(self.rd.model).eval()
        return self._model, self._chat


def load_prompts(cfg: dict[str, Any], world_dir: Path) -> tuple[list[dict], str, str]:
    """(rows, sha, name): ``prompts=<jsonl>`` if given, else the world's ``eval.prompt_set``."""
    if cfg.get("prompts"):
        path = Path(cfg["prompts"]).expanduser()
        if not path.exists():
            raise FileNotFoundError(f"prompts: {path} does not exist")
        rows = []
        for n, row in enumerate(read_jsonl(path), start=1):
            try:  # a `prompt`, or a conversation ending on a user turn (LIMA's test file, chat files)
                fields = prompt_fields(row)
            except ConversationError as e:
                raise ValueError(f"{path}: line {n}: {e}") from None
            rows.append({"prompt_id": str(row.get("prompt_id", row.get("id", n))), "type": row.get("type"),
                         **row, **fields})
        name = path.stem
    else:
        path = world_dir / "eval" / f"{cfg['eval']['prompt_set']}.jsonl"
        rows, name = read_jsonl(path), cfg["eval"]["prompt_set"]
    mp = cfg["eval"].get("max_prompts")
    if mp and mp < len(rows):
        rows = [rows[i * len(rows) // mp] for i in range(mp)]
    return rows, config_hash(rows, length=16), name


def run_eval_config(run_eval: dict[str, Any], overrides: list[str]) -> dict[str, Any]:
    """The run's own eval settings with the command line's ``eval.*`` overrides applied."""
    merged = OmegaConf.merge(OmegaConf.create({"eval": run_eval}), OmegaConf.from_dotlist(overrides))
    return OmegaConf.to_container(merged, resolve=True)["eval"]


def reevaluate(cfg: dict[str, Any], eval_overrides: list[str] | None = None) -> dict:
    run = RunState(cfg["run_dir"])
    cfg = {**cfg, "eval": run_eval_config(run.cfg["eval"], eval_overrides or [])}
    cache_dir = Path(cfg["cache_dir"])
    world_dir = build_world(WorldConfig(**run.cfg["world"]), cache_dir)
    world = load_world(world_dir)
    prompts, sha, name = load_prompts(cfg, world_dir)
    from_world = not cfg.get("prompts")
    if cfg["judge"]["name"] == "reference" and not from_world and not all("entities" in p for p in prompts):
        raise ValueError("judge=reference grades against the world's facts: it needs the world's prompt sets "
                         "(eval.prompt_set), not prompts=<file>; use judge=likert or judge=hf_local")
    judge = build_judge(cfg["judge"], world=world, cache_dir=cache_dir)
    e = cfg["eval"]
    spec = {"prompt_set": name, "k": e["k"], "decoding": dict(e["decoding"]),
            "max_new_tokens": e["max_new_tokens"] if isinstance(e.get("max_new_tokens"), int) else run.results["max_new_tokens"],
            "seed": e["seed"], "few_shot": 0, "max_prompts": e.get("max_prompts"), "backend": e.get("backend", "hf")}
    if cfg.get("compare_to"):
        return compare(run, RunState(cfg["compare_to"]), prompts, sha, spec, judge, e.get("batch_size", 16))
    if not hasattr(judge, "judge"):
        raise ValueError("judge=pairwise compares two runs: add compare_to=<run_dir>")
    model, chat = run.load()
    if prompts and "turns" in prompts[0]:  # conversations: played and judged turn by turn
        return evaluate_dialogue(run.rd.path, model, chat, prompts, run.checkpoint, spec, judge, e.get("batch_size", 16))
    reference = ReferenceJudge(world) if from_world else None
    return evaluate(run.rd.path, model, chat, prompts, sha, run.checkpoint, spec, judge, None,
                    e.get("batch_size", 16), reference, run.rd.model)


def compare(a: RunState, b: RunState, prompts: list[dict], sha: str, spec: dict, judge: Any, batch_size: int) -> dict:
    """Pairwise preference of run a over run b on the same prompts and samples, both orders."""
    if not hasattr(judge, "compare_all"):
        raise ValueError("compare_to needs judge=pairwise")
    gens = {}
    for run in (a, b):  # each run's own generations for this spec, made once
        try:
            gens[run] = cached_generations(run.rd.path, None, None, prompts, sha, run.checkpoint, spec, None, batch_size)[0]
        except FileNotFoundError:
            model, chat = run.load()
            gens[run] = cached_generations(run.rd.path, model, chat, prompts, sha, run.checkpoint, spec, None,
                                           batch_size)[0]
    cid = config_hash({"a": a.checkpoint, "b": b.checkpoint, "prompts": sha, "spec": spec, "judge": judge.id})
    d = a.rd.evals / f"pairwise-{cid}"
    if (d / "summary.json").exists():
        return json.loads((d / "summary.json").read_text())
    by_id = {p["prompt_id"]: p for p in prompts}
    gb = {(g["prompt_id"], g["sample"]): g for g in gens[b]}
    pairs = [(ga, gb[(ga["prompt_id"], ga["sample"])]) for ga in gens[a] if (ga["prompt_id"], ga["sample"]) in gb]
    verdicts = judge.compare_all([(by_id[x["prompt_id"]], x["response"], y["response"]) for x, y in pairs])
    rows = [{"prompt_id": x["prompt_id"], "sample": x["sample"], **v} for (x, _), v in zip(pairs, verdicts, strict=True)]
    d.mkdir(parents=True, exist_ok=True)
    write_jsonl(d / "pairs.jsonl", rows)
    valid = [r for r in rows if r["outcome"] is not None]
    both = [r for r in valid if r["ab"] is not None and r["ba"] is not None]
    n = len(valid) or 1
    summary = {
        "eval_id": d.name, "judge": judge.id, "a": str(a.rd.path), "b": str(b.rd.path), **spec,
        "n_pairs": len(rows), "n_invalid": len(rows) - len(valid),
        "win": sum(r["outcome"] == "win" for r in valid) / n, "tie": sum(r["outcome"] == "tie" for r in valid) / n,
        "loss": sum(r["outcome"] == "loss" for r in valid) / n,
        "position_flip_rate": (sum(r["flipped"] for r in both) / len(both)) if both else None,
        "first_position_preferred": (sum((r["ab"] == "A") + (r["ba"] == "A") for r in both) / (2 * len(both))) if both else None,
    }
    if getattr(judge, "usage", None) is not None:
        summary["judge_usage"] = judge.usage.to_dict()
    atomic_write_json(d / "summary.json", summary)
    return summary
