"""What a layer computes: its activation maps for an input, and its filters.

Activations A = f_l(x) (N, C, h, w) of one layer, as the next module receives it (Zeiler &
Fergus 2014 and Yosinski et al. 2015, "Understanding neural networks through deep
visualization", show them per channel as a grid). Filters are the convolution weights W (out,
in, kh, kw): the first layer's as colour patches (it reads RGB pixels, Krizhevsky et al. 2012,
Fig. 3), a deeper one's per input channel, or as the norms ||W[o, i]||_2 (out, in), which say
how much each filter reads each input channel when there are too many patches to show.

Example::

    >>> activations(model, x, "features.3").shape
    torch.Size([2, 16, 16, 16])
    >>> f = filters(model, "features.0"); f.mode, f.weights.shape
    ('rgb', torch.Size([8, 3, 3, 3]))
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import nn

from ..checks import check_input, check_model
from ..hooks import borrowed
from ..layers import input_channels, layer_name
from ..methods.batching import chunk_size, chunks
from ._common import probe, run_to

__all__ = ["Filters", "activations", "filters"]

FILTER_MODES = ("auto", "rgb", "channels", "norms")
_MAX_PATCHES = 4096  # "auto" shows per-input-channel patches up to this many, norms beyond


def activations(model: nn.Module, x: torch.Tensor, layer: str | nn.Module | None) -> torch.Tensor:
    """The output (N, C, h, w) of ``layer`` for ``x`` (detached, on the model's device).

    ``layer``: dotted name or submodule; None means the last spatial layer. The forward stops
    right after the layer (memory-sized chunks for a large batch); the model is left unchanged.
    """
    check_model(model)
    x = check_input(model, x)
    info = probe(model, x, layer, "activations")
    outs = []
    with borrowed(model), torch.no_grad():
        for part in chunks(x.shape[0], chunk_size(x[0])):
            outs.append(run_to(model, x[part], info).detach().clone())
    return torch.cat(outs) if len(outs) > 1 else outs[0]


@dataclass(frozen=True)
class Filters:
    """The weights of one convolution arranged for display.

    ``mode`` "rgb": ``weights`` (out, in, kh, kw), one colour (or grey) patch per filter;
    "channels": (out, in, kh, kw), one grey patch per filter and input channel (a grid with
    ``ncols = in``); "norms": (out, in), ||W[o, i]||_2 over the kernel, one matrix image.
    """

    layer: str
    mode: str
    weights: torch.Tensor

    @property
    def ncols(self) -> int:
        """Columns of a natural grid: 8 filters a row for "rgb", one per input channel for
        "channels", 1 (a single matrix image) for "norms"."""
        if self.mode == "channels":
            return int(self.weights.shape[1])
        return 1 if self.mode == "norms" else min(8, int(self.weights.shape[0]))


def _conv(model: nn.Module, layer: str | nn.Module) -> tuple[str, nn.Conv2d]:
    name = layer_name(model, layer)
    convs = [n for n, m in model.named_modules() if isinstance(m, nn.Conv2d)]
    if name is None:
        raise ValueError(f"filters: give a convolution layer; this model's: {', '.join(convs)}")
    module = dict(model.named_modules())[name]
    if not isinstance(module, nn.Conv2d):
        shown = ", ".join(convs[:12]) + (", ..." if len(convs) > 12 else "") or "none"
        raise ValueError(
            f"filters: layer {name!r} is a {type(module).__name__}, not a Conv2d; "
            f"convolution layers of this model: {shown}"
        )
    return name, module


def filters(model: nn.Module, layer: str | nn.Module, mode: str = "auto") -> Filters:
    """The weights of the Conv2d ``layer`` arranged for display (a detached copy).

    ``mode="auto"``: "rgb" for the model's first convolution when it reads the image's 1 or 3
    channels; otherwise "channels" for spatial kernels when out * in <= 4096 patches, else
    "norms". "rgb" on a layer that does not read 1 or 3 channels raises ValueError.
    """
    check_model(model)
    if mode not in FILTER_MODES:
        raise ValueError(f"filters: unknown mode {mode!r}; accepted: {', '.join(FILTER_MODES)}")
    name, conv = _conv(model, layer)
    with borrowed(model), torch.no_grad():
        w = conv.weight.detach().clone()
    out, cin, kh, kw = w.shape
    if mode == "auto":
        first = next(m for m in model.modules() if isinstance(m, nn.modules.conv._ConvNd))
        if first is conv and cin in (1, 3) and cin == input_channels(model):
            mode = "rgb"
        elif kh * kw > 1 and out * cin <= _MAX_PATCHES:
            mode = "channels"
        else:
            mode = "norms"
    if mode == "rgb" and cin not in (1, 3):
        raise ValueError(
            f"filters: layer {name!r} reads {cin} channels per filter, not 1 or 3, so its "
            "filters are not colour patches; use mode='channels' or 'norms'"
        )
    if mode == "norms":
        w = w.flatten(2).norm(dim=2)
    return Filters(name, mode, w)
