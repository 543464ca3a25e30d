"""What removed pixels become: the ``fill`` of every perturbation curve.

* ``noise``: uniform in the image's value range [min x, max x] (Samek et al. 2017), drawn
  once per image from ``seed`` (a region once removed keeps its noise);
* ``mean``: the image's per-channel mean;
* ``blur``: the image under a strong Gaussian blur, sigma = min(H, W) / 10, kernel radius
  3 sigma, edges replicated (Petsiuk et al. 2018 insert on a blurred canvas);
* ``zero``: 0 in the model's input space (the mean colour for an input normalized with the
  dataset's mean).

Example::

    canvas = fill_image(x, "blur", seed=0)      # same shape as x
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F

__all__ = ["BLUR_SIGMA", "fill_image", "gaussian_blur", "random_heatmap"]

BLUR_SIGMA = 0.1  # of the image's shorter side


def gaussian_blur(x: torch.Tensor, sigma: float) -> torch.Tensor:
    """Separable Gaussian blur of (N, C, H, W), radius ceil(3 sigma), replicated edges."""
    radius = max(1, math.ceil(3 * sigma))
    t = torch.arange(-radius, radius + 1, device=x.device, dtype=x.dtype)
    kernel = torch.exp(-0.5 * (t / sigma) ** 2)
    kernel = kernel / kernel.sum()
    n, c, h, w = x.shape
    flat = x.reshape(n * c, 1, h, w)
    flat = F.pad(flat, (radius, radius, radius, radius), mode="replicate")
    flat = F.conv2d(flat, kernel.view(1, 1, 1, -1))
    flat = F.conv2d(flat, kernel.view(1, 1, -1, 1))
    return flat.reshape(n, c, h, w)


def fill_image(x: torch.Tensor, fill: str, seed: int) -> torch.Tensor:
    """The image every removed pixel is taken from, (N, C, H, W) like ``x``."""
    if fill == "zero":
        return torch.zeros_like(x)
    if fill == "mean":
        return x.mean((2, 3), keepdim=True).expand_as(x).contiguous()
    if fill == "blur":
        return gaussian_blur(x, BLUR_SIGMA * min(x.shape[2:]))
    if fill == "noise":
        gen = torch.Generator().manual_seed(seed)
        u = torch.rand(x.shape, generator=gen, dtype=torch.float32).to(x.device, x.dtype)
        low = x.amin((1, 2, 3), keepdim=True)
        high = x.amax((1, 2, 3), keepdim=True)
        return low + u * (high - low)
    raise ValueError(f"unknown fill {fill!r}")  # settings are checked before this


def random_heatmap(x: torch.Tensor, seed: int) -> torch.Tensor:
    """The ``random`` baseline: (N, H, W) i.i.d. uniform values from ``seed`` (the same maps
    for the same shape and seed, on any device)."""
    n, _, h, w = x.shape
    gen = torch.Generator().manual_seed(seed)
    return torch.rand((n, h, w), generator=gen).to(x.device, x.dtype)
