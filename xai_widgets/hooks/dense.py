"""Dense gradients for receptive fields: ReLU-like and max-pool modules pass the gradient to
every input they depend on (forward values unchanged), so the support of d(unit)/d(input) is
the receptive field (Luo et al. 2016 measure the field the same way).

Example::

    with borrowed(model), dense_gradients(model):
        grad = torch.autograd.grad(model(x)[0, c, i, j], x)[0]   # non-zero on the field
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

import torch
import torch.nn.functional as F
from torch import nn

from .capture import rewrite_outputs

__all__ = ["dense_gradients"]


_ELEMENTWISE = (
    nn.ReLU,
    nn.ReLU6,
    nn.Hardtanh,
    nn.Threshold,
    nn.LeakyReLU,
    nn.PReLU,
    nn.ELU,
    nn.CELU,
    nn.SELU,
    nn.GELU,
    nn.SiLU,
    nn.Mish,
    nn.Hardswish,
    nn.Hardsigmoid,
    nn.Sigmoid,
    nn.Tanh,
    nn.Softplus,
)


def _window_sum(x: torch.Tensor, pool: nn.MaxPool2d, out_hw: tuple[int, int]) -> torch.Tensor:
    """Sum of each max-pool window (same kernel, stride, padding, dilation, ceil_mode): its
    gradient is 1 on every element of the window."""
    pair = nn.modules.utils._pair
    k, p, d = pair(pool.kernel_size), pair(pool.padding), pair(pool.dilation)
    s = pair(pool.stride or pool.kernel_size)
    # extra bottom/right padding covers ceil_mode windows; padded zeros get no gradient anyway
    padded = F.pad(x, (p[1], p[1] + s[1], p[0], p[0] + s[0]))
    n, c = x.shape[:2]
    cols = F.unfold(padded.reshape(n * c, 1, *padded.shape[2:]), k, dilation=d, stride=s)
    rows = (padded.shape[2] - d[0] * (k[0] - 1) - 1) // s[0] + 1
    width = (padded.shape[3] - d[1] * (k[1] - 1) - 1) // s[1] + 1
    sums = cols.sum(1).reshape(n, c, rows, width)
    return sums[:, :, : out_hw[0], : out_hw[1]]


def _dense(module: nn.Module, x: torch.Tensor, output: object) -> object:
    """The output's values with the gradient of the surrogate (see :func:`dense_gradients`)."""
    if not isinstance(output, torch.Tensor):
        return None
    if isinstance(module, nn.MaxPool2d):
        surrogate = _window_sum(x, module, (output.shape[-2], output.shape[-1]))
    elif isinstance(module, nn.AdaptiveMaxPool2d):
        surrogate = F.adaptive_avg_pool2d(x, output.shape[-2:])
    else:
        surrogate = x
    return output.detach() + (surrogate - surrogate.detach())


@contextmanager
def dense_gradients(model: nn.Module) -> Iterator[int]:
    """Within the block, elementwise activation modules pass the gradient unchanged and
    max-pool modules pass it to every element of each window; forward values are unchanged.

    ``y = f(x).detach() + (s(x) - s(x).detach())`` with the surrogate ``s`` = identity
    (activations), window sum (``MaxPool2d``) or adaptive average (``AdaptiveMaxPool2d``). A
    pre-hook keeps the module's input and hands it a clone, so an in-place activation cannot
    destroy it (as in ``relu_rule``). Yields the number of modules made dense. Functional calls
    (``F.relu``, ``F.max_pool2d``) are not modules and keep their sparse gradient.
    """
    kinds = (*_ELEMENTWISE, nn.MaxPool2d, nn.AdaptiveMaxPool2d)
    modules = [
        m
        for m in model.modules()
        if isinstance(m, kinds) and not getattr(m, "return_indices", False)
    ]
    with rewrite_outputs(modules, _dense) as count:
        yield count
