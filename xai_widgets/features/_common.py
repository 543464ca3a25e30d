"""Shared plumbing of the feature functions: layer checks, the forward up to a layer, batches.

Every feature function reads one layer, so it runs the model only up to that layer
(:func:`run_to`): the rest (a classifier head that only takes the training size) never runs.
Which call of the layer counts is fixed by :func:`probe` on one sample: the last call of a full
forward, as :func:`xai_widgets.hooks.capture` keeps it; when the model fails after the layer
ran (e.g. a flatten + linear head at another image size), the last call before the failure.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Iterator
from dataclasses import dataclass

import torch
from torch import nn

from ..checks import check_input
from ..datasource import numbered
from ..hooks import StopForward, borrowed, capture, stop_after, watch_calls
from ..layers import (
    default_layer,
    is_spatial,
    layer_name,
    model_dtype,
    model_memo,
    not_spatial_error,
    token_grids,
)
from ..layouts import NCHW, LayoutTracker, nchw_perm, nchw_shape
from ..methods.batching import chunk_size, chunks
from ..tokens import TokenGrid, to_grid

__all__ = [
    "LayerInfo",
    "check_channel",
    "check_float",
    "check_int",
    "iter_batches",
    "model_dtype",
    "probe",
    "resolve_layer",
    "run_to",
]


@dataclass(frozen=True)
class LayerInfo:
    """A checked spatial layer: dotted name, output shape (C, h, w) for the probed input size,
    which call of the module is its output (the count in one full forward), and ``perm``, the
    permute to (N, C, h, w) of a channels-last layer (None when it is (N, C, h, w) already),
    and ``grid``, the patch grid of a vision transformer's token output (N, p + h*w, D), read
    as the map (N, D, h, w) with the leading tokens dropped (:mod:`xai_widgets.tokens`)."""

    name: str
    shape: tuple[int, int, int]
    call: int
    perm: tuple[int, ...] | None = None
    grid: TokenGrid | None = None

    @property
    def channels(self) -> int:
        return self.shape[0]


def check_int(value: object, name: str, what: str, minimum: int = 1) -> int:
    """An int >= ``minimum`` (bools rejected) or a clear TypeError/ValueError."""
    if isinstance(value, bool) or not isinstance(value, int):
        raise TypeError(f"{what}: {name} must be an int, not {type(value).__name__}")
    if value < minimum:
        raise ValueError(f"{what}: {name} must be >= {minimum}, got {value}")
    return value


def check_float(
    value: object, name: str, what: str, minimum: float = 0.0, strict: bool = False
) -> float:
    """A finite number >= ``minimum`` (> when ``strict``) or a clear TypeError/ValueError."""
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise TypeError(f"{what}: {name} must be a number, not {type(value).__name__}")
    if not math.isfinite(value) or value < minimum or (strict and value == minimum):
        bound = f"> {minimum}" if strict else f">= {minimum}"
        raise ValueError(f"{what}: {name} must be finite and {bound}, got {value!r}")
    return float(value)


def resolve_layer(model: nn.Module, layer: object, x: torch.Tensor) -> str:
    """Dotted name of ``layer`` (``layer_name`` errors); None/"" -> the default layer."""
    name = layer_name(model, layer)  # type: ignore[arg-type]
    return default_layer(model, x) if name is None else name


def probe(model: nn.Module, x: torch.Tensor, layer: object, what: str) -> LayerInfo:
    """Check that ``layer`` runs on ``x`` (one sample is used) with a spatial output.

    Memoized per model, layer, input shape, dtype, device and module structure (a clicked
    channel or image then costs one forward, not two); failures are not memoized."""
    name = resolve_layer(model, layer, x)
    key = ("probe", name, tuple(x.shape[1:]), x.dtype, x.device)
    return model_memo(model, key, lambda: _probe(model, x, name, what))


def _probe(model: nn.Module, x: torch.Tensor, name: str, what: str) -> LayerInfo:
    sample = x[:1].detach()
    tracker = LayoutTracker(sample)  # the layout from this forward, which may stop early
    with (
        borrowed(model),
        watch_calls(model, tracker.observe),
        capture(model, [name]) as cap,
        torch.no_grad(),
    ):
        try:
            model(sample)
        except Exception as error:
            if not cap.calls.get(name):
                if hasattr(error, "add_note"):  # Python >= 3.11
                    error.add_note(
                        f"({what}: the model failed before reaching layer {name!r} on an input "
                        f"of shape {tuple(sample.shape)})"
                    )
                raise
    if not cap.calls.get(name):
        raise ValueError(
            f"{what}: layer {name!r} did not run in the forward pass; choose a layer that the "
            "model's forward uses"
        )
    output = cap.outputs[name]
    grid = token_grids(model, sample, [name]).get(name) if output.dim() == 3 else None
    if grid is not None:  # a vision transformer's tokens: their patch grid
        return LayerInfo(name, grid.shape(tuple(output.shape))[1:], cap.calls[name], None, grid)
    axes = tracker.axes.get(name)
    perm = nchw_perm(axes) if axes not in (None, NCHW) else None
    shape = nchw_shape(tuple(output.shape), axes)
    if not is_spatial(shape):
        raise not_spatial_error(what, name, tuple(output.shape))
    return LayerInfo(name, shape[1:], cap.calls[name], perm)  # type: ignore[arg-type]


def check_channel(info: LayerInfo, channel: object, what: str) -> int:
    """A channel index in ``range(info.channels)`` or a clear error naming the count."""
    if isinstance(channel, bool) or not isinstance(channel, int):
        raise TypeError(f"{what}: channel must be an int, not {type(channel).__name__}")
    if not 0 <= channel < info.channels:
        raise ValueError(
            f"{what}: channel {channel} is out of range for layer {info.name!r}, which has "
            f"{info.channels} channels (0..{info.channels - 1})"
        )
    return channel


def run_to(model: nn.Module, x: torch.Tensor, info: LayerInfo) -> torch.Tensor:
    """The layer's output for ``x`` as (N, C, h, w) (a channels-last output permuted, a token
    output as its patch grid), ending the forward right after it (call it inside
    ``borrowed``; inside the caller's no_grad / enable_grad and ReLU rules)."""
    with stop_after(model, info.name, info.call) as stop:
        try:
            model(x)
        except StopForward:
            pass
    if stop.output is None:
        raise ValueError(
            f"layer {info.name!r} ran {stop.calls} times for this input, not {info.call} as "
            "for the first sample; the model's forward must not depend on the batch"
        )
    out = stop.output
    if info.grid is not None:
        return to_grid(out, info.grid)
    return out.permute(*info.perm) if info.perm is not None else out


def _split(item: object) -> tuple[object, object]:
    """A batch item: a tensor, or a (tensor, labels, ...) tuple/list as DataLoaders yield."""
    if isinstance(item, (tuple, list)) and item and isinstance(item[0], torch.Tensor):
        return item[0], item[1] if len(item) > 1 else None
    return item, None


def iter_batches(
    model: nn.Module, images: object, what: str, *, grad: bool = False
) -> Iterator[tuple[torch.Tensor, object, int, int | None]]:
    """Yield ``(x, labels, batch_index, total_batches)`` with ``x`` a checked (B, C, H, W)
    chunk on the model's device. ``images``: a tensor (N, C, H, W) or an iterable of such
    batches (or of (batch, labels) pairs); ``total_batches`` is None for an iterable without
    ``len``. Chunks are memory-sized (:func:`xai_widgets.methods.batching.chunk_size`)."""
    if isinstance(images, torch.Tensor):
        x = check_input(model, images)
        size = chunk_size(x[0], grad=grad)
        parts = list(chunks(x.shape[0], size))
        for i, part in enumerate(parts):
            yield x[part], None, i, len(parts)
        return
    if not isinstance(images, Iterable) or isinstance(images, (str, bytes)):
        raise TypeError(
            f"{what}: images must be a tensor (N, C, H, W) or an iterable of such batches "
            f"(e.g. a DataLoader), not {type(images).__name__}"
        )
    total = len(images) if hasattr(images, "__len__") else None  # type: ignore[arg-type]
    for i, item in numbered(images, what, "images"):
        batch, labels = _split(item)
        x = check_input(model, batch)
        size = chunk_size(x[0], grad=grad)
        for part in chunks(x.shape[0], size):
            sliceable = hasattr(labels, "__getitem__") and not isinstance(labels, (str, bytes))
            yield x[part], labels[part] if sliceable else labels, i, total  # type: ignore[index]
