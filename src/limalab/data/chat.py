"""Chat formatting: role markers, an end-of-turn token after every utterance, and loss on the
assistant's tokens only. Turns are tokenized one by one and concatenated, so the prompt mask
is exact for any tokenizer (no guessing where a re-tokenized prefix ends)."""

from __future__ import annotations

from dataclasses import dataclass

from transformers import PreTrainedTokenizerBase

from limalab.data.word_tokenizer import ASSISTANT, USER

IGNORE = -100


@dataclass(frozen=True)
class ChatFormat:
    tokenizer: PreTrainedTokenizerBase
    eot: str = "<|eot|>"

    @property
    def eot_id(self) -> int:
        return self.tokenizer.convert_tokens_to_ids(self.eot)

    def _ids(self, text: str) -> list[int]:
        return self.tokenizer(text, add_special_tokens=False)["input_ids"]

    def encode_dialogue(self, turns: list[str], max_length: int) -> tuple[list[int], list[int]]:
        """``turns`` alternate user/assistant. Returns (input_ids, labels), trimmed to
        ``max_length`` (LIMA trims longer texts); labels are IGNORE outside assistant turns."""
        tok = self.tokenizer
        ids = [tok.bos_token_id] if tok.bos_token_id is not None else []
        labels = [IGNORE] * len(ids)
        for i, text in enumerate(turns):
            marker = self._ids(USER if i % 2 == 0 else ASSISTANT)
            body = self._ids(text) + [self.eot_id]
            ids += marker + body
            labels += [IGNORE] * len(marker) + (body if i % 2 == 1 else [IGNORE] * len(body))
        return ids[:max_length], labels[:max_length]

    def encode_prompt(self, turns: list[str]) -> list[int]:
        """A generation prompt: the dialogue so far (ending with a user turn) and the
        assistant marker."""
        ids, _ = self.encode_dialogue(turns, max_length=10**9)
        return ids + self._ids(ASSISTANT)
