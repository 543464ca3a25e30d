"""Layers addressed as the user sees them in ``print(model)``: dotted ``named_modules()`` names.

Example::

    >>> spatial_layers(model, x)            # one dry forward, nothing kept
    [('features.0', (1, 16, 32, 32)), ..., ('features', (1, 64, 8, 8))]
    >>> layer_name(model, model.features[3])
    'features.3'
"""

from __future__ import annotations

import difflib
import weakref
from collections.abc import Callable, Iterable
from typing import TypeVar

import torch
from torch import nn

from .dryrun import DryRun, dry_run, is_spatial
from .hooks.borrow import submodules
from .layouts import NCHW, POOLING, nchw_perm
from .tokens import TokenGrid

__all__ = [
    "default_layer",
    "encoder_blocks",
    "input_channels",
    "is_spatial",
    "last_spatial_layer",
    "layer_name",
    "model_device",
    "model_dtype",
    "model_memo",
    "nchw_perms",
    "not_spatial_error",
    "picker_layers",
    "resolve_spatial_layer",
    "spatial_layers",
    "token_grids",
]

LayerRef = str | nn.Module | None
T = TypeVar("T")

# The one per-model memo: model -> {(kind, key..., structure signature): value}.
_MEMO: weakref.WeakKeyDictionary[nn.Module, dict] = weakref.WeakKeyDictionary()
_MEMO_SIZE = 64
_POOLING = POOLING


def model_memo(model: nn.Module, key: tuple, compute: Callable[[], T]) -> T:
    """``compute()`` once per ``model`` and ``key`` (plus the model's module structure, so a
    replaced submodule invalidates it); at most 64 entries per model, oldest dropped first;
    failures are not memoized. Entries go with the model (weak keys)."""
    full = (*key, tuple(map(id, submodules(model))))
    memo = _MEMO.setdefault(model, {})
    if full not in memo:
        value = compute()
        if len(memo) >= _MEMO_SIZE:
            memo.pop(next(iter(memo)))
        memo[full] = value
    return memo[full]


def model_device(model: nn.Module, fallback: torch.device | None = None) -> torch.device:
    """The device of the model's first parameter or buffer (``fallback`` or CPU if it has none)."""
    for tensor in model.parameters():
        return tensor.device
    for tensor in model.buffers():
        return tensor.device
    return fallback if fallback is not None else torch.device("cpu")


def model_dtype(model: nn.Module) -> torch.dtype:
    """The model's floating dtype: of its first floating parameter, else of its first floating
    buffer, else float32. Inputs are cast to it (a float64 or bfloat16 model just works)."""
    for tensor in model.parameters():
        if tensor.is_floating_point():
            return tensor.dtype
    for tensor in model.buffers():
        if tensor.is_floating_point():
            return tensor.dtype
    return torch.float32


def input_channels(model: nn.Module) -> int | None:
    """Channels the first convolution expects, or None when the model has no convolution;
    a model that says it (an int ``input_channels`` attribute, as
    :class:`~xai_widgets.dense.OneInput` does for the input it explains) is taken at its word."""
    said = getattr(model, "input_channels", None)
    if isinstance(said, int) and not isinstance(said, bool):
        return said
    for module in model.modules():
        if isinstance(module, nn.modules.conv._ConvNd):
            return int(module.in_channels)
    return None


def layer_name(model: nn.Module, layer: LayerRef) -> str | None:
    """Resolve a dotted name or a submodule to its dotted name; ``None``/``""`` stays None.

    Raises ValueError for a name that is not in ``model.named_modules()`` (suggesting close
    names) or a module that is not part of the model, TypeError for anything else.
    """
    if layer is None or layer == "":
        return None
    if isinstance(layer, nn.Module):
        for name, module in model.named_modules():
            if module is layer and name:
                return name
        raise ValueError(
            f"the given {type(layer).__name__} module is not a submodule of the model; pass one "
            "of the model's own modules or its dotted name from model.named_modules()"
        )
    if not isinstance(layer, str):
        raise TypeError(
            f"layer must be a dotted name (str) or a submodule, not {type(layer).__name__}"
        )
    try:
        model.get_submodule(layer)  # walks the dotted path: no full traversal
        return layer
    except AttributeError:
        pass
    names = [name for name, _ in model.named_modules() if name]
    close = difflib.get_close_matches(layer, names, n=5, cutoff=0.5)
    hint = f"; did you mean {', '.join(map(repr, close))}?" if close else ""
    shown = ", ".join(names[:12]) + (", ..." if len(names) > 12 else "")
    raise ValueError(f"unknown layer {layer!r}{hint} (layers of this model: {shown})")


