"""Document-masked ("varlen") attention: in a packed row each example attends only to itself, so
a row holding examples of n₁…n_k tokens costs Σnᵢ² attention, not the row width squared.

``trainer.attn_implementation=varlen`` (the default) selects it; importing this module registers
it with transformers' ``AttentionInterface``. The example boundaries come in the forward's
``cu_seq_lens_q`` / ``max_length_q`` keywords (the names transformers' flash-attention path and
its ``DataCollatorWithFlattening`` use), which the flat layout writes (data/batching.py); without
them they are read off position ids that restart at 0. A batch with a padding mask
(evaluation, generation) or a KV cache goes through SDPA unchanged, so a trained model keeps
working everywhere.

Kernels, by device and dtype:
- CUDA, bf16/fp16: flash-attn's ``flash_attn_varlen_func`` when that package is installed,
  else PyTorch's own varlen flash kernel (``torch.nn.attention.varlen.varlen_attn``).
- elsewhere (CPU; fp32 on a GPU): SDPA (``is_causal``, no mask) per group of examples: a long
  example alone (a view of the row), short ones of similar length right-padded into one batch.
  ``segment_groups`` picks the groups with a cost model over the lengths alone (never by
  timing): padded attention pairs against the fixed cost of one more kernel call.
"""

from __future__ import annotations

import functools
import importlib.util
from dataclasses import dataclass

import torch
import torch.nn.functional as F
from transformers import AttentionInterface
from transformers.integrations.sdpa_attention import sdpa_attention_forward
from transformers.masking_utils import ALL_MASK_ATTENTION_FUNCTIONS, sdpa_mask

from limalab.data.batching import VARLEN_ATTENTION

try:  # PyTorch >= 2.9; CUDA only
    from torch.nn.attention.varlen import varlen_attn
except ImportError:  # pragma: no cover - older PyTorch: grouped SDPA everywhere
    varlen_attn = None

NAME = VARLEN_ATTENTION[0]
HAS_FLASH_ATTN = importlib.util.find_spec("flash_attn") is not None

# The grouping cost model, in units of one query-key pair of attention at head width (heads ×
# head dim) 128, forward + backward: ~45 ns a pair on one core of the project's CPU. A group's
# kernel call (SDPA forward + backward and its views) measured 50-350 µs there (1 thread idle
# to 2 threads shared): 4,000 pairs is taken, fewer as heads widen. A padded slot is copied in
# and out with the real ones: ~20 pairs.
CALL_COST_PAIRS_X128 = 4000.0
SLOT_COST_PAIRS = 20.0


@dataclass(frozen=True)
class Group:
    """Segments (indices into the batch's segments) that share one SDPA call, padded to
    ``width``."""

    segments: tuple[int, ...]
    width: int


def segment_groups(lengths: list[int], head_width: int) -> list[Group]:
    """Split the segments into groups of similar length minimising the modelled cost: a group of
    k segments padded to width L costs k·L² pairs, its padded slots, and one call. Exact dynamic
    programme over the segments sorted by length (a group is a run of that order), O(n²) in the
    number of segments."""
    order = sorted(range(len(lengths)), key=lambda i: (-lengths[i], i))
    n = len(order)
    call = CALL_COST_PAIRS_X128 * 128 / max(head_width, 1)
    best = [0.0] + [float("inf")] * n  # best[j]: cost of the first j segments of the order
    cut = [0] * (n + 1)
    for j in range(1, n + 1):
        real = 0
        for i in range(j - 1, -1, -1):  # last group = order[i:j], padded to the length of order[i]
            real += lengths[order[i]]
            k, width = j - i, lengths[order[i]]
            cost = best[i] + k * width * width + call + SLOT_COST_PAIRS * (k * width - real)
            if cost < best[j]:
                best[j], cut[j] = cost, i
    groups, j = [], n
    while j:
        i = cut[j]
        groups.append(Group(tuple(order[i:j]), lengths[order[i]]))
        j = i
    return groups[::-1]


@dataclass(frozen=True)
class _Plan:
    """Index tensors for one set of boundaries (every layer of a step shares them): ``gather``
    lays the tokens out group after group, each segment right-padded to its group's width
    (padding slots repeat a token of the segment: under the causal mask no real query sees
    them); ``scatter`` picks each token's row back out of that layout."""

    shapes: list[tuple[int, int]]  # (segments, width) per group
    gather: torch.Tensor
    scatter: torch.Tensor


@functools.lru_cache(maxsize=8)
def _plan(lengths: tuple[int, ...], head_width: int, device: torch.device) -> _Plan:
    starts = [0]
    for n in lengths:
        starts.append(starts[-1] + n)
    shapes, gather, scatter = [], [], [0] * starts[-1]
    for g in segment_groups(list(lengths), head_width):
        for s in g.segments:
            n = lengths[s]
            scatter[starts[s] : starts[s] + n] = range(len(gather), len(gather) + n)
            gather.extend([*range(starts[s], starts[s] + n), *[starts[s]] * (g.width - n)])
        shapes.append((len(g.segments), g.width))
    return _Plan(shapes, torch.tensor(gather, device=device), torch.tensor(scatter, device=device))


