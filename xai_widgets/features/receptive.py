"""Receptive fields: the box of input pixels that can influence one unit of a layer.

**Exact recursion** (Araujo, Norris & Sim 2019, "Computing receptive fields of convolutional
neural networks", Distill). For a chain of layers l = 1..L with kernel k_l, stride s_l, padding
p_l and dilation d_l (effective kernel k'_l = d_l (k_l - 1) + 1), per axis::

    S_l = S_{l-1} s_l                     jump: input pixels between neighbouring units
    R_l = R_{l-1} + (k'_l - 1) S_{l-1}    size of the field
    P_l = P_{l-1} + p_l S_{l-1}           offset of unit 0 before the image's first pixel
    S_0 = R_0 = 1, P_0 = 0

and unit u of layer L sees input pixels [u S_L - P_L, u S_L - P_L + R_L). Pointwise modules
(activations, BatchNorm in eval mode, dropout, identity) are k = s = 1, p = 0. It applies when
the path from the input to the layer is a pure chain of Conv2d / MaxPool2d / AvgPool2d /
pointwise modules; this is *proved* on a recorded forward: each module's only input is the very
tensor object (same in-place version) the previous module returned, the first one's the input.

**Gradient support** otherwise (residual adds, functional calls, concatenations): with every
activation and max-pool module given a dense gradient (``hooks.dense_gradients``: values
unchanged, the gradient reaches every input the unit depends on, so ReLU masks and max-pool
switches do not shrink the support), the field is the bounding box of the pixels where
d(sum_c A_c[i, j]) / dx != 0 over a few random inputs (Luo et al. 2016 measure the field the
same way). The box is measured for a central unit and its diagonal neighbour (stride) on an
input large enough that the box does not touch the border (1x, 2x, 4x the size), then
translated to the asked unit, so it is unclipped like the exact one. Functional ``F.relu`` /
``F.max_pool2d`` keep their sparse gradient, which the union over random inputs makes up for in
practice. A field that is not a translated box (upsampling, global statistics) or still touches
the border at 4x is reported as the whole image (``method == "global"``).

Example::

    >>> receptive_field(model, "features.3", x, (0, 0))   # conv3x3 -> pool 2 -> conv3x3
    (-3, -3, 5, 5)
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import nn

from ..checks import check_input, check_model
from ..hooks import StopForward, borrowed, dense_gradients, record_calls, stop_after
from ..hooks.dense import _ELEMENTWISE
from ..layers import model_device, model_memo
from ._common import LayerInfo, model_dtype, probe, run_to

__all__ = ["Geometry", "receptive_field", "receptive_geometry"]

Box = tuple[int, int, int, int]
_POINTWISE = (
    *_ELEMENTWISE,
    nn.modules.batchnorm._BatchNorm,
    nn.Dropout,
    nn.Dropout2d,
    nn.AlphaDropout,
    nn.FeatureAlphaDropout,
    nn.Identity,
)
_METHODS = ("auto", "exact", "gradient")
_SCALES = (1, 2, 4)
_SAMPLES = 4


@dataclass(frozen=True)
class Geometry:
    """Field of every unit of a layer: unit (i, j) sees rows [i S_y - P_y, i S_y - P_y + R_y)
    and columns likewise. ``method``: "exact", "gradient" or "global" (whole image)."""

    size: tuple[int, int]
    stride: tuple[int, int]
    padding: tuple[int, int]
    method: str

    def box(self, i: int, j: int) -> Box:
        """(top, left, bottom, right) in input pixels, bottom/right exclusive, unclipped."""
        top = i * self.stride[0] - self.padding[0]
        left = j * self.stride[1] - self.padding[1]
        return top, left, top + self.size[0], left + self.size[1]


def _pair(v: object) -> tuple[int, int]:
    return nn.modules.utils._pair(v)  # type: ignore[return-value]


def _module_geometry(m: nn.Module) -> tuple[tuple[int, int], ...] | None:
    """((k_y, k_x), (s_y, s_x), (p_y, p_x), (d_y, d_x)) of a supported module, else None."""
    if isinstance(m, nn.Conv2d):
        k, d = _pair(m.kernel_size), _pair(m.dilation)
        if isinstance(m.padding, str):  # "valid" or "same" (torch pads the extra on the right)
            p = (
                (0, 0)
                if m.padding == "valid"
                else tuple(di * (ki - 1) // 2 for ki, di in zip(k, d, strict=True))
            )
        else:
            p = _pair(m.padding)
        return k, _pair(m.stride), p, d  # type: ignore[return-value]
    if isinstance(m, nn.MaxPool2d) and not m.return_indices:
        k = _pair(m.kernel_size)
        return k, _pair(m.stride or k), _pair(m.padding), _pair(m.dilation)
    if isinstance(m, nn.AvgPool2d):
        k = _pair(m.kernel_size)
        return k, _pair(m.stride or k), _pair(m.padding), (1, 1)
    if isinstance(m, _POINTWISE):
        return (1, 1), (1, 1), (0, 0), (1, 1)
    return None


def _exact(model: nn.Module, info: LayerInfo, x: torch.Tensor) -> Geometry | None:
    """The recursion over the recorded chain of modules, or None if the path is not a chain."""
    xin = x[:1].detach().clone()
    v0 = xin._version
    with borrowed(model), record_calls(model) as calls, torch.no_grad():
        with stop_after(model, info.name, info.call):
            try:
                model(xin)
            except StopForward:
                pass
        idx = max(i for i, c in enumerate(calls) if c.name == info.name)
        target = calls[idx]
        tensor, version = target.output, target.out_version
        limit = idx + 1 if target.leaf else idx
        chain = []
        while tensor is not xin:
            j = next(
                (
                    j
                    for j in range(limit - 1, -1, -1)
                    if calls[j].leaf
                    and calls[j].output is tensor
                    and calls[j].out_version == version
                ),
                None,
            )
            if j is None:
                return None
            geometry = _module_geometry(calls[j].module)
            if geometry is None or len(calls[j].inputs) != 1:
                return None
            chain.append(geometry)
            tensor, version, limit = calls[j].inputs[0], calls[j].in_versions[0], j
        if version != v0:
            return None
    size, jump, pad = [1, 1], [1, 1], [0, 0]
    for k, s, p, d in reversed(chain):
        for a in range(2):
            size[a] += d[a] * (k[a] - 1) * jump[a]
            pad[a] += p[a] * jump[a]
            jump[a] *= s[a]
    return Geometry((size[0], size[1]), (jump[0], jump[1]), (pad[0], pad[1]), "exact")


def _support_boxes(
    model: nn.Module, info: LayerInfo, noise: torch.Tensor
) -> tuple[list[Box | None], tuple[int, int]]:
    """Bounding boxes of the gradient support of the central unit and of its diagonal
    neighbour (units ((h-1)//2, (w-1)//2) and one further), and the layer's (h, w)."""
    n = noise.shape[0]
    xin = noise.repeat(2, 1, 1, 1).requires_grad_(True)
    with dense_gradients(model):
        out = run_to(model, xin, info)
    h, w = out.shape[-2:]
    if h < 2 or w < 2:
        return [None, None], (h, w)
    i, j = (h - 1) // 2, (w - 1) // 2
    score = out[:n, :, i, j].sum() + out[n:, :, i + 1, j + 1].sum()
    (grad,) = torch.autograd.grad(score, xin)
    boxes: list[Box | None] = []
    for part in (grad[:n], grad[n:]):
        support = part.abs().sum((0, 1)) > 0
        if not bool(support.any()):
            boxes.append(None)
            continue
        rows = support.any(1).nonzero()[:, 0]
        cols = support.any(0).nonzero()[:, 0]
        boxes.append((int(rows[0]), int(cols[0]), int(rows[-1]) + 1, int(cols[-1]) + 1))
    return boxes, (h, w)


def _axis(lo: tuple[int, int], hi: tuple[int, int], unit: int, length: int) -> tuple | None:
    """(size, stride, padding) on one axis from the supports [lo_k, hi_k) of units ``unit``
    and ``unit + 1``; "clipped" when no box is fully inside or no side is free on both; None
    when they are not one translated box (e.g. upsampling)."""
    inside = [lo[k] > 0 and hi[k] < length for k in (0, 1)]
    if lo[0] > 0 and lo[1] > 0:
        stride = lo[1] - lo[0]
    elif hi[0] < length and hi[1] < length:
        stride = hi[1] - hi[0]
    else:
        return ("clipped",)
    if not any(inside):
        return ("clipped",)
    k = 0 if inside[0] else 1
    size = hi[k] - lo[k]
    if stride <= 0 or (all(inside) and hi[1] - lo[1] != size):
        return None
    return size, stride, (unit + k) * stride - lo[k]


# what a model raises for an input size it cannot run (a torchvision ViT asserts its one size)
_SIZE_ERRORS = (RuntimeError, ValueError, AssertionError)


def _gradient(model: nn.Module, info: LayerInfo, x: torch.Tensor) -> Geometry:
    channels, height, width = x.shape[1:]
    device, dtype = model_device(model, x.device), model_dtype(model)
    gen = torch.Generator(device=device).manual_seed(0)
    for scale in _SCALES:
        shape = (_SAMPLES if scale == 1 else 2, channels, height * scale, width * scale)
        noise = torch.randn(shape, generator=gen, device=device, dtype=dtype)
        try:
            with borrowed(model):
                (b0, b1), (h, w) = _support_boxes(model, info, noise)
        except _SIZE_ERRORS as error:  # the model cannot run this input size
            if scale == 1 or type(error) not in _SIZE_ERRORS:
                raise  # the model's own error, as it is
            break
        if b0 is None or b1 is None:
            continue
        axes = [
            _axis((b0[a], b1[a]), (b0[a + 2], b1[a + 2]), ((h, w)[a] - 1) // 2, shape[2 + a])
            for a in (0, 1)
        ]
        if any(axis is None for axis in axes):
            break  # not a translated box
        if any(len(axis) == 1 for axis in axes):  # type: ignore[arg-type]
            continue  # clipped: try a larger input
        (ry, sy, py), (rx, sx, px) = axes  # type: ignore[misc]
        return Geometry((ry, rx), (sy, sx), (py, px), "gradient")
    return Geometry((height, width), (0, 0), (0, 0), "global")


def _geometry(model: nn.Module, info: LayerInfo, x: torch.Tensor, method: str) -> Geometry:
    def compute() -> Geometry:
        geometry = None if method == "gradient" else _exact(model, info, x)
        if geometry is None and method == "exact":
            raise ValueError(
                f"receptive_field: the path from the input to layer {info.name!r} is not a pure "
                "chain of Conv2d / MaxPool2d / AvgPool2d / pointwise modules (a residual add, a "
                "functional call or another module is in the way); use method='auto' or "
                "'gradient'"
            )
        return geometry or _gradient(model, info, x)

    return model_memo(model, ("receptive", info, tuple(x.shape[1:]), x.dtype, method), compute)


def _checked(model: nn.Module, layer: object, x: object, method: str) -> tuple:
    check_model(model)
    if method not in _METHODS:
        raise ValueError(f"receptive_field: unknown method {method!r}; accepted: {_METHODS}")
    xt = check_input(model, x)
    return xt, probe(model, xt, layer, "receptive_field")


def receptive_geometry(
    model: nn.Module, layer: str | nn.Module | None, x: torch.Tensor, *, method: str = "auto"
) -> Geometry:
    """The receptive-field :class:`Geometry` of every unit of ``layer`` for inputs shaped like
    ``x`` (memoized per model, layer and input shape). ``method``: "auto" (exact when the path
    is a pure chain, else gradient support), "exact" (ValueError if it is not a chain) or
    "gradient"."""
    xt, info = _checked(model, layer, x, method)
    return _geometry(model, info, xt, method)


def receptive_field(
    model: nn.Module,
    layer: str | nn.Module | None,
    x: torch.Tensor,
    position: tuple[int, int],
    *,
    method: str = "auto",
) -> Box:
    """The input box ``(top, left, bottom, right)`` (bottom/right exclusive, before clipping to
    the image: it may be negative or pass the image's size) that feeds unit ``position = (i,
    j)`` of ``layer`` for inputs shaped like ``x``. See the module docstring for the methods.

    Example: three 3x3 stride-1 padding-1 convs -> ``(i - 3, j - 3, i + 4, j + 4)``.
    """
    xt, info = _checked(model, layer, x, method)
    if (
        not isinstance(position, (tuple, list))
        or len(position) != 2
        or not all(isinstance(v, int) and not isinstance(v, bool) for v in position)
    ):
        raise TypeError(f"receptive_field: position must be (i, j) ints, got {position!r}")
    i, j = position
    _, h, w = info.shape
    if not (0 <= i < h and 0 <= j < w):
        raise ValueError(
            f"receptive_field: position {tuple(position)} is outside layer {info.name!r}, whose "
            f"output has {h} x {w} positions (0 <= i < {h}, 0 <= j < {w})"
        )
    return _geometry(model, info, xt, method).box(i, j)
