"""Any local transformers causal LM as the judge backend (``judge=hf_local``): the same rubric
and parser as the API judge, greedy decoding, so it is deterministic and cacheable."""

from __future__ import annotations

import threading
from pathlib import Path

import torch
from transformers import AutoModelForCausalLM, AutoTokenizer

from limalab.eval.judges.llm import Reply


class HFLocalBackend:
    def __init__(self, model: str, max_new_tokens: int = 256, device: str = "cpu", dtype: str = "float32") -> None:
        path = Path(model).expanduser()
        if not path.exists():
            raise FileNotFoundError(f"judge.model: {path} does not exist; expected a save_pretrained directory "
                                    "(model and tokenizer)")
        self.model = str(path)
        self.tokenizer = AutoTokenizer.from_pretrained(path)
        self.lm = AutoModelForCausalLM.from_pretrained(path, torch_dtype=getattr(torch, dtype)).to(device).eval()
        self.max_new_tokens, self.device = max_new_tokens, device
        self._lock = threading.Lock()  # one generate at a time on one model

    def _encode(self, system: str, user: str) -> list[int]:
        tok = self.tokenizer
        if tok.chat_template:
            try:
                msgs = [{"role": "system", "content": system}, {"role": "user", "content": user}]
                return list(tok.apply_chat_template(msgs, add_generation_prompt=True, tokenize=True))
            except Exception:  # templates without a system role
                msgs = [{"role": "user", "content": f"{system}\n\n{user}"}]
                return list(tok.apply_chat_template(msgs, add_generation_prompt=True, tokenize=True))
        return tok(f"{system}\n\n{user}\n\n", add_special_tokens=True)["input_ids"]

    @torch.no_grad()
    def complete(self, system: str, user: str) -> Reply:
        ids = self._encode(system, user)
        x = torch.tensor([ids], device=self.device)
        with self._lock:
            out = self.lm.generate(input_ids=x, attention_mask=torch.ones_like(x), max_new_tokens=self.max_new_tokens,
                                   do_sample=False, pad_token_id=self.tokenizer.pad_token_id or self.tokenizer.eos_token_id)
        new = out[0, len(ids):].tolist()
        return Reply(self.tokenizer.decode(new, skip_special_tokens=True), len(ids), len(new))