def not_spatial_error(
    owner: str, name: str, shape: tuple[int, ...], spatial: list[str] | None = None
) -> ValueError:
    """The one error for a layer whose output is not a spatial (N, C, h, w) map; it lists the
    spatial layers when they are known."""
    if spatial is None:
        choose = "see xai_widgets.spatial_layers(model, x)"
    else:
        shown = ", ".join(spatial[:12]) + (", ..." if len(spatial) > 12 else "")
        choose = f"spatial layers: {shown or 'none'}"
    return ValueError(
        f"{owner}: layer {name!r} has output shape {tuple(shape)}, not a spatial (N, C, h, w) "
        f"map; choose a layer with a spatial output ({choose})"
    )


def spatial_layers(model: nn.Module, x: torch.Tensor) -> list[tuple[str, tuple[int, ...]]]:
    """[(dotted name, output shape as (N, C, h, w))] of every submodule with a spatial output,
    in the order the forward pass completes them, from one dry forward on ``x`` (the model is
    left unchanged). A channels-last output (N, h, w, C) (ConvNeXt and Swin blocks) is listed
    as (N, C, h, w), the layout every method and view reads it in (:mod:`xai_widgets.layouts`).

    ``x`` is a (N, C, H, W) or (C, H, W) tensor; only its first sample is run.
    """
    if not isinstance(model, nn.Module):
        raise TypeError(f"model must be a torch.nn.Module, not {type(model).__name__}")
    if not isinstance(x, torch.Tensor):
        raise TypeError(f"x must be a torch.Tensor, not {type(x).__name__}")
    if x.dim() == 3:
        x = x.unsqueeze(0)
    if x.dim() != 4 or x.shape[0] == 0:
        raise ValueError(f"x must have shape (N, C, H, W) or (C, H, W), got {tuple(x.shape)}")
    return [(name, (x.shape[0], *shape[1:])) for name, shape in _dry_run(model, x).spatial]


def nchw_perms(model: nn.Module, x: torch.Tensor, names: Iterable[str]) -> dict[str, tuple]:
    """{name: permute to (N, C, h, w)} for those of ``names`` whose 4-D output is not already
    (N, C, h, w) (channels-last layers); the others are left out."""
    axes = _dry_run(model, x).axes
    return {n: nchw_perm(axes[n]) for n in names if axes.get(n) not in (None, NCHW)}


def token_grids(
    model: nn.Module, x: torch.Tensor, names: Iterable[str] | None = None
) -> dict[str, TokenGrid]:
    """{name: grid} for those of ``names`` (None: all layers) whose output is vision-transformer
    tokens (N, p + h*w, D), read as the map (N, D, h, w) (:mod:`xai_widgets.tokens`)."""
    tokens = _dry_run(model, x).tokens or {}
    return dict(tokens) if names is None else {n: tokens[n] for n in names if n in tokens}


def encoder_blocks(model: nn.Module) -> list[str]:
    """Dotted names of the model's transformer blocks, in ``named_modules`` order: for each
    ``nn.MultiheadAttention``, its outermost enclosing module (the model itself excepted) that
    holds no other attention module (``encoder.layers.encoder_layer_3`` in torchvision's ViT);
    the attention module itself when no such module exists (memoized per model structure)."""
    return list(model_memo(model, ("encoder_blocks",), lambda: _encoder_blocks(model)))


def _encoder_blocks(model: nn.Module) -> tuple[str, ...]:
    attention = [n for n, m in model.named_modules() if isinstance(m, nn.MultiheadAttention)]
    blocks = []
    for name in attention:
        parts = name.split(".")
        for end in range(1, len(parts) + 1):
            prefix = ".".join(parts[:end])
            inside = [a for a in attention if a == prefix or a.startswith(prefix + ".")]
            if inside == [name]:
                blocks.append(prefix)
                break
    return tuple(blocks)


def picker_layers(
    model: nn.Module, x: torch.Tensor, layers: list[tuple[str, tuple[int, ...]]]
) -> list[tuple[str, tuple[int, ...]]]:
    """The layers a layer picker lists: all spatial ``layers``, except that of a vision
    transformer's token outputs only its encoder blocks are listed (each block's norms, MLP
    and dropouts stay reachable by name)."""
    tokens = token_grids(model, x, [name for name, _ in layers])
    if not tokens:
        return list(layers)
    blocks = set(encoder_blocks(model))
    return [(name, shape) for name, shape in layers if name not in tokens or name in blocks]


