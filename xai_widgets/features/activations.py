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
from ..hooks import borrowed, record_calls
from ..layers import input_channels, layer_name
from ..methods.batching import chunk_size, chunks
from ._common import LayerInfo, probe, run_to

__all__ = [
    "ACTIVATION_TYPES",
    "FilterSummary",
    "Filters",
    "PostActivation",
    "activations",
    "filters",
    "post_activation",
    "top_filters",
]

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


# Element-wise non-linearities that a layer's output may pass through next.
ACTIVATION_TYPES: tuple[type[nn.Module], ...] = (
    nn.ReLU, nn.ReLU6, nn.LeakyReLU, nn.PReLU, nn.ELU, nn.SELU, nn.CELU, nn.GELU, nn.SiLU,
    nn.Mish, nn.Hardswish, nn.Hardtanh, nn.Sigmoid, nn.Tanh, nn.Softplus,
)  # fmt: skip


@dataclass(frozen=True)
class PostActivation:
    """Maps of a layer as its activation leaves them: ``maps`` (N, C, h, w) are the output of
    ``activation`` (a dotted module name) when the chosen ``layer``'s output goes straight into
    an activation module, of ``layer`` itself otherwise (``activation`` None). ``note`` says
    which in words, for a caption."""

    maps: torch.Tensor
    layer: str
    activation: str | None
    note: str


def _next_activation(model: nn.Module, x: torch.Tensor, info: LayerInfo) -> LayerInfo | None:
    """The activation module call that reads ``info``'s output first (one sample traced)."""
    with borrowed(model), record_calls(model) as calls, torch.no_grad():
        try:
            model(x[:1])
        except Exception:  # a head that fails at this size: the calls so far still count
            pass
    mine = [c for c in calls if c.name == info.name]
    if len(mine) < info.call:
        return None
    own = mine[info.call - 1]
    after = calls.index(own) + 1
    for call in calls[after:]:
        if call.leaf and call.inputs and call.inputs[0] is own.output:
            # Changed in place in between (a residual ``out += identity``): not this layer's
            # output any more.
            moved = call.in_versions[0] != own.out_version
            if moved or not isinstance(call.module, ACTIVATION_TYPES):
                return None
            count = sum(1 for c in calls[: calls.index(call) + 1] if c.name == call.name)
            return LayerInfo(call.name, info.shape, count)
    return None


def post_activation(
    model: nn.Module, x: torch.Tensor, layer: str | nn.Module | None
) -> PostActivation:
    """Activations of ``layer`` after its non-linearity, and which module applied it.

    When ``layer`` (None: the default layer) is a convolution, a batch norm or any module whose
    output goes directly into one of :data:`ACTIVATION_TYPES` (an ``nn.ReLU`` module, in place
    or not; found by tracing one sample), the maps are that activation's output; when the layer
    is itself an activation, or nothing of the kind follows it (a functional ``F.relu`` is not
    a module and cannot be seen), they are the layer's own output. Example::

        >>> p = post_activation(zoo.load("shapes"), x, "features.9")
        >>> p.activation, p.note
        ('features.10', 'after features.10 (ReLU)')
    """
    check_model(model)
    x = check_input(model, x)
    info = probe(model, x, layer, "post_activation")
    module = model.get_submodule(info.name)
    follow = None if isinstance(module, ACTIVATION_TYPES) else _next_activation(model, x, info)
    if follow is None:
        kind = type(module).__name__
        note = (
            f"{info.name} is itself an activation ({kind})"
            if isinstance(module, ACTIVATION_TYPES)
            else f"output of {info.name} ({kind}); no activation module follows it"
        )
        return PostActivation(activations(model, x, info.name), info.name, None, note)
    outs = []
    with borrowed(model), torch.no_grad():
        for part in chunks(x.shape[0], chunk_size(x[0])):
            outs.append(run_to(model, x[part], follow).detach().clone())
    maps = torch.cat(outs) if len(outs) > 1 else outs[0]
    kind = type(model.get_submodule(follow.name)).__name__
    return PostActivation(maps, info.name, follow.name, f"after {follow.name} ({kind})")


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
    def caption(self) -> str:
        """What the tiles are, in words: "8 filters of 1 input channel, 3 x 3 each"."""
        out = int(self.weights.shape[0])
        cin = int(self.weights.shape[1])
        ins = f"{cin} input channel{'s' if cin != 1 else ''}"
        head = f"{self.layer}: {out} filter{'s' if out != 1 else ''} of {ins}"
        if self.mode == "norms":
            return f"{head}; each cell is the L2 norm of one filter's kernel for one input channel"
        kh, kw = int(self.weights.shape[2]), int(self.weights.shape[3])
        if self.mode == "rgb":
            look = "as colour pictures" if cin == 3 else "as grey pictures"
            return f"{head}, {kh} x {kw} each, shown {look}"
        return f"{head}, {kh} x {kw} each, one tile per filter and input channel"

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


@dataclass(frozen=True)
class FilterSummary:
    """The ``k`` filters of a convolution with the largest L2 norm ||W[o]||_2, for a layer
    with too many filters to read one by one. ``indices`` (k,) of the filters, strongest
    first; ``norms`` (k,); ``weights`` (k, in, kh, kw); ``input_norms`` (k, in) how strongly
    each shown filter reads each input channel; ``all_norms`` (out,) of every filter."""

    layer: str
    indices: torch.Tensor
    norms: torch.Tensor
    weights: torch.Tensor
    input_norms: torch.Tensor
    all_norms: torch.Tensor

    @property
    def caption(self) -> str:
        """E.g. "features.9: the 8 strongest of 32 filters (L2 norm 0.93 to 2.1; all filters
        0.05 to 2.1, median 0.7)"."""
        k, out = len(self.indices), len(self.all_norms)
        shown = f"{float(self.norms.min()):.2g} to {float(self.norms.max()):.2g}"
        every = (
            f"{float(self.all_norms.min()):.2g} to {float(self.all_norms.max()):.2g}, median "
            f"{float(self.all_norms.median()):.2g}"
        )
        return f"{self.layer}: the {k} strongest of {out} filters (L2 norm {shown}; all {every})"


def top_filters(model: nn.Module, layer: str | nn.Module, k: int = 8) -> FilterSummary:
    """The ``k`` filters of the Conv2d ``layer`` with the largest L2 norm (Li et al. 2017,
    "Pruning filters for efficient ConvNets", rank filters by their norm); ``k`` is capped at
    the number of filters. Example: ``top_filters(model, "features.9", 8).caption``."""
    check_model(model)
    if isinstance(k, bool) or not isinstance(k, int) or k < 1:
        raise ValueError(f"top_filters: k must be an int >= 1, got {k!r}")
    name, conv = _conv(model, layer)
    with borrowed(model), torch.no_grad():
        w = conv.weight.detach().clone()
    norms = w.flatten(1).norm(dim=1)
    order = torch.argsort(norms, descending=True, stable=True)[: min(k, len(norms))]
    chosen = w[order]
    return FilterSummary(name, order, norms[order], chosen, chosen.flatten(2).norm(dim=2), norms)
