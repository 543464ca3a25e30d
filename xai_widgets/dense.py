"""Per-pixel (dense) and multi-input models: what is explained, and with respect to which input.

A segmentation-like model returns scores (N, K, H, W). Following the usual practice for
explaining segmentation (Vinogradova et al., "Towards interpretable semantic segmentation via
gradient-weighted class activation mapping", AAAI 2020), the explained score is one class's
mean score over a region of the output:

    S(x) = 1 / |R| * sum_{(i, j) in R} f_k(x)[i, j]

so every attribution method (gradients, CAM, perturbations) explains a scalar per sample as for
a classifier. A model with several inputs (e.g. SAR and radiometer in the sea-ice fusion
network) is explained with respect to one input while the others are held at the scene's
values: :class:`OneInput` presents it as a one-input model without changing it.

Example::

    >>> model = zoo.load("fusion_small")                       # forward(sar, mwr) -> (N,1,H,W)
    >>> sar, mwr, labels = data.dataset("sea_ice", 1)
    >>> one = OneInput(model, (sar, mwr), index=0)              # explains SAR, MWR held
    >>> target = region_target(0, box=(32, 32, 96, 96), size=(128, 128))
    >>> explain(one, sar, "saliency", target=target).heatmap.shape
    torch.Size([1, 128, 128])
"""

from __future__ import annotations

import inspect
from collections.abc import Sequence

import torch
from torch import nn

__all__ = [
    "OneInput", "RegionTarget", "held_note", "input_names", "positional_inputs", "region_mask",
    "region_target",
]  # fmt: skip

Box = tuple[int, int, int, int]  # (top, left, bottom, right), bottom/right exclusive


def region_mask(box: Box | None, size: tuple[int, int]) -> torch.Tensor:
    """A boolean (H, W) mask of ``box`` (top, left, bottom, right) on an output of ``size``;
    ``None`` is the whole map. The box is clipped to the map; an empty result is an error."""
    height, width = size
    mask = torch.zeros(height, width, dtype=torch.bool)
    if box is None:
        mask[:] = True
        return mask
    if len(box) != 4 or not all(isinstance(v, int) for v in box):
        raise TypeError(f"a region is (top, left, bottom, right) integers, got {box!r}")
    top, left, bottom, right = box
    mask[max(top, 0) : max(bottom, 0), max(left, 0) : max(right, 0)] = True
    if not mask.any():
        raise ValueError(
            f"the region {box} covers no pixel of the {height} x {width} output; "
            "give (top, left, bottom, right) with top < bottom and left < right inside the map"
        )
    return mask


class RegionTarget:
    """The mean score of class ``cls`` over ``mask`` (H, W): a callable target for
    :func:`~xai_widgets.explain` on a dense model (output (N, K, H, W) -> (N,) scores)."""

    def __init__(self, cls: int, mask: torch.Tensor) -> None:
        if isinstance(cls, bool) or not isinstance(cls, int):
            raise TypeError(f"the explained class must be an int, got {type(cls).__name__}")
        if not isinstance(mask, torch.Tensor) or mask.dtype != torch.bool or mask.dim() != 2:
            raise TypeError("the region must be a boolean (H, W) mask tensor")
        if not mask.any():
            raise ValueError("the region covers no pixel")
        self.cls = cls
        self.mask = mask
        self._on: dict[torch.device, torch.Tensor] = {}

    def __call__(self, output: torch.Tensor) -> torch.Tensor:
        if output.dim() != 4:
            raise ValueError(
                f"a region target needs per-pixel scores (N, K, H, W); got {tuple(output.shape)}"
            )
        if tuple(output.shape[2:]) != tuple(self.mask.shape):
            raise ValueError(
                f"the region is {tuple(self.mask.shape)} but the output map is "
                f"{tuple(output.shape[2:])}"
            )
        if not 0 <= self.cls < output.shape[1]:
            raise ValueError(
                f"class {self.cls} is out of range for {output.shape[1]} output channels"
            )
        weights = self._on.get(output.device)
        if weights is None:
            weights = self.mask.to(output.device, output.dtype) / self.mask.sum()
            self._on[output.device] = weights
        return (output[:, self.cls] * weights.to(output.dtype)).sum((1, 2))

    def __repr__(self) -> str:
        return f"RegionTarget(cls={self.cls}, pixels={int(self.mask.sum())})"


def region_target(cls: int, box: Box | None = None, *, size: tuple[int, int]) -> RegionTarget:
    """:class:`RegionTarget` of class ``cls`` over ``box`` (None: the whole map) of an output
    map of ``size`` (H, W)."""
    return RegionTarget(cls, region_mask(box, size))


def positional_inputs(model: nn.Module) -> list[inspect.Parameter]:
    """The positional parameters of ``model.forward`` ([] when its signature cannot be read)."""
    try:
        params = inspect.signature(model.forward).parameters.values()
    except (TypeError, ValueError):
        return []
    kinds = (inspect.Parameter.POSITIONAL_ONLY, inspect.Parameter.POSITIONAL_OR_KEYWORD)
    return [p for p in params if p.kind in kinds]


def input_names(model: nn.Module, count: int) -> list[str]:
    """The names of ``model.forward``'s ``count`` inputs (``["sar", "mwr"]``), or ``["input
    0", ...]`` when they cannot be read or do not match ``count``."""
    names = [p.name for p in positional_inputs(model)]
    return names if len(names) == count else [f"input {i}" for i in range(count)]


class OneInput(nn.Module):
    """``model`` seen as a model of its input ``index`` alone; the other inputs are held at
    ``inputs`` (each (1, ...) or (N, ...)) and repeated along the batch of each call, so
    batched perturbation methods work. The wrapped model is not changed: it is held, not
    copied, and every explanation borrows it as usual.

    >>> one = OneInput(fusion, (sar, mwr), index=0)
    >>> one(sar.expand(8, -1, -1, -1)).shape        # MWR repeated 8 times
    torch.Size([8, 1, 128, 128])
    """

    def __init__(self, model: nn.Module, inputs: Sequence[torch.Tensor], index: int = 0) -> None:
        super().__init__()
        if not isinstance(model, nn.Module):
            raise TypeError(f"model must be a torch.nn.Module, not {type(model).__name__}")
        if not isinstance(inputs, (tuple, list)) or len(inputs) < 2:
            raise TypeError("inputs must be the scene's inputs, a tuple of two or more tensors")
        if not all(isinstance(t, torch.Tensor) for t in inputs):
            raise TypeError("every input of the scene must be a tensor")
        if isinstance(index, bool) or not isinstance(index, int):
            raise TypeError(f"index must be an int, not {type(index).__name__}")
        if not 0 <= index < len(inputs):
            raise ValueError(f"index {index} is out of range for {len(inputs)} inputs")
        self.model = model
        self.index = index
        self.held = [None if i == index else t.detach() for i, t in enumerate(inputs)]
        explained = inputs[index]
        self.input_channels = int(explained.shape[1]) if explained.dim() == 4 else None

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        n = x.shape[0]
        args = [
            x if t is None else (t if t.shape[0] == n else t[:1].expand(n, *t.shape[1:]))
            for t in self.held
        ]
        return self.model(*args)

    def describe(self) -> str:
        """ "explaining sar; mwr held at this scene's values"."""
        return held_note(input_names(self.model, len(self.held)), self.index)


def held_note(names: Sequence[str], index: int) -> str:
    """What a status says of a multi-input model with inputs ``names`` explained through
    input ``index``."""
    held = ", ".join(n for i, n in enumerate(names) if i != index)
    return f"explaining {names[index]}; {held} held at this scene's values"
