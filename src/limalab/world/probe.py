"""Knowledge probe: does the base model complete a fact about a test entity with its value?
Greedy next-word accuracy over every fact of the test entities, in two contexts:

- ``accuracy`` (headline): inside an article about the entity, in the pronoun form answers
  use ("an article about the realm X . its capital is" -> V): what an answer can draw on;
- ``named_accuracy``: a bare cloze naming the entity ("the capital of X is" -> V).

Fine-tuning results mean little if the base never learned the facts."""

from __future__ import annotations

import json
from collections import defaultdict
from pathlib import Path

import torch
from transformers import PreTrainedTokenizerBase

from limalab.data.chat import ChatFormat
from limalab.world.corpus import INTRO
from limalab.world.knowledge import Entity, World
from limalab.world.phrasing import ANSWER, PROBE, QUESTION, mention


def _prefix(pattern: str) -> str:
    return pattern.format(e="{e}", v="\x00").split("\x00")[0].strip()


@torch.no_grad()
def knowledge_probe(
    model: torch.nn.Module,
    tokenizer: PreTrainedTokenizerBase,
    world_dir: Path,
    prompt_set: str = "test",
    batch_size: int = 256,
) -> dict:
    facts = _test_facts(world_dir, prompt_set)
    bos = [tokenizer.bos_token_id]
    out: dict = {"prompt_set": prompt_set, "n_facts": len(facts)}
    for key, context in (("", _in_article), ("named_", _named)):
        hits = _accuracy(
            model,
            tokenizer,
            [(attr, bos + _ids(tokenizer, context(e, attr)), v) for e, attr, v in facts],
            batch_size,
        )
        out |= _summary(hits, key)
    return out


@torch.no_grad()
def retention_probe(
    model: torch.nn.Module,
    chat: ChatFormat,
    world_dir: Path,
    prompt_set: str = "test",
    batch_size: int = 256,
) -> dict:
    """The same facts asked in the chat format after fine-tuning: the question, then the
    answer's own opening ("its capital is") forced, greedy next word. Did alignment keep the
    knowledge pretraining stored? (Free answers also need the format; this isolates recall.)"""
    facts = _test_facts(world_dir, prompt_set)
    items = [
        (
            attr,
            chat.encode_prompt([QUESTION[attr][0].format(e=mention(e.name, e.kind))])
            + _ids(chat.tokenizer, _prefix(ANSWER[attr])),
            v,
        )
        for e, attr, v in facts
    ]
    return {
        "prompt_set": prompt_set,
        "n_facts": len(facts),
        **_summary(_accuracy(model, chat.tokenizer, items, batch_size)),
    }


def _test_facts(world_dir: Path, prompt_set: str) -> list[tuple[Entity, str, str]]:
    """(entity, attribute, value) for every fact of the entities the prompt set asks about."""
    world = World.load(world_dir / "world.json")
    names = {
        n
        for line in (world_dir / "eval" / f"{prompt_set}.jsonl").open()
        for n in json.loads(line)["entities"]
    }
    return [
        (world.entities[n], attr, v)
        for n in sorted(names)
        for attr, v in world.entities[n].facts.items()
    ]


def _in_article(e: Entity, attr: str) -> str:
    return INTRO[e.kind][0].format(e=e.name) + " " + _prefix(ANSWER[attr])


def _named(e: Entity, attr: str) -> str:
    return _prefix(PROBE[attr]).format(e=e.name)


def _summary(hits: dict[str, list[int]], key: str = "") -> dict:
    allhits = [h for hs in hits.values() for h in hs]
    return {
        f"{key}accuracy": sum(allhits) / max(1, len(allhits)),
        f"{key}by_attribute": {a: sum(h) / len(h) for a, h in sorted(hits.items())},
    }


def _ids(tokenizer: PreTrainedTokenizerBase, text: str) -> list[int]:
    return tokenizer(text, add_special_tokens=False)["input_ids"]


def _accuracy(
    model: torch.nn.Module,
    tokenizer: PreTrainedTokenizerBase,
    facts: list[tuple[str, list[int], str]],
    batch_size: int,
) -> dict[str, list[int]]:
    items = [(attr, ids, tokenizer.convert_tokens_to_ids(v)) for attr, ids, v in facts]
    model.eval()
    hits: dict[str, list[int]] = defaultdict(list)
    for i in range(0, len(items), batch_size):
        batch = items[i : i + batch_size]
        n = max(len(ids) for _, ids, _ in batch)
        x = torch.full((len(batch), n), tokenizer.pad_token_id)
        mask = torch.zeros_like(x)
        for j, (_, ids, _) in enumerate(batch):
            x[j, n - len(ids) :] = torch.tensor(ids)  # left padding: the next word is at the end
            mask[j, n - len(ids) :] = 1
        pos = (mask.cumsum(-1) - 1).clamp(min=0)
        d = model.device
        pred = (
            model(input_ids=x.to(d), attention_mask=mask.to(d), position_ids=pos.to(d))
            .logits[:, -1]
            .argmax(-1)
        )
        for (attr, _, target), p in zip(batch, pred.tolist(), strict=True):
            hits[attr].append(int(p == target))
    return hits
