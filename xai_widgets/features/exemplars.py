"""Dataset exemplars: the images that excite one channel most (Zeiler & Fergus 2014, Fig. 2;
Olah et al. 2017, "Feature Visualization", Distill, "dataset examples").

Score of image n for channel c of layer l: s_n = max_ij A_l[n, c, i, j] (``reduce="max"``, the
strongest unit, as Zeiler & Fergus show it) or the mean over positions (``reduce="mean"``,
how much of the image excites the channel). The k best images are kept in one pass over the
data (a running top-k, so the images can come from a DataLoader and never sit in memory
together). Each comes with its argmax position (i, j) and the crop of the image that unit sees:
its receptive field box (:mod:`.receptive`), clipped to the image.

Example::

    >>> ex = top_activating(model, loader, "features.3", channel=5, k=9)
    >>> ex.indices, ex.scores, ex.crops.shape      # (9,), (9,), (9, 3, 8, 8)
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import nn

from ..checks import check_model
from ..hooks import borrowed
from ..methods.registry import Progress
from ._common import LayerInfo, check_channel, check_int, iter_batches, probe, run_to
from .receptive import Box, Geometry, _geometry

__all__ = ["Exemplars", "top_activating"]

_REDUCE = ("max", "mean")


@dataclass(frozen=True)
class Exemplars:
    """The k images that activate ``channel`` of ``layer`` most, best first.

    ``indices`` (k,): positions in the data (counted over all batches); ``scores`` (k,);
    ``positions`` (k, 2): argmax unit (i, j) in the layer's map; ``boxes``: its receptive
    field (top, left, bottom, right), unclipped; ``crops`` (k, C, ch, cw): the image inside the
    box clipped to the image, on a canvas of ``pad_value`` of size (min(R_y, H), min(R_x, W))
    so all crops stack (the clipped-off side of the box is the padded side); ``images`` (k, C,
    H, W): the full images. Fewer than k rows when the data has fewer images.
    """

    layer: str
    channel: int
    indices: torch.Tensor
    scores: torch.Tensor
    positions: torch.Tensor
    boxes: list[Box]
    crops: torch.Tensor
    images: torch.Tensor


def _crop(image: torch.Tensor, box: Box, size: tuple[int, int], pad_value: float) -> torch.Tensor:
    """``image`` (C, H, W) inside ``box`` on a ``size`` canvas: the part of the box inside the
    image, shifted to the canvas side where the box leaves the image."""
    height, width = image.shape[1:]
    top, left, bottom, right = box
    canvas = image.new_full((image.shape[0], *size), pad_value)
    t, lft, b, r = max(top, 0), max(left, 0), min(bottom, height), min(right, width)
    if b <= t or r <= lft:
        return canvas
    h, w = min(b - t, size[0]), min(r - lft, size[1])
    oy = size[0] - h if top < 0 else 0  # the box hangs over the top: align to the bottom
    ox = size[1] - w if left < 0 else 0
    canvas[:, oy : oy + h, ox : ox + w] = image[:, t : t + h, lft : lft + w]
    return canvas


def _merge(best: dict, scores, positions, images, offset: int, k: int) -> None:
    """Fold one batch into the running top-k (stable: earlier images win ties)."""
    idx = torch.arange(offset, offset + len(scores), device=scores.device)
    if best:
        scores = torch.cat([best["scores"], scores])
        positions = torch.cat([best["positions"], positions])
        images = torch.cat([best["images"], images])
        idx = torch.cat([best["indices"], idx])
    order = torch.sort(scores, descending=True, stable=True).indices[:k]
    best.update(scores=scores[order], positions=positions[order], indices=idx[order])
    best["images"] = images[order].clone()


def _score(acts: torch.Tensor, reduce: str) -> tuple[torch.Tensor, torch.Tensor]:
    """Per-image score and argmax position (B, 2) of one channel's maps (B, h, w)."""
    flat = acts.flatten(1)
    peak, arg = flat.max(1)
    positions = torch.stack([arg // acts.shape[2], arg % acts.shape[2]], 1)
    return (peak if reduce == "max" else flat.mean(1)), positions


def top_activating(
    model: nn.Module,
    images: object,
    layer: str | nn.Module | None,
    channel: int,
    k: int = 9,
    *,
    reduce: str = "max",
    pad_value: float = 0.0,
    progress: Progress | None = None,
) -> Exemplars:
    """The ``k`` images of ``images`` that maximize ``channel`` of ``layer``.

    ``images``: a tensor (N, C, H, W) or an iterable of such batches or (batch, labels) pairs
    (a DataLoader), all of one image size. Batched in memory-sized chunks, the forward stopping
    after the layer; ``progress(fraction)`` runs after each chunk (fraction 0.0 while the
    number of batches is unknown) and may raise to cancel. ``reduce``: "max" or "mean" over
    positions (see the module docstring).
    """
    check_model(model)
    check_int(k, "k", "top_activating")
    if reduce not in _REDUCE:
        raise ValueError(f"top_activating: reduce must be 'max' or 'mean', got {reduce!r}")
    best: dict = {}
    info: LayerInfo | None = None
    geometry: Geometry | None = None
    seen = 0
    for x, _labels, i, total in iter_batches(model, images, "top_activating"):
        if info is None:
            info = probe(model, x, layer, "top_activating")
            check_channel(info, channel, "top_activating")
            geometry = _geometry(model, info, x, "auto")
            shape = x.shape[1:]
        elif x.shape[1:] != shape:
            raise ValueError(
                f"top_activating: all images must have one shape; got {tuple(shape)} and then "
                f"{tuple(x.shape[1:])} (resize them first)"
            )
        with borrowed(model), torch.no_grad():
            acts = run_to(model, x, info)[:, channel]
        scores, positions = _score(acts, reduce)
        _merge(best, scores, positions, x, seen, k)
        seen += x.shape[0]
        if progress is not None:
            progress(0.0 if total is None else (i + 1) / total)
    if info is None or geometry is None:
        raise ValueError("top_activating: images is empty; give at least one image")
    height, width = shape[1:]
    size = (min(geometry.size[0], height), min(geometry.size[1], width))
    boxes = [geometry.box(int(p[0]), int(p[1])) for p in best["positions"]]
    crops = torch.stack(
        [_crop(im, box, size, pad_value) for im, box in zip(best["images"], boxes, strict=True)]
    )
    return Exemplars(
        info.name,
        channel,
        best["indices"].cpu(),
        best["scores"].cpu(),
        best["positions"].cpu(),
        boxes,
        crops,
        best["images"],
    )
