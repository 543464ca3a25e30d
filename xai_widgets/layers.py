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

import torch
from torch import nn

from .hooks import borrowed, record_shapes

__all__ = [
    "input_channels",
    "is_spatial",
    "last_spatial_layer",
    "layer_name",
    "model_device",
    "spatial_layers",
]

LayerRef = str | nn.Module | None

# Memo of dry-forward results: model -> {(input signature, structure signature): layers}.
_SPATIAL_MEMO: weakref.WeakKeyDictionary[nn.Module, dict] = weakref.WeakKeyDictionary()


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


def _structure(model: nn.Module) -> tuple[int, ...]:
    return tuple(id(m) for m in model.modules())


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
    sample = x[:1].to(model_device(model, x.device))
    key = (tuple(sample.shape[1:]), sample.dtype, sample.device, _structure(model))
    memo = _SPATIAL_MEMO.setdefault(model, {})
    if key not in memo:
        with borrowed(model), record_shapes(model) as shapes, torch.no_grad():
            model(sample)
        memo.clear()
        memo[key] = [(name, shape) for name, shape in shapes.items() if is_spatial(shape)]
    return [(name, (x.shape[0], *shape[1:])) for name, shape in memo[key]]


def last_spatial_layer(model: nn.Module, x: torch.Tensor) -> str:
    """The last submodule (in forward order) whose output is spatial; ValueError if none is."""
    layers = spatial_layers(model, x)
    if not layers:
        raise ValueError(
            "the model has no submodule with a spatial (N, C, h, w) output for this input; "
            "CAM methods need a convolutional layer"
        )
    return layers[-1][0]
