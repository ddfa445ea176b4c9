"""Any local transformers causal LM as the judge backend (``judge=hf_local``): the same rubric
and parser as the API judge, greedy decoding, so it is deterministic and cacheable. torch and
transformers load when the backend is built, not when the judge registry is read."""

from __future__ import annotations

import threading
from typing import Annotated, Any, Literal

from pydantic import Field

from limalab.config.schema import PluginOptions
from limalab.eval.judges.interface import BACKENDS, JUDGES, backend_options
from limalab.eval.judges.llm import LikertJudge, LikertOptions, Reply


def load_causal_lm(model: str, dtype: str = "float32") -> tuple[Any, Any]:
    """(tokenizer, model) from a ``save_pretrained`` directory or a ``.gguf`` file (read by
    transformers with the ``gguf`` package, dequantised to ``dtype``)."""
    from limalab.model import checkpoint

    return checkpoint.load_tokenizer(model, "judge.model"), checkpoint.load_causal_lm(
        model, dtype, "judge.model"
    )


class HFLocalOptions(PluginOptions):
    """``judge.backend=hf_local``: a transformers causal LM on this machine."""

    model: Annotated[str, Field(min_length=1)]  # a save_pretrained directory or a .gguf file
    max_new_tokens: Annotated[int, Field(ge=1)] = 256
    device: str = "cpu"
    dtype: Literal["float32", "bfloat16", "float16"] = "float32"


@JUDGES.register("hf_local", options=LikertOptions)
class HFLocalJudge(LikertJudge):
    """The Likert judge on a local transformers model (``conf/judge/hf_local.yaml``)."""

    default_backend = "hf_local"


@BACKENDS.register("hf_local", options=HFLocalOptions)
class HFLocalBackend:
    supports_response_format = False  # free text, read by the rubric's parser

    def __init__(
        self, model: str, max_new_tokens: int = 256, device: str = "cpu", dtype: str = "float32"
    ) -> None:
        self.model = model
        self.tokenizer, lm = load_causal_lm(model, dtype)
        self.lm = lm.to(device).eval()
        self.max_new_tokens, self.device = max_new_tokens, device
        self._lock = threading.Lock()  # one generate at a time on one model

    @classmethod
    def from_config(cls, cfg: dict[str, Any]) -> HFLocalBackend:
        o = backend_options("hf_local", cfg)
        return cls(o.model, o.max_new_tokens, o.device, o.dtype)

    def _encode(self, system: str, user: str) -> list[int]:
        tok = self.tokenizer
        if tok.chat_template:
            try:
                msgs = [{"role": "system", "content": system}, {"role": "user", "content": user}]
                text = tok.apply_chat_template(msgs, add_generation_prompt=True, tokenize=False)
            except Exception:  # templates without a system role
                msgs = [{"role": "user", "content": f"{system}\n\n{user}"}]
                text = tok.apply_chat_template(msgs, add_generation_prompt=True, tokenize=False)
            return tok(text, add_special_tokens=False)["input_ids"]
        return tok(f"{system}\n\n{user}\n\n", add_special_tokens=True)["input_ids"]

    def complete(self, system: str, user: str) -> Reply:
        import torch

        ids = self._encode(system, user)
        x = torch.tensor([ids], device=self.device)
        with self._lock, torch.no_grad():
            out = self.lm.generate(
                input_ids=x,
                attention_mask=torch.ones_like(x),
                max_new_tokens=self.max_new_tokens,
                do_sample=False,
                pad_token_id=self.tokenizer.pad_token_id or self.tokenizer.eos_token_id,
            )
        new = out[0, len(ids) :].tolist()
        return Reply(self.tokenizer.decode(new, skip_special_tokens=True), len(ids), len(new))
