"""Checks of heatmaps and masks against the image, before any work, naming the parameter.

Example::

    heat = check_heatmap(heatmap, x, "deletion")     # (N, H, W) float on x's device
    mask = check_mask(mask, heat, "pointing_game")   # (N, H, W) bool on the heatmap's device
"""

from __future__ import annotations

import torch

__all__ = ["as_map", "check_heatmap", "check_mask"]


def as_map(value: object, name: str, owner: str) -> torch.Tensor:
    """A tensor from a tensor or numpy array; TypeError naming ``name`` otherwise."""
    if isinstance(value, torch.Tensor):
        return value.detach()
    if type(value).__module__ == "numpy" and hasattr(value, "shape"):
        return torch.as_tensor(value)
    raise TypeError(
        f"{owner}: parameter {name!r} must be a torch.Tensor (or numpy array) of shape "
        f"(N, H, W) or (H, W), not {type(value).__name__}"
    )


def _batch(t: torch.Tensor, name: str, owner: str) -> torch.Tensor:
    if t.dim() == 2:
        t = t.unsqueeze(0)
    if t.dim() != 3:
        raise ValueError(
            f"{owner}: parameter {name!r} must have shape (N, H, W) or (H, W); got {tuple(t.shape)}"
        )
    return t


def check_heatmap(heatmap: object, x: torch.Tensor, owner: str) -> torch.Tensor:
    """``heatmap`` as (N, H, W) float on ``x``'s device, matching ``x`` (N, C, H, W)."""
    heat = _batch(as_map(heatmap, "heatmap", owner), "heatmap", owner)
    n, _, h, w = x.shape
    if tuple(heat.shape) != (n, h, w):
        raise ValueError(
            f"{owner}: parameter 'heatmap' has shape {tuple(heat.shape)} but the image batch "
            f"is {tuple(x.shape)}; give one (H, W) = ({h}, {w}) map per image: ({n}, {h}, {w})"
        )
    if heat.dtype == torch.bool or heat.is_complex():
        raise TypeError(f"{owner}: parameter 'heatmap' must be real numbers, got {heat.dtype}")
    heat = heat.to(device=x.device, dtype=x.dtype)
    if not bool(torch.isfinite(heat).all()):
        raise ValueError(f"{owner}: parameter 'heatmap' contains NaN or infinite values")
    return heat


def check_mask(mask: object, heat: torch.Tensor, owner: str) -> torch.Tensor:
    """``mask`` as (N, H, W) bool on ``heat``'s device, the same shape as ``heat``."""
    m = _batch(as_map(mask, "mask", owner), "mask", owner)
    if m.dtype != torch.bool:
        raise TypeError(
            f"{owner}: parameter 'mask' must be boolean (True on the object's pixels), got "
            f"{m.dtype}; use mask > 0.5 for a 0/1 mask"
        )
    if m.shape != heat.shape:
        raise ValueError(
            f"{owner}: parameter 'mask' has shape {tuple(m.shape)} but the heatmap has "
            f"{tuple(heat.shape)}; give one mask of the heatmap's size per heatmap"
        )
    return m.to(heat.device)
