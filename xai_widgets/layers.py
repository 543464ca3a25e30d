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
from collections.abc import Callable
from typing import TypeVar

import torch
from torch import nn

from .hooks import borrowed, record_shapes

__all__ = [
    "default_layer",
    "input_channels",
    "is_spatial",
    "last_spatial_layer",
    "layer_name",
    "model_device",
    "model_memo",
    "not_spatial_error",
    "resolve_spatial_layer",
    "spatial_layers",
]

LayerRef = str | nn.Module | None
T = TypeVar("T")

# The one per-model memo: model -> {(kind, key..., structure signature): value}.
_MEMO: weakref.WeakKeyDictionary[nn.Module, dict] = weakref.WeakKeyDictionary()
_MEMO_SIZE = 64
_POOLING = (
    nn.modules.pooling._MaxPoolNd,
    nn.modules.pooling._AvgPoolNd,
    nn.modules.pooling._AdaptiveAvgPoolNd,
    nn.modules.pooling._AdaptiveMaxPoolNd,
    nn.modules.pooling._LPPoolNd,
    nn.Upsample,
)


def model_memo(model: nn.Module, key: tuple, compute: Callable[[], T]) -> T:
    """``compute()`` once per ``model`` and ``key`` (plus the model's module structure, so a
    replaced submodule invalidates it); at most 64 entries per model, oldest dropped first;
    failures are not memoized. Entries go with the model (weak keys)."""
    full = (*key, tuple(id(m) for m in model.modules()))
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


def input_channels(model: nn.Module) -> int | None:
    """Channels the first convolution expects, or None when the model has no convolution."""
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


def is_spatial(shape: tuple[int, ...]) -> bool:
    """A spatial output is (N, C, h, w) with more than one position."""
    return len(shape) == 4 and shape[2] * shape[3] > 1


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
    """[(dotted name, output shape)] of every submodule with a spatial output, in the order the
    forward pass completes them, from one dry forward on ``x`` (the model is left unchanged).

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
    layers = [(name, shape) for name, shape in _all_shapes(model, x) if is_spatial(shape)]
    return [(name, (x.shape[0], *shape[1:])) for name, shape in layers]


def _ends_in_pooling(module: nn.Module) -> bool:
    """A pooling or resampling module, or a container whose last child is one."""
    if isinstance(module, _POOLING):
        return True
    if isinstance(module, nn.Sequential) and len(module) > 0:
        return _ends_in_pooling(module[-1])
    return False


def default_layer(model: nn.Module, x: torch.Tensor) -> str:
    """The one default layer of every method, view and tab: the last spatial module output
    that is not a pooling or resampling layer, else the last spatial one. ValueError when the
    model has no spatial layer for this input."""
    layers = spatial_layers(model, x)
    if not layers:
        raise ValueError(
            "the model has no submodule with a spatial (N, C, h, w) output for this input; "
            "layer-based methods and views need a convolutional layer"
        )
    for name, _shape in reversed(layers):
        if not _ends_in_pooling(model.get_submodule(name)):
            return name
    return layers[-1][0]


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
    sample = (x if x.dim() == 4 else x[None])[:1].to(model_device(model, x.device))

    def dry_forward() -> list[tuple[str, tuple[int, ...]]]:
        with borrowed(model), record_shapes(model) as shapes, torch.no_grad():
            model(sample)
        return list(shapes.items())

    key = ("shapes", tuple(sample.shape[1:]), sample.dtype, sample.device)
    return model_memo(model, key, dry_forward)
