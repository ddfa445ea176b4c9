"""Run as ``python -I tests/export_check.py <model dir> <prompt>`` by tests/pipeline/test_export.py:
what a user of plain transformers does with an export, in a process where limalab cannot be
imported. Prints one JSON object of what it saw."""

import json
import sys


class NoLimalab:
    """The export must work without limalab: importing it here is an error."""

    def find_spec(self, name, path=None, target=None):
        if name.split(".")[0] == "limalab":
            raise ImportError(f"{name}: the export must load and generate without limalab")
        return None


sys.meta_path.insert(0, NoLimalab())

import torch  # noqa: E402
from transformers import AutoModelForCausalLM, AutoTokenizer, pipeline  # noqa: E402

model_dir, prompt = sys.argv[1], sys.argv[2]
tok = AutoTokenizer.from_pretrained(model_dir)
model = AutoModelForCausalLM.from_pretrained(model_dir)
eot = tok.convert_tokens_to_ids("<|eot|>")
messages = [{"role": "user", "content": prompt}]
inputs = tok.apply_chat_template(
    messages, add_generation_prompt=True, return_tensors="pt", return_dict=True
)
# A small model may not end its turns yet: a bias on EOT makes it end some of them, so the test
# sees whether generation stops there (the generation config's job) or runs on past it.
bias = {(eot,): 2.0}
torch.manual_seed(0)
out = model.generate(
    **inputs, num_return_sequences=16, sequence_bias=bias
)  # everything else: the config's
n = inputs["input_ids"].shape[1]
samples = [[t for t in seq if t != tok.pad_token_id] for seq in out[:, n:].tolist()]
pipe = pipeline("text-generation", model=model, tokenizer=tok)
torch.manual_seed(1)
chats = pipe([messages] * 8, sequence_bias=bias)
torch.manual_seed(1)
ids = pipe([messages] * 8, sequence_bias=bias, return_tensors=True)
print(
    json.dumps(
        {
            "eot": eot,
            "eos": tok.eos_token_id,
            "model_max_length": tok.model_max_length,
            "max_position_embeddings": model.config.max_position_embeddings,
            "generation_config": model.generation_config.to_dict(),
            "prompt_len": n,
            "samples": samples,
            "pipeline_replies": [c[0]["generated_text"][-1] for c in chats],
            "pipeline_ids": [r[0]["generated_token_ids"][n:] for r in ids],
            "limalab_imported": any(m.split(".")[0] == "limalab" for m in sys.modules),
        }
    )
)
