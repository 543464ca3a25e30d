"""Which axes of a layer's 4-D output are channels, height and width, read from the model's own
structure and the tensors of one forward pass (never from a list of model class names).

ConvNeXt and Swin keep many activations channels-last, (N, h, w, C): a ``Permute`` view, then
``LayerNorm``, ``Linear`` and ``GELU`` over the last axis. Every layer-based method and view
treats such an output as (N, C, h, w) (the permutation :func:`nchw_perm` gives), so no map is
ever drawn over the wrong axes.

The layout of each module's output is inferred as the call completes, from the first of:

1. the module's own semantics: convolutions, batch/instance/group norms, 2-D pooling and
   upsampling take and give (N, C, h, w);
2. identity: the output is a tensor already seen (a container returning its child's output);
3. a permuted view of a known input (``permute``, ``movedim``): its strides say which axis went
   where;
4. a permuted copy of a known input, matched by values (the one permutation that matches);
5. the same shape as a known input: an elementwise module (activation, dropout, residual block)
   keeps the layout;
6. ``Linear`` or a last-axis ``LayerNorm`` on a 4-D tensor: channels last (keeping the input's
   spatial axes when the input is known and channels-last already);
7. the shape of the latest known tensor of that shape (a block ending in a functional op);
8. spatial sizes already seen: (h, w) of an earlier feature map at axes 2, 3 or at 1, 2.

The model's input is (N, C, H, W). What none of these settles keeps PyTorch's convention
(N, C, h, w), as before.

Example::

    tracker = LayoutTracker(x)
    with watch_calls(model, tracker.observe):
        model(x)
    tracker.axes["features.1.0.block.3"]      # (3, 1, 2): C at axis 3, h at 1, w at 2
"""

from __future__ import annotations

import itertools

import torch
from torch import nn

__all__ = ["NCHW", "Axes", "LayoutTracker", "nchw_perm", "nchw_shape"]

Axes = tuple[int, int, int]
"""Positions of (channels, height, width) in a 4-D tensor; (1, 2, 3) is (N, C, h, w)."""

NCHW: Axes = (1, 2, 3)

POOLING = (
    nn.modules.pooling._MaxPoolNd,
    nn.modules.pooling._AvgPoolNd,
    nn.modules.pooling._AdaptiveAvgPoolNd,
    nn.modules.pooling._AdaptiveMaxPoolNd,
    nn.modules.pooling._LPPoolNd,
    nn.Upsample,
)
"""Pooling and resampling modules (channels-first; never a default layer)."""

_CHANNELS_FIRST = (
    nn.modules.conv._ConvNd,
    nn.modules.batchnorm._BatchNorm,
    nn.modules.instancenorm._InstanceNorm,
    nn.GroupNorm,
    nn.LocalResponseNorm,
    *POOLING,
    nn.PixelShuffle,
    nn.PixelUnshuffle,
)


def nchw_perm(axes: Axes) -> tuple[int, int, int, int]:
    """The ``permute`` that turns a tensor of this layout into (N, C, h, w)."""
    return (0, *axes)


def nchw_shape(shape: tuple[int, ...], axes: Axes | None) -> tuple[int, ...]:
    """``shape`` reordered to (N, C, h, w) (unchanged when ``axes`` is None)."""
    if axes is None or len(shape) != 4:
        return tuple(shape)
    return (shape[0], shape[axes[0]], shape[axes[1]], shape[axes[2]])