# host-planned (lengths on the host): eager under compile, a clean graph break
@torch.compiler.disable
def grouped_sdpa(
    q: torch.Tensor,
    k: torch.Tensor,
    v: torch.Tensor,
    lengths: list[int],
    scale: float | None,
    dropout: float,
) -> torch.Tensor:
    """Causal attention within each segment. q: (T, H, D), k/v: (T, H_kv, D) -> (T, H, D).
    One gather lays every group out padded, one SDPA call runs per group, one index picks the
    tokens back: a handful of operations per group whatever it holds, so a step of many short
    examples costs few kernel launches."""
    plan = _plan(tuple(lengths), q.shape[1] * q.shape[2], q.device)
    sizes = [count * width for count, width in plan.shapes]
    gqa = q.shape[1] != k.shape[1]
    outs = []
    for qs, ks, vs, (count, width) in zip(
        *(x.index_select(0, plan.gather).split(sizes) for x in (q, k, v)), plan.shapes, strict=True
    ):
        qs, ks, vs = (x.view(count, width, *x.shape[1:]).transpose(1, 2) for x in (qs, ks, vs))
        o = F.scaled_dot_product_attention(
            qs, ks, vs, is_causal=True, scale=scale, dropout_p=dropout, enable_gqa=gqa
        )
        outs.append(o.transpose(1, 2).reshape(count * width, *q.shape[1:]))
    return torch.cat(outs).index_select(0, plan.scatter)


def cuda_varlen(
    q: torch.Tensor,
    k: torch.Tensor,
    v: torch.Tensor,
    cu: torch.Tensor,
    max_len: int,
    scale: float | None,
) -> torch.Tensor:
    """flash-attn's varlen kernel when installed, else PyTorch's; (T, H, D) layout, causal."""
    cu = cu.to(torch.int32)
    if HAS_FLASH_ATTN:
        from flash_attn import flash_attn_varlen_func

        return flash_attn_varlen_func(
            q, k, v, cu, cu, max_len, max_len, causal=True, softmax_scale=scale
        )
    return varlen_attn(
        q,
        k,
        v,
        cu,
        cu,
        max_len,
        max_len,
        scale=scale,
        window_size=(-1, 0),
        enable_gqa=q.shape[1] != k.shape[1],
    )


def flash_varlen_applies(q: torch.Tensor, dropout: float) -> bool:
    """The flash varlen kernels run on CUDA in bf16/fp16, without dropout."""
    return (
        (HAS_FLASH_ATTN or varlen_attn is not None)
        and q.is_cuda
        and q.dtype in (torch.bfloat16, torch.float16)
        and not dropout
    )


def boundaries(position_ids: torch.Tensor) -> torch.Tensor:
    """cu_seqlens over the flattened rows: a segment starts wherever the position does not count
    up by one (a host sync: callers that can should pass ``cu_seq_lens_q``)."""
    pos = position_ids.reshape(-1)
    starts = torch.ones_like(pos, dtype=torch.bool)
    starts[1:] = pos[1:] != pos[:-1] + 1
    cu = torch.nonzero(starts).flatten()
    return torch.cat([cu, cu.new_tensor([pos.numel()])])


def varlen_attention(
    module: torch.nn.Module,
    query: torch.Tensor,
    key: torch.Tensor,
    value: torch.Tensor,
    attention_mask: torch.Tensor | None,
    scaling: float | None = None,
    dropout: float = 0.0,
    **kwargs,
) -> tuple[torch.Tensor, None]:
    """transformers' attention signature: query (B, H, T, D), key/value (B, H_kv, T, D) ->
    ((B, T, H, D), None)."""
    cu, position_ids = kwargs.get("cu_seq_lens_q"), kwargs.get("position_ids")
    if (
        attention_mask is not None
        or query.shape[2] != key.shape[2]
        or (cu is None and position_ids is None)
    ):
        return sdpa_attention_forward(
            module, query, key, value, attention_mask, scaling=scaling, dropout=dropout, **kwargs
        )
    b, h, t, d = query.shape
    if cu is None:
        cu = boundaries(position_ids.expand(b, t))
    q, k, v = (x.transpose(1, 2).reshape(b * t, x.shape[1], d) for x in (query, key, value))
    if flash_varlen_applies(q, dropout):
        max_len = kwargs.get("max_length_q")  # from the collate; under compile a symbolic int
        if max_len is None:
            max_len = int((cu[1:] - cu[:-1]).max())
        out = cuda_varlen(q, k, v, cu, max_len, scaling)
    else:
        out = grouped_sdpa(q, k, v, (cu[1:] - cu[:-1]).tolist(), scaling, dropout)
    return out.view(b, t, h, d), None


def varlen_mask(*args, attention_mask: torch.Tensor | None = None, **kwargs) -> torch.Tensor | None:
    """No mask for packed rows (the boundaries say it all, and a T×T mask is what we avoid); a
    padding mask, when given, becomes SDPA's."""
    if attention_mask is None:
        return None
    return sdpa_mask(*args, attention_mask=attention_mask, **kwargs)


AttentionInterface.register(NAME, varlen_attention)
ALL_MASK_ATTENTION_FUNCTIONS.register(NAME, varlen_mask)
