"""Data for a pass over a model: a tensor, a tuple of tensors, a list of batches or a
DataLoader, cut into batches of model inputs on the model's device.

- a tensor (N, ...): N samples of a single-input model;
- a tuple of tensors with the same first dimension, e.g. ``data.dataset("sea_ice", 64)`` =
  ``(sar, mwr, labels)``: columns of a dataset; the first k are the model's inputs, where k is
  the number of required positional arguments of ``model.forward`` (trailing labels and masks
  are ignored);
- a list, a DataLoader or any other iterable of batches: each batch is a tensor or a tuple /
  list whose first k items are the inputs (a DataLoader over ``TensorDataset(x, y)`` works).

Batches larger than ``batch_size`` are cut, so memory stays bounded whatever the source.
"""

from __future__ import annotations

import inspect
from collections.abc import Iterable, Iterator

import torch
from torch import nn

from ..datasource import numbered
from ..dense import positional_inputs

__all__ = ["count_batches", "input_count", "iter_batches"]

Inputs = tuple[torch.Tensor, ...]


def input_count(model: nn.Module) -> int:
    """How many positional inputs ``model.forward`` requires (at least 1)."""
    params = positional_inputs(model)
    return max(1, sum(p.default is inspect.Parameter.empty for p in params))


def _columns(data: object) -> bool:
    """A tuple of tensors with one shared, non-zero first dimension."""
    return (
        isinstance(data, tuple)
        and len(data) > 0
        and all(isinstance(t, torch.Tensor) and t.dim() > 0 for t in data)
        and len({t.shape[0] for t in data}) == 1
    )


def _as_inputs(batch: object, k: int, where: str) -> Inputs:
    if isinstance(batch, torch.Tensor):
        items: tuple = (batch,)
    elif isinstance(batch, (tuple, list)):
        items = tuple(batch)
    else:
        raise TypeError(
            f"zscores: parameter 'data': {where} is a {type(batch).__name__}; a batch must be a "
            "tensor or a tuple / list of tensors (the model's inputs first)"
        )
    if len(items) < k:
        raise ValueError(
            f"zscores: parameter 'data': {where} has {len(items)} item(s) but the model takes "
            f"{k} inputs"
        )
    inputs = items[:k]
    for t in inputs:
        if not isinstance(t, torch.Tensor):
            raise TypeError(
                f"zscores: parameter 'data': {where} holds a {type(t).__name__} where a model "
                "input tensor was expected"
            )
    if len({t.shape[0] if t.dim() else -1 for t in inputs}) != 1 or inputs[0].dim() == 0:
        shapes = ", ".join(str(tuple(t.shape)) for t in inputs)
        raise ValueError(
            f"zscores: parameter 'data': {where} has inputs of different batch sizes ({shapes})"
        )
    return inputs


def _source(data: object, k: int) -> Iterable[object]:
    if isinstance(data, torch.Tensor):
        if data.dim() == 0:
            raise ValueError("zscores: parameter 'data' is a 0-d tensor; pass (N, ...) samples")
        return [data]
    if _columns(data):
        return [data[:k]]  # type: ignore[index]
    if isinstance(data, (str, bytes, dict)) or not isinstance(data, Iterable):
        raise TypeError(
            "zscores: parameter 'data' must be a tensor, a tuple of tensors (dataset columns), "
            f"a list of batches or a DataLoader, not {type(data).__name__}"
        )
    return data


def count_batches(data: object, batch_size: int) -> int | None:
    """The number of batches :func:`iter_batches` yields, when it is known in advance."""
    if isinstance(data, torch.Tensor) and data.dim():
        return -(-data.shape[0] // batch_size)
    if _columns(data):
        return -(-data[0].shape[0] // batch_size)  # type: ignore[index]
    return None


def iter_batches(
    data: object, k: int, batch_size: int, device: torch.device
) -> Iterator[tuple[Inputs, float | None]]:
    """``(inputs on device, fraction of the source done or None)`` per batch of at most
    ``batch_size`` samples. ValueError when the data holds no sample."""
    source = _source(data, k)
    total = len(source) if hasattr(source, "__len__") else None  # type: ignore[arg-type]
    samples = 0
    for i, batch in numbered(source, "zscores", "data"):
        inputs = _as_inputs(batch, k, f"batch {i}")
        n = inputs[0].shape[0]
        for start in range(0, n, batch_size):
            part = tuple(
                t[start : start + batch_size].to(device, non_blocking=True) for t in inputs
            )
            samples += part[0].shape[0]
            fraction = None
            if total:
                fraction = (i + min(start + batch_size, n) / max(n, 1)) / total
            yield part, fraction
    if samples == 0:
        raise ValueError("zscores: parameter 'data' holds no samples (empty data)")
