"""The varlen attention's GPU kernels, exercised on CPU: the flash varlen paths (PyTorch's
``varlen_attn``, flash-attn's ``flash_attn_varlen_func``) are replaced by a reference that
honours exactly the arguments they receive (token-major layout, int32 boundaries, longest
length, causal window, GQA, scale), so the plumbing around them is checked against SDPA on
unpacked examples; and batches with a padding mask or a cache go through SDPA unchanged."""

from __future__ import annotations

import sys
import types

import pytest
import torch
import torch.nn.functional as F
from transformers import LlamaConfig, LlamaForCausalLM

from limalab.data.batching import flat_batch
from limalab.model import attention
from tests.conftest import TINY_GQA_LLAMA
from tests.data.test_batching import examples


def reference_varlen(
    q,
    k,
    v,
    cu_q,
    cu_k,
    max_q,
    max_k,
    *,
    scale=None,
    window_size=(-1, -1),
    enable_gqa=False,
    causal=None,
    softmax_scale=None,
):
    """What a varlen flash kernel computes, from the arguments it is given."""
    assert q.dim() == 3 and cu_q.dtype == torch.int32 and torch.equal(cu_q, cu_k) and max_q == max_k
    lengths = (cu_q[1:] - cu_q[:-1]).tolist()
    assert max_q == max(lengths)
    is_causal = causal if causal is not None else tuple(window_size) == (-1, 0)
    assert is_causal
    gqa = enable_gqa or causal is not None  # flash-attn takes GQA implicitly
    outs = []
    for qs, ks, vs in zip(q.split(lengths), k.split(lengths), v.split(lengths), strict=True):
        o = F.scaled_dot_product_attention(
            qs.transpose(0, 1),
            ks.transpose(0, 1),
            vs.transpose(0, 1),
            is_causal=True,
            scale=scale if causal is None else softmax_scale,
            enable_gqa=gqa,
        )
        outs.append(o.transpose(0, 1))
    return torch.cat(outs)


def tiny(attn: str) -> LlamaForCausalLM:
    torch.manual_seed(0)
    cfg = LlamaConfig(**TINY_GQA_LLAMA)
    m = LlamaForCausalLM(cfg).eval()
    m.set_attn_implementation(attn)
    return m


def unpacked_logits(rows: list) -> torch.Tensor:
    m = tiny("sdpa")
    with torch.no_grad():
        return torch.cat(
            [m(input_ids=torch.tensor([ids]), use_cache=False).logits[0] for ids, _ in rows]
        )


@pytest.mark.parametrize("kernel", ["torch", "flash_attn"])
def test_gpu_varlen_paths_compute_per_example_attention(
    kernel: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    calls = []

    def record(*args, **kwargs):
        calls.append(args[5])  # the longest length
        return reference_varlen(*args, **kwargs)

    monkeypatch.setattr(attention, "flash_varlen_applies", lambda q, dropout: True)
    if kernel == "flash_attn":
        monkeypatch.setattr(attention, "HAS_FLASH_ATTN", True)
        monkeypatch.setitem(
            sys.modules, "flash_attn", types.SimpleNamespace(flash_attn_varlen_func=record)
        )
    else:
        monkeypatch.setattr(attention, "varlen_attn", record)
    rows = examples(7, seed=11)
    batch = flat_batch(rows, 0, pad_to_multiple_of=16)
    with torch.no_grad():
        out = tiny("varlen")(
            input_ids=batch["input_ids"],
            position_ids=batch["position_ids"],
            use_cache=False,
            cu_seq_lens_q=batch["cu_seq_lens_q"],
            cu_seq_lens_k=batch["cu_seq_lens_k"],
            max_length_q=batch["max_length_q"],
            max_length_k=batch["max_length_k"],
        ).logits[0]
    real = batch["example_index"][0] >= 0
    assert torch.allclose(out[real], unpacked_logits(rows), atol=1e-5)
    assert calls == [batch["max_length_q"]] * 2  # once per layer, with the collate's longest length


def test_padded_and_cached_batches_go_through_sdpa() -> None:
    rows = [ids for ids, _ in examples(5, seed=2)]
    width = max(map(len, rows))
    ids = torch.tensor([[0] * (width - len(r)) + r for r in rows])  # left padding, as in generation
    mask = (torch.arange(width) >= torch.tensor([width - len(r) for r in rows])[:, None]).long()
    with torch.no_grad():
        got = tiny("varlen")(input_ids=ids, attention_mask=mask, use_cache=False).logits
        ref = tiny("sdpa")(input_ids=ids, attention_mask=mask, use_cache=False).logits
    assert torch.allclose(got[mask.bool()], ref[mask.bool()], atol=1e-6)
    prompt = torch.tensor([rows[0]])
    out = tiny("varlen").generate(prompt, max_new_tokens=6, do_sample=False)
    assert torch.equal(out, tiny("sdpa").generate(prompt, max_new_tokens=6, do_sample=False))
