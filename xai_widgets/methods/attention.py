"""Attention of vision transformers: the class token's attention map at one encoder block, and
attention rollout through all blocks.

Both read a model built from ``nn.MultiheadAttention`` blocks (torchvision's
``VisionTransformer`` and anything like it) without changing it: the attention modules' inputs
are recorded by a pre-hook (:func:`~xai_widgets.hooks.attention_inputs`) and the weights
recomputed from the modules' own projections (:mod:`.attention_math`), since a ViT calls its
attention with ``need_weights=False``. One forward pass, no gradient; the maps do not depend on
the explained class. The map is the class token's row over the patch tokens, as the patch grid
(N, h, w), upsampled to the input for the heatmap.

Example::

    xw.explain(vit, x, "attention", layer=-1, head="mean").heatmap      # (N, H, W)
    xw.explain(vit, x, "attention_rollout", discard_ratio=0.9)
    attention_heads(vit, x, layer=-1)                                   # (N, heads, h, w)
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import nn

from ..hooks import attention_inputs, borrowed
from ..layers import encoder_blocks, layer_name, model_memo, token_grids
from ..targets import Target
from ..tokens import TokenGrid
from .attention_math import FUSIONS, attention_weights, fuse_heads, rollout, unsupported
from .registry import Method, param, register

__all__ = ["Attention", "AttentionRollout", "attention_heads", "attention_modules", "head_count"]

MAX_HEADS = 16
HEADS = (*FUSIONS, *(str(i) for i in range(MAX_HEADS)))
SUITED = (
    "for this model use a method of the gradient, CAM or perturbation family "
    "(e.g. 'grad_cam', 'integrated_gradients', 'occlusion')"
)


def attention_modules(model: nn.Module) -> list[str]:
    """Dotted names of the model's ``nn.MultiheadAttention`` modules, in module order."""

    def find() -> tuple[str, ...]:
        return tuple(n for n, m in model.named_modules() if isinstance(m, nn.MultiheadAttention))

    return list(model_memo(model, ("attention_modules",), find))


def head_count(model: nn.Module) -> int:
    """The most attention heads of any block of ``model`` (0 without attention): the head
    indices a picker offers for it."""
    return max((model.get_submodule(n).num_heads for n in attention_modules(model)), default=0)


def _no_attention(owner: str, model: nn.Module) -> str:
    return (
        f"{owner}: {type(model).__name__} has no attention module (nn.MultiheadAttention), "
        f"so it has no attention to show; attention maps need a vision transformer; {SUITED}"
    )


def _check_modules(owner: str, model: nn.Module) -> list[str]:
    names = attention_modules(model)
    if not names:
        raise ValueError(_no_attention(owner, model))
    for name in names:
        reason = unsupported(model.get_submodule(name))
        if reason:
            raise ValueError(f"{owner}: layer {name!r}: {reason}")
    return names


def _grid(model: nn.Module, x: torch.Tensor, owner: str, length: int) -> TokenGrid:
    """The patch grid of ``length`` tokens, from the model's token outputs; it needs a class
    token (prefix >= 1), whose attention is the map."""
    for grid in token_grids(model, x).values():
        if grid.prefix >= 1 and grid.prefix + grid.h * grid.w == length:
            return grid
    raise ValueError(
        f"{owner}: the attention has {length} tokens, which are not a class token and a patch "
        "grid of this model's patch embedding; the class token's attention map needs both"
    )


def _run(model: nn.Module, x: torch.Tensor, target: Target, names: list[str]) -> dict:
    """One forward without gradients recording the named attention modules' inputs; binds
    ``target`` on the output."""
    with attention_inputs(model, names) as calls, torch.no_grad():
        output = model(x)
    if not target.bound:
        target.bind(output)
    return calls


def _block_index(model: nn.Module, layer: object, owner: str) -> int:
    """The attention module a ``layer`` value names: an int index into the blocks (-1: the
    last), a block, a module inside one, or an attention module itself ("": the last)."""
    names = _check_modules(owner, model)
    blocks = encoder_blocks(model)
    if isinstance(layer, str) and layer in blocks:  # resolved already
        return blocks.index(layer)
    shown = ", ".join(repr(b) for b in blocks)
    if isinstance(layer, int) and not isinstance(layer, bool):
        if not -len(names) <= layer < len(names):
            raise ValueError(
                f"{owner}: parameter 'layer' is block index {layer}, but the model has "
                f"{len(names)} blocks; accepted: {-len(names)} to {len(names) - 1} or a block "
                f"name ({shown})"
            )
        return layer % len(names)
    name = layer_name(model, layer)  # type: ignore[arg-type]
    if name is None:
        return len(names) - 1
    for i, (block, attention) in enumerate(zip(blocks, names, strict=True)):
        if name in (block, attention) or name.startswith(block + "."):
            return i
    raise ValueError(
        f"{owner}: parameter 'layer' is {name!r}, which is not in an encoder block; "
        f"accepted: a block index (-1 = the last) or one of {shown}"
    )


def _check_head(owner: str, head: object, heads: int) -> str | int:
    if isinstance(head, str) and head in FUSIONS:
        return head
    index = int(head) if isinstance(head, (str, int)) and str(head).lstrip("-").isdigit() else None
    if index is None or isinstance(head, bool) or not 0 <= index < heads:
        raise ValueError(
            f"{owner}: parameter 'head' is {head!r}, but the block has {heads} heads; accepted: "
            f"{', '.join(map(repr, FUSIONS))} or a head index 0 to {heads - 1}"
        )
    return index


