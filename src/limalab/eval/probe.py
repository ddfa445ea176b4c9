"""Knowledge probe: does the base model complete "the capital of X is" with X's capital?
Greedy next-word accuracy over every fact of the test entities. Fine-tuning results mean
little if the base never learned the facts."""

from __future__ import annotations

import json
from collections import defaultdict
from pathlib import Path

import torch
from transformers import PreTrainedTokenizerBase

from limalab.world.knowledge import World
from limalab.world.phrasing import PROBE


@torch.no_grad()
def knowledge_probe(model: torch.nn.Module, tokenizer: PreTrainedTokenizerBase, world_dir: Path,
                    prompt_set: str = "test", batch_size: int = 256) -> dict:
    world = World.load(world_dir / "world.json")
    names = {n for line in (world_dir / "eval" / f"{prompt_set}.jsonl").open()
             for n in json.loads(line)["entities"]}
    items = []
    for n in sorted(names):
        for attr, v in world.entities[n].facts.items():
            cloze = PROBE[attr].format(e=n, v="\x00").split("\x00")[0].strip()
            items.append((attr, [tokenizer.bos_token_id, *tokenizer(cloze, add_special_tokens=False)["input_ids"]],
                          tokenizer.convert_tokens_to_ids(v)))
    model.eval()
    hits: dict[str, list[int]] = defaultdict(list)
    for i in range(0, len(items), batch_size):
        batch = items[i : i + batch_size]
        n = max(len(ids) for _, ids, _ in batch)
        x = torch.full((len(batch), n), tokenizer.pad_token_id)
        mask = torch.zeros_like(x)
        for j, (_, ids, _) in enumerate(batch):
            x[j, n - len(ids):] = torch.tensor(ids)  # left padding: the next word is at the end
            mask[j, n - len(ids):] = 1
        pos = (mask.cumsum(-1) - 1).clamp(min=0)
        pred = model(input_ids=x, attention_mask=mask, position_ids=pos).logits[:, -1].argmax(-1)
        for (attr, _, target), p in zip(batch, pred.tolist(), strict=True):
            hits[attr].append(int(p == target))
    allhits = [h for hs in hits.values() for h in hs]
    return {"accuracy": sum(allhits) / max(1, len(allhits)), "n_facts": len(allhits), "prompt_set": prompt_set,
            "by_attribute": {a: sum(h) / len(h) for a, h in sorted(hits.items())}}
