"""Zennit canonizers chosen from the model, the modules LRP supports, and a bit-identical
restore of everything a canonizer changes.

Canonizers rewrite a model temporarily so that LRP rules apply: BatchNorm merged into the
preceding convolution or linear layer (Zennit's ``SequentialMergeBatchNorm`` replaces the
``.data`` of weights, biases and BatchNorm buffers, and adds a bias parameter where there was
none), torchvision ResNet blocks given a ``Sum`` module for the residual add (an instance
``forward`` and a new submodule). Zennit undoes both in ``remove()``; :func:`restored` also
puts back every parameter's and buffer's data and every module's parameter, buffer and
submodule dictionary and instance attributes when a canonizer fails halfway.

Example::

    check_supported(model, "lrp")                 # ValueError naming an unsupported module
    with restored(model):
        composite = EpsilonPlusFlat(canonizers=canonizers_for(model))
        ...
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

import torch
from torch import nn

__all__ = ["canonizers_for", "check_supported", "restored"]

# leaf modules without parameters that LRP passes through or Zennit has rules for
_STRUCTURAL = (
    nn.Flatten,
    nn.Unflatten,
    nn.Dropout,
    nn.Dropout2d,
    nn.Dropout1d,
    nn.AlphaDropout,
    nn.Identity,
    nn.MaxPool1d,
    nn.MaxPool2d,
    nn.MaxPool3d,
    nn.AdaptiveMaxPool1d,
    nn.AdaptiveMaxPool2d,
    nn.AdaptiveMaxPool3d,
)


def _leaves(model: nn.Module) -> list[tuple[str, nn.Module]]:
    return [(name, m) for name, m in model.named_modules() if not any(True for _ in m.children())]


def check_supported(model: nn.Module, owner: str) -> None:
    """ValueError naming the first module LRP cannot handle: a module with parameters or
    buffers that is not a convolution, linear layer, BatchNorm right after one, or a
    supported activation/pooling (LayerNorm, attention, embeddings, ...)."""
    from zennit import types as zt
    from zennit.layer import Sum

    previous: nn.Module | None = None
    for name, module in _leaves(model):
        where = f"{owner}: the model's module {name or '(root)'!r} ({type(module).__name__})"
        if isinstance(module, zt.BatchNorm):
            if not isinstance(previous, zt.Linear):
                raise ValueError(
                    f"{where} does not directly follow a convolution or linear layer, so it "
                    "cannot be merged into one for LRP; LRP (Zennit) supports BatchNorm only "
                    "right after a convolution or linear layer"
                )
            if module.running_mean is None or module.running_var is None:
                raise ValueError(f"{where} keeps no running statistics; LRP cannot merge it")
        elif isinstance(module, zt.Activation) and isinstance(module, nn.MultiheadAttention):
            raise ValueError(f"{where} has no LRP rule in Zennit")
        elif not isinstance(module, (zt.Linear, zt.Activation, zt.AvgPool, Sum, *_STRUCTURAL)) and (
            any(True for _ in module.parameters()) or any(True for _ in module.buffers())
        ):
            raise ValueError(
                f"{where} has no LRP rule in Zennit; LRP supports convolutions, linear layers, "
                "BatchNorm after one, activations, pooling, flatten and dropout"
            )
        previous = module


def canonizers_for(model: nn.Module) -> list:
    """Zennit canonizers for ``model``: ResNetCanonizer when it has torchvision ResNet blocks
    (BatchNorm merge + a Sum for the residual adds), SequentialMergeBatchNorm when it has
    BatchNorm layers, none otherwise."""
    from zennit.canonizers import SequentialMergeBatchNorm
    from zennit.torchvision import ResNetCanonizer
    from zennit.types import BatchNorm

    modules = list(model.modules())
    if any(type(m).__module__ == "torchvision.models.resnet" and hasattr(m, "conv1")
           for m in modules):  # fmt: skip
        return [ResNetCanonizer()]
    if any(isinstance(m, BatchNorm) for m in modules):
        return [SequentialMergeBatchNorm()]
    return []


def _same(a: torch.Tensor, b: torch.Tensor) -> bool:
    return (
        a.data_ptr() == b.data_ptr()
        and a.shape == b.shape
        and a.stride() == b.stride()
        and a.dtype == b.dtype
        and a.device == b.device
    )


@contextmanager
def restored(model: nn.Module) -> Iterator[nn.Module]:
    """On exit (also on error): every parameter's and buffer's ``.data`` (the original
    storage), each module's ``_parameters``/``_buffers``/``_modules`` entries and its set of
    instance attributes are exactly as on entry."""
    modules = list(model.modules())
    saved = [
        (m, dict(m._parameters), dict(m._buffers), dict(m._modules), set(m.__dict__))
        for m in modules
    ]
    data = [
        (t, t.data)
        for m in modules
        for t in (*m._parameters.values(), *m._buffers.values())
        if t is not None
    ]
    try:
        yield model
    finally:
        for m, params, buffers, children, keys in saved:
            for current, content in (
                (m._parameters, params),
                (m._buffers, buffers),
                (m._modules, children),
            ):
                if current.keys() != content.keys() or any(
                    current[k] is not v for k, v in content.items()
                ):
                    current.clear()
                    current.update(content)
            for key in set(m.__dict__) - keys:
                del m.__dict__[key]
        for tensor, original in data:
            if not _same(tensor.data, original):
                tensor.data = original