def attention_heads(model: nn.Module, x: torch.Tensor, layer: int | str = -1) -> torch.Tensor:
    """The class token's attention to the patches at one block, every head: (N, heads, h, w).
    ``x`` (N, C, H, W) on the model's device; the model is left unchanged."""
    with borrowed(model):
        index = _block_index(model, layer, "attention_heads")
        names = attention_modules(model)
        calls = _run(model, x, Target.from_spec(None, x.shape[0]), [names[index]])
        query, key, masks = calls[names[index]]
        weights = attention_weights(model.get_submodule(names[index]), query, key, masks)
        return _row_grid(model, x, weights[:, :, :1], "attention_heads")


def _row_grid(model: nn.Module, x: torch.Tensor, rows: torch.Tensor, owner: str) -> torch.Tensor:
    """(N, ..., 1, L) class-token rows -> (N, ..., h, w) maps over the patch grid."""
    grid = _grid(model, x, owner, rows.shape[-1])
    return rows[..., 0, grid.prefix :].unflatten(-1, (grid.h, grid.w))


@register(
    "attention",
    label="Attention map",
    family="attention",
    tip=(
        "Where the class token looks at one encoder block of a vision transformer, per head "
        "or fused; the same for every class."
    ),
)
@dataclass(frozen=True)
class Attention(Method):
    """Attention map (Dosovitskiy et al. 2021, Fig. 6; Caron et al. 2021): the class token's
    attention to the patch tokens at block ``layer``,
    a_h = softmax(q_cls k^T / sqrt(d))_h over the patches, for head ``head`` or fused over the
    heads (mean, max, min): (N, h, w) at the patch grid.

    Example: ``explain(vit, x, "attention", layer=-1, head="2")``.
    """

    layer: str | int | nn.Module = param(
        "", kind="layer", help="encoder block whose attention is shown ('' = the last block)"
    )
    head: str | int = param(
        "mean", choices=HEADS, help="one attention head by index, or the heads' mean, max or min"
    )

    space = "layer"
    signed = False
    gradients = False

    @classmethod
    def accepts_value(cls, name: str, value: object, owner: str) -> bool:
        """An int block index for ``layer`` and an int head index for ``head``."""
        return name in ("layer", "head") and isinstance(value, int) and not isinstance(value, bool)

    def resolve_layer(self, model: nn.Module, x: torch.Tensor) -> str:
        """The block's dotted name (``layer`` checked against the model, before any work)."""
        index = _block_index(model, self.layer, self.name)
        mha = model.get_submodule(attention_modules(model)[index])
        _check_head(self.name, self.head, mha.num_heads)
        return encoder_blocks(model)[index]

    def unavailable(self, model, x, cache) -> str:
        try:
            self.resolve_layer(model, x)
        except ValueError as error:
            return str(error)
        return ""

    def __call__(self, model, x, target, progress=None, cache=None):
        names = attention_modules(model)
        blocks = encoder_blocks(model)
        index = (
            blocks.index(self.layer)
            if isinstance(self.layer, str) and self.layer in blocks
            else _block_index(model, self.layer, self.name)
        )
        name = names[index]
        mha = model.get_submodule(name)
        head = _check_head(self.name, self.head, mha.num_heads)
        query, key, masks = _run(model, x, target, [name])[name]
        weights = attention_weights(mha, query, key, masks, rows=slice(0, 1))
        return _row_grid(model, x, fuse_heads(weights, head), self.name)


@register(
    "attention_rollout",
    label="Attention rollout",
    family="attention",
    tip=(
        "The attention of the class token followed through all blocks, counting the skip "
        "connections: which patches flow into the decision; the same for every class."
    ),
)
@dataclass(frozen=True)
class AttentionRollout(Method):
    """Attention rollout (Abnar & Zuidema 2020, "Quantifying Attention Flow in Transformers"):
    R = prod_l norm(0.5 A_l + 0.5 I), A_l the heads fused (mean, max, min) with the lowest
    ``discard_ratio`` of entries dropped; the map is R's class-token row over the patches.

    Example: ``explain(vit, x, "attention_rollout", head_fusion="max", discard_ratio=0.9)``.
    """

    head_fusion: str = param(
        "mean", choices=FUSIONS, help="how each block's heads are fused: mean, max or min"
    )
    discard_ratio: float = param(
        0.0, min=0.0, max=0.99, step=0.01, help="fraction of the weakest attentions dropped"
    )

    space = "layer"
    signed = False
    gradients = False

    def check_input(self, x: torch.Tensor) -> None:
        """Nothing beyond the declared bounds; the model is checked in ``resolve_layer``."""

    def resolve_layer(self, model: nn.Module, x: torch.Tensor) -> None:
        _check_modules(self.name, model)

    def unavailable(self, model, x, cache) -> str:
        names = attention_modules(model)
        return "" if names else _no_attention(self.name, model)

    def __call__(self, model, x, target, progress=None, cache=None):
        names = _check_modules(self.name, model)
        calls = _run(model, x, target, names)
        fused = []
        for i, name in enumerate(names):
            query, key, masks = calls[name]
            # the class token's row of the product needs only the last block's class row
            rows = slice(0, 1) if i == len(names) - 1 and not self.discard_ratio else None
            weights = attention_weights(model.get_submodule(name), query, key, masks, rows)
            fused.append(fuse_heads(weights, self.head_fusion))
        return _row_grid(model, x, rollout(fused, self.discard_ratio, row=0), self.name)
