"""Memory-sized chunks for methods that forward many copies of an input.

The chunk holds as many copies as fit a memory budget, estimated from the input size with a
generous factor for the activations a CNN keeps alive (no_grad forward) or records (grad):
CPU budget 512 MiB, CUDA a quarter of the free memory. The bound is a heuristic, not a
guarantee; ``max_chunk`` caps it (64: on a 2-core CPU, occlusion of a 64 px zoo model ran
fastest at 64 copies a batch, 25% faster than at 256).

:func:`forward_batch` forwards such a batch in PyTorch's ``channels_last`` memory format on the
CPU (the model itself is not touched: only the input's layout changes, and convolutions keep
it): oneDNN's convolutions and above all max pooling are much faster on it (measured on the
2-core CPU, 64 copies: a VGG-like 64 px CNN 3.5x, torchvision ResNet-18 at 224 px 1.3x,
VGG-11 1.35x, the single-channel zoo models 1.3-4x). A single-channel batch is contiguous in
both layouts, so it is copied into channels_last strides explicitly (otherwise the first
convolution's output would fall back to NCHW). A model that cannot take it (e.g.
``x.view(n, -1)`` after a convolution) is forwarded as before, remembered per model.

Example::

    with torch.no_grad():
        for part in chunks(copies.shape[0], chunk_size(copies[0])):
            out = forward_batch(model, copies[part])
"""

from __future__ import annotations

import weakref
from collections.abc import Iterator

import torch
from torch import nn

__all__ = ["chunk_size", "chunks", "forward_batch"]

_CPU_BUDGET = 512 * 2**20
_ACTIVATION_FACTOR = 48  # bytes of live activations per byte of input, per sample


def chunk_size(sample: torch.Tensor, *, grad: bool = False, max_chunk: int = 64) -> int:
    """How many copies of ``sample`` (one (C, H, W) input) to forward at once."""
    per_copy = sample.numel() * sample.element_size() * _ACTIVATION_FACTOR * (3 if grad else 1)
    if sample.device.type == "cuda":
        free, _total = torch.cuda.mem_get_info(sample.device)
        budget = free // 4
    else:
        budget = _CPU_BUDGET
    return int(max(1, min(max_chunk, budget // max(per_copy, 1))))


def chunks(total: int, size: int) -> Iterator[slice]:
    """Consecutive slices of ``range(total)`` of at most ``size`` items."""
    for start in range(0, total, size):
        yield slice(start, min(total, start + size))


# models whose forward raised on a channels_last batch (a ``.view`` on a conv output, say)
_NCHW_ONLY: weakref.WeakKeyDictionary[nn.Module, bool] = weakref.WeakKeyDictionary()


def _wants_channels_last(model: nn.Module, batch: torch.Tensor) -> bool:
    return (
        batch.dim() == 4
        and batch.device.type == "cpu"
        and batch.shape[0] > 1
        and model not in _NCHW_ONLY
    )


def forward_batch(model: nn.Module, batch: torch.Tensor) -> torch.Tensor:
    """``model(batch)`` for a batch of many copies, with the batch in ``channels_last`` where
    that is faster (4-D, CPU, more than one copy; see the module docstring).
    Results equal the plain forward up to float rounding (different convolution kernels)."""
    if not _wants_channels_last(model, batch):
        return model(batch)
    try:
        fast = torch.empty_like(batch, memory_format=torch.channels_last).copy_(batch)
        return model(fast)
    except RuntimeError:
        _NCHW_ONLY[model] = True
        return model(batch)
