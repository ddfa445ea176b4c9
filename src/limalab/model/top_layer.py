"""The top decoder layer computed where the loss reads it: after its attention, the residual
stream is gathered at the positions that carry a label, and the post-attention norm, the MLP and
the final norm run there only (``trainer.prune_top_layer``, on by default).

Exact: attention still reads every position's keys and values, and everything after it in the
top layer is position-wise, so each kept position gets the value the full layer gives it (the
loss and gradients match the unpruned model to float rounding; tests/model/test_top_layer.py). It is
the same idea as ``logits_to_keep`` (transformers skips the LM head at unlabelled positions)
carried one layer down: prompt tokens skip the top MLP, about a third of a layer's FLOPs for the
miniature's widths. The gain is one layer's share: ~8 % for a 2-layer model at 72 % labelled
tokens, under 1 % for a 32-layer one.

The layer's class is swapped for a subclass whose forward takes the positions in the keyword
``limalab_keep`` (``data.batching.label_nll`` passes it to a model marked as pruned;
transformers' decoder loop hands it down); parameter names and the model class
stay stock, so snapshots and ``save_pretrained`` are unchanged, and a call without the keyword
(generation, evaluation with a padding mask) runs the stock forward.
"""

from __future__ import annotations

import functools

import torch
from transformers.modeling_utils import slice_logits_to_keep

from limalab.data.batching import KEEP, PRUNED_TOP_LAYER


@functools.cache
def _pruned_class(layer_class: type) -> type:
    """A subclass of the decoder layer's class (cached, so every model shares it; FSDP2 may
    subclass it again, hence the explicit stock forward rather than ``super()``)."""

    def forward(self, hidden_states: torch.Tensor, *args, **kwargs) -> torch.Tensor:
        keep = kwargs.pop(KEEP, None)
        if keep is None:
            return layer_class.forward(self, hidden_states, *args, **kwargs)
        attn, _ = self.self_attn(self.input_layernorm(hidden_states), *args, **kwargs)
        hidden_states = slice_logits_to_keep(hidden_states + attn, keep)  # (rows, kept, hidden)
        return hidden_states + self.mlp(self.post_attention_layernorm(hidden_states))

    return type(f"TopLayer{layer_class.__name__}", (layer_class,), {"forward": forward})


def prune_top_layer(model: torch.nn.Module) -> None:
    """Swap the top decoder layer of a LLaMA-style model (``model.model.layers``) in place."""
    top = model.model.layers[-1]
    if not getattr(model, PRUNED_TOP_LAYER, False):
        top.__class__ = _pruned_class(type(top))
        setattr(model, PRUNED_TOP_LAYER, True)
