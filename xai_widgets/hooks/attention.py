"""Read what ``nn.MultiheadAttention`` modules are called with, without changing them.

torchvision's ViT calls its attention with ``need_weights=False`` (the fused
``scaled_dot_product_attention`` path), so the weights are never returned. A forward pre-hook
with keyword arguments records each call's query, key and masks; the weights are recomputed
from them and the module's own projection (:mod:`xai_widgets.methods.attention`). The module
runs exactly as it would without the hook: its arguments and output are untouched.

Example::

    with borrowed(model), attention_inputs(model, names) as calls, torch.no_grad():
        logits = model(x)
    query, key, masks = calls[names[-1]]
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from typing import Any

import torch
from torch import nn

__all__ = ["AttentionCall", "attention_inputs"]

AttentionCall = tuple[torch.Tensor, torch.Tensor, dict[str, Any]]
"""(query, key, {"attn_mask": ..., "key_padding_mask": ..., "is_causal": ...}) of one call."""

_MASKS = ("key_padding_mask", "attn_mask", "is_causal")
_POSITIONS = {"key_padding_mask": 3, "need_weights": 4, "attn_mask": 5, "is_causal": 7}


@contextmanager
def attention_inputs(model: nn.Module, names: Sequence[str]) -> Iterator[dict[str, AttentionCall]]:
    """Within the block, record the last call of each named ``nn.MultiheadAttention``:
    ``calls[name] = (query, key, masks)`` as passed (detached). Hooks removed in ``finally``."""
    calls: dict[str, AttentionCall] = {}
    handles = []

    def make_hook(name: str) -> Callable:
        def hook(_module: nn.Module, args: tuple, kwargs: dict) -> None:
            query = args[0] if args else kwargs["query"]
            key = args[1] if len(args) > 1 else kwargs.get("key", query)
            masks = {}
            for mask in _MASKS:
                at = _POSITIONS[mask]
                value = args[at] if len(args) > at else kwargs.get(mask)
                if value is not None and value is not False:
                    masks[mask] = value.detach() if isinstance(value, torch.Tensor) else value
            calls[name] = (query.detach(), key.detach(), masks)

        return hook

    try:
        for name in names:
            module = model.get_submodule(name)
            if not isinstance(module, nn.MultiheadAttention):
                raise TypeError(
                    f"layer {name!r} is {type(module).__name__}, not MultiheadAttention"
                )
            handles.append(module.register_forward_pre_hook(make_hook(name), with_kwargs=True))
        yield calls
    finally:
        for handle in handles:
            handle.remove()
