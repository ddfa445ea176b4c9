"""A word-level tokenizer for the miniature, trained with ``tokenizers`` and saved as a
transformers tokenizer with the chat template and the end-of-turn token.

Word-level keeps every invented name one token (MINIATURE-PROBE.md: names split into pieces
are much harder for a model this small). Real checkpoints bring their own tokenizer and go
through the same chat code.
"""

from __future__ import annotations

from pathlib import Path

from tokenizers import Regex, Tokenizer, decoders, models, normalizers, pre_tokenizers, trainers
from transformers import PreTrainedTokenizerFast

NEWLINE = "¶"  # newlines become a word of their own: lists and paragraphs are format
SPECIAL = {"pad_token": "<pad>", "unk_token": "<unk>", "bos_token": "<s>", "eos_token": "</s>"}
USER, ASSISTANT = "<|user|>", "<|assistant|>"

# Each turn: role marker, content, end-of-turn. Mirrors limalab.data.chat.encode_dialogue, which
# tokenizes each piece alone: the one space after the marker is where a SentencePiece tokenizer
# puts its word-start mark on a piece's first word, so the template gives the same ids.
CHAT_TEMPLATE = (
    "{{ bos_token }}{% for m in messages %}{{ '<|' + m['role'] + '|>' }}{% if m['role'] == "
    "'assistant' %}{% generation %}{{ ' ' + m['content'] }}{{ eot_token }}{% endgeneration %}{% "
    "else %}{{ ' ' + m['content'] }}{{ eot_token }}{% endif %}{% endfor %}{% if "
    "add_generation_prompt %}{{ '<|assistant|>' }}{% endif %}"
)


def train_word_tokenizer(
    files: list[Path], out_dir: Path, eot: str = "<|eot|>"
) -> PreTrainedTokenizerFast:
    tok = Tokenizer(models.WordLevel(unk_token=SPECIAL["unk_token"]))
    tok.normalizer = normalizers.Sequence(
        [
            normalizers.NFKC(),
            normalizers.Lowercase(),
            normalizers.Replace(Regex(r"\r?\n"), f" {NEWLINE} "),
        ]
    )
    tok.pre_tokenizer = pre_tokenizers.Sequence(
        [pre_tokenizers.WhitespaceSplit(), pre_tokenizers.Punctuation()]
    )
    tok.decoder = decoders.Sequence(
        [decoders.Replace(NEWLINE, "\n"), decoders.WordPiece(cleanup=True)]
    )
    specials = [*SPECIAL.values(), USER, ASSISTANT, eot]
    trainer = trainers.WordLevelTrainer(
        special_tokens=specials, min_frequency=1, vocab_size=1_000_000
    )
    tok.train([str(f) for f in files], trainer)
    hf = PreTrainedTokenizerFast(
        tokenizer_object=tok, **SPECIAL, additional_special_tokens=[USER, ASSISTANT, eot]
    )
    hf.chat_template = CHAT_TEMPLATE.replace("eot_token", repr(eot))
    hf.init_kwargs["eot_token"] = eot
    hf.save_pretrained(out_dir)
    return hf