def _ends_in_pooling(module: nn.Module) -> bool:
    """A pooling or resampling module, or a container whose last child is one."""
    if isinstance(module, _POOLING):
        return True
    if isinstance(module, nn.Sequential) and len(module) > 0:
        return _ends_in_pooling(module[-1])
    return False


def default_layer(model: nn.Module, x: torch.Tensor) -> str:
    """The one default layer of every method, view and tab: the last spatial output of the
    feature extractor. In forward order, the last spatial layer that

    * is not a pooling or resampling layer (nor a container ending in one), and
    * comes before the class-score maps: a layer with as many channels as the model has
      classes, after which no layer with a weight matrix (convolution, linear) runs, holds the
      class scores themselves (SqueezeNet's ``classifier.1``); it and everything after it are
      the head, not features;
    * sees the input and reaches the scores: a layer whose output stays the same for another
      input (a held input of a multi-input model, see :class:`~xai_widgets.dense.OneInput`),
      or that the scores do not depend on (an auxiliary head), cannot explain them;
    * does something: a module that returns its input itself (``Dropout`` in eval,
      ``Identity``) names the same tensor as the layer before it, which is preferred;
    * for vision-transformer tokens: is followed by an attention module, so its patch tokens
      reach the class token the head reads (in torchvision's ViT the input of the last block's
      attention, ``encoder.layers.encoder_layer_{L-1}.ln_1``, pytorch-grad-cam's recipe).

    Falls back to the last non-pooling spatial layer, then to the last spatial layer.
    ValueError when the model has no spatial layer for this input."""
    run = _dry_run(model, x if x.dim() == 4 else x[None])
    layers = [name for name, _ in run.spatial]
    if not layers:
        raise ValueError(
            "the model has no submodule with a spatial (N, C, h, w) output for this input; "
            "layer-based methods and views need a convolutional layer"
        )
    plain = [n for n in layers if not _ends_in_pooling(model.get_submodule(n))]
    head = run.head_start()
    features = [n for n in plain if head is None or run.order.index(n) < head]
    tokens = run.tokens or {}
    features = [n for n in features if n not in tokens or run.mixes_tokens_after(n)]
    features = [n for n in features if n not in run.static | run.unused] or features
    acting = [n for n in features if n not in run.passthrough]
    return (acting or features or plain or layers)[-1]


def last_spatial_layer(model: nn.Module, x: torch.Tensor) -> str:
    """The model's default layer (kept name; see :func:`default_layer`)."""
    return default_layer(model, x)


def resolve_spatial_layer(model: nn.Module, x: torch.Tensor, layer: LayerRef, owner: str) -> str:
    """``layer`` (a dotted name, a submodule, or None/"" for :func:`default_layer`) checked to
    have a spatial output for ``x``; the one place a layer parameter is resolved."""
    name = layer_name(model, layer)
    if name is None:
        return default_layer(model, x)
    spatial = dict(spatial_layers(model, x))
    if name not in spatial:
        shapes = dict(_all_shapes(model, x))
        if name in shapes:
            raise not_spatial_error(owner, name, shapes[name], list(spatial))
        raise ValueError(
            f"{owner}: layer {name!r} did not run in the forward pass; choose a layer that the "
            "model's forward uses (see xai_widgets.spatial_layers(model, x))"
        )
    return name


def _all_shapes(model: nn.Module, x: torch.Tensor) -> list[tuple[str, tuple[int, ...]]]:
    """Every submodule's output shape in one dry forward of the first sample (memoized)."""
    return _dry_run(model, x).shapes


def _dry_run(model: nn.Module, x: torch.Tensor) -> DryRun:
    """One dry forward of the first sample of ``x``, cast to the model's device and dtype
    (memoized per model, input shape, dtype and device, and module structure)."""
    device, dtype = model_device(model, x.device), model_dtype(model)
    key = ("dry_run", tuple(x.shape[-3:]), dtype, device)

    def run() -> DryRun:
        sample = (x if x.dim() == 4 else x[None])[:1]
        return dry_run(model, sample.to(device=device, dtype=dtype))

    return model_memo(model, key, run)