class LayoutTracker:
    """Infers the layout of every 4-D module output of one forward (see the module docstring).

    ``axes[name]`` is the layout of the named module's last output (None: not 4-D, or not
    settled; then (N, C, h, w) is assumed). Use :meth:`observe` as a
    :func:`~xai_widgets.hooks.watch_calls` callback.
    """

    def __init__(self, x: torch.Tensor) -> None:
        self.axes: dict[str, Axes | None] = {}
        self._known: dict[int, tuple[torch.Tensor, Axes]] = {}
        self._sizes: set[tuple[int, int]] = set()
        self._remember(x, NCHW)

    def _remember(self, t: torch.Tensor, axes: Axes) -> None:
        self._known[id(t)] = (t, axes)
        self._sizes.add((t.shape[axes[1]], t.shape[axes[2]]))

    def _layout(self, t: torch.Tensor) -> Axes | None:
        found = self._known.get(id(t))
        return found[1] if found is not None and found[0] is t else None

    def observe(
        self, name: str, module: nn.Module, inputs: tuple, _versions: tuple, output: object
    ) -> None:
        if not isinstance(output, torch.Tensor) or output.dim() != 4:
            if name:
                self.axes[name] = None
            return
        axes = self._infer(module, inputs, output)
        if axes is not None:
            self._remember(output, axes)
        if name:
            self.axes.pop(name, None)  # a module called twice keeps its last output, last
            self.axes[name] = axes

    def _infer(self, module: nn.Module, inputs: tuple, out: torch.Tensor) -> Axes | None:
        if isinstance(module, _CHANNELS_FIRST):
            return NCHW
        same = self._layout(out)
        if same is not None:
            return same
        known = [(t, self._layout(t)) for t in inputs if t.dim() == 4]
        known = [(t, a) for t, a in known if a is not None]
        for t, axes in known:
            moved = _view_permutation(t, out)
            if moved is not None:
                return _apply(axes, moved)
        for t, axes in known:
            moved = _value_permutation(t, out)
            if moved is not None:
                return _apply(axes, moved)
        for t, axes in known:
            if t.shape == out.shape:
                return axes
        last_axis = isinstance(module, nn.Linear) or (
            isinstance(module, nn.LayerNorm)
            and len(module.normalized_shape) == 1
            and module.normalized_shape[0] == out.shape[-1]
        )
        if last_axis:
            for t, axes in known:
                if axes[0] == 3 and t.shape[:3] == out.shape[:3]:
                    return axes
            return (3, 1, 2) if not known else None
        for t, axes in reversed(self._known.values()):
            if t.shape == out.shape:
                return axes
        first = (out.shape[2], out.shape[3]) in self._sizes
        last = (out.shape[1], out.shape[2]) in self._sizes
        if first != last:
            return NCHW if first else (3, 1, 2)
        return None


def _apply(axes: Axes, moved: tuple[int, ...]) -> Axes:
    """The layout of ``t.permute(moved)`` for ``t`` of layout ``axes``: output axis j holds
    input axis moved[j]."""
    where = {src: dst for dst, src in enumerate(moved)}
    return (where[axes[0]], where[axes[1]], where[axes[2]])


def _view_permutation(t: torch.Tensor, out: torch.Tensor) -> tuple[int, ...] | None:
    """``p`` with ``out`` == ``t.permute(p)`` as a view (same storage and offset, permuted
    strides and sizes, distinct strides), batch axis fixed; None otherwise."""
    if out.shape == t.shape and out.stride() == t.stride():
        return None
    if out.device != t.device or len(set(t.stride())) != 4:
        return None
    if t.device.type != "meta":  # meta tensors (shape-only dry runs) have no storage to compare
        try:
            same = out.untyped_storage().data_ptr() == t.untyped_storage().data_ptr()
        except (RuntimeError, NotImplementedError):
            return None
        if not same or out.storage_offset() != t.storage_offset():
            return None
    perm = []
    for size, stride in zip(out.shape, out.stride(), strict=True):
        src = t.stride().index(stride) if stride in t.stride() else -1
        if src < 0 or t.shape[src] != size:
            return None
        perm.append(src)
    return tuple(perm) if perm[0] == 0 and sorted(perm) == [0, 1, 2, 3] else None


def _value_permutation(t: torch.Tensor, out: torch.Tensor) -> tuple[int, ...] | None:
    """The one ``p`` (batch fixed) with ``t.permute(p)`` equal to ``out`` by value, or None."""
    if t.device.type == "meta" or sorted(t.shape[1:]) != sorted(out.shape[1:]):
        return None
    found = [
        (0, *p)
        for p in itertools.permutations((1, 2, 3))
        if tuple(t.shape[i] for i in p) == tuple(out.shape[1:])
        and torch.equal(t.permute(0, *p), out)
    ]
    return found[0] if len(found) == 1 and found[0] != (0, 1, 2, 3) else None
