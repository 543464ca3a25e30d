"""Localisation against a ground-truth mask: pointing game, relevance mass, relevance rank.

On ``shapes`` (Triangles & Squares) and ``counting`` a human knows where the evidence is: the
datasets return a boolean mask of the object's pixels. Each function returns (N,) floats, NaN
for an image whose mask is empty (nothing to point at, e.g. zero circles).

* :func:`pointing_game` (Zhang et al. 2016): 1 if the heatmap's maximum lies within
  ``tolerance`` pixels (Euclidean) of the mask, else 0. Where several pixels share the maximum,
  all of them must lie there (so a constant map does not hit by default). Quantus
  ``PointingGame`` counts a hit if any maximum is inside: the two coincide for maps with one
  maximum and ``tolerance=0``.
* :func:`relevance_mass` (Arras et al. 2022): R_within / R_total over the positive relevance
  max(h, 0); 0 when the map has no positive relevance. Coincides with Quantus
  ``RelevanceMassAccuracy(abs=False, normalise=False)`` on non-negative maps.
* :func:`relevance_rank` (Arras et al. 2022): with K = |mask|, the fraction of the K most
  relevant pixels that lie in the mask (equal values in a fixed random order, seed 0).
  Coincides with Quantus ``RelevanceRankAccuracy(abs=False, normalise=False)`` on maps
  without ties.

Example::

    images, labels, masks = xw.data.dataset("triangles_squares", 8)
    heat = xw.explain(model, x, "saliency").heatmap
    pointing_game(heat, masks).nanmean(), relevance_mass(heat, masks).nanmean()
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F

from ..params import check_params
from ._inputs import as_map, check_mask
from .curve import tie_broken_order
from .settings import PointingSettings

__all__ = ["pointing_game", "relevance_mass", "relevance_rank"]


def _heat(heatmap: object, owner: str) -> torch.Tensor:
    heat = as_map(heatmap, "heatmap", owner)
    if heat.dim() == 2:
        heat = heat.unsqueeze(0)
    if heat.dim() != 3:
        raise ValueError(
            f"{owner}: parameter 'heatmap' must have shape (N, H, W) or (H, W); got "
            f"{tuple(heat.shape)}"
        )
    if heat.dtype == torch.bool or heat.is_complex():
        raise TypeError(f"{owner}: parameter 'heatmap' must be real numbers, got {heat.dtype}")
    heat = heat.float() if not heat.is_floating_point() else heat
    if not bool(torch.isfinite(heat).all()):
        raise ValueError(f"{owner}: parameter 'heatmap' contains NaN or infinite values")
    return heat


def _empty_to_nan(values: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    empty = ~mask.flatten(1).any(1)
    return torch.where(empty, torch.full_like(values, math.nan), values)


def _dilate(mask: torch.Tensor, radius: float) -> torch.Tensor:
    r = math.floor(radius)
    if r < 1:
        return mask
    offsets = torch.arange(-r, r + 1, device=mask.device, dtype=torch.float32)
    disk = (offsets[:, None] ** 2 + offsets[None, :] ** 2 <= radius**2).float()
    hits = F.conv2d(mask[:, None].float(), disk[None, None], padding=r)
    return hits[:, 0] > 0.5


def pointing_game(heatmap: torch.Tensor, mask: torch.Tensor, tolerance: float = 0) -> torch.Tensor:
    """(N,) 1.0 where the heatmap's maximum (all of its maximal pixels) lies within
    ``tolerance`` pixels of the mask, 0.0 where not, NaN for an empty mask."""
    check_params(PointingSettings, {"tolerance": tolerance}, "pointing_game")
    heat = _heat(heatmap, "pointing_game")
    m = check_mask(mask, heat, "pointing_game")
    near = _dilate(m, float(tolerance))
    peak = heat == heat.flatten(1).amax(1)[:, None, None]
    hit = ~(peak & ~near).flatten(1).any(1)
    return _empty_to_nan(hit.to(heat.dtype), m).cpu()


def relevance_mass(heatmap: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    """(N,) share of the positive relevance inside the mask, NaN for an empty mask."""
    heat = _heat(heatmap, "relevance_mass")
    m = check_mask(mask, heat, "relevance_mass")
    positive = heat.clamp(min=0).flatten(1)
    total = positive.sum(1)
    within = (positive * m.flatten(1)).sum(1)
    share = torch.where(total > 0, within / total.clamp(min=1e-30), torch.zeros_like(total))
    return _empty_to_nan(share, m).cpu()


def relevance_rank(heatmap: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    """(N,) share of the K = |mask| most relevant pixels inside the mask, NaN if K = 0."""
    heat = _heat(heatmap, "relevance_rank")
    m = check_mask(mask, heat, "relevance_rank")
    flat, inside = heat.flatten(1), m.flatten(1)
    order = tie_broken_order(flat, descending=True, seed=0)
    k = inside.sum(1)
    top = torch.arange(flat.shape[1], device=flat.device)[None] < k[:, None]
    hits = (inside.gather(1, order) & top).sum(1)
    share = hits.to(heat.dtype) / k.clamp(min=1).to(heat.dtype)
    return _empty_to_nan(share, m).cpu()
